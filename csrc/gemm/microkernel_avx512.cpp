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

// In-register transposes: r[i] holds row i on entry and column i on exit. (The intrinsics go
// through their all-lanes maskz forms: GCC 12 flags the undefined pass-through of the plain
// ones as maybe-uninitialized.)
constexpr __mmask16 kAll16 = 0xFFFF;
constexpr __mmask8 kAll8 = 0xFF;

void transpose16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_maskz_unpacklo_ps(kAll16, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_ps(kAll16, r[i], r[i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_maskz_shuffle_ps(kAll16, t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_maskz_shuffle_ps(kAll16, t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_maskz_shuffle_ps(kAll16, t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_maskz_shuffle_ps(kAll16, t[i + 1], t[i + 3], 0xEE);
  }
  // r[4g + j], 128-bit lane k: column 4k + j of rows 4g .. 4g + 3.
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    t[j] = _mm512_maskz_shuffle_f32x4(kAll16, r[j], r[4 + j], 0x88);
    t[4 + j] = _mm512_maskz_shuffle_f32x4(kAll16, r[j], r[4 + j], 0xDD);
    t[8 + j] = _mm512_maskz_shuffle_f32x4(kAll16, r[8 + j], r[12 + j], 0x88);
    t[12 + j] = _mm512_maskz_shuffle_f32x4(kAll16, r[8 + j], r[12 + j], 0xDD);
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm512_maskz_shuffle_f32x4(kAll16, t[j], t[8 + j], 0x88);
    r[4 + j] = _mm512_maskz_shuffle_f32x4(kAll16, t[4 + j], t[12 + j], 0x88);
    r[8 + j] = _mm512_maskz_shuffle_f32x4(kAll16, t[j], t[8 + j], 0xDD);
    r[12 + j] = _mm512_maskz_shuffle_f32x4(kAll16, t[4 + j], t[12 + j], 0xDD);
  }
}

void transpose8(__m512d r[8]) {
  __m512d t[8], s[8];
#pragma GCC unroll 4
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm512_maskz_unpacklo_pd(kAll8, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_pd(kAll8, r[i], r[i + 1]);
  }
  // t[2g], 128-bit lane k: column 2k of rows 2g, 2g + 1 (t[2g + 1]: column 2k + 1).
#pragma GCC unroll 2
  for (int h = 0; h < 8; h += 4) {
    s[h] = _mm512_maskz_shuffle_f64x2(kAll8, t[h], t[h + 2], 0x88);
    s[h + 1] = _mm512_maskz_shuffle_f64x2(kAll8, t[h + 1], t[h + 3], 0x88);
    s[h + 2] = _mm512_maskz_shuffle_f64x2(kAll8, t[h], t[h + 2], 0xDD);
    s[h + 3] = _mm512_maskz_shuffle_f64x2(kAll8, t[h + 1], t[h + 3], 0xDD);
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm512_maskz_shuffle_f64x2(kAll8, s[j], s[4 + j], 0x88);
    r[4 + j] = _mm512_maskz_shuffle_f64x2(kAll8, s[j], s[4 + j], 0xDD);
  }
}

}  // namespace

Isa isa_avx512() {
  Isa isa;
  isa.name = "avx512";
  // float: a 256-deep B micro-panel (32 KiB) stays in a 48 KiB L1 beside the A panels streaming
  // past it, while the MC x KC block of A (384 KiB) stays in L2 and the KC x NC block of B (1 MiB)
  // in L2 / L3. (KC = 384 filled L1 with the B panel: 2048^3 ran 5-10% slower on Zen 5, equal
  // below 1024.) double: 384 x 192 and a 384-deep panel measured fastest. On an Intel Xeon with
  // AMX (48 KiB L1d, 2 MiB L2) the same held: float KC 128-320, MC 384-1536, NC 1024-4096 and
  // double KC 192-384, MC 192-384, NC 512-2048 were all within noise (+-5%) or slower, a p-major
  // packed A (instead of rows) and a C prefetch late in the K loop changed nothing.
  isa.f32 = Kernel<float>{kernel_f32<8, 2, false>,
                          kernel_f32<8, 2, true>,
                          kernel_f32<8, 1, false>,
                          kernel_f32<8, 1, true>,
                          8,
                          2 * F32::L,
                          256,
                          384,
                          1024,
                          pack_t<F32, transpose16>,
                          4,
                          kernel_f32<4, 2, false>,
                          kernel_f32<4, 2, true>,
                          kernel_f32<4, 1, false>,
                          kernel_f32<4, 1, true>};
  isa.f64 = Kernel<double>{kernel_f64<8, 2, false>,
                           kernel_f64<8, 2, true>,
                           kernel_f64<8, 1, false>,
                           kernel_f64<8, 1, true>,
                           8,
                           2 * F64::L,
                           384,
                           192,
                           1024,
                           pack_t<F64, transpose8>,
                           4,
                           kernel_f64<4, 2, false>,
                           kernel_f64<4, 2, true>,
                           kernel_f64<4, 1, false>,
                           kernel_f64<4, 1, true>};
  isa.f32.dot_rows = dot_rows<F32>;
  isa.f64.dot_rows = dot_rows<F64>;
  isa.f32.gather = gather_kernel<F32, 8, 2>;
  // 1 thread, Zen 4, thread time, interleaved runs: the RNN weight gradients dW = dgates^T @ x
  // 1024 x 128 @ K 1600 ~50 -> ~53.5 GMAC/s, 1024 x 256 @ K 1568 ~51 -> ~53 (lda 1024: rows 4 KiB
  // apart), 1024 x 64 @ K 1600 ~47 -> ~55, 384 x 128 @ K 2048 ~46 -> ~54; 16 panels (512^3)
  // level. Not for double (its 384-deep B panel fills L1: 1024 x 64 @ K 1600 ~10% slower) nor
  // AVX2 (1024 x 128 @ K 1600 ~6% slower).
  isa.f32.ta_direct_panels = 8;
  isa.f64.gather = gather_kernel<F64, 8, 2>;
  return isa;
}

}  // namespace gemm_detail
}  // namespace ember
