// AVX2 + FMA micro-kernels (this file alone is compiled with -mavx2 -mfma).
// float 6 x 16, double 6 x 8: 12 ymm accumulators, 2 B vectors, 1 broadcast register; half-width
// 6 x 8 / 6 x 4 kernels for narrow right edges.
#include <immintrin.h>

#include "gemm/gemm_internal.h"
#include "gemm/microkernel_simd.h"

namespace ember {
namespace gemm_detail {

namespace {

struct F32x8 {
  using T = float;
  using V = __m256;
  static constexpr int L = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const T* p) { return _mm256_load_ps(p); }
  static V loadu(const T* p) { return _mm256_loadu_ps(p); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static void storeu(T* p, V v) { _mm256_storeu_ps(p, v); }
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V maskloadu(const T* p, int n) { return _mm256_maskload_ps(p, mask(n)); }
  static void maskstoreu(T* p, int n, V v) { _mm256_maskstore_ps(p, mask(n), v); }
  static void prefetch(const T* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
};

struct F64x4 {
  using T = double;
  using V = __m256d;
  static constexpr int L = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V load(const T* p) { return _mm256_load_pd(p); }
  static V loadu(const T* p) { return _mm256_loadu_pd(p); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static void storeu(T* p, V v) { _mm256_storeu_pd(p, v); }
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V maskloadu(const T* p, int n) { return _mm256_maskload_pd(p, mask(n)); }
  static void maskstoreu(T* p, int n, V v) { _mm256_maskstore_pd(p, mask(n), v); }
  static void prefetch(const T* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
};

using F32 = F32x8;
using F64 = F64x4;

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

Isa isa_avx2() {
  Isa isa;
  isa.name = "avx2";
  isa.f32 = Kernel<float>{kernel_f32<6, 2, false>,
                          kernel_f32<6, 2, true>,
                          kernel_f32<6, 1, false>,
                          kernel_f32<6, 1, true>,
                          6,
                          2 * F32::L,
                          256,
                          144,
                          4096};
  isa.f64 = Kernel<double>{kernel_f64<6, 2, false>,
                           kernel_f64<6, 2, true>,
                           kernel_f64<6, 1, false>,
                           kernel_f64<6, 1, true>,
                           6,
                           2 * F64::L,
                           256,
                           96,
                           4096};
  return isa;
}

}  // namespace gemm_detail
}  // namespace ember
