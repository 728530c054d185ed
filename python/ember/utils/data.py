"""``torch.utils.data``'s path to ember's data loading (``ember.data``): the same objects."""

from ember.data import *  # noqa: F403
from ember.data import __all__  # noqa: F401
