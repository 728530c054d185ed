"""``torch.utils.data``'s path to ember's data loading (``ember.data``): the same objects, also
under torch's submodule names (``torch.utils.data.dataset``, ``.sampler``, ``.dataloader``,
``.distributed``)."""

from ember.data import *  # noqa: F403
from ember.data import __all__  # noqa: F401
from ember.utils.data import dataloader, dataset, distributed, sampler  # noqa: F401
