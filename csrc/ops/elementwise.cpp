// Binary elementwise arithmetic (add, sub, mul, div, maximum, minimum, fmod, remainder, hypot,
// logaddexp, logaddexp2, nextafter, copysign, lerp) and contiguous copies and casts: the
// memory-bound ops NumPy runs on one thread. Threads split the flat output range, so each thread
// also first-touches (page-faults) its own part of a fresh output, which is a large share of the
// time of a big fresh array (design.md section 3).
//
// Each element is one IEEE operation, as NumPy's and PyTorch's loops compute it, so the bits are
// theirs for any thread count. The file is built with -ffp-contract=off (CMakeLists.txt): no
// operation here may fuse with another, and none is allowed to start.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "common.h"
#include "vecmath.h"

#if EMBER_SIMD_CLONES
#include <immintrin.h>
#endif

namespace ember {

// activation.cpp (float logaddexp / logaddexp2, see math2_forward)
void logaddexp_float_forward(float* y, const float* a, const float* b, int64_t n, bool b_one,
                             bool two);

namespace {

// Op codes shared with the binding and ops.py's _BINARY_CODE.
enum : int { kAdd = 0, kSub = 1, kMul = 2, kDiv = 3, kMax = 4, kMin = 5 };

// maximum / minimum propagate a NaN from either side (PyTorch's and NumPy's rule); a tie
// (-0.0 vs 0.0) gives b, as both libraries' SIMD loops (maxps returns its second operand).
template <int Op, typename T>
inline T apply(T a, T b) {
  if constexpr (Op == kAdd) return a + b;
  if constexpr (Op == kSub) return a - b;
  if constexpr (Op == kMul) return a * b;
  if constexpr (Op == kDiv) return a / b;
  if constexpr (Op == kMax) return (a > b || a != a) ? a : b;
  return (a < b || a != a) ? a : b;
}

// y[i] = a[i] op b[i]
template <int Op, typename T>
EMBER_SIMD void span_vv(T* y, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = apply<Op>(a[i], b[i]);
}

// y[i] = a[i] op c, or c op a[i] when Flip
template <int Op, bool Flip, typename T>
EMBER_SIMD void span_vs(T* y, const T* a, T c, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = Flip ? apply<Op>(c, a[i]) : apply<Op>(a[i], c);
}

// y[r, j] = a[r] op b[j] (b op a when Flip) over rows of n: one call for many short rows
template <int Op, bool Flip, typename T>
EMBER_SIMD void span_outer(T* y, const T* a, const T* b, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j)
      y[r * n + j] = Flip ? apply<Op>(b[j], a[r]) : apply<Op>(a[r], b[j]);
}

// Elements per thread below which another thread costs more than it saves (fork/join ~2 us on
// two cores; a thread streams ~8 floats a nanosecond).
constexpr int64_t kMinPerThread = int64_t(1) << 15;

// body(i0, i1) over the flat range [0, total) split evenly over the team, the boundaries on
// multiples of `align` units (a cache line) so no two threads store into one line.
template <typename Body>
void split_flat(int64_t total, int64_t min_per_thread, int64_t align, const Body& body) {
  const int nt = threads_for(total, min_per_thread);
  if (nt == 1) {  // (without the ~0.3 us of an inactive parallel region: small arrays)
    if (total > 0) body(int64_t(0), total);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t step = ((total + parts - 1) / parts + align - 1) / align * align;
    const int64_t i0 = std::min(total, step * t), i1 = std::min(total, step * (t + 1));
    if (i0 < i1) body(i0, i1);
  }
}

// y = a op b over [i0, i1) of the flat (rows, n) range; b by `form` (see binary_forward).
template <int Op, bool Flip, typename T>
void binary_range(T* y, const T* a, const T* b, int64_t n, int form, int64_t i0, int64_t i1) {
  if (form == 0) {  // same shape: flip is a swap of the operands
    if (Flip)
      span_vv<Op>(y + i0, b + i0, a + i0, i1 - i0);
    else
      span_vv<Op>(y + i0, a + i0, b + i0, i1 - i0);
    return;
  }
  if (form == 1) {
    span_vs<Op, Flip>(y + i0, a + i0, b[0], i1 - i0);
    return;
  }
  // row (form 2), column (form 3) or outer (form 4): the range as row segments
  for (int64_t i = i0; i < i1;) {
    const int64_t r = i / n, j = i - r * n, len = std::min(n - j, i1 - i);
    if (form == 4 && j == 0 && len == n) {  // whole rows in one call
      const int64_t whole = (i1 - i) / n;
      span_outer<Op, Flip>(y + i, a + r, b, whole, n);
      i += whole * n;
      continue;
    }
    if (form == 4)  // y[r, j] = a[r] op b[j]
      span_vs<Op, !Flip>(y + i, b + j, a[r], len);
    else if (form == 3)
      span_vs<Op, Flip>(y + i, a + i, b[r], len);
    else if (Flip)
      span_vv<Op>(y + i, b + j, a + i, len);
    else
      span_vv<Op>(y + i, a + i, b + j, len);
    i += len;
  }
}

template <int Op, bool Flip, typename T>
void binary_split(T* y, const T* a, const T* b, int64_t rows, int64_t n, int form) {
  split_flat(rows * n, kMinPerThread, 64 / sizeof(T),
             [&](int64_t i0, int64_t i1) { binary_range<Op, Flip>(y, a, b, n, form, i0, i1); });
}

template <int Op, typename T>
void binary_op(T* y, const T* a, const T* b, int64_t rows, int64_t n, int form, bool flip) {
  if (flip)
    binary_split<Op, true>(y, a, b, rows, n, form);
  else
    binary_split<Op, false>(y, a, b, rows, n, form);
}

// y[i] = c[i] ? a[i] : b[i], a or b one value when AOne / BOne. Both sides are loaded for
// every element, so the select is branch-free (a random mask costs a branch per element
// otherwise: NumPy's and PyTorch's where run ~40x slower on one).
template <bool AOne, bool BOne, typename T>
EMBER_SIMD void where_span(T* y, const uint8_t* c, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T av = AOne ? a[0] : a[i], bv = BOne ? b[0] : b[i];
    y[i] = c[i] != 0 ? av : bv;
  }
}

