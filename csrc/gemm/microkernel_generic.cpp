// Portable micro-kernels in plain C++ (baseline flags; the fixed-size accumulator loops
// auto-vectorise with SSE2). float and double: 4 x 8 (half width 4 x 4).
#include "gemm/gemm_internal.h"

namespace ember {
namespace gemm_detail {

namespace {

template <typename T, int MR, int NR, bool A_ROWS>
void generic_kernel(int64_t kc, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb, T beta,
                    T* c, int64_t ldc, int mr, int nr) {
  // One accumulator row at a time over the whole k range: the j loop is the one the compiler
  // vectorises, and a row of NR accumulators fits in registers.
  T acc[MR][NR];
  for (int i = 0; i < MR; ++i) {
    T row[NR] = {};
    const T* bp = b;
    for (int64_t p = 0; p < kc; ++p, bp += ldb) {
      const T ai = A_ROWS ? a[i * lda + p] : a[p * lda + i];
      for (int j = 0; j < NR; ++j) row[j] += ai * bp[j];
    }
    for (int j = 0; j < NR; ++j) acc[i][j] = row[j];
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

template <typename T, int MR, int NR>
void generic_gather(int64_t kc, const T* const* xb, const int64_t* koff, const T* b, T* c,
                    bool accumulate) {
  for (int i = 0; i < MR; ++i) {
    T row[NR] = {};
    if (accumulate)
      for (int j = 0; j < NR; ++j) row[j] = c[i * NR + j];
    for (int64_t p = 0; p < kc; ++p) {
      const T ai = xb[i][koff[p]];
      for (int j = 0; j < NR; ++j) row[j] += ai * b[p * NR + j];
    }
    for (int j = 0; j < NR; ++j) c[i * NR + j] = row[j];
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
  isa.f64 = Kernel<double>{generic_kernel<double, 4, 8, false>,
                           generic_kernel<double, 4, 8, true>,
                           generic_kernel<double, 4, 4, false>,
                           generic_kernel<double, 4, 4, true>,
                           4,
                           8,
                           256,
                           128,
                           4096};
  isa.f32.gather = generic_gather<float, 4, 8>;
  isa.f64.gather = generic_gather<double, 4, 8>;
  return isa;
}

}  // namespace gemm_detail
}  // namespace ember
