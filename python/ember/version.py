"""``torch.version``: ember's version; no CUDA or ROCm build (``cuda`` and ``hip`` are None)."""

from ember._C import __version__  # noqa: F401

cuda = None
hip = None
debug = False