// torch's arange values over [i0, i1), one torch thread's range: the first (len / 2W) * 2W in
// vectors of W lanes (base = the vector's first value rounded to T, lane k = fma(k, step, base)),
// the rest fma(step, i, start) (see arange_forward). std::fma is the exact fused operation
// (an instruction in the FMA clones, libm's fma in the baseline), never a contraction.
template <int W, typename T>
EMBER_SIMD void arange_span(T* y, double start, double step, int64_t i0, int64_t i1) {
  const int64_t vec_end = i0 + (i1 - i0) / (2 * W) * (2 * W);
  for (int64_t v = i0; v < vec_end; v += W) {
    const double base = static_cast<T>(std::fma(step, static_cast<double>(v), start));
    for (int k = 0; k < W; ++k)
      y[v + k] = static_cast<T>(std::fma(static_cast<double>(k), step, base));
  }
  for (int64_t i = vec_end; i < i1; ++i)
    y[i] = static_cast<T>(std::fma(step, static_cast<double>(i), start));
}

// ---- fmod / remainder ----
// fmod(a, b) exactly (it always is representable) without a libm call per element: with
// q = trunc(a / b) the exact a - q * b is fmod's value. float: in double, a / b rounded can
// never cross an integer below 2^24 (a float ratio's distance to an integer k is >= 2^-24, the
// rounding's error < k * 2^-53), and q * b has <= 48 bits, so every step is exact. double: q
// may be one too large when the quotient is just under an integer (never too small: rounding is
// monotonic and the integer representable); a - q * b, then still representable, is exact by fma
// and its sign, opposite to a's, says to add back one b (exact too). Quotients at or past kBig,
// infinities, NaNs and zero divisors go to std::fmod after the vectorised pass (rare: one flag per
// block). The result takes a's sign.
template <typename T>
inline T fmod_fast(T a, T b) {
  if constexpr (sizeof(T) == 4) {
    const double ad = a, bd = b;
    const double r = ad - std::trunc(ad / bd) * bd;
    return std::copysign(static_cast<float>(r), a);
  } else {
    double r = std::fma(-std::trunc(a / b), b, a);
    const double ab = std::fabs(b);
    r = (r != 0 && (r < 0) != (a < 0)) ? r + std::copysign(ab, a) : r;  // q was one too large
    return std::copysign(r, a);
  }
}

template <typename T>
inline bool fmod_fast_ok(T a, T b) {
  constexpr T kBig = sizeof(T) == 4 ? T(1 << 24) : T(int64_t(1) << 52);
  return std::fabs(a / b) < kBig && std::fabs(b) < std::numeric_limits<T>::infinity();
}

// remainder (torch's): fmod, plus b where it is nonzero and its sign differs from b's
template <bool Rem, typename T>
inline T finish_mod(T m, T b) {
  return Rem && m != 0 && ((b < 0) != (m < 0)) ? m + b : m;
}

// Blocks of kB through a local buffer: y may be a or b, which the fallback reads again.
template <bool Rem, typename T>
EMBER_SIMD void mod_span(T* y, const T* a, const T* b, int64_t n) {
  constexpr int64_t kB = 256;
  T r[kB];
  for (int64_t i0 = 0; i0 < n; i0 += kB) {
    const int64_t len = std::min(kB, n - i0);
    const T* ap = a + i0;
    const T* bp = b + i0;
    int bad = 0;
    for (int64_t i = 0; i < len; ++i) {
      bad |= !fmod_fast_ok(ap[i], bp[i]);
      r[i] = finish_mod<Rem>(fmod_fast(ap[i], bp[i]), bp[i]);
    }
    if (bad)
      for (int64_t i = 0; i < len; ++i)
        if (!fmod_fast_ok(ap[i], bp[i])) r[i] = finish_mod<Rem>(std::fmod(ap[i], bp[i]), bp[i]);
    std::memcpy(y + i0, r, static_cast<size_t>(len) * sizeof(T));
  }
}

// ---- hypot, logaddexp, logaddexp2, nextafter, copysign / lerp ----
// Op codes of math2_forward, shared with the binding.
enum : int { kHypot = 0, kLogAddExp = 1, kLogAddExp2 = 2, kNextAfter = 3, kCopySign = 4, kPow = 5 };

