"""``torch.backends`` flags that training scripts set or query; none changes what ember computes
(its CPU kernels are deterministic) and no GPU backend is available."""

from types import SimpleNamespace

cudnn = SimpleNamespace(
    deterministic=False, benchmark=False, enabled=True, is_available=lambda: False
)
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
cuda = SimpleNamespace(is_built=lambda: False)
