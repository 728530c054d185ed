// AVX2 + FMA micro-kernels (this file alone is compiled with -mavx2 -mfma).
// float 6 x 16, double 6 x 8: 12 ymm accumulators, 2 B vectors, 1 broadcast register; half-width
// 6 x 8 / 6 x 4 kernels for narrow right edges, 4-row kernels for a last row panel of <= 4 rows
// (64 rows = 10 x 6 + 4: the 6-row kernel wasted a third of that panel).
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

// In-register transposes: r[i] holds row i on entry and column i on exit.
void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
#pragma GCC unroll 2
  for (int i = 0; i < 8; i += 4) {
    s[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    s[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    s[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    s[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  // s[j] (s[4 + j]), 128-bit lane k: column 4k + j of rows 0 .. 3 (rows 4 .. 7).
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x20);
    r[4 + j] = _mm256_permute2f128_ps(s[j], s[4 + j], 0x31);
  }
}
void transpose4(__m256d r[4]) {
  const __m256d t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
  const __m256d t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
  r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
  r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
  r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
  r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
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
                          4096,
                          pack_t<F32, transpose8>,
                          4,
                          kernel_f32<4, 2, false>,
                          kernel_f32<4, 2, true>,
                          kernel_f32<4, 1, false>,
                          kernel_f32<4, 1, true>};
  isa.f64 = Kernel<double>{kernel_f64<6, 2, false>,
                           kernel_f64<6, 2, true>,
                           kernel_f64<6, 1, false>,
                           kernel_f64<6, 1, true>,
                           6,
                           2 * F64::L,
                           256,
                           96,
                           4096,
                           pack_t<F64, transpose4>,
                           4,
                           kernel_f64<4, 2, false>,
                           kernel_f64<4, 2, true>,
                           kernel_f64<4, 1, false>,
                           kernel_f64<4, 1, true>};
  isa.f32.dot_rows = dot_rows<F32>;
  isa.f64.dot_rows = dot_rows<F64>;
  isa.f32.gather = gather_kernel<F32, 6, 2>;
  isa.f64.gather = gather_kernel<F64, 6, 2>;
  return isa;
}

}  // namespace gemm_detail
}  // namespace ember