// hypot as glibc's (and so NumPy's) for float: the exact squares summed and rooted in double,
// rounded once to float; +inf when either side is infinite, even beside a NaN. double: glibc
// 2.35's __hypot (Borges' correction of sqrt(ax^2 + ay^2), its non-FMA kernel, as x86-64's libm
// is built), written branch-free so that it vectorises (libm's call per element ran at 7x
// PyTorch's time): the scaling by 2^-600 above 2^511 and by 2^600 below 2^-459 chosen by
// selects, ax + ay where ay <= ax 2^-54, +inf beside an infinity, NaN from a NaN. Bit for bit
// glibc's in every clone (this file is built with -ffp-contract=off: no product is fused).
inline double hypot_kernel(double ax, double ay) {
  const double h = std::sqrt(ax * ax + ay * ay);
  const double dl = h - ay, dx = h - ax;
  const bool near = h <= 2.0 * ay;
  const double t1 = near ? ax * (2.0 * dl - ax) : 2.0 * dx * (ax - 2.0 * ay);
  const double t2 = near ? (dl - 2.0 * (ax - ay)) * dl : (4.0 * dx - ay) * ay + dx * dx;
  return h - (t1 + t2) / (2.0 * h);
}
template <typename T>
inline T hypot1(T a, T b) {
  if constexpr (sizeof(T) == 4) {
    const double ad = a, bd = b;
    const float r = static_cast<float>(std::sqrt(ad * ad + bd * bd));
    return (std::isinf(a) || std::isinf(b)) ? std::numeric_limits<float>::infinity() : r;
  } else {
    const double x = std::fabs(a), y = std::fabs(b);
    const double ax = x < y ? y : x, ay = x < y ? x : y;
    const bool big = ax > 0x1p+511, tiny = (ay < 0x1p-459) & !big;
    // (powers of two: k * 2^600 is glibc's k / 2^-600 to the bit; ay 2^54 <= ax is both of its
    // tests, ay <= ax 2^-54 and ax >= ay / 2^-54, as the products are exact where they decide)
    const double sc = big ? 0x1p-600 : (tiny ? 0x1p+600 : 1.0);
    const double r = hypot_kernel(ax * sc, ay * sc) * (big ? 0x1p+600 : (tiny ? 0x1p-600 : 1.0));
    const bool wide = ay * 0x1p+54 <= ax;
    const double f = wide ? ax + ay : r;
    const double inf = std::numeric_limits<double>::infinity();
    return (x == inf) | (y == inf) ? inf : ((a != a) | (b != b) ? a + b : f);
  }
}
// m + log(1 + e) (kTwo: m + log2(1 + e)) for a finite double m and e in [0, 1], rounded once
// from hi + lo parts (within ~1.2 ulp of the larger of |m| and the result, where the plain sum
// of a rounded log1p was ~4): 1 + e = u + c exactly, log(u + c) = log(u) + c / u with log(u) =
// k ln2 + hi + lo from vm::log_hilo64 (k is 0 or 1), summed as vm::log_acc / log2_acc do, and m
// added to the leading part by TwoSum.
template <bool kTwo>
inline double add_log1p(double m, double e) {
  const double u = 1.0 + e, c = e - (u - 1.0);  // u - 1 exact (Sterbenz)
  double k, lo;
  const double hi = vm::log_hilo64<true>(u, k, lo);
  lo = lo + c / u;
  double w, t;
  if constexpr (kTwo) {
    constexpr double ch = 1.4426950407214463, cl = 1.6751713164886512e-10;  // 1/ln2 = ch + cl
    const double vh = hi * ch;                                              // exact
    w = k + vh;
    t = ((k - w) + vh) + ((lo + hi) * cl + lo * ch);
  } else {
    const double y2 = k * vm::consts<double>::ln2_hi;  // exact
    w = y2 + hi;
    t = ((y2 - w) + hi) + (lo + k * vm::consts<double>::ln2_lo);
  }
  const double s = m + w, mb = s - w;  // TwoSum: s + err = m + w exactly
  const double err = (m - mb) + (w - (s - mb));
  return s + (err + t);
}
// torch's logaddexp (kTwo: logaddexp2) in double: max(a, b) + log1p(exp(-abs(a - b)))
// (log1p(2^-abs(a - b)) / ln2) by vecmath's exp / exp2 and add_log1p, max(a, b) where it is
// infinite, NaN from either side, branch-free as vm::logaddexp_float (float runs that, in
// activation.cpp: see math2_forward).
template <bool kTwo>
inline double logaddexp1(double a, double b) {
  constexpr double kBig = std::numeric_limits<double>::max();
  const double m = a > b ? a : b;  // (a NaN a: b; d is NaN then)
  const double mc = std::min(std::max(m, -kBig), kBig);
  const double d = a == b ? 0.0 : -std::fabs(a - b);
  const double e = kTwo ? vexp2(d) : vexp(d);
  return add_log1p<kTwo>(mc, e) + (m - mc);
}
// C's nextafter from the bits (NumPy's and torch's values): b at a == b, the smallest denormal
// with b's sign at a = 0, NaN from either side, else a's bits one step toward b.
template <typename T>
inline T nextafter1(T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const U step = (a < b) == (a > T(0)) ? U(1) : ~U(0);  // +1 away from 0, -1 (wrapping) toward
  const T next = vm::from_bits(static_cast<U>(vm::as_bits(a) + step));
  const T tiny = std::copysign(std::numeric_limits<T>::denorm_min(), b);
  const T y = a == T(0) ? tiny : next;
  return a == b ? b : (a != a || b != b ? a + b : y);
}

template <int Op, typename T>
inline T math2(T a, T b) {
  if constexpr (Op == kHypot) return hypot1(a, b);
  if constexpr (Op == kLogAddExp) return logaddexp1<false>(double(a), double(b));
  if constexpr (Op == kLogAddExp2) return logaddexp1<true>(double(a), double(b));
  if constexpr (Op == kNextAfter) return nextafter1(a, b);
  if constexpr (Op == kPow) {
    if constexpr (sizeof(T) == 4) return vm::pow_float(a, b);
    return vm::pow_acc(a, b);
  }
  return std::copysign(a, b);  // kCopySign: the bits NumPy's and torch's are
}
// (two loops: a select of b[0] or b[i] in the loop kept GCC from vectorising logaddexp's)
template <int Op, typename T>
EMBER_SIMD void math2_span(T* y, const T* a, const T* b, int64_t n, bool b_one) {
  if (b_one) {
    const T bv = b[0];
    for (int64_t i = 0; i < n; ++i) y[i] = math2<Op>(a[i], bv);
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = math2<Op>(a[i], b[i]);
  }
}

// torch's two-sided lerp as its CPU kernels fuse it (their bits): |w| < 0.5: fma(w, b - a, a),
// else fma(-(b - a), 1 - w, b)
template <typename T>
inline T lerp1(T a, T b, T w, T one_minus_w, bool low) {
  const T d = b - a;
  return low ? std::fma(w, d, a) : std::fma(-d, one_minus_w, b);
}

// weight one number (1 - w and the side chosen by the caller, in T)
template <typename T>
EMBER_SIMD void lerp_span_s(T* y, const T* a, const T* b, T w, T omw, bool low, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = lerp1(a[i], b[i], w, omw, low);
}

// ... and end one value
template <typename T>
EMBER_SIMD void lerp_span_sb(T* y, const T* a, T b, T w, T omw, bool low, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = lerp1(a[i], b, w, omw, low);
}

template <typename T>
EMBER_SIMD void lerp_span_v(T* y, const T* a, const T* b, const T* w, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    y[i] = lerp1(a[i], b[i], w[i], T(1) - w[i], std::fabs(w[i]) < T(0.5));
}

template <typename From, typename To>
EMBER_SIMD void cast_span(To* y, const From* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = static_cast<To>(x[i]);
}

