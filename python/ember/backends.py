"""``torch.backends`` flags that training scripts set or query; none changes what ember computes
(its CPU kernels are deterministic) and no GPU backend is available."""

from types import SimpleNamespace

cudnn = SimpleNamespace(
    deterministic=False,
    benchmark=False,
    enabled=True,
    allow_tf32=True,
    is_available=lambda: False,
    version=lambda: None,
)
mps = SimpleNamespace(is_available=lambda: False, is_built=lambda: False)
cuda = SimpleNamespace(
    is_built=lambda: False,
    matmul=SimpleNamespace(
        allow_tf32=False,
        allow_fp16_reduced_precision_reduction=True,
        allow_bf16_reduced_precision_reduction=True,
    ),
    flash_sdp_enabled=lambda: False,
    mem_efficient_sdp_enabled=lambda: False,
    math_sdp_enabled=lambda: True,
    enable_flash_sdp=lambda enabled: None,
    enable_mem_efficient_sdp=lambda enabled: None,
    enable_math_sdp=lambda enabled: None,
)
mkldnn = SimpleNamespace(is_available=lambda: False, enabled=False)
mkl = SimpleNamespace(is_available=lambda: False)
openmp = SimpleNamespace(is_available=lambda: True)  # ember's kernels are OpenMP-parallel
opt_einsum = SimpleNamespace(is_available=lambda: False, enabled=False, strategy=None)
