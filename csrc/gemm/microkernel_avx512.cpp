// AVX-512 micro-kernels (this file alone is compiled with -mavx512f and friends).
// float 8 x 32, double 8 x 16: 16 zmm accumulators, 2 B vectors and 8 broadcasts per k (FMA-bound,
// and 8 rows divide the power-of-two sizes that dominate). Half-width 8 x 16 / 8 x 8 kernels
// serve narrow right edges. Measured against 14 x 32, 12 x 32, 10 x 32, 8 x 48 and 6 x 64.
#include <immintrin.h>

#include "gemm/gemm_internal.h"
#include "gemm/microkernel_simd.h"

namespace ember {
namespace gemm_detail {

namespace {

struct F32x16 {
  using T = float;
  using V = __m512;
  static constexpr int L = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const T* p) { return _mm512_load_ps(p); }
  static V loadu(const T* p) { return _mm512_loadu_ps(p); }
  static V set1(T x) { return _mm512_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static void storeu(T* p, V v) { _mm512_storeu_ps(p, v); }
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1); }
  static V maskloadu(const T* p, int n) { return _mm512_maskz_loadu_ps(mask(n), p); }
  static void maskstoreu(T* p, int n, V v) { _mm512_mask_storeu_ps(p, mask(n), v); }
  static void prefetch(const T* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
};

struct F64x8 {
  using T = double;
  using V = __m512d;
  static constexpr int L = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V load(const T* p) { return _mm512_load_pd(p); }
  static V loadu(const T* p) { return _mm512_loadu_pd(p); }
  static V set1(T x) { return _mm512_set1_pd(x); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static void storeu(T* p, V v) { _mm512_storeu_pd(p, v); }
  static __mmask8 mask(int n) { return static_cast<__mmask8>((1u << n) - 1); }
  static V maskloadu(const T* p, int n) { return _mm512_maskz_loadu_pd(mask(n), p); }
  static void maskstoreu(T* p, int n, V v) { _mm512_mask_storeu_pd(p, mask(n), v); }
  static void prefetch(const T* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
};

using F32 = F32x16;
using F64 = F64x8;

template <int MR, int NV, bool A_ROWS>
void kernel_f32(int64_t kc, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                float beta, float* c, int64_t ldc, int mr, int nr) {
  simd_kernel<F32, MR, NV, A_ROWS>(kc, alpha, a, lda, b, ldb, beta, c, ldc, mr, nr);
}

template <int MR, int NV, bool A_ROWS>
void kernel_f64(int64_t kc, double alpha, const double* a, int64_t lda, const double* b,
                int64_t ldb, double beta, double* c, int64_t ldc, int mr, int nr) {
  simd_kernel<F64, MR, NV, A_ROWS>(kc, alpha, a, lda, b, ldb, beta, c, ldc, mr, nr);
}

}  // namespace

Isa isa_avx512() {
  Isa isa;
  isa.name = "avx512";
  // KC: a 384-deep B micro-panel (48 KiB) streams through L1 while the MC x KC block of A stays
  // in L2 (576 KiB) beside the KC x NC block of B (1.5 MiB float, 3 MiB double: L2 / L3).
  isa.f32 = Kernel<float>{kernel_f32<8, 2, false>,
                          kernel_f32<8, 2, true>,
                          kernel_f32<8, 1, false>,
                          kernel_f32<8, 1, true>,
                          8,
                          2 * F32::L,
                          384,
                          384,
                          1024};
  isa.f64 = Kernel<double>{kernel_f64<8, 2, false>,
                           kernel_f64<8, 2, true>,
                           kernel_f64<8, 1, false>,
                           kernel_f64<8, 1, true>,
                           8,
                           2 * F64::L,
                           384,
                           192,
                           1024};
  return isa;
}

}  // namespace gemm_detail
}  // namespace ember