// float -> IEEE half bits, rounded to nearest even by the FPU itself (c10::Half's
// fp16_ieee_from_fp32_value, so NaN becomes 0x7E00 with its sign, as torch's): branch-free, so
// it vectorises.
inline uint16_t half_bits(float f) {
  float base = (std::fabs(f) * 0x1.0p+112f) * 0x1.0p-110f;  // overflow to inf, keep subnormals
  const uint32_t w = vm::as_bits(f), shl1_w = w + w, sign = w & 0x80000000u;
  const uint32_t bias = std::max(shl1_w & 0xFF000000u, 0x71000000u);
  base = vm::from_bits((bias >> 1) + 0x07800000u) + base;  // the add rounds at half's precision
  const uint32_t bits = vm::as_bits(base);
  const uint32_t nonsign = ((bits >> 13) & 0x00007C00u) + (bits & 0x00000FFFu);
  return static_cast<uint16_t>((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

// IEEE half bits -> float, exact (c10's fp16_ieee_to_fp32_value).
inline float float_of_half(uint16_t h) {
  const uint32_t w = static_cast<uint32_t>(h) << 16, sign = w & 0x80000000u, two_w = w + w;
  const float normal = vm::from_bits((two_w >> 4) + (0xE0u << 23)) * 0x1.0p-112f;
  const float subnormal = vm::from_bits((two_w >> 17) | (126u << 23)) - 0.5f;
  return vm::from_bits(sign | vm::as_bits(two_w < (1u << 27) ? subnormal : normal));
}

// float -> bfloat16 bits, rounded to nearest even; NaN becomes 0x7FC0 (c10::BFloat16's rule).
inline uint16_t bf16_bits(float f) {
  const uint32_t u = vm::as_bits(f);
  const uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
  return static_cast<uint16_t>(f != f ? 0x7FC0u : rounded);
}

EMBER_SIMD void narrow16_span(uint16_t* y, const float* x, int64_t n, bool bf16) {
  if (bf16)
    for (int64_t i = 0; i < n; ++i) y[i] = bf16_bits(x[i]);
  else
    for (int64_t i = 0; i < n; ++i) y[i] = half_bits(x[i]);
}

#if EMBER_SIMD_CLONES
// float -> half bits by F16C's conversion instruction, 8 at a time (half_bits costs ~15 vector
// operations an element: ~2x torch's time, which uses this instruction too). It rounds to
// nearest even as half_bits does; a NaN first becomes the quiet NaN 0x7FC00000 with its sign,
// whose conversion is half_bits' 0x7E00 (the instruction would keep some payload bits).
EMBER_TARGET("arch=x86-64-v3") void narrow_half_f16c(uint16_t* y, const float* x, int64_t n) {
  const __m256 quiet = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000));
  const __m256 sign = _mm256_set1_ps(-0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {  // scalar math: y[i] = half_bits(x[i])
    __m256 v = _mm256_loadu_ps(x + i);
    const __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    v = _mm256_blendv_ps(v, _mm256_or_ps(_mm256_and_ps(v, sign), quiet), nan);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i),
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i) y[i] = half_bits(x[i]);
}

// half bits -> float by F16C, 8 at a time: float_of_half's values (the instruction quiets a
// signalling NaN, which any sum of it does too; the sums alone use it)
EMBER_TARGET("arch=x86-64-v3") void widen_half_f16c(float* y, const uint16_t* x, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))));
  for (; i < n; ++i) y[i] = float_of_half(x[i]);
}
#endif

}  // namespace

// (not file-local: reduce.cpp's 16-bit sums widen a block at a time with it)
EMBER_SIMD void widen16_span(float* y, const uint16_t* x, int64_t n, bool bf16) {
  if (bf16)
    for (int64_t i = 0; i < n; ++i) y[i] = vm::from_bits(static_cast<uint32_t>(x[i]) << 16);
  else
    for (int64_t i = 0; i < n; ++i) y[i] = float_of_half(x[i]);
}

// widen16_span for reduce.cpp's 16-bit sums: float16 by F16C where the CPU has it (~2x)
void widen16_sum_span(float* y, const uint16_t* x, int64_t n, bool bf16) {
#if EMBER_SIMD_CLONES
  static const bool f16c = __builtin_cpu_supports("x86-64-v3");
  if (!bf16 && f16c) return widen_half_f16c(y, x, n);
#endif
  widen16_span(y, x, n, bf16);
}

// a (rows, n) op b -> y (rows, n), y may be a itself (each element is read before it is written)
//   form 0: b (rows, n)      form 1: b (1,), one value
//   form 2: b (n,) a row     form 3: b (rows,) one value per row
//   form 4: a (rows,) and b (n,): y[r, j] = a[r] op b[j] (outer)
// flip: y = b op a. op: 0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum.
template <typename T>
void binary_forward(T* y, const T* a, const T* b, int64_t rows, int64_t n, int op, int form,
                    bool flip) {
  switch (op) {
    case kAdd:
      return binary_op<kAdd>(y, a, b, rows, n, form, flip);
    case kSub:
      return binary_op<kSub>(y, a, b, rows, n, form, flip);
    case kMul:
      return binary_op<kMul>(y, a, b, rows, n, form, flip);
    case kDiv:
      return binary_op<kDiv>(y, a, b, rows, n, form, flip);
    case kMax:
      return binary_op<kMax>(y, a, b, rows, n, form, flip);
    default:
      return binary_op<kMin>(y, a, b, rows, n, form, flip);
  }
}

template void binary_forward<float>(float*, const float*, const float*, int64_t, int64_t, int, int,
                                    bool);
template void binary_forward<double>(double*, const double*, const double*, int64_t, int64_t, int,
                                     int, bool);

// cond (n) bool, a (n) or one value (a_one), b likewise -> y (n) = cond ? a : b
template <typename T>
void where_forward(T* y, const uint8_t* cond, const T* a, const T* b, int64_t n, bool a_one,
                   bool b_one) {
  split_flat(n, kMinPerThread, 64, [&](int64_t i0, int64_t i1) {
    const T* ap = a_one ? a : a + i0;
    const T* bp = b_one ? b : b + i0;
    if (a_one && b_one)
      where_span<true, true>(y + i0, cond + i0, ap, bp, i1 - i0);
    else if (a_one)
      where_span<true, false>(y + i0, cond + i0, ap, bp, i1 - i0);
    else if (b_one)
      where_span<false, true>(y + i0, cond + i0, ap, bp, i1 - i0);
    else
      where_span<false, false>(y + i0, cond + i0, ap, bp, i1 - i0);
  });
}

