// placeholder: filled in by the blocked GEMM
