// AVX-512 micro-kernels (this file alone is compiled with -mavx512f and friends).
// float: 14 x 32 (28 zmm accumulators, 2 B vectors, 1 broadcast); double: 14 x 16.
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
  static void storeu(T* p, V v) { _mm512_storeu_ps(p, v); }
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
  static void storeu(T* p, V v) { _mm512_storeu_pd(p, v); }
  static void prefetch(const T* p) { _mm_prefetch(reinterpret_cast<const char*>(p), _MM_HINT_T0); }
};

template <bool A_ROWS>
void kernel_f32(int64_t kc, float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                float beta, float* c, int64_t ldc) {
  simd_kernel<F32x16, 14, 2, A_ROWS>(kc, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <bool A_ROWS>
void kernel_f64(int64_t kc, double alpha, const double* a, int64_t lda, const double* b,
                int64_t ldb, double beta, double* c, int64_t ldc) {
  simd_kernel<F64x8, 14, 2, A_ROWS>(kc, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace

Isa isa_avx512() {
  Isa isa;
  isa.name = "avx512";
  isa.f32 = Kernel<float>{kernel_f32<false>, kernel_f32<true>, 14, 32, 256, 336, 4096};
  isa.f64 = Kernel<double>{kernel_f64<false>, kernel_f64<true>, 14, 16, 256, 168, 4096};
  return isa;
}

}  // namespace gemm_detail
}  // namespace ember