template void where_forward<float>(float*, const uint8_t*, const float*, const float*, int64_t,
                                   bool, bool);
template void where_forward<double>(double*, const uint8_t*, const double*, const double*, int64_t,
                                    bool, bool);

// a (n), b (n) -> y (n): fmod(a, b) (C's, exact), or torch's remainder when rem (the divisor's
// sign). y may be a or b itself (each element is read before it is written).
template <typename T>
void mod_forward(T* y, const T* a, const T* b, int64_t n, bool rem) {
  split_flat(n, kMinPerThread / 4, 64 / sizeof(T), [&](int64_t i0, int64_t i1) {
    if (rem)
      mod_span<true>(y + i0, a + i0, b + i0, i1 - i0);
    else
      mod_span<false>(y + i0, a + i0, b + i0, i1 - i0);
  });
}

template void mod_forward<float>(float*, const float*, const float*, int64_t, bool);
template void mod_forward<double>(double*, const double*, const double*, int64_t, bool);

// a (n), b (n) or one value (b_one) -> y (n) = op(a, b), op 0 hypot, 1 logaddexp, 2 logaddexp2,
// 3 nextafter, 4 copysign, 5 pow (see math2_span). y may be a or b.
template <typename T>
void math2_forward(T* y, const T* a, const T* b, int64_t n, bool b_one, int op) {
  if constexpr (sizeof(T) == 4)
    if (op == kLogAddExp || op == kLogAddExp2)
      return logaddexp_float_forward(y, a, b, n, b_one, op == kLogAddExp2);
  split_flat(n, kMinPerThread / 4, 64 / sizeof(T), [&](int64_t i0, int64_t i1) {
    const T* bp = b_one ? b : b + i0;
    if (op == kHypot) math2_span<kHypot>(y + i0, a + i0, bp, i1 - i0, b_one);
    if (op == kLogAddExp) math2_span<kLogAddExp>(y + i0, a + i0, bp, i1 - i0, b_one);
    if (op == kLogAddExp2) math2_span<kLogAddExp2>(y + i0, a + i0, bp, i1 - i0, b_one);
    if (op == kNextAfter) math2_span<kNextAfter>(y + i0, a + i0, bp, i1 - i0, b_one);
    if (op == kCopySign) math2_span<kCopySign>(y + i0, a + i0, bp, i1 - i0, b_one);
    if (op == kPow) math2_span<kPow>(y + i0, a + i0, bp, i1 - i0, b_one);
  });
}

template void math2_forward<float>(float*, const float*, const float*, int64_t, bool, int);
template void math2_forward<double>(double*, const double*, const double*, int64_t, bool, int);

// a (n), b (n), weight w (n) or, when w is null, the number ws -> y (n) = lerp(a, b, w)
// (see lerp1). y may be a, b or w.
template <typename T>
void lerp_forward(T* y, const T* a, const T* b, const T* w, double ws, int64_t n) {
  const T wt = static_cast<T>(ws), omw = T(1) - wt;  // (in T, as torch's scalar weight)
  const bool low = std::fabs(wt) < T(0.5);
  split_flat(n, kMinPerThread, 64 / sizeof(T), [&](int64_t i0, int64_t i1) {
    if (w == nullptr)
      lerp_span_s(y + i0, a + i0, b + i0, wt, omw, low, i1 - i0);
    else
      lerp_span_v(y + i0, a + i0, b + i0, w + i0, i1 - i0);
  });
}

template void lerp_forward<float>(float*, const float*, const float*, const float*, double,
                                  int64_t);
template void lerp_forward<double>(double*, const double*, const double*, const double*, double,
                                   int64_t);

// add / sub with alpha, addcmul, addcdiv as torch's CPU kernels evaluate them (their bits, found
// against a float64 / FMA reference): op 0 fma(b, s, a), op 1 fma(s * b, c, a), op 2
// a + (s * b) / c (not fused), s the scalar in T.
template <int Op, typename T>
EMBER_SIMD void addc_span(T* y, const T* a, const T* b, const T* c, T s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (Op == 0) y[i] = std::fma(b[i], s, a[i]);
    if constexpr (Op == 1) y[i] = std::fma(s * b[i], c[i], a[i]);
    if constexpr (Op == 2) y[i] = a[i] + (s * b[i]) / c[i];
  }
}
// addc_span with its last operand v one value (op 0: b = v; ops 1, 2: c = v), the same bits
template <int Op, typename T>
EMBER_SIMD void addc_span_one(T* y, const T* a, const T* b, T v, T s, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (Op == 0) y[i] = std::fma(v, s, a[i]);
    if constexpr (Op == 1) y[i] = std::fma(s * b[i], v, a[i]);
    if constexpr (Op == 2) y[i] = a[i] + (s * b[i]) / v;
  }
}
template <typename T>
void addc_forward(T* y, const T* a, const T* b, const T* c, double s, int64_t n, int op) {
  const T st = static_cast<T>(s);
  split_flat(n, kMinPerThread, 64 / sizeof(T), [&](int64_t i0, int64_t i1) {
    const int64_t m = i1 - i0;
    if (op == 0) addc_span<0>(y + i0, a + i0, b + i0, c, st, m);
    if (op == 1) addc_span<1>(y + i0, a + i0, b + i0, c + i0, st, m);
    if (op == 2) addc_span<2>(y + i0, a + i0, b + i0, c + i0, st, m);
  });
}
template void addc_forward<float>(float*, const float*, const float*, const float*, double, int64_t,
                                  int);
template void addc_forward<double>(double*, const double*, const double*, const double*, double,
                                   int64_t, int);

