// Portable micro-kernels in plain C++ (baseline flags; the fixed-size accumulator loops
// auto-vectorise with SSE2). float: 4 x 8, double: 4 x 4 (8 SSE accumulators).
#include "gemm/gemm_internal.h"

namespace ember {
namespace gemm_detail {

namespace {

template <typename T, int MR, int NR, bool A_ROWS>
void generic_kernel(int64_t kc, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb, T beta,
                    T* c, int64_t ldc, int mr, int nr) {
  T acc[MR][NR] = {};
  for (int64_t p = 0; p < kc; ++p) {
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const T ai = A_ROWS ? a[i * lda + p] : a[p * MR + i];
#pragma GCC unroll 16
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[j];
    }
    b += ldb;
  }
  for (int i = 0; i < mr; ++i) {
    T* ci = c + i * ldc;
    if (beta == T(0)) {
      for (int j = 0; j < nr; ++j) ci[j] = alpha * acc[i][j];
    } else {
      for (int j = 0; j < nr; ++j) ci[j] = beta * ci[j] + alpha * acc[i][j];
    }
  }
}

}  // namespace

Isa isa_generic() {
  Isa isa;
  isa.name = "generic";
  isa.f32 = Kernel<float>{generic_kernel<float, 4, 8, false>,
                          generic_kernel<float, 4, 8, true>,
                          generic_kernel<float, 4, 4, false>,
                          generic_kernel<float, 4, 4, true>,
                          4,
                          8,
                          256,
                          128,
                          4096};
  isa.f64 = Kernel<double>{generic_kernel<double, 4, 4, false>,
                           generic_kernel<double, 4, 4, true>,
                           generic_kernel<double, 4, 2, false>,
                           generic_kernel<double, 4, 2, true>,
                           4,
                           4,
                           256,
                           128,
                           4096};
  return isa;
}

}  // namespace gemm_detail
}  // namespace ember