// ---- broadcast operands (addc, lerp) ----
// N operands seen over y's C-contiguous shape through element strides (0 along a broadcast
// dim), so no expanded copy is made. The contiguous span kernels run on blocks of one row: an
// operand whose row is contiguous is read in place, any other is gathered (a broadcast value:
// filled once) into a per-thread buffer. Every element is the contiguous kernel's, so its bits.
constexpr int64_t kBlock = 2048;

// An operand k with bit k of Last1 set that is one value along the row is not filled: span gets
// `one` (bit k set: q[k] points at that value).
template <typename T, int N, unsigned Last1 = 0, typename Span>
void bcast_blocks(T* y, const std::vector<int64_t>& shape, const T* const* p,
                  const std::vector<int64_t>* st, const Span& span) {
  // coalesce: drop size-1 dims, merge a dim into the next where every operand allows it
  std::vector<int64_t> sh, ss[N];
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !sh.empty();
    for (int k = 0; k < N && merge; ++k) merge = ss[k].back() == st[k][d] * shape[d];
    if (merge) sh.back() *= shape[d];
    if (!merge) sh.push_back(shape[d]);
    for (int k = 0; k < N; ++k) {
      if (merge) ss[k].back() = st[k][d];
      if (!merge) ss[k].push_back(st[k][d]);
    }
  }
  if (sh.empty()) {
    sh.push_back(1);
    for (int k = 0; k < N; ++k) ss[k].push_back(0);
  }
  const int nd = static_cast<int>(sh.size());
  int64_t total = 1;
  for (int64_t v : sh) total *= v;
  split_flat(total, kMinPerThread, 64 / sizeof(T), [&](int64_t i0, int64_t i1) {
    alignas(64) T buf[N][kBlock];
    const T* filled[N] = {};  // the broadcast value each buffer holds, over filled_n elements
    int64_t filled_n[N] = {};
    std::vector<int64_t> idx(nd);
    int64_t off[N] = {};
    for (int64_t r = i0, d = nd - 1; d >= 0; --d) {
      idx[d] = r % sh[d];
      r /= sh[d];
      for (int k = 0; k < N; ++k) off[k] += idx[d] * ss[k][d];
    }
    for (int64_t i = i0; i < i1;) {
      const int64_t m = std::min({kBlock, sh[nd - 1] - idx[nd - 1], i1 - i});
      const T* q[N];
      unsigned one = 0;
      for (int k = 0; k < N; ++k) {
        const T* src = p[k] + off[k];
        const int64_t s = ss[k][nd - 1];
        q[k] = s == 1 ? src : buf[k];
        if (s == 0 && (Last1 >> k & 1u)) {
          q[k] = src;
          one |= 1u << k;
          continue;
        }
        if (s == 0 && (filled[k] != src || filled_n[k] < m)) {
          std::fill(buf[k], buf[k] + m, *src);
          filled[k] = src;
          filled_n[k] = m;
        } else if (s != 0 && s != 1) {
          for (int64_t j = 0; j < m; ++j) buf[k][j] = src[j * s];
        }
      }
      span(y + i, q, m, one);
      i += m;
      idx[nd - 1] += m;
      for (int k = 0; k < N; ++k) off[k] += m * ss[k][nd - 1];
      for (int d = nd - 1; d > 0 && idx[d] == sh[d]; --d) {
        idx[d] = 0;
        ++idx[d - 1];
        for (int k = 0; k < N; ++k) off[k] += ss[k][d - 1] - sh[d] * ss[k][d];
      }
    }
  });
}

// lerp / addc on operands of any strides over shape (st[k]: operand k's element strides); w
// null: the number ws; op 0's c unused.
template <typename T>
void lerp_bcast(T* y, const std::vector<int64_t>& shape, const T* a, const T* b, const T* w,
                const std::vector<int64_t>* st, double ws) {
  const T wt = static_cast<T>(ws), omw = T(1) - wt;
  const bool low = std::fabs(wt) < T(0.5);
  const T* p[3] = {a, b, w};
  if (w == nullptr)
    bcast_blocks<T, 2, 2u>(y, shape, p, st, [&](T* yy, const T* const* q, int64_t m, unsigned one) {
      if (one)
        lerp_span_sb(yy, q[0], *q[1], wt, omw, low, m);
      else
        lerp_span_s(yy, q[0], q[1], wt, omw, low, m);
    });
  else
    bcast_blocks<T, 3, 4u>(y, shape, p, st, [&](T* yy, const T* const* q, int64_t m, unsigned one) {
      if (one) {  // (the weight one value along the row: the scalar-weight kernel, its bits)
        const T wv = *q[2];
        lerp_span_s(yy, q[0], q[1], wv, T(1) - wv, std::fabs(wv) < T(0.5), m);
      } else {
        lerp_span_v(yy, q[0], q[1], q[2], m);
      }
    });
}
template void lerp_bcast<float>(float*, const std::vector<int64_t>&, const float*, const float*,
                                const float*, const std::vector<int64_t>*, double);
template void lerp_bcast<double>(double*, const std::vector<int64_t>&, const double*, const double*,
                                 const double*, const std::vector<int64_t>*, double);

template <typename T>
void addc_bcast(T* y, const std::vector<int64_t>& shape, const T* a, const T* b, const T* c,
                const std::vector<int64_t>* st, double s, int op) {
  const T sv = static_cast<T>(s);
  const T* p[3] = {a, b, c};
  // (torch fuses a + s b too, but for a few elements of a row's tail, where its compiled epilogue
  // rounds twice when b is one value along the row: there these bits are the fused ones)
  if (op == 0)
    bcast_blocks<T, 2, 2u>(y, shape, p, st, [&](T* yy, const T* const* q, int64_t m, unsigned one) {
      if (one)
        addc_span_one<0>(yy, q[0], q[0], *q[1], sv, m);
      else
        addc_span<0>(yy, q[0], q[1], q[1], sv, m);
    });
  else
    bcast_blocks<T, 3, 4u>(y, shape, p, st, [&](T* yy, const T* const* q, int64_t m, unsigned one) {
      if (op == 1 && one) addc_span_one<1>(yy, q[0], q[1], *q[2], sv, m);
      if (op == 1 && !one) addc_span<1>(yy, q[0], q[1], q[2], sv, m);
      if (op == 2 && one) addc_span_one<2>(yy, q[0], q[1], *q[2], sv, m);
      if (op == 2 && !one) addc_span<2>(yy, q[0], q[1], q[2], sv, m);
    });
}
template void addc_bcast<float>(float*, const std::vector<int64_t>&, const float*, const float*,
                                const float*, const std::vector<int64_t>*, double, int);
template void addc_bcast<double>(double*, const std::vector<int64_t>&, const double*, const double*,
                                 const double*, const std::vector<int64_t>*, double, int);

// x (nbytes) -> y (nbytes): a threaded memcpy (clone, contiguous copies of any dtype).
void copy_bytes(char* y, const char* x, int64_t nbytes) {
  split_flat(nbytes, kMinPerThread * 4, 64, [&](int64_t i0, int64_t i1) {
    std::memcpy(y + i0, x + i0, static_cast<size_t>(i1 - i0));
  });
}

// x (rows, cols) -> y (cols, rows) = x's transpose, T any element type (a copy by width).
// Bands of 64 output rows (threads split them), walked in 16x16 tiles through a local buffer:
// fixed-size tiles the compiler unrolls, and at most 16 lines of each side live at once. With
// a power-of-two row length those lines all fall in one L1 set, so 32x32 tiles read element by
// element thrashed (1024x1024 float32 ~3x slower than these).
#if EMBER_SIMD_CLONES
// transpose_copy of 4- and 8-byte elements on AVX-512: W x W blocks (W = 16 / 8) moved register
// to register (W row loads, log2(W) rounds of W shuffles, W column stores; bits only, so NaN
// payloads pass), the columns in bands of 128 (a band's input columns and output rows stay in
// L2 while the rows go by). 1000x1000 at 1 thread, float64 ~2.2 -> ~0.6 ms, float32 ~1.9 ->
// ~0.25 ms: the tiled form's 16x16 buffer went element by element in the baseline ISA. The
// maskz forms of the intrinsics: GCC 12 flags the plain ones' undefined pass-through as
// maybe-uninitialized (as csrc/gemm/microkernel_avx512.cpp, whose transpose16 / transpose8 are
// the same networks on floats).
constexpr int64_t kTransposeBand = 128;

// r[i] holds row i of a 16x16 block of 4-byte elements on entry and column i on exit.
EMBER_TARGET("arch=x86-64-v4") inline void transpose_block(__m512i r[16], uint32_t) {
  constexpr __mmask16 all = 0xFFFF;
  constexpr __mmask8 all8 = 0xFF;  // (the 64-bit lanes' mask)
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_maskz_unpacklo_epi32(all, r[i], r[i + 1]);
    t[i + 1] = _mm512_maskz_unpackhi_epi32(all, r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_maskz_unpacklo_epi64(all8, t[i], t[i + 2]);
    r[i + 1] = _mm512_maskz_unpackhi_epi64(all8, t[i], t[i + 2]);
    r[i + 2] = _mm512_maskz_unpacklo_epi64(all8, t[i + 1], t[i + 3]);
    r[i + 3] = _mm512_maskz_unpackhi_epi64(all8, t[i + 1], t[i + 3]);
  }
  // r[4g + j], 128-bit lane k: column 4k + j of rows 4g .. 4g + 3.
  for (int j = 0; j < 4; ++j) {
    t[j] = _mm512_maskz_shuffle_i32x4(all, r[j], r[4 + j], 0x88);
    t[4 + j] = _mm512_maskz_shuffle_i32x4(all, r[j], r[4 + j], 0xDD);
    t[8 + j] = _mm512_maskz_shuffle_i32x4(all, r[8 + j], r[12 + j], 0x88);
    t[12 + j] = _mm512_maskz_shuffle_i32x4(all, r[8 + j], r[12 + j], 0xDD);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm512_maskz_shuffle_i32x4(all, t[j], t[8 + j], 0x88);
    r[4 + j] = _mm512_maskz_shuffle_i32x4(all, t[4 + j], t[12 + j], 0x88);
    r[8 + j] = _mm512_maskz_shuffle_i32x4(all, t[j], t[8 + j], 0xDD);
    r[12 + j] = _mm512_maskz_shuffle_i32x4(all, t[4 + j], t[12 + j], 0xDD);
  }
}

// The same for an 8x8 block of 8-byte elements.
EMBER_TARGET("arch=x86-64-v4") inline void transpose_block(__m512i r[8], uint64_t) {
  constexpr __mmask8 all = 0xFF;
  const __m512i lo2 = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i hi2 = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  __m512i a[8];
  for (int i = 0; i < 8; i += 2) {  // a[i] = (r[i][0], r[i+1][0], r[i][2], r[i+1][2], ...)
    a[i] = _mm512_maskz_unpacklo_epi64(all, r[i], r[i + 1]);
    a[i + 1] = _mm512_maskz_unpackhi_epi64(all, r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4)  // r[i + k]: rows i .. i+3 of columns k, k + 4 (k < 4)
    for (int k = 0; k < 2; ++k) {
      r[i + k] = _mm512_permutex2var_epi64(a[i + k], lo2, a[i + k + 2]);
      r[i + k + 2] = _mm512_permutex2var_epi64(a[i + k], hi2, a[i + k + 2]);
    }
  for (int k = 0; k < 4; ++k) {  // column k: r[k]'s and r[k + 4]'s low halves; k + 4: high
    a[k] = _mm512_maskz_shuffle_i64x2(all, r[k], r[k + 4], 0x44);
    a[k + 4] = _mm512_maskz_shuffle_i64x2(all, r[k], r[k + 4], 0xEE);
  }
  for (int i = 0; i < 8; ++i) r[i] = a[i];
}

// columns [c0, c1) of x (rows, cols) -> those rows of y (cols, rows) = x's transpose
template <typename T>
EMBER_TARGET("arch=x86-64-v4")
void transpose_band_avx512(T* y, const T* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1) {
  constexpr int W = 64 / sizeof(T);
  for (int64_t r0 = 0; r0 < rows; r0 += W) {
    int64_t c = c0;
    if (rows - r0 >= W)
      for (; c + W <= c1;
           c += W) {  // scalar math: y[(c + j) * rows + r0 + i] = x[(r0 + i) * cols + c + j]
        __m512i r[W];
        for (int i = 0; i < W; ++i) r[i] = _mm512_loadu_si512(x + (r0 + i) * cols + c);
        transpose_block(r, T());
        for (int j = 0; j < W; ++j) _mm512_storeu_si512(y + (c + j) * rows + r0, r[j]);
      }
    for (; c < c1; ++c)  // the band's last columns and the last rows
      for (int64_t r = r0; r < std::min(rows, r0 + W); ++r) y[c * rows + r] = x[r * cols + c];
  }
}
#endif

template <typename T>
void transpose_copy(T* y, const T* x, int64_t rows, int64_t cols) {
#if EMBER_SIMD_CLONES
  static const bool avx512 = __builtin_cpu_supports("x86-64-v4");
  if constexpr (sizeof(T) >= 4)
    if (avx512) {
      constexpr int64_t B = kTransposeBand;
      parallel_for(
          threads_for(rows * cols, int64_t(1) << 16), (cols + B - 1) / B, [&](int64_t band) {
            transpose_band_avx512(y, x, rows, cols, band * B, std::min(cols, band * B + B));
          });
      return;
    }
#endif
  constexpr int64_t B = 64, M = 16;
  const int64_t bands = (cols + B - 1) / B;
  parallel_for(threads_for(rows * cols, int64_t(1) << 16), bands, [&](int64_t band) {
    const int64_t c0 = band * B, c1 = std::min(cols, c0 + B);
    for (int64_t r0 = 0; r0 < rows; r0 += M) {
      const int64_t r1 = std::min(rows, r0 + M);
      for (int64_t cc = c0; cc < c1; cc += M) {
        if (r1 - r0 == M && c1 - cc >= M) {
          T t[M][M];
          for (int64_t i = 0; i < M; ++i)
            for (int64_t j = 0; j < M; ++j) t[j][i] = x[(r0 + i) * cols + cc + j];
          for (int64_t j = 0; j < M; ++j)
            for (int64_t i = 0; i < M; ++i) y[(cc + j) * rows + r0 + i] = t[j][i];
          continue;
        }
        const int64_t ce = std::min(c1, cc + M);  // an edge tile
        for (int64_t c = cc; c < ce; ++c)
          for (int64_t r = r0; r < r1; ++r) y[c * rows + r] = x[r * cols + c];
      }
    }
  });
}

template void transpose_copy<uint8_t>(uint8_t*, const uint8_t*, int64_t, int64_t);
template void transpose_copy<uint16_t>(uint16_t*, const uint16_t*, int64_t, int64_t);
template void transpose_copy<uint32_t>(uint32_t*, const uint32_t*, int64_t, int64_t);
template void transpose_copy<uint64_t>(uint64_t*, const uint64_t*, int64_t, int64_t);

// x (rows, n) -> y (rows, n), each row reversed (torch.flip of the last dim), T any element type
// (a copy by width). NumPy copies a reversed view element by element (~3x slower).
template <typename T>
EMBER_SIMD void reverse_span(T* y, const T* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = x[n - 1 - j];
}

template <typename T>
void flip_last(T* y, const T* x, int64_t rows, int64_t n) {
  parallel_for(threads_for(rows * n, kMinPerThread), rows,
               [&](int64_t r) { reverse_span(y + r * n, x + r * n, n); });
}

template void flip_last<uint8_t>(uint8_t*, const uint8_t*, int64_t, int64_t);
template void flip_last<uint16_t>(uint16_t*, const uint16_t*, int64_t, int64_t);
template void flip_last<uint32_t>(uint32_t*, const uint32_t*, int64_t, int64_t);
template void flip_last<uint64_t>(uint64_t*, const uint64_t*, int64_t, int64_t);

// x (n) -> y (n) converted (float <-> double: round to nearest, as NumPy's astype).
template <typename From, typename To>
void cast_forward(To* y, const From* x, int64_t n) {
  split_flat(n, kMinPerThread, 16,
             [&](int64_t i0, int64_t i1) { cast_span(y + i0, x + i0, i1 - i0); });
}

template void cast_forward<float, double>(double*, const float*, int64_t);
template void cast_forward<double, float>(float*, const double*, int64_t);

// x (n) float32 -> y (n) float16 or bfloat16 bits (narrow), or back (widen): as torch's
// c10::Half / c10::BFloat16 conversions, bit for bit (NumPy's astype has no SIMD for them).
void cast16_forward(uint16_t* y, const float* x, int64_t n, bool bf16) {
#if EMBER_SIMD_CLONES
  static const bool f16c = __builtin_cpu_supports("x86-64-v3");
  if (!bf16 && f16c) {
    split_flat(n, kMinPerThread, 32,
               [&](int64_t i0, int64_t i1) { narrow_half_f16c(y + i0, x + i0, i1 - i0); });
    return;
  }
#endif
  split_flat(n, kMinPerThread, 32,
             [&](int64_t i0, int64_t i1) { narrow16_span(y + i0, x + i0, i1 - i0, bf16); });
}

void cast16_forward(float* y, const uint16_t* x, int64_t n, bool bf16) {
  split_flat(n, kMinPerThread, 32,
             [&](int64_t i0, int64_t i1) { widen16_span(y + i0, x + i0, i1 - i0, bf16); });
}

// y (n) = start + step * i as torch's CPU arange computes it, bit for bit: in double, torch's
// threads each taking `chunk` consecutive indices (the caller gives torch's split, so the bits
// do not depend on ember's thread count), each range in AVX2 vectors of 8 floats / 4 doubles
// two at a time, then one value at a time. Chunks run in parallel.
template <typename T>
void arange_forward(T* y, double start, double step, int64_t n, int64_t chunk) {
  constexpr int W = sizeof(T) == 4 ? 8 : 4;
  const int64_t chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c)
    arange_span<W>(y, start, step, c * chunk, std::min(n, (c + 1) * chunk));
}

template void arange_forward<float>(float*, double, double, int64_t, int64_t);
template void arange_forward<double>(double*, double, double, int64_t, int64_t);

}  // namespace ember
