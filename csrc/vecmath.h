// Elementwise exp / expm1 / log / log1p / tanh / sigmoid / erf / erfc / sin / cos, log2 / log10 /
// exp2 / sinh / cosh / atan / asin / acos / atanh (float, double), written as plain inline scalar
// code that GCC -O3 auto-vectorises WITHOUT fast-math: no libm calls and no branches on the hot
// path. Each function is range reduction + a polynomial, 2^n built from bits, and branch-free
// selects (`c ? a : b`) for overflow, underflow, NaN and inf. Divisions and square roots are the
// slow vector instructions (one vdivpd zmm costs as much as ~10 FMAs), so the hot forms avoid
// them where a polynomial does as well: float log / log1p, log2 / log10 / sinh / cosh for float,
// asin / acos have none; tanh, erf, atan, atanh and double log keep one.
// The kernels using them are compiled with -fno-trapping-math (target-wide, see CMakeLists.txt):
// without it GCC will not if-convert the selects and the loops stay scalar.
//
// Run-time ISA choice (the one mechanism for the kernels outside csrc/gemm/): the innermost
// worker of a kernel -- the function that loops over raw pointers and calls these functions -- is
// declared EMBER_SIMD. On x86-64 Linux with GCC >= 12 that is function multiversioning: the worker
// is compiled three times (target_clones: x86-64-v4 = AVX-512, x86-64-v3 = AVX2 + FMA, and the
// build's portable baseline) and an ifunc resolver picks one clone when the module is loaded, by
// CPU detection; `flatten` inlines everything the worker calls, so these functions are compiled
// for the clone's ISA (a helper left out of line would run as the SSE2 baseline). Elsewhere
// EMBER_SIMD is just `flatten` (the baseline build). The clones may contract a*b+c into FMA, so
// results can differ by an ulp between CPUs, never between runs or thread counts on one machine.
//
// Accuracy (measured by tests/test_activation_kernels.py, test_big3_kernels.py,
// test_vecmath512.py and test_vecmath13.py against float64 / mpmath references): float within
// ~2.5 ulp of std::exp etc. (log ~1.0, log1p ~1.4, tanh ~1.1), double within ~1e-15 relative;
// the double exp / log / log2 / log10 of torch.exp etc. within ~0.72 / 0.56 / 0.58 / 0.57 ulp
// (0.67 / 0.68 / 0.63 for the logs without FMA; test_vecmath18.py; vlog, which the fused
// kernels use, ~1.85).
// float erf within ~1 ulp (vm::erf_float: PyTorch's, MKL's, is within 1.0); float erfc
// is evaluated in double and rounded once (vm::erfc_float, within ~0.5 ulp; the normal CDF of
// GELU has its own float fit, vm::normal_tail64, within ~6 ulp: one exponential, no branch);
// double erf within ~0.95 ulp (vm::erfc_for_erf above 1) and erfc within ~1.3 ulp
// (vm::erfc_tail64; 4 without FMA), to erfc's underflow at 27.3.
// sin, cos, sinh, cosh, atanh and erfinv of a float are
// evaluated in double and rounded once (within ~0.5 ulp); exp2 (within 0.9 ulp with FMA, 1.1
// without), log2, log10, asin, acos and atan of a
// float in float with hi + lo parts where it counts (within 0.8 ulp: PyTorch's Sleef u10 bound is
// 1 ulp; tests/test_vecmath_float32.py runs each SIMD clone).
// (On AVX-512 CPUs the float32 log2 / log10 kernels run a table form instead, within 0.53 ulp:
// activation.cpp's log_table_avx512.)
//
// The coefficients are Taylor series (exact rationals) except: float log's (Cephes' logf,
// Moshier's minimax fit, shared by float log2 / log10), float tanh's, erf's and sin / cos's
// (Lawson fits, see each), the erfc tables and double asin_half's
// polynomial, Chebyshev interpolants made with mpmath, and float asin's, a weighted least-squares
// fit in mpmath (the recipe is in the comment above each).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#if defined(__x86_64__) && defined(__ELF__) && defined(__GNUC__) && !defined(__clang__) && \
    __GNUC__ >= 12
#define EMBER_SIMD \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), flatten))
// One clone's ISA by name, for test hooks that run a chosen clone's code (vecmath_apply).
#define EMBER_SIMD_CLONES 1
#define EMBER_TARGET(arch) __attribute__((target(arch), flatten))
#else
#define EMBER_SIMD __attribute__((flatten))
#define EMBER_SIMD_CLONES 0
#endif

namespace ember {

namespace vm {

inline uint32_t as_bits(float x) {
  uint32_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
inline uint64_t as_bits(double x) {
  uint64_t b;
  std::memcpy(&b, &x, sizeof b);
  return b;
}
inline float from_bits(uint32_t b) {
  float x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}
inline double from_bits(uint64_t b) {
  double x;
  std::memcpy(&x, &b, sizeof x);
  return x;
}

// 1.5 * 2^mantissa_bits: adding it rounds to an integer held in the low mantissa bits.
constexpr float kRoundF = 12582912.0f;
constexpr double kRoundD = 6755399441055744.0;

// 2^n for an integral n in [-126, 127] (float) / [-1022, 1023] (double), held in a float type.
// scalar math: n + 1.5*2^23 puts (2^22 + n) in the low mantissa bits; adding the bias and
// shifting by 23 leaves exactly (n + 127) in the exponent field (the rest shifts out).
inline float pow2i(float n) { return from_bits((as_bits(n + kRoundF) + 127u) << 23); }
inline double pow2i(double n) {
  return from_bits((as_bits(n + kRoundD) + uint64_t(1023)) << 52);  // scalar math: as above
}

// x's leading 12 (float) / 26 (double) significant bits: products of two such halves are exact.
inline float high_half(float x) { return from_bits(as_bits(x) & 0xfffff000u); }
inline double high_half(double x) { return from_bits(as_bits(x) & uint64_t(0xfffffffff8000000)); }

// exp(r) - 1 for |r| <= ln2/2, Taylor to r^7 (float: truncation < 6e-9) / r^13 (double: < 2e-17).
inline float expm1_poly(float r) {
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  return r + r * r * p;
}
// (exp(r) - 1 - r - r^2/2) / r^3 = 1/3! + r/4! + ... + r^10/13!, Taylor by Horner: the tail
// both expm1_poly and expm1_hilo add
inline double expm1_cubic_tail(double r) {
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  return p * r + 1.0 / 6.0;
}
inline double expm1_poly(double r) {
  const double p = expm1_cubic_tail(r) * r + 0.5;
  return r + r * r * p;
}

// P(r) of exp(r) = 1 + r + r^2 P(r) for |r| <= ln2/2 in double: degree 10, interpolating
// (exp(r) - 1 - r) / r^2 at its 11 Chebyshev nodes (mpmath, 50 digits; exp's relative error
// < 4e-19), a term fewer than expm1_poly's Taylor series.
inline double exp_poly_d(double r) {
  double p = 2.0914717341716378e-09;
  p = p * r + 2.5105259538448494e-08;
  p = p * r + 2.755727357010214e-07;
  p = p * r + 2.7557255297969643e-06;
  p = p * r + 2.4801587325605324e-05;
  p = p * r + 0.0001984126987490126;
  p = p * r + 0.001388888888888373;
  p = p * r + 0.008333333333326112;
  p = p * r + 0.04166666666666667;
  p = p * r + 0.1666666666666667;
  return p * r + 0.5;
}

// exp(r) = 1 + r + r^2 P(r) for |r| <= ln2/2 with 1 + r as t + tl (Fast2Sum: exact), so the one
// rounding that counts is the last: double exp within ~0.72 ulp (1 + (r + r^2 P) was 0.9).
inline double one_plus_expm1(double r) {
  const double t = 1.0 + r;
  const double tl = (1.0 - t) + r;
  return t + (tl + r * r * exp_poly_d(r));
}

template <typename T>
struct consts;
template <>
struct consts<float> {
  static constexpr float log2e = 1.44269504088896341f;
  // scalar math: ln2 = hi + lo with hi = 355/512 exact, so n * hi is exact for |n| < 2^15.
  static constexpr float ln2_hi = 0.693359375f;
  static constexpr float ln2_lo = -2.12194440054690583e-4f;
  static constexpr float exp_lo = -104.0f;   // exp below: 0 (smallest denormal is 1.4e-45)
  static constexpr float exp_hi = 88.75f;    // exp above: inf (log(FLT_MAX) = 88.7228)
  static constexpr float expm1_lo = -20.0f;  // expm1 below: -1 to float precision
};
template <>
struct consts<double> {
  static constexpr double log2e = 1.4426950408889634;
  // scalar math: hi keeps 32 mantissa bits, so n * hi is exact for |n| < 2^21.
  static constexpr double ln2_hi = 0.6931471803691238;
  static constexpr double ln2_lo = 1.9082149292705877e-10;
  static constexpr double exp_lo = -746.0;  // smallest denormal is 4.9e-324 = exp(-744.4)
  static constexpr double exp_hi = 709.8;   // log(DBL_MAX) = 709.7827
  static constexpr double expm1_lo = -40.0;
};

// Round x*log2(e) to the nearest integer n (as T) and return r = x - n*ln2, |r| <= ln2/2.
template <typename T>
inline T reduce_ln2(T x, T& n) {
  constexpr T round = sizeof(T) == 4 ? T(kRoundF) : T(kRoundD);
  n = (x * consts<T>::log2e + round) - round;  // scalar math: round-to-nearest without libm
  T r = x - n * consts<T>::ln2_hi;             // exact (Cody-Waite)
  return r - n * consts<T>::ln2_lo;
}

// Cephes' P(f) of logf (see log_core): log(1 + f) = f - f^2/2 + f^3 P(f).
inline float log_poly(float f) {
  float p = 7.0376836292e-2f;
  p = p * f + -1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f + -1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f + -1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f + -2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  return p;
}

// 1/3 + z/5 + ... + z^9/21: atanh(s) = s + s z P(z) with z = s^2 (log's series in s =
// (m-1)/(m+1), log m = 2 atanh(s)); for z <= 0.0295 the next term is below 6e-19 relative.
inline double atanh_series(double z) {
  double p = 1.0 / 21;
  p = p * z + 1.0 / 19;
  p = p * z + 1.0 / 17;
  p = p * z + 1.0 / 15;
  p = p * z + 1.0 / 13;
  p = p * z + 1.0 / 11;
  p = p * z + 1.0 / 9;
  p = p * z + 1.0 / 7;
  p = p * z + 1.0 / 5;
  return p * z + 1.0 / 3;
}

// fdlibm's e_log.c R(z) / z for z = s^2 <= 0.0295: Lg1 + Lg2 z + ... + Lg7 z^6, a minimax fit of
// (2 atanh(s) / s - 2) / z (|error| < 2^-58.45): three terms fewer than 2 atanh_series(z).
inline double log_lg(double z) {
  double p = 1.479819860511658591e-01;
  p = p * z + 1.531383769920937332e-01;
  p = p * z + 1.818357216161805012e-01;
  p = p * z + 2.222219843214978396e-01;
  p = p * z + 2.857142874366239149e-01;
  p = p * z + 3.999999999940941908e-01;
  return p * z + 6.666666666666735130e-01;
}

// log(x) for finite x > 0 with x*scale normal (see vlog). kLo: log(x + c) for a c below x's last
// bit (vlog1p's rounding error of 1 + x), folded into f = m - 1 as c * 2^-e.
// float: division-free (a vdivps was the AVX-512 loop's bottleneck): Cephes' logf,
// log(1 + f) = f - f^2/2 + f^3 P(f) on [sqrt(1/2) - 1, sqrt(2) - 1], P of degree 8 (Moshier's
// minimax coefficients), in fdlibm's order of additions: the exact f carries the result and every
// rounded term is a small correction to it (within ~1 ulp). m and e come from integer arithmetic
// on the bits (x's bits minus those of sqrt(1/2): the exponent field of the difference is e, no
// compare or select). double: 2 atanh(s) = 2s + s R(s^2) (fdlibm's R), s = f / (2 + f), one
// division. kSmallE (float, x < 2^126): 2^-e straight from k's bits, the same value as pow2i's
// clamped form (vm::log1p_fast).
template <bool kLo = false, bool kSmallE = false>
inline float log_core(float x, float c = 0.0f) {
  // scalar math: ix's top bits (arithmetic shift) are e with m = x 2^-e in [sqrt(1/2), sqrt(2))
  const int32_t ix = static_cast<int32_t>(as_bits(x) - 0x3f3504f3u);
  const int32_t k = ix >> 23;
  float e = static_cast<float>(k);
  const float m = from_bits(as_bits(x) - (static_cast<uint32_t>(k) << 23));
  float f = m - 1.0f;
  if constexpr (kLo && kSmallE)
    f = f + c * from_bits(static_cast<uint32_t>(127 - k) << 23);  // scalar math: 2^-e
  else if constexpr (kLo)
    f = f + c * pow2i(std::max(-e, -126.0f));
  const float z = f * f;
  const float p = log_poly(f);
  const float y = f * z * p;
  const float hfsq = 0.5f * z;
  return e * consts<float>::ln2_hi - ((hfsq - (y + e * consts<float>::ln2_lo)) - f);
}
// e and m with x = 2^e m, m in [sqrt(1/2), sqrt(2)), for a positive normal double x. scalar math:
// as the float form, k = e + 1023 from the bits of x minus those of sqrt(1/2), biased by 1023 so
// that a logical shift does (AVX2 has no 64-bit arithmetic shift), and e as a double via the
// 2^52 trick (no cvtqq2pd): no compare or select (8% of log's time). m stays in that range and e
// finite for every x (0, inf, NaN, negative: the bits above 52 go to k), so log_core's y is
// finite and the callers' selects decide.
inline double log_split(double x, double& m) {
  const uint64_t b = as_bits(x);
  const uint64_t k = (b - uint64_t(0x3fe6a09e667f3bcd) + (uint64_t(1023) << 52)) >> 52;
  m = from_bits(b - ((k - uint64_t(1023)) << 52));
  return from_bits(uint64_t(0x4330000000000000) | k) - (4503599627370496.0 + 1023.0);
}
template <bool kLo = false>
inline double log_core(double x, double c = 0.0) {
  double m, e;
  if constexpr (kLo) {
    // (log1p: log_split's form made GCC evaluate this function twice, once for each side of the
    // clamp below, and blend the two: 25% slower)
    const uint64_t b = as_bits(x);
    // scalar math: the biased exponent (< 2^11) as a double via the 2^52 trick (no cvtqq2pd).
    e = from_bits(uint64_t(0x4330000000000000) | (b >> 52)) - 4503599627370496.0 - 1023.0;
    m = from_bits((b & uint64_t(0x000fffffffffffff)) | uint64_t(0x3ff0000000000000));
    const bool big = m > 1.4142135623730951;
    m = m * (big ? 0.5 : 1.0);
    e = e + (big ? 1.0 : 0.0);
  } else {
    e = log_split(x, m);
  }
  double f = m - 1.0;
  if constexpr (kLo) f = f + c * pow2i(std::max(-e, -1022.0));
  double s = f / (2.0 + f);
  double z = s * s;
  // 2 atanh(s) = 2s + s R(z), R by fdlibm's minimax polynomial (log_lg)
  double lm = 2.0 * s + s * (z * log_lg(z));
  return e * consts<double>::ln2_hi + (lm + e * consts<double>::ln2_lo);
}

}  // namespace vm

// exp(x): 0 below the denormal range, inf above log(max), NaN propagates.
// float: clamped to [-104, 88.75] by min / max (NaN flows through both), 2^n as two factors
// 2^(n>>1) * 2^(n - (n>>1)) built by integer arithmetic on n taken straight from the rounding
// sum's bits (n in [-150, 128], each factor normal), so denormals come out rounded once and no
// mask is needed: exp(-104) = 6.8e-46 rounds to 0, exp(88.75) * 2^-128 > 1 overflows to inf. A
// third fewer vector instructions than 2^n by pow2i and an underflow mask (the AVX-512 loop's
// bottleneck). double: the same form (see below).
template <typename T>
inline T vexp(T x) {
  using C = vm::consts<T>;
  if constexpr (sizeof(T) == 4) {
    const float xc = std::min(std::max(x, C::exp_lo), C::exp_hi);
    const float z = xc * C::log2e + vm::kRoundF;  // scalar math: round-to-nearest in z's bits
    const float n = z - vm::kRoundF;
    float r = xc - n * C::ln2_hi;  // exact (Cody-Waite)
    r = r - n * C::ln2_lo;
    const float p = 1.0f + vm::expm1_poly(r);
    // scalar math: z's bits minus those of kRoundF are n exactly (same exponent, |n| < 2^22).
    const int32_t ni = static_cast<int32_t>(vm::as_bits(z) - vm::as_bits(vm::kRoundF));
    const int32_t n1 = ni >> 1;
    const float s1 = vm::from_bits(static_cast<uint32_t>(n1 + 127) << 23);
    const float s2 = vm::from_bits(static_cast<uint32_t>(ni - n1 + 127) << 23);
    return p * s1 * s2;
  } else {
    // double: the float form's clamp and two factors, with n's halves taken from z's bits by
    // logical shifts (AVX2 has no 64-bit arithmetic shift): z's low 12 bits hold n mod 2^12
    // (kRoundD's mantissa is 2^51 + n), so (b >> 1) + 1023 and b - (b >> 1) + 1023, shifted into
    // the exponent field, are 2^floor(n/2) and 2^ceil(n/2) (the bits above shift out). n in
    // [-1076, 1024]: both factors normal; exp(-746) * 2^-1076 rounds to 0 and exp(709.8) > max
    // overflows to inf with no mask. exp(r) = 1 + r + r^2 P(r) (vm::one_plus_expm1).
    const double xc = std::min(std::max(x, C::exp_lo), C::exp_hi);
    const double z = xc * C::log2e + vm::kRoundD;  // scalar math: round-to-nearest in z's bits
    const double n = z - vm::kRoundD;
    double r = xc - n * C::ln2_hi;  // exact (Cody-Waite)
    r = r - n * C::ln2_lo;
    const double e = vm::one_plus_expm1(r);
    const uint64_t b = vm::as_bits(z);
    const double s1 = vm::from_bits(((b >> 1) + uint64_t(1023)) << 52);
    const double s2 = vm::from_bits((b - (b >> 1) + uint64_t(1023)) << 52);
    return e * s1 * s2;
  }
}

namespace vm {
// a + b = s + e exactly (Knuth's TwoSum: either order of magnitudes; no products, so FMA
// contraction changes nothing).
inline double two_sum(double a, double b, double& e) {
  const double s = a + b;
  const double bb = s - a;
  e = (a - (s - bb)) + (b - bb);
  return s;
}
// exp(r) - 1 = qh + ql for r = rh + rl, |rh| <= 0.35 (|rl| <= ulp(rh)): rh + rh^2/2 by Fast2Sum
// with rh^2/2 split exactly (rh's 26 leading bits h: h^2 exact), the rest (r^3 P(r), Taylor to
// r^13, and rl's terms) a small correction in double, so qh + ql is within ~0.03 ulp of
// expm1(r) (r^3 P's rounding, < 2^-58.6 relative).
inline double expm1_hilo(double rh, double rl, double& ql) {
  const double h = high_half(rh), m = rh - h;
  const double a = 0.5 * h * h;          // exact
  const double b = h * m + 0.5 * m * m;  // rh^2/2 - a (to ~2^-106 of it)
  const double p = expm1_cubic_tail(rh);
  const double qh = rh + a;  // Fast2Sum: |a| <= 0.175 |rh|
  ql = ((rh - qh) + a) + (b + rl * (1.0 + rh) + rh * (rh * rh) * p);
  return qh;
}
// r = x - n ln2 = rh + rl for |x| <= 710 (Cody-Waite, the rounding of the ln2_lo step kept), n
// the nearest integer to x / ln2.
inline double reduce_ln2_hilo(double x, double& n, double& rl) {
  using C = consts<double>;
  n = (x * C::log2e + kRoundD) - kRoundD;
  const double t = x - n * C::ln2_hi;  // exact
  const double c = n * C::ln2_lo;
  const double rh = t - c;
  rl = (t - rh) - c;  // Fast2Sum (|c| < |t| or t = 0 = c)
  return rh;
}
// expm1 of a double: 2^n (1 + qh + ql) - 1 = 2 (s qh + (s - 1/2)) + 2 s ql with s = 2^(n-1)
// (2^1023 at most: finite up to the overflow point), x clamped to [-40, 709.8] (NaN kept). The
// bracket s - 1/2 is exact for n - 1 in [-54, 52]; above, the 1/2 and below, s move to the lo
// part instead, so hi + lo carries every term: expm1_half returns expm1(x) / 2 = hi + lo, and
// expm1_acc rounds it once: within ~0.53 ulp (the Taylor form rounded at each step was 1.64;
// PyTorch's 0.98).
inline double expm1_half(double xc, double& lo) {
  double n, rl, ql;
  const double rh = reduce_ln2_hilo(xc, n, rl);
  const double qh = expm1_hilo(rh, rl, ql);
  const double s = pow2i(n - 1.0);
  // scalar math: s - 1/2 exact in range, its parts otherwise (selects between values)
  const double b = n > 53.0 ? s : (n < -53.0 ? -0.5 : s - 0.5);
  const double extra = n > 53.0 ? -0.5 : (n < -53.0 ? s : 0.0);
  const double hi = two_sum(s * qh, b, lo);
  lo += s * ql + extra;
  return hi;
}
inline double expm1_acc(double x) {
  using C = consts<double>;
  double xc = x < C::expm1_lo ? C::expm1_lo : x;
  xc = xc > C::exp_hi ? C::exp_hi : xc;
  double lo;
  const double hi = expm1_half(xc, lo);
  return std::fabs(x) < 0x1p-54 ? x : 2.0 * (hi + lo);  // (x / 2 would lose a subnormal's bit)
}
// a b = p + e exactly (Dekker: the 26-bit halves' products are exact, so FMA contraction
// changes nothing; the last one, of two 27-bit parts, to ~2^-106).
inline double two_prod(double a, double b, double& e) {
  const double p = a * b;
  const double ah = high_half(a), al = a - ah, bh = high_half(b), bl = b - bh;
  e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
  return p;
}
// sinh (kCosh false) or cosh of a double a >= 0 (NaN propagates), rounded once from hi + lo
// parts: up to 37 from u = expm1(a) = uh + ul (as vm::expm1_half), sinh = (u + u / (u + 1)) / 2
// (no cancellation near 0) and cosh = (e + 1 / e) / 2 with e = 1 + u, each quotient's
// remainder by two_prod; above, exp(a) / 2 (e^-a is below 2^-106 of it). Within ~0.54 ulp
// (u and e / 2 sums rounded at each step were 1.9 / 1.1).
template <bool kCosh>
inline double sinh_cosh_acc(double a) {
  // one reduction and polynomial for both sides: a clamped to 710.5 (inf: sinh(710.48) overflows)
  double n, rl, ql;
  const double rh = reduce_ln2_hilo(std::min(a, 710.5), n, rl);  // std::min keeps a NaN a
  const double qh = expm1_hilo(rh, rl, ql);
  // above 37: exp(a) / 2 = 2^(n-1) (1 + qh + ql) = 2 (s2 + s2 qh) + 2 s2 ql, s2 = 2^(n-2) finite
  double bl;
  const double s2 = pow2i(n - 2.0);
  const double bh = two_sum(s2, s2 * qh, bl);
  const double big = 2.0 * (bh + (bl + s2 * ql));
  // up to 37: u = expm1(a) = 2 (s qh + (s - 1/2)) + 2 s ql, s = 2^(n-1) (n <= 53: s - 1/2
  // exact), normalised (the quotients' remainders below need |ul| <= ulp(uh))
  const double s = pow2i(n - 1.0);
  double l2, ul;
  const double h2 = two_sum(s * qh, s - 0.5, l2);
  const double uh = 2.0 * two_sum(h2, l2 + s * ql, ul);
  ul *= 2.0;
  double hi, lo;
  if constexpr (kCosh) {
    double el;
    const double eh = two_sum(1.0, uh, el);
    el += ul;
    const double inv = 1.0 / eh;
    double pe;
    const double p = two_prod(eh, inv, pe);
    const double il = inv * (((1.0 - p) - pe) - el * inv);  // 1/e - inv
    hi = two_sum(eh, inv, lo);
    lo += el + il;
  } else {
    double dl;
    const double dh = two_sum(1.0, uh, dl);
    dl += ul;
    const double inv = 1.0 / dh;
    const double vh = uh * inv;
    double pe;
    const double p = two_prod(vh, dh, pe);
    const double vl = (((uh - p) - pe) + (ul - vh * dl)) * inv;  // u / (1 + u) - vh
    hi = two_sum(uh, vh, lo);
    lo += ul + vl;
  }
  const double small = kCosh ? 0.5 * (hi + lo) : (a < 0x1p-28 ? a : 0.5 * (hi + lo));  // denormals
  return a > 37.0 ? big : small;
}
}  // namespace vm

// exp(x) - 1, accurate near 0; -1 below, inf above the overflow point, NaN propagates.
// double: vm::expm1_acc.
template <typename T>
inline T vexpm1(T x) {
  if constexpr (sizeof(T) == 8) {
    return vm::expm1_acc(x);
  } else {
    using C = vm::consts<T>;
    T xc = x < C::expm1_lo ? C::expm1_lo : x;
    xc = xc > C::exp_hi ? C::exp_hi : xc;
    T n;
    T r = vm::reduce_ln2(xc, n);
    T q = vm::expm1_poly(r);
    T n1 = (n * T(0.5) + vm::kRoundF) - vm::kRoundF;
    T n2 = n - n1;
    // scalar math: exp(x) - 1 = 2^n (q + 1) - 1 = 2^n2 (2^n1 q + (2^n1 - 2^-n2)); the bracket's
    // difference of powers of two is exact whenever it matters (|n| small), and splitting 2^n
    // keeps every factor finite up to the overflow point.
    return vm::pow2i(n2) * (vm::pow2i(n1) * q + (vm::pow2i(n1) - vm::pow2i(-n2)));
  }
}

namespace vm {
// expm1 of a float, in double and rounded once (float32 torch.expm1's last bit in > 99% of
// inputs, as vexpm1(double(x)) did): float's range needs neither vexpm1's split of 2^n (2^129 is
// a double) nor its degree-13 Taylor series: to r^9 (|r| <= ln2/2: relative truncation < 3e-11)
// with one ln2 (|n| <= 129: r's error < 4e-14), ~2x faster. Below -20: -1 in float; above 89: inf.
inline float expm1_float(float v) {
  double x = v < -20.0f ? -20.0f : v;  // (a NaN passes both clamps)
  x = x > 89.0 ? 89.0 : x;
  const double n = (x * consts<double>::log2e + kRoundD) - kRoundD;  // scalar math: rint
  const double r = x - n * 0.69314718055994531;
  double p = 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  const double q = r + r * r * p, e = pow2i(n);
  return float(e * q + (e - 1.0));  // scalar math: e - 1 exact for n <= 53 (n >= -29)
}
}  // namespace vm

// Natural log: log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, denormals handled.
template <typename T>
inline T vlog(T x) {
  constexpr T tiny = std::numeric_limits<T>::min();
  constexpr T scale = sizeof(T) == 4 ? T(16777216.0) : T(18014398509481984.0);  // 2^24 / 2^54
  constexpr T lscale = sizeof(T) == 4 ? T(16.635532333438686) : T(37.42994775023705);
  constexpr T inf = std::numeric_limits<T>::infinity();
  const bool den = x < tiny;
  const T y = vm::log_core(x * (den ? scale : T(1))) - (den ? lscale : T(0));
  // specials: x itself at inf and NaN, -inf at 0, NaN below 0, added to the finite y. scalar
  // math: `c ? y : sp` would let GCC sink y into a branch it cannot vectorise (see vexp).
  T sp = x == T(0) ? -inf : x;
  sp = x < T(0) ? std::numeric_limits<T>::quiet_NaN() : sp;
  return y + ((x > T(0)) & (x < inf) ? T(0) : sp);
}

// log(1 + x), accurate near 0.
template <typename T>
inline T vlog1p(T x) {
  constexpr T big = std::numeric_limits<T>::max();  // only inf is clamped
  constexpr T inf = std::numeric_limits<T>::infinity();
  T xc = x > big ? big : x;
  T u = T(1) + xc;
  // scalar math: 1 + x = u + c exactly (x - (u-1) is exact, Sterbenz), and log(u + c) is
  // log_core's kLo form (u == 1 gives f = x: log1p(x) ~ x to the last bit). u is never denormal.
  const T y = vm::log_core<true>(u, xc - (u - T(1)));
  // specials added to the finite y as vlog's: NaN at NaN, -inf at -1, NaN below, inf at inf (a
  // second select: GCC does not vectorise this loop with the two masks and-ed into one)
  T sp = u == T(0) ? -inf : x;
  sp = u < T(0) ? std::numeric_limits<T>::quiet_NaN() : sp;
  return y + (u > T(0) ? T(0) : sp) + (x == inf ? inf : T(0));
}

namespace vm {
// log1p of a float x in (-1, kLog1pFastMax] (vm::log1p_fast_in; not NaN or inf): vlog1p's
// arithmetic without the clamp and the special-value selects and with 2^-e from k's bits
// (u = 1 + x in [2^-24, 2^124): -e in [-124, 24]); vlog1p's bits but in the last bit of ~4e-5
// of inputs (see activation.cpp's log1p_full), the same 1.33-ulp bound. The float32 log1p
// kernel runs it on blocks with no lane outside (split_map): ~2x faster on AVX-512, where the
// selects and pow2i were a third of vlog1p's instructions.
constexpr float kLog1pFastMax = 1e37f;
inline bool log1p_fast_in(float x) { return (x > -1.0f) & (x <= kLog1pFastMax); }
inline float log1p_fast(float x) {
  const float u = 1.0f + x;
  return log_core<true, true>(u, x - (u - 1.0f));  // scalar math: as vlog1p
}
}  // namespace vm

// Double exp / log / log2 / log10 in two passes (the unary kernels' split maps, activation.cpp):
// the hot loop runs a form valid only on the usual range, with no clamp, mask or special-value
// select, and a scan redoes the rare lanes outside it (NaN, +-inf, 0, negatives, denormals, exp's
// |x| > 708) with the full form: vm::exp_full (vexp but for subnormal results), log_specials of
// vm::log_acc<false>, vlog2, vlog10. Those selects were a quarter of the AVX-512 loop's
// instructions, and these loops are bound by instruction throughput (a vdivpd included: a float
// division and Newton steps instead measured slower). Results are the full forms' bits: the same
// arithmetic on every lane both accept.
namespace vm {
// exp(x) for |x| <= kExpNormalMax (NaN: any NaN): 2^n (n in [-1022, 1022]) is one normal
// factor built from z's bits (kRoundD's mantissa holds 2^51 + n: + 1023 and the shift leave
// n + 1023 in the exponent field); vexp's reduction and polynomial, so vexp's bits.
constexpr double kExpNormalMax = 708.0;
inline double exp_normal(double x) {
  using C = consts<double>;
  const double z = x * C::log2e + kRoundD;  // scalar math: round-to-nearest in z's bits
  const double n = z - kRoundD;
  double r = x - n * C::ln2_hi;  // exact (Cody-Waite)
  r = r - n * C::ln2_lo;
  return one_plus_expm1(r) * from_bits((as_bits(z) + uint64_t(1023)) << 52);
}
// exp(x) for every double x, the split's full form: vexp, except that results in the subnormal
// range (x < log(DBL_MIN) = -708.396) are rounded once. vexp rounds 1 + expm1(r) to 53 bits and
// then the product with 2^n to the subnormal's fewer (up to 0.86 of its last place; PyTorch's
// ~0.5): here 2^(n + 1022) exp(r) = v + vl (r's rounding error kept too) is kept as a sum and,
// below 1, rounded at 2^-52 by adding 1 (glibc's exp's special case), so the scaling by 2^-1022
// is exact. Branch-free (it vectorises: a block of the split map with any out-of-range lane runs
// it on every lane), the subnormal form on x clamped into its range, then one select.
inline double exp_full(double x) {
  using C = consts<double>;
  const double xs = std::min(std::max(x, -746.0), -708.39);  // NaN: the select below drops it
  const double z = xs * C::log2e + kRoundD;  // scalar math: round-to-nearest in z's bits
  const double n = z - kRoundD;              // in [-1077, -1022]
  const double r1 = xs - n * C::ln2_hi;      // exact (Cody-Waite)
  const double r = r1 - n * C::ln2_lo;
  const double rl = (r1 - r) - n * C::ln2_lo;  // r's rounding error (r1 - r exact)
  const double t = 1.0 + r;
  const double el = ((1.0 - t) + r) + (rl + r * r * exp_poly_d(r));  // exp(r1 - n ln2_lo) = t + el
  const double scale = pow2i(n + 1022.0);                            // >= 2^-55: normal
  const double a = scale * t, b = scale * el;                        // exact
  const double v = a + b;
  const double vl = (a - v) + b;  // Fast2Sum (|a| > |b|)
  const double hi = 1.0 + v;
  const double lo = ((1.0 - hi) + v) + vl;
  // v >= 1: a normal result, rounded once already; below, (hi + lo) - 1 is exact
  const double sub = (v >= 1.0 ? v : (hi + lo) - 1.0) * 2.2250738585072014e-308;  // 2^-1022
  const double y = vexp(x);
  return (x < -708.39) & (x >= -746.0) ? sub : y;
}

// Whether x is a normal positive finite double (the logs' hot-loop range): one subtraction and
// one unsigned compare on the bits (negatives and NaN have larger bit patterns than +inf).
inline bool positive_normal(double x) {
  return as_bits(x) - uint64_t(0x0010000000000000) < uint64_t(0x7fe0000000000000);
}
}  // namespace vm

namespace vm {

// expm1(x) for x <= 0 (NaN propagates): as vexpm1, but 2^n stays normal (n >= -58), so one
// power of two does: 2^n (q + 1) - 1 = 2^n q + (2^n - 1), the bracket exact while it matters.
template <typename T>
inline T expm1_nonpos(T x) {
  using C = consts<T>;
  T xc = x < C::expm1_lo ? C::expm1_lo : x;
  T n;
  T r = reduce_ln2(xc, n);
  T q = expm1_poly(r);
  T p2 = pow2i(n);
  return p2 * q + (p2 - T(1));
}

// exp(x) for x <= 0 (NaN propagates), e.g. softmax's shifted logits: where exp(x) is a normal
// number, vexp's arithmetic exactly with 2^n as one factor; below (x < -87 in float) 0 rather
// than vexp's denormals, which vanish beside a row's largest term (1) anyway. A third fewer
// instructions than vexp (attention's forward: its hottest loop).
template <typename T>
inline T exp_nonpos(T x) {
  constexpr T lo = sizeof(T) == 4 ? T(-87) : T(-708);  // 2^n >= 2^-126 / 2^-1022: normal
  const T xc = x < lo ? lo : x;
  T n;
  const T r = reduce_ln2(xc, n);
  const T y = (T(1) + expm1_poly(r)) * pow2i(n);
  return y * (x < lo ? T(0) : T(1));  // scalar math: a select between constants, see vexp
}

// log(1 + x) for x in [0, 1] (NaN propagates) as 2 atanh(s), s = x / (2 + x) in [0, 1/3]: one
// division and a series in s^2 <= 1/9 (float to s^18, double to s^34: truncation < eps/4).
template <typename T>
inline T log1p_unit(T x) {
  const T s = x / (T(2) + x);
  const T z = s * s;
  T p;
  if constexpr (sizeof(T) == 4) {
    p = 1.0f / 19;
    p = p * z + 1.0f / 17;
    p = p * z + 1.0f / 15;
    p = p * z + 1.0f / 13;
    p = p * z + 1.0f / 11;
    p = p * z + 1.0f / 9;
    p = p * z + 1.0f / 7;
    p = p * z + 1.0f / 5;
    p = p * z + 1.0f / 3;
  } else {
    p = 1.0 / 35;
    for (int k = 33; k >= 3; k -= 2) p = p * z + 1.0 / k;  // unrolled: constant trip count
  }
  return T(2) * s + T(2) * s * (z * p);
}

}  // namespace vm

// sum of a[0, n) in double with 8 independent partial sums (added in a fixed order): one serial
// chain of double adds would make a reduction latency-bound.
template <typename T>
inline double sum_double(const T* a, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(a[i + j]);
  double s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; ++i) s += double(a[i]);
  return s;
}

namespace vm {
// float tanh, within ~1.05 ulp (FMA clones and baseline alike), no select but the branch blend:
// |x| < 3/4: tanh(x) = x + x z P(z), z = x^2, P of degree 5 fitted to (tanh(x) - x) / x^3
// (relative error of tanh < 2^-28.9); above: 1 - 2 / (E + 1) with E = exp(2|x|) = 2^n (1 + p),
// p = expm1(r) (|r| <= ln2/2) a degree-6 polynomial r + r^2 Q(r) fitted for the relative error of
// 1 + p (< 2^-28.2), and E + 1 = 2^n p + (2^n + 1) with one rounding (2^n + 1 exact). The error
// is the rounding of E + 1, the quotient's and the last subtraction's (tanh in [0.63, 1): no
// cancellation). |x| is clamped at 10 by a plain min (tanh rounds to 1 from 9.01 on; the
// clamp keeps 2^n finite); a NaN x takes the polynomial side of the blend and propagates. The fits:
// Lawson's iteratively reweighted least squares (numpy) on 2000 Chebyshev nodes against mpmath,
// each coefficient rounded to float in turn and the rest refitted. tanh(-0) = -0, +-inf -> +-1.
// (Measured and dropped: the big side without the division, 1 - w (2 + w (-2 + w C(w))) with
// w = exp(-2|x|) <= e^-1.5 and C a degree-4 fit of 2 / (1 + w): within 0.87 ulp with FMA but
// 1.23 without, and 5-10% slower on AVX-512 (the loop is bound by its instruction count, not by
// the vdivps); with C of degree 3 it only matched this form's speed.)
// expm1(r) for |r| <= ln2/2: tanh_float's fitted r + r^2 Q(r) (also the recurrent layers' tanh,
// csrc/ops/rnn.cpp).
inline float expm1_fit_float(float r) {
  float q = 0.001381455920636654f;
  q = q * r + 0.008368735201656818f;
  q = q * r + 0.04166838899254799f;
  q = q * r + 0.1666652113199234f;
  q = q * r + 0.4999999403953552f;
  return r + r * r * q;
}
inline float tanh_float(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  float p = 0.001736935693770647f;
  p = p * z + -0.007657255046069622f;
  p = p * z + 0.021452033892273903f;
  p = p * z + -0.053892724215984344f;
  p = p * z + 0.1333269476890564f;
  p = p * z + -0.33333316445350647f;
  const float small = x + x * (z * p);
  const float t2 = 2.0f * (a < 10.0f ? a : 10.0f);  // minps: a NaN a gives 10 (see above)
  // scalar math: n = round(2|x| log2e) in k's low mantissa bits; 2^n from k's bits as pow2i does
  const float k = t2 * consts<float>::log2e + kRoundF;
  const float n = k - kRoundF;
  float r = t2 - n * consts<float>::ln2_hi;  // exact (Cody-Waite)
  r = r - n * consts<float>::ln2_lo;
  const float em1 = expm1_fit_float(r);
  const float p2 = from_bits((as_bits(k) + 127u) << 23);
  const float big = 1.0f - 2.0f / (p2 * em1 + (p2 + 1.0f));
  return std::copysign(a >= 0.75f ? big : small, x);
}
}  // namespace vm

// tanh(x). float: vm::tanh_float. double: tanh(|x|) = -u / (e + 1) with u = expm1(-2|x|) while
// tanh < 1/2 (no cancellation), and 1 - 2e / (e + 1) with e = exp(-2|x|) = u + 1 above: there the
// one rounding of 1 - (a small, accurate term) gives values just below 1 as correctly rounded
// ones (as PyTorch's, saturating at |x| = 19.06 in double); -u / (e + 1) loses the low bits of
// 1 - e there. u and e share one reduction (as expm1_nonpos; the clamp keeps e > 0, 1 - 2e / (1+e)
// still rounds to 1). Both branches are one form, w - (b q + c) / (e + 1), with w = 0 or 1 the one
// select (b, c follow from it exactly): a select of the quotient itself (big ? 1 - s : s) let GCC
// thread it back through the division and issue two divisions per vector.
template <typename T>
inline T vtanh(T x) {
  if constexpr (sizeof(T) == 4) {
    return vm::tanh_float(x);
  } else {
    using C = vm::consts<T>;
    const T a = std::fabs(x);
    const T y = T(-2) * a;
    const T yc = y < C::expm1_lo ? C::expm1_lo : y;
    T n;
    const T r = vm::reduce_ln2(yc, n);
    const T q = vm::expm1_poly(r);
    const T p2 = vm::pow2i(n);
    const bool big = a > T(0.5493);  // atanh(1/2) = 0.54931
    const T w = big ? T(1) : T(0);
    const T b = p2 + w * p2;
    const T c = b + (w - T(1));
    const T s = w - (b * q + c) / (p2 * q + (p2 + T(1)));
    return std::copysign(s, x);
  }
}

namespace vm {
// exp(x) for 1 + exp(x) only: where exp(x) < 2^-124 (float) / 2^-1009 (double), 1 + exp(x) is 1
// either way, so x is clamped there and 2^n is one factor (2 * 2^(n-1), finite up to the
// overflow point) with no underflow mask: vexp's own values wherever they reach the sum, a
// quarter fewer instructions. std::max / std::min clamps keep NaN and compile to max / min.
template <typename T>
inline T exp_for_one_plus(T x) {
  constexpr T lo = sizeof(T) == 4 ? T(-86) : T(-700);
  T xc = std::min(std::max(x, lo), consts<T>::exp_hi);
  T n;
  T r = reduce_ln2(xc, n);
  return (T(2) * (T(1) + expm1_poly(r))) * pow2i(n - T(1));  // scalar math: 2 * 2^(n-1) exact
}
}  // namespace vm

// 1 / (1 + exp(-x)), as PyTorch computes it.
template <typename T>
inline T vsigmoid(T x) {
  return T(1) / (T(1) + vm::exp_for_one_plus(-x));
}

namespace vm {

// erf(x) for |x| <= 1/2 (double): x * (Taylor series in x^2), coefficients
// (-1)^n 2/sqrt(pi)/(n! (2n+1)).
inline double erf_small(double x) {
  double z = x * x;
  double p = 9.422759064650411e-11;
  p = p * z + -1.2290555301717928e-09;
  p = p * z + 1.4807192815879218e-08;
  p = p * z + -1.6365844691234924e-07;
  p = p * z + 1.6462114365889248e-06;
  p = p * z + -1.492565035840625e-05;
  p = p * z + 0.00012055332981789664;
  p = p * z + -0.0008548327023450853;
  p = p * z + 0.005223977625442188;
  p = p * z + -0.026866170645131252;
  p = p * z + 0.11283791670955126;
  p = p * z + -0.37612638903183754;
  p = p * z + 1.1283791670955126;
  return x * p;
}

// double: erfc(x) for x >= 1/2 as t * exp(-x*x + P(t)) with t = 2/(2+x) in (0, 0.8] (the form
// of Numerical Recipes' erfcc), P a Chebyshev interpolant of log(erfc(x)) + x*x - log(t) in
// u = 2.5t - 1, computed with mpmath (40 nodes) and converted to monomials: 26 terms, max rel.
// error 5e-16. x*x is split as xh*xh (exact) + xl*(x + xh).
inline double erfc_poly(double t) {
  const double u = 2.5 * t - 1.0;
  double p = -1.4471085095824422e-10;
  p = p * u + 2.8931849694580876e-10;
  p = p * u + 1.0370723787161227e-09;
  p = p * u + -3.3523865967421483e-09;
  p = p * u + -1.3026757662660294e-09;
  p = p * u + 1.8657608723831725e-08;
  p = p * u + -2.108516910823368e-08;
  p = p * u + -6.006724241290158e-08;
  p = p * u + 1.8621093209408063e-07;
  p = p * u + 5.941349439382858e-08;
  p = p * u + -9.707086084815515e-07;
  p = p * u + 6.910908363503219e-07;
  p = p * u + 4.009190885606341e-06;
  p = p * u + -6.395867939996977e-06;
  p = p * u + -1.477068122606963e-05;
  p = p * u + 3.8873228244209176e-05;
  p = p * u + 5.453578844429383e-05;
  p = p * u + -0.0002113154501327299;
  p = p * u + -0.0002426619616434019;
  p = p * u + 0.0011597608925398436;
  p = p * u + 0.0016209949307738696;
  p = p * u + -0.006975254683968061;
  p = p * u + -0.018367473809361334;
  p = p * u + 0.04637608495282526;
  p = p * u + 0.5187684450161721;
  p = p * u + -0.8040723101069575;
  return p;
}

// The argument of erfc_tail: |x| clamped to [1/2, 30] (erfc(30) is 0 even in double).
template <typename T>
inline T tail_arg(T a) {
  T c = a > T(0.5) ? a : T(0.5);
  return c < T(30) ? c : T(30);
}

// exp(hi + lo) where hi - n*ln2_hi is exact (hi has few significant bits, e.g. -xh*xh) and
// |lo| <= ~2, so the sum keeps the precision of both: one exponential where exp(hi) * exp(lo)
// would take two. Needs hi + lo <= 40; below exp_lo the result is 0 when kUnderflow, else the
// caller keeps hi + lo >= -130 (float) / -1000 (double). Denormal results are rounded once:
// 2^n is applied as 2^(n+64) (normal) times 2^-64.
template <typename T, bool kUnderflow>
inline T exp_hilo(T hi, T lo) {
  using C = consts<T>;
  constexpr T round = sizeof(T) == 4 ? T(kRoundF) : T(kRoundD);
  constexpr T two_m64 = T(5.421010862427522e-20);  // 2^-64
  bool under = false;
  if constexpr (kUnderflow) {
    under = hi + lo < C::exp_lo;
    hi = under ? C::exp_lo : hi;  // scalar math: selects between values (both finite)
    lo = under ? T(0) : lo;
  }
  T n = ((hi + lo) * C::log2e + round) - round;
  T r = (hi - n * C::ln2_hi) + (lo - n * C::ln2_lo);  // hi - n*ln2_hi exact (Cody-Waite)
  T y = (T(1) + expm1_poly(r)) * pow2i(n + T(64)) * two_m64;
  if constexpr (kUnderflow) y = y * (under ? T(0) : T(1));
  return y;
}

template <typename T>
inline T erfc_tail(T x) {
  T t = T(2) / (T(2) + x);
  T p = erfc_poly(t);
  T xh = high_half(x);  // scalar math: xh*xh is exact, so exp(-x*x) keeps full precision
  T xl = x - xh;
  return t * exp_hilo<T, true>(-xh * xh, p - xl * (x + xh));
}

// float: exp(r) for |r| <= ~ln2/2, degree 6: the Chebyshev interpolant of exp on [-ln2/2, ln2/2]
// (numpy chebfit at 40 Chebyshev nodes, cheb2poly, rescaled to r, rounded to float): max rel.
// error 1e-7 with float Horner, two multiplies fewer than 1 + expm1_poly (normal_tail64 only).
inline float exp_poly6(float r) {
  float p = 0.001394858118146658f;
  p = p * r + 0.008375128731131554f;
  p = p * r + 0.041666217148303986f;
  p = p * r + 0.16666415333747864f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  return p * r + 1.0f;
}

constexpr float kTwoM64f = 5.421010862427522e-20f;  // 2^-64

// float erfc, evaluated in double and rounded once (within ~0.5 ulp): erfc(z) = t Q(t) exp(-z^2)
// for z = |x|, t = 2/(2+z), Q(t) = erfc(z) exp(z^2) / t in u = 2t - 1 a degree-14 Chebyshev
// interpolant (mpmath, 50 digits: Q at the 60 Chebyshev nodes u_k = cos(pi (k + 1/2) / 60),
// c_j = (2/60) sum_k Q(u_k) cos(pi j (k + 1/2) / 60) with c_0 halved, numpy's cheb2poly of c[:15],
// highest power first below; relative error 2.1e-10), z^2 exact in double (z has 24 significant
// bits) and exp of it by the Taylor series to r^9 (truncation < 1e-11 relative); 2 - erfc(|x|)
// for x < 0. z is clamped at 10.1 (erfc < 2^-151 there: rounds to 0; keeps NaN), so 2^n stays a
// normal double. t is the float quotient refined by one Newton step in double (relative error
// ~4e-15): a vdivpd per 8 lanes cost as much as the rest of the loop. ~30 double operations,
// against verfc<double>'s 26-term tail, its division and two branches (2.6x slower).
inline float erfc_float(float x) {
  const float zf = std::min(std::fabs(x), 10.1f);
  const double d = x, z = zf;
  const double t0 = 2.0f / (2.0f + zf);
  const double t = t0 + (0.5 * t0) * (2.0 - (2.0 + z) * t0);
  const double u = 2.0 * t - 1.0;
  double q = 1.17316179658803e-06;
  q = q * u + 2.5997550708174075e-06;
  q = q * u + -1.2614936188377241e-05;
  q = q * u + -9.776599497832767e-06;
  q = q * u + 7.333364804342509e-05;
  q = q * u + -2.2390034294989602e-05;
  q = q * u + -0.00033194958513019603;
  q = q * u + 0.0004206832477771325;
  q = q * u + 0.0015453949860900198;
  q = q * u + -0.0032400066319968448;
  q = q * u + -0.010755340703254767;
  q = q * u + 0.018221153212835774;
  q = q * u + 0.13973604669629283;
  q = q * u + 0.34358034122127207;
  q = q * u + 0.5107913526180153;
  double n;
  const double r = reduce_ln2(-(z * z), n);  // n in [-148, 0]
  double p = 1.0 / 362880;
  p = p * r + 1.0 / 40320;
  p = p * r + 1.0 / 5040;
  p = p * r + 1.0 / 720;
  p = p * r + 1.0 / 120;
  p = p * r + 1.0 / 24;
  p = p * r + 1.0 / 6;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const double tail = t * q * (p * pow2i(n));
  return static_cast<float>(d < 0.0 ? 2.0 - tail : tail);
}

}  // namespace vm

namespace vm {
// float erf without a division, within ~0.96 ulp (FMA clones; ~1.3 without FMA), Juffa's form:
// |x| < 1: erf(x) = x + x Q(x^2), Q of degree 6 fitted to erf(x)/x - 1 (relative error of erf
// < 2^-29); |x| >= 1: erf(a) = 1 - exp(-R(a)), R of degree 6 fitted to -log(erfc(a)) on [1, 4]
// (erf's absolute error < 0.02 ulp), a clamped at 4 where erf rounds to 1. exp(-R) = 2^n (1 + p),
// p = expm1(r) (n in [-26, -2]), so 1 - exp(-R) = (1 - 2^n) - 2^n p: 1 - 2^n and 2^n p exact, one
// rounding. Both fits: Lawson's iteratively reweighted least squares (numpy) on 2000 Chebyshev
// nodes against mpmath's erf / erfc, each coefficient rounded to float in turn and the rest
// refitted. erf(-0) = -0, erf(+-inf) = +-1, NaN propagates (through the clamp: std::min keeps it).
inline float erf_float(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  float q = 7.853861461626366e-05f;
  q = q * z + -0.0008010193705558777f;
  q = q * z + 0.005188327748328447f;
  q = q * z + -0.026853812858462334f;
  q = q * z + 0.1128358542919159f;
  q = q * z + -0.3761262595653534f;
  q = q * z + 0.12837916612625122f;
  const float small = x + x * q;
  const float t = std::min(a, 4.0f);
  float rr = -0.0001855740265455097f;
  rr = rr * t + 0.0029396074824035168f;
  rr = rr * t + -0.02180531993508339f;
  rr = rr * t + 0.10303737223148346f;
  rr = rr * t + 0.6382256746292114f;
  rr = rr * t + 1.1270400285720825f;
  rr = rr * t + 0.0003537283046171069f;
  // scalar math: n = round(-R log2e) in k's low mantissa bits; 2^n from k's bits as pow2i does
  const float k = rr * -consts<float>::log2e + kRoundF;
  const float n = k - kRoundF;
  float r = -rr - n * consts<float>::ln2_hi;  // exact (Cody-Waite)
  r = r - n * consts<float>::ln2_lo;
  const float p2 = from_bits((as_bits(k) + 127u) << 23);
  const float tail = (1.0f - p2) - p2 * expm1_poly(r);
  return std::copysign(a < 1.0f ? small : tail, x);
}
}  // namespace vm

namespace vm {
// double erf / erfc (within ~1 ulp, one division, no branch): mpmath Chebyshev interpolants (40
// digits, 64 nodes, converted to monomials in mpmath) of the function named at each, truncated
// where the coefficients fall below 5e-18 relative.
// erf(x) / x - 1 in w = x^2 - 1/2 for |x| < 1 (z = x^2 clamped to 1: finite for every x), 14
// terms, relative error < 1e-18: erf(x) = x + x q, the exact x carrying the result.
inline double erf_small_q(double z) {
  const double w = z - 0.5;
  double q = -4.2320376764874594e-12;
  q = q * w + 5.958930743134941e-11;
  q = q * w + -7.764158544428486e-10;
  q = q * w + 9.387629307975112e-09;
  q = q * w + -1.0420476887166901e-07;
  q = q * w + 1.0536449530022297e-06;
  q = q * w + -9.614808525668017e-06;
  q = q * w + 7.829649525455366e-05;
  q = q * w + -0.0005611894221277472;
  q = q * w + 0.0034802744966656173;
  q = q * w + -0.018283884489152538;
  q = q * w + 0.07940998675593483;
  q = q * w + -0.2810721780454342;
  q = q * w + -0.03453126133013269;
  return q;
}

// erfc(a) for a >= 1/2 (a clamped to [1/2, 27.3]: erfc(27.3) rounds to 0; NaN gives a finite
// value the callers replace) as exp(-a^2) F(a), F(a) = erfcx(a) = erfc(a) exp(a^2): below 2.25 a
// polynomial in a - 1.375 (22 terms; erfcx is entire, no division needed), above it t Q(t) with
// t = 1/(a + 1) and Q = erfcx / t, 19 terms in t - 0.1715 (Q varies by only ~10% over the
// interval, so Q's sensitivity to t's rounding is small; the t in front is corrected to ~1e-32 by
// one Newton step on the exact sum a + 1 = s + slo). One Horner loop with the coefficients
// selected per lane (a blend per term instead of a second polynomial). exp(-a^2): a^2 split
// exactly as ah^2 + al (a + ah) (ah: a's high 26 bits), Cody-Waite reduction of the sum, vexp's
// degree-10 polynomial, and F folded in before the scaling by 2^n (applied as 2^(n+64) 2^-64) so
// subnormal results are rounded once.
inline double erfc_tail64(double a) {
  double ac = a > 0.5 ? a : 0.5;
  ac = ac < 27.3 ? ac : 27.3;  // NaN -> 27.3
  const bool near = ac < 2.25;
  const double s = ac + 1.0;
  const double slo = (ac - s) + 1.0;  // s + slo = a + 1 exactly where used (Fast2Sum: a >= 1)
  const double t = 1.0 / s;
  const double tlo = t * ((1.0 - t * s) - t * slo);  // 1/(a + 1) = t + tlo to ~2^-104
  const double w = near ? ac - 1.375 : t - 0.17151399836912204;
  double p = near ? -3.141638743169313e-11 : 0.0;
  p = p * w + (near ? 1.268101922571656e-10 : 0.0);
  p = p * w + (near ? -3.760122547452094e-10 : 0.0);
  p = p * w + (near ? 1.465319088454379e-09 : 6342.888258000139);
  p = p * w + (near ? -5.812688959184358e-09 : -3361.0437432182216);
  p = p * w + (near ? 2.1703172282370077e-08 : -506.7096603135793);
  p = p * w + (near ? -7.902534176497297e-08 : 905.9571495877386);
  p = p * w + (near ? 2.8180817506738153e-07 : -210.31071915894498);
  p = p * w + (near ? -9.803146104451408e-07 : -111.13747531389197);
  p = p * w + (near ? 3.3208558149084202e-06 : 84.18464410227325);
  p = p * w + (near ? -1.0938167018412609e-05 : -4.15237939381426);
  p = p * w + (near ? 3.4965021224215366e-05 : -18.82388331004939);
  p = p * w + (near ? -0.00010823683665623062 : 7.159470710104134);
  p = p * w + (near ? 0.00032365077695782325 : 3.032702714072415);
  p = p * w + (near ? -0.0009320855810800551 : -3.033606893692671);
  p = p * w + (near ? 0.002576220779139076 : -0.24010073822478548);
  p = p * w + (near ? -0.006804603105297797 : 1.2018128730975703);
  p = p * w + (near ? 0.017084991607393477 : -0.09227327010254323);
  p = p * w + (near ? -0.040503371223401044 : -0.6281857006260839);
  p = p * w + (near ? 0.08986211864695712 : 0.02888694171783365);
  p = p * w + (near ? -0.18431546997466777 : 0.6228399153602558);
  // The constant term as hi + lo (its rounding alone was ~0.8 ulp of F) and the sum kept as
  // ph + pl (Fast2Sum); with t = th + tl the same way, ph th is exact (26-bit halves) and F, the
  // exponential's 1 + em1 and the scaling meet in one final rounding.
  p = p * w + (near ? -1.1732996290661889e-17 : -5.3853528192958526e-17);
  const double c0 = near ? 0.3432958898621254 : 0.6672461878264315;
  const double ps = c0 + p;
  const double ph = high_half(ps);
  const double pl = ((c0 - ps) + p) + (ps - ph);
  const double tt = near ? 1.0 : t;
  const double th = high_half(tt);
  const double tl = (tt - th) + (near ? 0.0 : tlo);
  const double fh = ph * th;  // exact
  const double fl = ph * tl + pl * tt;
  const double ah = high_half(ac);
  const double al = ac - ah;
  const double hi = -(ah * ah);  // exact
  const double lo = -(al * (ac + ah));
  const double n = ((hi + lo) * consts<double>::log2e + kRoundD) - kRoundD;
  // r + rl = (hi - n ln2_hi) + (lo - n ln2_lo) by 2Sum: r's rounding (up to 0.35 ulp of the
  // result) is kept
  const double r1 = hi - n * consts<double>::ln2_hi;  // exact (Cody-Waite)
  const double r2 = lo - n * consts<double>::ln2_lo;
  const double r = r1 + r2;
  const double rb = r - r1;
  const double rl = (r1 - (r - rb)) + (r2 - rb);
  const double e = exp_poly_d(r);
  const double em1 = r + (rl + r * r * e);
  return (fh + (fl + (fh + fl) * em1)) * pow2i(n + 64.0) * 5.421010862427522e-20;  // 2^-64
}

// erfc(a) for erf = 1 - erfc at a >= 1, to the accuracy erf needs: only erfc's absolute error
// counts there (erf's ulp is 2^-53), so F = erfcx = erfc(a) exp(a^2) is one polynomial in
// w = a - 1.75 over all of [1, 6] (a clamped there: erf rounds to 1 from 5.93; NaN gives 1, the
// caller replaces it), fitted for the weighted error |P - F| exp(-a^2) (mpmath, 45 digits: Lawson's
// reweighted least squares at 260 Chebyshev nodes of [1, 6], degree 22: 5.4e-18 with the
// coefficients rounded to double, 0.05 ulp of erf), times exp(-a^2) in plain double (a^2's
// rounding is ~a^2 2^-53 relative, a few 2^-53 of erfc <= 0.16). No division, no per-lane
// selects, none of erfc_tail64's compensated products: float64 erf 2.1x faster than that form,
// within ~0.95 ulp of mpmath (FMA clones ~0.85; erfc_tail64's was 0.8; Sleef u10's bound is 1).
inline double erfc_for_erf(double a) {
  double ac = a > 1.0 ? a : 1.0;
  ac = ac < 6.0 ? ac : 6.0;
  const double w = ac - 1.75;
  double p = 3.829359141799073e-14;
  p = p * w + -8.373175073264277e-13;
  p = p * w + 8.455524935736911e-12;
  p = p * w + -5.3995977959179954e-11;
  p = p * w + 2.5835947213663016e-10;
  p = p * w + -1.0630890706789774e-09;
  p = p * w + 4.159044598919561e-09;
  p = p * w + -1.6072704701060903e-08;
  p = p * w + 6.118336286811626e-08;
  p = p * w + -2.2775349370294375e-07;
  p = p * w + 8.271580432231657e-07;
  p = p * w + -2.9279508963426057e-06;
  p = p * w + 1.0086672802041504e-05;
  p = p * w + -3.375534900621838e-05;
  p = p * w + 0.00010950529122509691;
  p = p * w + -0.00034353335498116835;
  p = p * w + 0.001039204521976737;
  p = p * w + -0.003020974651249485;
  p = p * w + 0.00840431920737342;
  p = p * w + -0.022259995241396224;
  p = p * w + 0.05576363008708561;
  p = p * w + -0.13097634551448514;
  p = p * w + 0.2849722347374364;
  // exp(-a^2) in [e^-36, e^-1]: vexp's reduction and polynomial, no clamps, 2^n one normal factor
  const double x2 = -(ac * ac);
  const double n = (x2 * consts<double>::log2e + kRoundD) - kRoundD;  // scalar math: round
  double r = x2 - n * consts<double>::ln2_hi;                         // exact (Cody-Waite)
  r = r - n * consts<double>::ln2_lo;
  return (p * (1.0 + (r + r * r * exp_poly_d(r)))) * pow2i(n);
}
}  // namespace vm

// erf(x): odd, erf(+-inf) = +-1, NaN propagates, erf(-0) = -0. float: vm::erf_float; double:
// x + x q(x^2) below 1, 1 - erfc(|x|) above (vm::erfc_for_erf).
template <typename T>
inline T verf(T x) {
  if constexpr (sizeof(T) == 4) {
    return vm::erf_float(x);
  } else {
    const double a = std::fabs(x);
    const double small = x + x * vm::erf_small_q(std::min(x * x, 1.0));
    const double big = std::copysign(1.0 - vm::erfc_for_erf(a), x);
    return (a < 1.0 ? small : big) + (x != x ? x : -0.0);  // adding -0 keeps erf(-0) = -0
  }
}

// erfc(x) = 1 - erf(x), with relative accuracy for large positive x (no cancellation); float:
// vm::erfc_float. double: |x| < 1/2 from erf's small form as fdlibm arranges it (x - 1/2 exact
// above 1/4), vm::erfc_tail64(|x|) above, 2 - that for x <= -1/2 (erfc in [1.52, 2]).
template <typename T>
inline T verfc(T x) {
  if constexpr (sizeof(T) == 4) {
    return vm::erfc_float(x);
  } else {
    const double a = std::fabs(x);
    const double y = x * vm::erf_small_q(std::min(x * x, 1.0));
    const double small = x >= 0.25 ? 0.5 - ((x - 0.5) + y) : 1.0 - (x + y);
    const double tail = vm::erfc_tail64(a);
    const double big = x < 0.0 ? 2.0 - tail : tail;
    return (a < 0.5 ? small : big) + (x != x ? x : 0.0);
  }
}

namespace vm {
// log(m) = hi + lo with x = 2^e m, m in [sqrt(1/2), sqrt(2)), for a finite double x > 0 (kNormal:
// normal, no denormal scaling): FreeBSD's e_log2.c / k_log.h split of fdlibm's log, log(1 + f) =
// f - hfsq + s (hfsq + R), R = z log_lg(z), z = s^2, s = f / (2 + f) (one division), with hi = f -
// hfsq cut to its 21 leading bits, so hi times a 32-bit constant is exact, and lo the rest (f - hi
// and that minus hfsq exact). The logs below carry hi + lo through their constant as hi + lo parts
// and round once at the end: within ~0.55 ulp where e + log(m) / ln2 rounded was ~1.5 and
// log_core's 2s + s R ~1.85 (PyTorch, MKL's, ~0.55).
template <bool kNormal>
inline double log_hilo64(double x, double& e, double& lo) {
  double m;
  if constexpr (kNormal) {
    e = log_split(x, m);
  } else {
    const bool den = x < std::numeric_limits<double>::min();
    e = log_split(x * (den ? 18014398509481984.0 : 1.0), m) - (den ? 54.0 : 0.0);  // 2^54
  }
  const double f = m - 1.0;
  const double hfsq = 0.5 * f * f;
  const double s = f / (2.0 + f);
  const double z = s * s;
  const double r = s * (hfsq + z * log_lg(z));
  const double hi = from_bits(as_bits(f - hfsq) & uint64_t(0xffffffff00000000));
  lo = ((f - hi) - hfsq) + r;
  return hi;
}
// The natural log, log2 and log10 of a finite double x > 0 (kNormal: normal too) from
// log_hilo64: e c + (hi + lo) d for c = ln2 / 1 / log10(2), d = 1 / (1/ln2) / (1/ln10), each
// constant as a 32-bit hi part (e and hi have at most 21 significant bits: the products with it
// exact) and a lo part, the leading sum by Fast2Sum (|e c| >= |hi d| unless e = 0), one final
// rounding. No specials (log_specials adds them).
template <bool kNormal>
inline double log_acc(double x) {
  double e, lo;
  const double hi = log_hilo64<kNormal>(x, e, lo);
  const double y2 = e * consts<double>::ln2_hi;  // exact
  const double w = y2 + hi;
  return w + (((y2 - w) + hi) + (lo + e * consts<double>::ln2_lo));
}
template <bool kNormal>
inline double log2_acc(double x) {
  double e, lo;
  const double hi = log_hilo64<kNormal>(x, e, lo);
  constexpr double ch = 1.4426950407214463, cl = 1.6751713164886512e-10;  // 1/ln2 = ch + cl
  const double vh = hi * ch;                                              // exact
  const double w = e + vh;  // e exact, so powers of two come out exact (hi = lo = 0)
  return w + (((e - w) + vh) + ((lo + hi) * cl + lo * ch));
}
template <bool kNormal>
inline double log10_acc(double x) {
  double e, lo;
  const double hi = log_hilo64<kNormal>(x, e, lo);
  constexpr double ch = 0.4342944818781689, cl = 2.5082946711645275e-11;   // 1/ln10
  constexpr double th = 0.3010299956658855, tl = -1.9043128467164274e-12;  // log10(2)
  const double y2 = e * th;                                                // exact
  const double vh = hi * ch;                                               // exact
  const double w = y2 + vh;
  return w + (((y2 - w) + vh) + (e * tl + (lo + hi) * cl + lo * ch));
}
}  // namespace vm

namespace vm {
// float erfinv(y) = y P(w), w = -log(1 - y^2) in double, rounded once: P is erfinv(y) / y as a
// polynomial in w, degree 12 on w in [0, 5] (in w - 2.5) and 14 on [5, 16] (in w - 10.5; the
// largest float below 1 gives w = 15.94), Chebyshev interpolants of mpmath's erfinv (relative
// error < 4e-11 each with double Horner, so the float result is within 0.5 + 1e-3 ulp). Giles'
// split of the range, without his sqrt(w) form or verfinv's Halley step (an exp and an erf in
// double): ~4x faster. 1 - y^2 = (1 - a)(1 + a) is exact in double for a float a.
inline double erfinv_p1(double w1) {
  double p1 = -2.0530251976386264e-11;
  p1 = p1 * w1 + 1.229407996200241e-10;
  p1 = p1 * w1 + 8.200569681884188e-10;
  p1 = p1 * w1 + -1.0852875962705377e-08;
  p1 = p1 * w1 + 1.3780551615354421e-08;
  p1 = p1 * w1 + 4.786352616422233e-07;
  p1 = p1 * w1 + -3.4174044805891794e-06;
  p1 = p1 * w1 + -4.995855103683295e-06;
  p1 = p1 * w1 + 0.00021825107430831908;
  p1 = p1 * w1 + -0.0012527081133217636;
  p1 = p1 * w1 + -0.0041773180386271555;
  p1 = p1 * w1 + 0.24664027679468087;
  return p1 * w1 + 1.50140935113073;
}
inline float erfinv_float(float y) {
  const double a = std::fabs(double(y));
  const double w = -log_core((1.0 - a) * (1.0 + a));  // (garbage at a >= 1: selected away)
  const double p1 = erfinv_p1(w - 2.5);
  const double w2 = w - 10.5;
  double p2 = -1.5205566844346696e-16;
  p2 = p2 * w2 + 1.6389801326395698e-15;
  p2 = p2 * w2 + 5.437892737149223e-15;
  p2 = p2 * w2 + -1.8787935182215424e-13;
  p2 = p2 * w2 + 2.4165440143340456e-12;
  p2 = p2 * w2 + -3.096162625684379e-11;
  p2 = p2 * w2 + 3.178574976839989e-10;
  p2 = p2 * w2 + -2.127977639547619e-09;
  p2 = p2 * w2 + 1.885908347145566e-10;
  p2 = p2 * w2 + 3.095738791618004e-07;
  p2 = p2 * w2 + -7.628079505150191e-06;
  p2 = p2 * w2 + 0.00015549477020988128;
  p2 = p2 * w2 + -0.0035623338018739743;
  p2 = p2 * w2 + 0.15509870294877703;
  p2 = p2 * w2 + 3.0742058190983;
  double x = (w < 5.0 ? p1 : p2) * a;
  x = a == 1.0 ? std::numeric_limits<double>::infinity() : x;
  x = a <= 1.0 ? x : std::numeric_limits<double>::quiet_NaN();  // |y| > 1 and NaN
  return float(std::copysign(x, double(y)));
}
// erfinv_float for |y| <= kErfinvCentral (w < 5 there: 4.9926 at the bound), which makes every
// select of erfinv_float a no-op: its bits without the tail's polynomial (a third of its
// instructions). special.cpp's erfinv_span runs it on groups of 16 with no lane beyond.
constexpr float kErfinvCentral = 0.9966f;
inline float erfinv_float_central(float y) {
  const double a = std::fabs(double(y));
  const double w = -log_core((1.0 - a) * (1.0 + a));
  return float(std::copysign(erfinv_p1(w - 2.5) * a, double(y)));
}
}  // namespace vm

namespace vm {
// |erfinv(a)| for double 0 <= a <= kErfinvCentral64 (w = -log(1 - a^2) <= 6.215), no Halley step:
// a (c0 + w Q(w)) on w in [0, 2.5] (|a| <= 0.958) and a (c0 + t Q(t)), t = w - 4.375, on
// [2.5, 6.25]: Chebyshev interpolants of mpmath's erfinv(y) / y (degree 16 and 18, relative
// error < 5e-17 each), expanded about 0 and 4.375, where the terms hardly cancel (|sum of terms|
// <= 1.6 P: about the interval's middle, as Giles' one piece on [0, 6.25], they cancel 2.8x).
// c0 is a hi + lo pair and a c0h + a s is rounded once (FMA), so the error is the final
// rounding plus ~1/4 ulp; 1 - a^2 from a = ah + al (ah: a's 26 leading bits: ah^2 and
// 2 ah al exact), as its rounding moves w by up to 2^-53, ~1/4 ulp of the result. ~4x faster
// than verfinv's two Halley steps (an exp and an erf each) and within ~1 ulp where they were ~2.
constexpr double kErfinvCentral64 = 0.999;
inline double erfinv_central64(double a) {
  const double ah = from_bits(as_bits(a) & uint64_t(0xfffffffff8000000)), al = a - ah;
  const double u = ((1.0 - ah * ah) - 2.0 * ah * al) - al * al;  // >= 0.002: normal
  const double w = -log_acc<true>(u);
  double qa = 3.9716513518405035e-15;
  qa = qa * w + 9.726389868641587e-14;
  qa = qa * w + -3.235218713917828e-12;
  qa = qa * w + 2.9058633813609503e-11;
  qa = qa * w + -6.733005704837576e-11;
  qa = qa * w + -4.143946033174869e-10;
  qa = qa * w + 5.817841425947725e-10;
  qa = qa * w + 2.2994241559957363e-08;
  qa = qa * w + -3.746793801836005e-08;
  qa = qa * w + -1.0124455162628335e-06;
  qa = qa * w + 2.0199396146801105e-06;
  qa = qa * w + 4.661145584366921e-05;
  qa = qa * w + -0.00012804329744825198;
  qa = qa * w + -0.002335101641211589;
  qa = qa * w + 0.01154934203824461;
  qa = qa * w + 0.23201366653465516;
  const double t = w - 4.375;
  double qb = 2.420441318241668e-17;
  qb = qb * t + -1.3626379387639872e-16;
  qb = qb * t + -6.724430541680733e-16;
  qb = qb * t + 1.3169163271411315e-14;
  qb = qb * t + -7.47969244454051e-14;
  qb = qb * t + -1.3230671639308535e-13;
  qb = qb * t + 5.886496811474885e-12;
  qb = qb * t + -4.563218814955996e-11;
  qb = qb * t + 4.791900437304825e-11;
  qb = qb * t + 2.4515494539699894e-09;
  qb = qb * t + -2.592094002063391e-08;
  qb = qb * t + 8.770586472002265e-08;
  qb = qb * t + 8.293230321745004e-07;
  qb = qb * t + -1.3990673957257888e-05;
  qb = qb * t + 9.109592880508554e-05;
  qb = qb * t + -4.685109510069745e-05;
  qb = qb * t + -0.007358237753335534;
  qb = qb * t + 0.22287640619945182;
  const bool lo = w < 2.5;
  const double c0h = lo ? 0.886226925452758 : 1.9433881388590748;
  const double c0l = lo ? -4.1274389878491387e-17 : 1.0837512876149086e-16;
  const double s = c0l + (lo ? w * qa : t * qb);
  return a * c0h + a * s;
}
}  // namespace vm

// erfinv(y) for double y (float y: vm::erfinv_float): Giles' single-precision approximation
// ("Approximating the erfinv function", GPU Computing Gems, 2011: a polynomial in w - 2.5 for
// w = -log(1 - y^2) < 5, in sqrt(w) - 3 above, relative error ~1e-7 up to w = 16, i.e. every
// float y < 1) as the start, x0 = sqrt(w - log(w pi/4) / 2) beyond (1 - |y| < 1.2e-7, doubles
// only: erfc(x) ~ exp(-x^2) / (x sqrt(pi)) solved to first order, ~1e-3), then Halley steps on
// f(x) = erf(x) - |y| (one for float, two for double: cubic convergence). f is erf_small(x) - |y|
// below x = 1/2 and (1 - |y|) - erfc(x) above (1 - |y| exact there: no cancellation as |y| -> 1);
// f / f' = f sqrt(pi)/2 exp(x^2) without a division, and the Halley step x - d / (1 + x d) as
// x - d + x d^2 (the same to third order). |y| = 1 gives +-inf, |y| > 1 and NaN give NaN,
// erfinv(-0) = -0. Double: vm::erfinv_central64 for |y| <= 0.999, Halley steps beyond (within
// ~2 ulp; float: vm::erfinv_float above).
template <typename T>
inline T verfinv(T y) {
  if constexpr (sizeof(T) == 4) return vm::erfinv_float(y);
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double d = y, a = std::fabs(d);
  const double w = -vlog((1.0 - a) * (1.0 + a));  // +inf at |y| = 1, NaN beyond
  const double w1 = w - 2.5;
  double p1 = 2.81022636e-08;
  p1 = p1 * w1 + 3.43273939e-07;
  p1 = p1 * w1 + -3.5233877e-06;
  p1 = p1 * w1 + -4.39150654e-06;
  p1 = p1 * w1 + 0.00021858087;
  p1 = p1 * w1 + -0.00125372503;
  p1 = p1 * w1 + -0.00417768164;
  p1 = p1 * w1 + 0.246640727;
  p1 = p1 * w1 + 1.50140941;
  const double w2 = std::sqrt(w) - 3.0;
  double p2 = -0.000200214257;
  p2 = p2 * w2 + 0.000100950558;
  p2 = p2 * w2 + 0.00134934322;
  p2 = p2 * w2 + -0.00367342844;
  p2 = p2 * w2 + 0.00573950773;
  p2 = p2 * w2 + -0.0076224613;
  p2 = p2 * w2 + 0.00943887047;
  p2 = p2 * w2 + 1.00167406;
  p2 = p2 * w2 + 2.83297682;
  double x = (w < 5.0 ? p1 : p2) * a;
  if constexpr (sizeof(T) == 8) {
    const double xa = std::sqrt(w - 0.5 * vlog(w * 0.78539816339744831));
    x = w > 16.0 ? xa : x;
  }
  // (steps written out, not a loop: GCC vectorises no loop holding a loop)
  const auto halley = [a](double v) {
    const bool sm = v < 0.5;
    const double fs = vm::erf_small(sm ? v : 0.5) - a;
    const double fc = (1.0 - a) - vm::erfc_tail(vm::tail_arg(v));
    const double dd = (sm ? fs : fc) * (0.88622692545275801 * vexp(v * v));  // f / f'
    return v - dd + v * (dd * dd);
  };
  x = halley(x);
  if constexpr (sizeof(T) == 8) {
    x = halley(x);
    x = a <= vm::kErfinvCentral64 ? vm::erfinv_central64(std::min(a, 0.999)) : x;  // (min: NaN)
  }
  x = a == 1.0 ? inf : x;
  x = a <= 1.0 ? x : std::numeric_limits<double>::quiet_NaN();  // |y| > 1 and NaN
  return T(std::copysign(x, d));
}

namespace vm {

// sin(r) and cos(r) for |r| <= pi/4 in double, Taylor series: to r^9 / r^10 for a float result
// (truncation < 2e-9 relative: the final rounding to float dominates), to r^17 / r^20 for double.
template <bool kForFloat>
inline double sin_poly(double r, double rl = 0.0) {
  const double z = r * r;
  double p;
  if constexpr (kForFloat) {
    p = 1.0 / 362880;
    p = p * z + -1.0 / 5040;
    p = p * z + 1.0 / 120;
  } else {
    p = 1.0 / 355687428096000.0;  // 1/17!
    p = p * z + -1.0 / 1307674368000.0;
    p = p * z + 1.0 / 6227020800.0;
    p = p * z + -1.0 / 39916800.0;
    p = p * z + 1.0 / 362880.0;
    p = p * z + -1.0 / 5040.0;
    p = p * z + 1.0 / 120.0;
  }
  p = p * z + -1.0 / 6;
  return r + (r * (z * p) + rl * (1.0 - 0.5 * z));
}
template <bool kForFloat>
inline double cos_poly(double r, double rl = 0.0) {
  const double z = r * r;
  double p;
  if constexpr (kForFloat) {
    p = -1.0 / 3628800;
    p = p * z + 1.0 / 40320;
    p = p * z + -1.0 / 720;
  } else {
    p = 1.0 / 2432902008176640000.0;  // 1/20!
    p = p * z + -1.0 / 6402373705728000.0;
    p = p * z + 1.0 / 20922789888000.0;
    p = p * z + -1.0 / 87178291200.0;
    p = p * z + 1.0 / 479001600.0;
    p = p * z + -1.0 / 3628800.0;
    p = p * z + 1.0 / 40320.0;
    p = p * z + -1.0 / 720.0;
  }
  p = p * z + 1.0 / 24;
  // fdlibm's order: 1 - z/2 as w plus its exact rounding error, then the small terms
  const double hz = 0.5 * z, w = 1.0 - hz;
  return w + (((1.0 - w) - hz) + (z * (z * p) - r * rl));
}

// |x| up to which vsincos reduces correctly: q = round(x * 2/pi) < 2^19, so q times each 33-bit
// part of pi/2 is exact. Callers redo larger (and non-finite) arguments with std::sin / std::cos.
constexpr double kSinCosMax = 524288.0;  // 2^19

}  // namespace vm

// sin(x) (kCos false) or cos(x) for |x| <= vm::kSinCosMax, always in double (a float argument is
// widened exactly and the result rounded once: within ~0.5 ulp). NaN and inf give NaN.
// double: x = q pi/2 + r with |r| <= pi/4 by Cody-Waite in three 33-bit parts of pi/2 (fdlibm's
// pio2_1, pio2_2, pio2_3: q * part is exact); q mod 4 picks +-sin(r) or +-cos(r) from q's low
// bits, without branches.
// float: one polynomial, not two and a select (half the work in the AVX-512 loop): x = n pi + r
// with n = q (sin) or q + 1/2 (cos), q an integer, |r| <= pi/2, by Cody-Waite in two parts of pi
// (p1 has 31 significant bits and n at most 19, so n * p1 is exact; p2 = pi - p1 rounded, so r is
// off by < n 2^-86); sin(x) = (-1)^q sin(r) and cos(x) = -(-1)^q sin(r), sin(r) = r (1 + z P(z)),
// P of degree 4 Lawson-fitted (numpy, float64) for the relative error on |r| <= pi/2: < 2^-35
// (the Taylor series needs degree 6). sin(-0) = -0 comes out of the arithmetic (r = -0).
template <bool kCos, typename T>
inline T vsincos(T x) {
  const double d = x;
  if constexpr (sizeof(T) == 4) {
    constexpr double p1 = 3.14159265346825122833, p2 = 1.2154201013012384e-10;  // pi = p1 + p2
    // scalar math: q = round(x/pi) (cos: round(x/pi - 1/2)) in qr's low mantissa bits
    const double qr = (d * 0.31830988618379067154 - (kCos ? 0.5 : 0.0)) + vm::kRoundD;
    double n = qr - vm::kRoundD;
    if constexpr (kCos) n = n + 0.5;
    const double r = (d - n * p1) - n * p2;
    const double z = r * r;
    double p = -2.388743132587571e-08;
    p = p * z + 2.7525302441092545e-06;
    p = p * z + -0.00019840866652501448;
    p = p * z + 0.008333331097029675;
    p = p * z + -0.16666666625884463;
    const double s = r * (1.0 + z * p);  // a product (1 + z p > 0): keeps r = -0 as -0
    // scalar math: negate for odd q (cos: even q) via q's low bit in the sign bit
    const uint64_t flip = ((vm::as_bits(qr) + (kCos ? 1u : 0u)) & 1u) << 63;
    return T(vm::from_bits(vm::as_bits(s) ^ flip));
  } else {
    const double qr = d * 0.63661977236758134308 + vm::kRoundD;  // round(x 2/pi) in low bits
    const double q = qr - vm::kRoundD;
    // x - q pi/2 with pi/2 = p1 + p2 + p3 + p3t (fdlibm's pio2_1, pio2_2, pio2_3, pio2_3t: ~150
    // bits): each q * part is exact (33-bit parts, |q| < 2^19) and x - q p1 too; the two
    // subtractions that round keep their errors (Fast2Sum: exact where the minuend is the larger
    // or the difference is exact by Sterbenz, i.e. whenever it cancels; a full TwoSum measured no
    // better and cost 20% more), which join q p3t in the low part rl.
    // Near a multiple of pi/2 (x - q pi/2 down to ~2^-60 for |x| < 2^19) r = rh + rl then keeps
    // its ~53 leading bits where the plain three-part sum kept only those above 2^-100 or so.
    const double r1 = d - q * 1.57079632673412561417e+00;
    const double w2 = q * 6.07710050630396597660e-11;
    const double r2 = r1 - w2;
    const double e2 = (r1 - r2) - w2;  // Fast2Sum: r1 - w2 = r2 + e2 (see above)
    const double w3 = q * 2.02226624871116645580e-21;
    const double r3 = r2 - w3;
    const double e3 = (r2 - r3) - w3;  // r2 - w3 = r3 + e3
    const double rl0 = (e2 + e3) - q * 8.47842766036889956997e-32;
    const double rh = r3 + rl0;
    const double rl = (r3 - rh) + rl0;  // Fast2Sum (|rl0| < ulp(r3))
    // scalar math: the quadrant's low two bits; cos(x) = sin(x + pi/2) is quadrant + 1
    const uint64_t k = vm::as_bits(qr) + (kCos ? 1u : 0u);
    // sin(rh + rl) = sin(rh) + rl cos(rh), cos(rh + rl) = cos(rh) - rl sin(rh), to first order
    // (rl^2 is below rh's last bit squared)
    const double s = vm::sin_poly<false>(rh, rl), c = vm::cos_poly<false>(rh, rl);
    const double v = (k & 1u) ? c : s;
    const double y = vm::from_bits(vm::as_bits(v) ^ ((k & 2u) << 62));  // negate in quadrants 2, 3
    return T(!kCos && d == 0.0 ? d : y);  // sin(-0) = -0 (the polynomial gives +0)
  }
}

namespace vm {

// The specials of a logarithm of x added to a finite y, in vlog's form (see vexp on why): one
// select of the special value (-inf at 0, x itself at inf and NaN, NaN below 0) where x is not
// positive and finite: half the mask instructions of three masked adds in the AVX-512 loop (and
// 15% of double log2's time). Applied in the argument's type (twice the lanes for float).
template <typename T>
inline T log_specials(T x, T y) {
  constexpr T inf = std::numeric_limits<T>::infinity();
  T sp = x == T(0) ? -inf : x;
  sp = x < T(0) ? std::numeric_limits<T>::quiet_NaN() : sp;
  return y + ((x > T(0)) & (x < inf) ? T(0) : sp);
}

}  // namespace vm

namespace vm {
// float log2 / log10 without double: x = 2^k (1 + f), 1 + f in [sqrt(1/2), sqrt(2)) (log_core's
// bits; denormals scaled by 2^24 first), log(1 + f) = f - hfsq + f^3 P(f) (log_core's Cephes P)
// carried as hi + lo with hi = f - hfsq cut to 12 significant bits, so hi times a 12-bit constant
// is exact whatever the compiler contracts (fdlibm's e_log2.c / e_log10.c in float, the division
// replaced by the polynomial). Returns hi; k and lo through the references. Finite x > 0 only
// (log_specials fixes the rest).
inline float log_hilo(float x, float& k, float& lo) {
  // scalar math: the denormal scale 2^24 (or 1) and its exponent 24 (or 0) from one mask: a
  // select of x itself made GCC run the bit arithmetic below twice and blend
  const uint32_t den = x < std::numeric_limits<float>::min() ? 24u : 0u;
  const float xs = x * from_bits(0x3f800000u + (den << 23));
  const int32_t ix = static_cast<int32_t>(as_bits(xs) - 0x3f3504f3u);  // as log_core
  const int32_t kk = ix >> 23;
  k = static_cast<float>(kk - static_cast<int32_t>(den));
  const float f = from_bits(as_bits(xs) - (static_cast<uint32_t>(kk) << 23)) - 1.0f;
  const float z = f * f;
  const float p = log_poly(f);
  const float hfsq = 0.5f * z;
  const float hi = high_half(f - hfsq);
  lo = ((f - hi) - hfsq) + f * z * p;  // f - hi exact (Sterbenz)
  return hi;
}
// kh + kl + c (hi + lo) with c = chi + clo (chi: c's 12 leading bits, so hi * chi is exact),
// rounded once at the end: kh + hi * chi is a Fast2Sum (kh = 0, or |kh| > |hi * chi|).
inline float log_combine(float kh, float kl, float hi, float lo, float chi, float clo) {
  const float vhi = hi * chi;
  const float vlo = kl + (lo + hi) * clo + lo * chi;
  const float w = kh + vhi;
  return (((kh - w) + vhi) + vlo) + w;
}
}  // namespace vm

// log2 and log10 of a float in float (vm::log_hilo: within 0.8 ulp); of a double in double
// (vm::log2_acc / log10_acc: within ~0.55 ulp), specials by selects.
template <typename T>
inline T vlog2(T x) {
  if constexpr (sizeof(T) == 4) {
    float k, lo;
    const float hi = vm::log_hilo(x, k, lo);
    // 1/ln2 = 0x3fb8b000 + the rest (fdlibm's ivln2hi / ivln2lo); k exact: powers of two exact
    return vm::log_specials(
        x, vm::log_combine(k, 0.0f, hi, lo, 1.4428710938e+00f, -1.7605285393e-04f));
  } else {
    return vm::log_specials(x, vm::log2_acc<false>(x));
  }
}
template <typename T>
inline T vlog10(T x) {
  if constexpr (sizeof(T) == 4) {
    float k, lo;
    const float hi = vm::log_hilo(x, k, lo);
    // 1/ln10 as ivln10hi + ivln10lo, log10(2) as hi (17 bits: k * hi exact) + lo (fdlibm's)
    return vm::log_specials(x, vm::log_combine(k * 3.0102920532e-01f, k * 7.9034151668e-07f, hi, lo,
                                               4.3432617188e-01f, -3.1689971365e-05f));
  } else {
    return vm::log_specials(x, vm::log10_acc<false>(x));
  }
}

// sinh, cosh, atanh (and exp2 of a double): evaluated in double for float and double inputs alike
// and rounded once to T: float results within a last bit of the correctly rounded value (as
// PyTorch's, which tests/test_parity2.py holds to 1% of inputs differing), double within ~2 ulp.
// Each is range reduction on the double vecmath pieces above; specials by selects.

// 2^x = 2^n 2^r, n = round(x), r = x - n exact in [-1/2, 1/2]. float, in float (the double form
// ran at 0.46x PyTorch's speed): 2^r = 1 + r P(r), P the Taylor series of (2^r - 1) / r to r^6
// (coefficients ln2^k / k!, truncation < 6e-9 relative), so r ln2 is never rounded: within 0.87
// ulp with FMA (PyTorch's: 0.83), 1.1 without; x clamped to [-151, 129] (0 and inf beyond, NaN
// kept by the std::min / std::max clamps) and 2^n as vexp's two factors (denormals rounded once).
// double: 2^r = exp(r ln2), one rounding of r ln2 (absolute < 2^-54), 2^n as two factors; the
// clamp makes x > 1025 inf and x < -1080 zero without masks, and keeps NaN.
template <typename T>
inline T vexp2(T x) {
  if constexpr (sizeof(T) == 4) {
    const float xc = std::min(std::max(x, -151.0f), 129.0f);
    const float z = xc + vm::kRoundF;  // scalar math: round(x) in z's low mantissa bits
    const float n = z - vm::kRoundF;
    const float r = xc - n;  // exact
    float p = 1.5252733804059841e-05f;
    p = p * r + 0.00015403530393381608f;
    p = p * r + 0.0013333558146428443f;
    p = p * r + 0.009618129107628477f;
    p = p * r + 0.05550410866482158f;
    p = p * r + 0.2402265069591007f;
    p = p * r + 0.6931471805599453f;
    // scalar math: 2^n as 2^(n>>1) 2^(n - (n>>1)) from z's bits, as vexp
    const int32_t ni = static_cast<int32_t>(vm::as_bits(z) - vm::as_bits(vm::kRoundF));
    const int32_t n1 = ni >> 1;
    const float s1 = vm::from_bits(static_cast<uint32_t>(n1 + 127) << 23);
    const float s2 = vm::from_bits(static_cast<uint32_t>(ni - n1 + 127) << 23);
    return (1.0f + r * p) * s1 * s2;
  } else {
    double d = x;
    d = d < -1080.0 ? -1080.0 : d;
    d = d > 1025.0 ? 1025.0 : d;
    const double n = (d + vm::kRoundD) - vm::kRoundD;
    const double t = (d - n) * 0.6931471805599453;
    const double p = 1.0 + vm::expm1_poly(t);
    const double n1 = (n * 0.5 + vm::kRoundD) - vm::kRoundD;
    return T(p * vm::pow2i(n1) * vm::pow2i(n - n1));
  }
}
namespace vm {
// float sinh / cosh in double without a division: a = n ln2 + r (|r| <= ln2/2, a clamped at 90,
// where both round to inf in float), exp(+-a) = 2^(+-n) (E +- O) with E = cosh(r), O = sinh(r)
// (Taylor to r^10 / r^9: truncation < 2^-40 relative), so 2 sinh(a) = E A + O B and 2 cosh(a) =
// E B + O A with A = 2^n - 2^-n, B = 2^n + 2^-n: no cancellation (n = 0: sinh = O exactly).
// Returns sinh(a) (kCosh false) or cosh(a) for a >= 0 (NaN propagates).
template <bool kCosh>
inline double sinh_cosh_for_float(double a) {
  double n;
  const double r = reduce_ln2(std::min(a, 90.0), n);  // std::min keeps a NaN a
  const double z = r * r;
  double e = 1.0 / 3628800;
  e = e * z + 1.0 / 40320;
  e = e * z + 1.0 / 720;
  e = e * z + 1.0 / 24;
  e = e * z + 0.5;
  e = e * z + 1.0;
  double o = 1.0 / 362880;
  o = o * z + 1.0 / 5040;
  o = o * z + 1.0 / 120;
  o = o * z + 1.0 / 6;
  o = r + r * (z * o);
  // scalar math: 2^(n-1) -+ 2^(-n-1) (|n| <= 130: both normal doubles)
  const double hi = pow2i(n - 1.0), lo = pow2i(-n - 1.0);
  const double am = hi - lo, ap = hi + lo;
  return kCosh ? e * ap + o * am : e * am + o * ap;
}
}  // namespace vm

// double: vm::sinh_cosh_acc of |x|, the sign of x put back. float: vm::sinh_cosh_for_float,
// rounded once.
template <typename T>
inline T vsinh(T x) {
  const double d = x;
  const double a = std::fabs(d);
  if constexpr (sizeof(T) == 4) return T(std::copysign(vm::sinh_cosh_for_float<false>(a), d));
  return T(std::copysign(vm::sinh_cosh_acc<false>(a), d));
}
// cosh(x) = cosh(|x|) (as vsinh).
template <typename T>
inline T vcosh(T x) {
  const double a = std::fabs(double(x));
  if constexpr (sizeof(T) == 4) return T(vm::sinh_cosh_for_float<true>(a));
  return T(vm::sinh_cosh_acc<true>(a));
}
namespace vm {
// atan(a) for a >= 0 (NaN propagates) in double, cephes' reduction with one division: u = a up to
// tan(pi/8), (a - 1) / (a + 1) (plus pi/4) up to tan(3pi/8), -1/a (plus pi/2) above, so |u| <=
// tan(pi/8) and atan(u) = u + u z P(z), z = u^2 <= 0.1716, the alternating Taylor series to u^41
// (truncation < 2^-56 relative).
inline double atan_nonneg(double a) {
  const bool lo = a <= 0.41421356237309503, mid = !lo && a <= 2.4142135623730951;
  const double u = (lo ? a : (mid ? a - 1.0 : -1.0)) / (lo ? 1.0 : (mid ? a + 1.0 : a));
  // scalar math: pi/4 and pi/2 as hi + lo (the lo part added to the small series first)
  const double base_hi = lo ? 0.0 : (mid ? 0.78539816339744828 : 1.5707963267948966);
  const double base_lo = lo ? 0.0 : (mid ? 3.061616997868383e-17 : 6.123233995736766e-17);
  const double z = u * u;
  constexpr int kTerms = 20;
  double p = (kTerms % 2 ? -1.0 : 1.0) / (2 * kTerms + 1);
  // (fully unrolled: GCC's default limit left the 20-term loop rolled, and the map scalar)
#pragma GCC unroll 32
  for (int k = kTerms - 1; k >= 1; --k) p = p * z + (k % 2 ? -1.0 : 1.0) / (2 * k + 1);
  return base_hi + (base_lo + (u + u * (z * p)));
}
}  // namespace vm

namespace vm {
// double asin(s) = s + s z P(z) for 0 <= s <= 1/2, z = s^2, P of degree 12 interpolating
// (asin(sqrt z) - sqrt z) / z^1.5 at the 13 Chebyshev nodes of [0, 1/4] (P(x_k) = g(x_k) solved
// in mpmath at 40 digits as a Vandermonde system; relative error < 2^-57). s = a = |x| up to 1/2,
// else s = sqrt(z) with z = (1 - a) / 2 (exact, Sterbenz): asin(a) = pi/2 - 2 asin(s); big says
// which. Returns asin(s): one square root, no division.
inline double asin_half(double a, bool& big) {
  big = a > 0.5;
  const double z = big ? 0.5 - 0.5 * a : a * a;
  const double s = big ? std::sqrt(z) : a;  // |x| > 1: sqrt of a negative, NaN
  double p = 0.028757851367421566;
  p = p * z + -0.014851887071247204;
  p = p * z + 0.01740087944269402;
  p = p * z + 0.005457506718640358;
  p = p * z + 0.01032281435018578;
  p = p * z + 0.011479177415184906;
  p = p * z + 0.013971212973552933;
  p = p * z + 0.017352392720869973;
  p = p * z + 0.02237217294214989;
  p = p * z + 0.030381944138531247;
  p = p * z + 0.04464285714635543;
  p = p * z + 0.07499999999998433;
  p = p * z + 0.16666666666666669;
  return s + s * (z * p);
}
}  // namespace vm

namespace vm {
// float asin (kAcos false) / acos in float, within ~0.6 ulp. a = |x|; s = a up to 1/2, else s =
// sqrt(z), z = (1 - a) / 2 (exact), and asin(s) = s + t, t = s z P(z), P of degree 5 least-squares
// fitted in mpmath to (asin(sqrt z) - sqrt z) / z^1.5 on [0, 1/4] with relative weight, rounded to
// float (relative error < 2^-29). Every form is K - m (s + c + t) with K = 0, pi/2 or pi and m in
// {+-1, +-2}: asin = s + t (|x| <= 1/2) or pi/2 - 2 (s + t); acos = pi/2 - (x + t), 2 (s + t) or
// pi - 2 (s + t). K - m s is a Fast2Sum (|K| > |m s| or K = 0), so the only roundings that count
// are the last one and sqrt's, which c = (z - s^2) / (2 s) undoes: z - s^2 exact from s's 12-bit
// split (the products are exact, so FMA contraction changes nothing), 1/s to ~6 bits from the
// bits and one Newton step (no division: the square root already occupies the divider).
template <bool kAcos>
inline float asin_acos_float(float x) {
  const float a = std::fabs(x);
  const bool big = a > 0.5f;
  const float z = big ? 0.5f - 0.5f * a : a * a;
  const float sq = std::sqrt(z);  // |x| > 1: NaN
  const float sh = high_half(sq), sl = sq - sh;
  const float r = ((z - sh * sh) - (sh + sh) * sl) - sl * sl;
  float y = from_bits(0x7ef311c3u - as_bits(sq));  // scalar math: ~1/sq to 12%
  y = y * (2.0f - sq * y);
  const float c = big ? r * (0.5f * y) : 0.0f;
  // s signed for the small acos (odd t), |x| elsewhere
  const float s = big ? sq : (kAcos ? x : a);
  float p = 0.03744102641940117f;
  p = p * z + 0.014491950161755085f;
  p = p * z + 0.031793925911188126f;
  p = p * z + 0.044518522918224335f;
  p = p * z + 0.07500497251749039f;
  p = p * z + 0.16666659712791443f;
  const float t = s * z * p;
  constexpr float pio2_hi = 1.57079637e+00f, pio2_lo = -4.37113883e-08f;  // pi/2 = hi + lo
  // scalar math: K = w pi/2 with w = 1 (small acos), 1 - sign(x) (big acos: 0 or 2), 1 (big
  // asin) or 0, so pi = 2 (pi/2) comes out exact; two selects in all (nested ones cost 10%)
  float w, m;
  if constexpr (kAcos) {
    const float sg = std::copysign(1.0f, x);
    w = big ? 1.0f - sg : 1.0f;
    m = big ? -2.0f * sg : 1.0f;
  } else {
    w = big ? 1.0f : 0.0f;
    m = big ? 2.0f : -1.0f;
  }
  const float khi = w * pio2_hi, klo = w * pio2_lo;
  const float ms = m * s;
  const float hi = khi - ms;
  const float lo = (khi - hi) - ms;
  const float v = hi + ((lo + klo) - m * (c + t));
  return kAcos ? v : std::copysign(v, x);
}
}  // namespace vm

namespace vm {
// float atan in float, within ~0.6 ulp. a = |x| = K-interval reduced as Cephes' atanf, with the
// edges where the numerator is exact: u = a up to 1/2 (K = 0), (a - 1) / (a + 1) up to 2 (K = pi/4,
// a - 1 exact by Sterbenz), -1/a above (K = pi/2), so |u| <= 1/2 and atan(a) = K + u + t,
// t = u z P(z), z = u^2 <= 1/4, P of degree 5 least-squares fitted in mpmath to (atan(sqrt z) -
// sqrt z) / z^1.5 on [0, 1/4] with relative weight (relative error 3.5e-9 with the float
// coefficients). The quotient num / (dh + dl) (dh + dl = a + 1 exactly, TwoSum) is u = num * inv,
// inv = 1 / dh (the one division), plus c = (num - (dh + dl) u) inv from an exact residual
// (12-bit splits: every product exact, so FMA contraction changes nothing); K + u is a Fast2Sum
// (|K| > |u| or K = 0). inf: u = -0, atan = pi/2; NaN propagates; atan(-0) = -0.
inline float atan_float(float x) {
  const float a = std::fabs(x);
  const bool mid = a > 0.5f, big = a > 2.0f;
  const float dsum = a + 1.0f;
  const float bv = dsum - a;
  const float dsum_lo = (a - (dsum - bv)) + (1.0f - bv);  // TwoSum: a + 1 = dsum + dsum_lo
  // (one select after another: the nested `big ? .. : (mid ? .. : ..)` left the loop scalar)
  float num = mid ? a - 1.0f : a, dh = mid ? dsum : 1.0f, dl = mid ? dsum_lo : 0.0f;
  num = big ? -1.0f : num;
  dh = big ? a : dh;
  dl = big ? 0.0f : dl;
  const float inv = 1.0f / dh;
  const float u = num * inv;
  const float dc = std::min(dh, 1.152921504606847e18f);  // 2^60: keeps inf * 0 out of r
  const float d1 = high_half(dc), d2 = dc - d1, u1 = high_half(u), u2 = u - u1;
  const float r = ((((num - d1 * u1) - d1 * u2) - d2 * u1) - d2 * u2) - dl * u;
  const float c = r * inv;
  const float z = u * u;
  float p = 0.038587745279073715f;
  p = p * z + -0.07973846793174744f;
  p = p * z + 0.10938096046447754f;
  p = p * z + -0.14271703362464905f;
  p = p * z + 0.19999468326568604f;
  p = p * z + -0.33333325386047363f;
  const float t = u * z * p;
  // scalar math: K = w pi/4 with w = 0, 1 or 2 (pi/2 = 2 (pi/4) exactly)
  const float w = (mid ? 1.0f : 0.0f) + (big ? 1.0f : 0.0f);
  const float khi = w * 7.85398185e-01f, klo = w * -2.18556941e-08f;
  const float hi = khi + u;
  const float lo = (khi - hi) + u;
  return std::copysign(hi + ((lo + klo) + (c + t)), x);
}
}  // namespace vm

// atan(x): float vm::atan_float; double through atan_nonneg: +-inf give +-pi/2, NaN propagates,
// the sign put back by copysign (atan(-0) = -0).
template <typename T>
inline T vatan(T x) {
  if constexpr (sizeof(T) == 4) {
    return vm::atan_float(x);
  } else {
    return std::copysign(vm::atan_nonneg(std::fabs(x)), x);
  }
}
// float: vm::asin_acos_float. double: asin(x) = asin(|x|) with x's sign, acos(x) = pi/2 - asin(x)
// for |x| <= 1/2, 2 asin(s) above, pi - 2 asin(s) below -1/2, through asin_half: +-1 give +-pi/2
// and 0 / pi, |x| > 1 NaN (square root of a negative), NaN propagates, asin(-0) = -0.
template <typename T>
inline T vasin(T x) {
  if constexpr (sizeof(T) == 4) {
    return vm::asin_acos_float<false>(x);
  } else {
    bool big;
    const double v = vm::asin_half(std::fabs(x), big);
    return std::copysign(big ? 1.5707963267948966 - 2.0 * v : v, x);
  }
}
template <typename T>
inline T vacos(T x) {
  if constexpr (sizeof(T) == 4) {
    return vm::asin_acos_float<true>(x);
  } else {
    bool big;
    const double sv = std::copysign(vm::asin_half(std::fabs(x), big), x);
    // scalar math: the three forms as c0 + c1 asin(+-s), selects between constants only
    const double c0 = big ? (x > 0.0 ? 0.0 : 3.141592653589793) : 1.5707963267948966;
    return c0 + (big ? 2.0 : -1.0) * sv;
  }
}

namespace vm {
// float atanh in double, rounded once (the same values as the double form below on 3M inputs,
// 1.8x faster: one division, not two). atanh(a) = log(N / D) / 2 with N = 1 + a, D = 1 - a exact
// in double; with N = 2^eN mN, D = 2^eD mD (log_split, no division) and M = mN / mD in [1/2, 2],
// log(M) = 2 atanh(s), s = (mN - mD) / (mN + mD) in [-1/3, 1/3], the series of 2 atanh(s) in
// s^2 <= 1/9 to s^21 (truncation < 1e-11 relative). Below a = 0.03, where log(N / D) would lose
// the low bits of a, atanh's own series to a^9 (truncation < 1e-16 relative). |x| = 1 gives
// +-inf, |x| > 1 and NaN give NaN, atanh(-0) = -0.
inline float atanh_float(float x) {
  const double d = x, a = std::fabs(d);
  double mn, md;
  const double en = log_split(1.0 + a, mn);
  const double ed = log_split(1.0 - a, md);  // D <= 0 (|x| >= 1, NaN): finite, replaced below
  const double s = (mn - md) / (mn + md);
  const double z = s * s;
  const double p = atanh_series(z);
  const double big = 0.5 * ((en - ed) * 0.69314718055994531) + (s + s * (z * p));
  const double z2 = d * d;
  const double small = a + a * z2 * (1.0 / 3 + z2 * (1.0 / 5 + z2 * (1.0 / 7 + z2 * (1.0 / 9))));
  double y = a < 0.03 ? small : big;
  y = a < 1.0 ? y
              : (a == 1.0 ? std::numeric_limits<double>::infinity()
                          : std::numeric_limits<double>::quiet_NaN());
  return float(std::copysign(y, d));
}
}  // namespace vm

namespace vm {
// atanh(a) for a double a in [0, 1) as log1p(t) / 2, t = 2a / (1 - a), with every rounding carried
// to the last one (within ~0.6 ulp; log1p of the rounded quotient, twice rounded, was 2.3):
// 1 - a = d + dl exactly (Fast2Sum, 1 >= a), t = th + tl from the exact remainder fma(-th, d, 2a)
// (a*2 is exact), 1 + t = u + c by TwoSum, and log(u + c) = log(u) + c / u (|c / u| <= 2^-53) with
// log(u) = e ln2 + hi + lo from log_hilo64, summed as log_acc does. u is a normal double (>= 1);
// a = 1 gives t = inf and a NaN, replaced by vatanh's selects.
inline double atanh_acc(double a) {
  const double d = 1.0 - a, dl = (1.0 - d) - a;
  const double th = (a + a) / d;
  const double tl = (std::fma(-th, d, a + a) - th * dl) / d;
  const double u = 1.0 + th, ub = u - th;
  const double c = ((th - (u - ub)) + (1.0 - ub)) + tl;
  double e, lo;
  const double hi = log_hilo64<true>(u, e, lo);
  const double y2 = e * consts<double>::ln2_hi;  // exact
  const double w = y2 + hi;
  return 0.5 * (w + (((y2 - w) + hi) + ((lo + c / u) + e * consts<double>::ln2_lo)));
}
}  // namespace vm

// atanh(x): float vm::atanh_float; double sign(x) vm::atanh_acc(|x|): inf at |x| = 1, NaN beyond
// and at NaN.
template <typename T>
inline T vatanh(T x) {
  if constexpr (sizeof(T) == 4) {
    return vm::atanh_float(x);
  } else {
    const double a = std::fabs(x);
    double y = vm::atanh_acc(a < 1.0 ? a : 0.0);
    y = a < 1.0 ? y
                : (a == 1.0 ? std::numeric_limits<double>::infinity()
                            : std::numeric_limits<double>::quiet_NaN());
    return std::copysign(y, x);
  }
}

namespace vm {
// float: P(t) = 2^-64 Phi(-z) exp(z*z/2) / t for z >= 0, t = 1/(1 + 0.35 z) in [1/6.075, 1]: a
// polynomial of degree 8 in t fitted in mpmath/numpy (Lawson's iteratively reweighted least
// squares for the relative error at 800 Chebyshev nodes, each coefficient rounded to float in
// turn and the rest refitted), max rel. error 1.7e-7 with float Horner. The 2^-64 is folded in:
// see normal_tail64.
inline float normal_tail_poly(float t) {
  constexpr float s = kTwoM64f;
  float p = -0.029158223420381546f * s;
  p = p * t + 0.14403249323368073f * s;
  p = p * t + -0.25584208965301514f * s;
  p = p * t + 0.15932300686836243f * s;
  p = p * t + -0.023214472457766533f * s;
  p = p * t + 0.10555332899093628f * s;
  p = p * t + 0.11982109397649765f * s;
  p = p * t + 0.1398635357618332f * s;
  p = p * t + 0.139621302485466f * s;
  return p;
}

// float: Phi(-z) for z = |x| (NaN propagates) as t P(t) e64 with e64 = 2^64 exp(-z*z/2) (returned
// too: the normal pdf needs it), one division and one exponential, no select but the clamp: z is
// clamped at 14.5, where Phi(-z) < 2^-150 rounds to 0 (and 2^(n+64) stays normal); the last
// product rounds a denormal result once. The reduction r = -z*z/2 - n ln2 is written so that FMA
// contraction computes z * (-z/2) - n*ln2_hi in one rounding (n*ln2_hi, exact, is kept out of
// the contraction by its second, multiplicative use): exp(-z*z/2) to a few ulp down to the
// underflow without the cost of an exact split of z*z. Without FMA (the baseline clone) z*z is
// rounded first: relative error up to z*z/2 * 2^-24 (~60 ulp near z = 11, where Phi ~ 1e-28).
inline float normal_tail64(float x, float& e64) {
  const float z = std::min(std::fabs(x), 14.5f);
  const float t = 1.0f / (1.0f + 0.35f * z);
  const float hz = -0.5f * z;
  const float k = z * (hz * consts<float>::log2e) + kRoundF;  // n in k's low mantissa bits
  const float n = k - kRoundF;
  const float nh = n * consts<float>::ln2_hi;
  float r = z * hz - nh;
  r = r - nh * (consts<float>::ln2_lo / consts<float>::ln2_hi);
  // scalar math: 2^(n+64) built from k's bits as pow2i does (n + 64 >= -88: normal)
  e64 = exp_poly6(r) * from_bits((as_bits(k) + (127u + 64u)) << 23);
  return t * normal_tail_poly(t) * e64;
}
}  // namespace vm

namespace vm {

// lgamma(2 + z) for |z| <= 1/2: its Taylor series (1 - gamma) z + sum_k (-1)^k (zeta(k) - 1)/k z^k
// (coefficients from mpmath) to z^18: truncation < 2e-13 absolute, and relative ~ (z/2)^18 as
// z -> 0, so the zeros of lgamma at 1 and 2 keep full relative accuracy.
inline double lgamma2_series(double z) {
  double p = 2.12071848055546658692e-7;  // the z^18 coefficient
  p = p * z + -4.49246919876456604329e-7;
  p = p * z + 9.55141213040741983286e-7;
  p = p * z + -2.03921575380136623678e-6;
  p = p * z + 4.37486678990748780418e-6;
  p = p * z + -9.43948827526839590399e-6;
  p = p * z + 2.05072127756706915532e-5;
  p = p * z + -4.49262367381331417002e-5;
  p = p * z + 9.94575127818085337146e-5;
  p = p * z + -2.23154758453579379761e-4;
  p = p * z + 5.09669524743042422336e-4;
  p = p * z + -1.19275391170326097711e-3;
  p = p * z + 2.89051033074152328575e-3;
  p = p * z + -7.38555102867398526627e-3;
  p = p * z + 2.0580808427784547879e-2;
  p = p * z + -6.73523010531980951332e-2;
  p = p * z + 3.22467033424113218236e-1;
  p = p * z + 4.22784335098467139393e-1;
  return p * z;
}

// |sin(pi r)| for |r| <= 1/2: Taylor in t = pi r to t^19 (truncation < 3e-16 relative).
inline double abs_sinpi(double r) {
  const double t = std::fabs(r) * 3.14159265358979323846, z = t * t;
  double p = -1.0 / 121645100408832000.0;  // -1/19!
  p = p * z + 1.0 / 355687428096000.0;
  p = p * z + -1.0 / 1307674368000.0;
  p = p * z + 1.0 / 6227020800.0;
  p = p * z + -1.0 / 39916800.0;
  p = p * z + 1.0 / 362880.0;
  p = p * z + -1.0 / 5040.0;
  p = p * z + 1.0 / 120.0;
  p = p * z + -1.0 / 6;
  return t + t * (z * p);
}

// lgamma of a float, evaluated in double and rounded once, branch-free so it vectorises (libm's
// lgamma writes the global signgam and runs one value at a time). x < 1/2 is reflected:
// lgamma(x) = log(pi / |sin(pi x)|) - lgamma(1 - x) (1 - x is exact in double). For y >= 1/2:
// [1/2, 3/2) and [3/2, 5/2) are lgamma2_series at y - 1 (minus log y) and y - 2; [5/2, 21/2)
// is Stirling's series at y + 8 minus log(y (y+1) ... (y+7)) (the cancellation costs ~50 double
// ulps, far below a float's); beyond, Stirling at y (next term 1/(1188 y^9) < 1e-12).
// The logs share one vlog: result = A - log(E) (or log(E) - A reflected), E the divisor.
// Within ~0.55 ulp of the exact value, except next to lgamma's zeros on the negative axis, where
// the result is ~1e-9 and the double sum's absolute error ~2e-12 (glibc's lgammaf: ~1e-9); poles
// (0, -0, negative integers) and +-inf give +inf, NaN stays NaN, as torch.lgamma.
inline float lgamma_float(float xf) {
  constexpr double kPi = 3.14159265358979323846, kHalfLog2Pi = 0.91893853320467274178;
  constexpr double inf = std::numeric_limits<double>::infinity();
  const double x = xf;
  const bool refl = x < 0.5;
  const double y = std::min(refl ? 1.0 - x : x, 1e300);  // finite for x = +-inf: sp adds inf
  // scalar math: each select tests y itself (GCC does not vectorise a select on `b1 && b2`)
  const double zs = y - (y < 1.5 ? 1.0 : 2.0);
  const double w = y < 10.5 ? y + 8.0 : y;  // below 5/2 unused (but finite)
  double prod = y * (y + 1.0) * (y + 2.0) * (y + 3.0);
  prod *= (y + 4.0) * (y + 5.0) * (y + 6.0) * (y + 7.0);
  const double ebase = y < 2.5 ? (y < 1.5 ? y : 1.0) : (y < 10.5 ? prod : 1.0);
  // sin(pi x) through r = x - round(x) (exact; a float of magnitude >= 2^23 is an integer)
  const double rx = (x + kRoundD) - kRoundD;
  const double r = std::fabs(x) < 1073741824.0 ? x - rx : 0.0;
  const double e = refl ? ebase * kPi / abs_sinpi(r) : ebase;  // +inf at a pole
  const double iw = 1.0 / w, iw2 = iw * iw;
  const double corr = iw * (1.0 / 12 - iw2 * (1.0 / 360 - iw2 * (1.0 / 1260 - iw2 * (1.0 / 1680))));
  const double stirling = (w - 0.5) * vlog(w) - w + kHalfLog2Pi + corr;
  const double a = y < 2.5 ? lgamma2_series(zs) : stirling;
  const double le = vlog(e);
  const double res = refl ? le - a : a - le;
  // specials: +inf for +-inf, x for NaN (scalar math: added, as vlog, so GCC keeps it vectorised)
  const double sp = x == x ? inf : x;
  return float(res + (std::fabs(x) < inf ? 0.0 : sp));
}

}  // namespace vm

template <typename T>
inline T vlgamma(T x) {
  static_assert(sizeof(T) == 4, "vlgamma: float only (double uses libm's lgamma_r)");
  return vm::lgamma_float(x);
}

// The standard normal distribution at x: cdf = Phi(x) = erfc(-x/sqrt(2))/2 (relative accuracy in
// the far left tail) and pdf = exp(-x*x/2)/sqrt(2 pi). float: vm::normal_tail64 (within ~6 ulp,
// the pdf sharing its exponential).
template <typename T>
struct NormalCdfPdf {
  T cdf, pdf;
};
template <typename T>
inline NormalCdfPdf<T> vnormal(T x) {
  constexpr T kRsqrt2 = T(0.70710678118654752440);
  constexpr T kRsqrt2Pi = T(0.39894228040143267794);  // 1/sqrt(2 pi)
  if constexpr (sizeof(T) == 4) {
    float e64;
    const float tail = vm::normal_tail64(x, e64);
    return {x < 0.0f ? tail : 1.0f - tail, e64 * (kRsqrt2Pi * vm::kTwoM64f)};
  } else {
    return {T(0.5) * verfc(-x * kRsqrt2), vexp(T(-0.5) * x * x) * kRsqrt2Pi};
  }
}

namespace vm {
// torch's float logaddexp (kTwo: logaddexp2), max(a, b) + log1p(exp(-|a - b|)) (log1p(2^-|a - b|)
// / ln2), in double, rounded once (within ~0.5 ulp: torch's float form loses up to ~2000 ulp
// where max(a, b) cancels the log1p); max(a, b) where it is infinite, NaN from either side.
// Branch-free: the sum taken with max(a, b) clamped to double's finite range, an infinite one put
// back by adding m - mc, and a == b (inf - inf) kept off NaN by d = 0. (activation.cpp runs it:
// there the clones fuse the series, 1.6x faster than elementwise.cpp's uncontracted build.)
template <bool kTwo>
inline float logaddexp_float(float a, float b) {
  constexpr double kBig = std::numeric_limits<double>::max();
  const double ad = a, bd = b;
  const double m = ad > bd ? ad : bd;  // (a NaN a: b; d is NaN then)
  const double mc = std::min(std::max(m, -kBig), kBig);
  const double d = a == b ? 0.0 : -std::fabs(ad - bd);
  const double e = kTwo ? vexp2(d) : vexp(d);
  const double l = log1p_unit(e);  // (to s^35: y's cancellation shows a shorter series' error)
  const double y = mc + (kTwo ? l * 1.4426950408889634 : l);
  return static_cast<float>(y + (m - mc));
}

// log(x) = hi + lo to ~2^-66 relative for a finite double x > 0 (pow's log: its error is
// multiplied by up to |b log x| ~ 745, so log_hilo64's ~2^-55 would cost ~100 ulp near
// overflow). m = x 2^-e in [sqrt(1/2), sqrt(2)), s = (m - 1) / (m + 1) as sh + sl (the division's
// remainder by two_prod), log m = 2s + s^3 (2/3 + z Q(z)), z = s^2 <= 0.0295, with s^3 and the
// 2/3 + z Q factor carried as hi + lo parts (Q, Taylor's 2 / (2k + 1) to s^25, is a < 1.2%
// correction: plain double suffices) and e ln2 added with ln2 as hi (32 bits: e ln2_hi exact) +
// lo. Dekker products only: the same bits with or without FMA.
inline double log_dd(double x, double& lo) {
  const bool den = x < std::numeric_limits<double>::min();
  double m;
  const double e = log_split(x * (den ? 18014398509481984.0 : 1.0), m) - (den ? 54.0 : 0.0);
  const double f = m - 1.0;  // exact
  const double dh = 2.0 + f, dl = (2.0 - dh) + f;
  const double sh = f / dh;
  double pe;
  const double p = two_prod(sh, dh, pe);
  const double sl = (((f - p) - pe) - sh * dl) / dh;
  double zl;
  const double zh = two_prod(sh, sh, zl);
  zl += 2.0 * sh * sl;
  double q = 0.08;  // 2/25 down to 2/5 (the next term, s^27 2/27, is below 2^-71 of log m)
  q = q * zh + 0.08695652173913043;
  q = q * zh + 0.09523809523809523;
  q = q * zh + 0.10526315789473684;
  q = q * zh + 0.11764705882352941;
  q = q * zh + 0.13333333333333333;
  q = q * zh + 0.15384615384615385;
  q = q * zh + 0.18181818181818182;
  q = q * zh + 0.2222222222222222;
  q = q * zh + 0.2857142857142857;
  q = q * zh + 0.4;
  constexpr double c0h = 0.6666666666666666, c0l = 3.700743415417188e-17;  // 2/3 = c0h + c0l
  const double w = zh * q;
  const double ch = c0h + w, cl = ((c0h - ch) + w) + (c0l + zl * q);  // Fast2Sum
  double e3, et;
  const double h3 = two_prod(sh, zh, e3);  // s^3 = h3 + l3
  const double l3 = e3 + (sh * zl + sl * zh);
  const double th = two_prod(h3, ch, et);  // s^3 (2/3 + z Q) = th + tl
  const double tl = et + (h3 * cl + l3 * ch);
  const double s2 = 2.0 * sh;
  const double r = s2 + th, rl = ((s2 - r) + th) + (2.0 * sl + tl);  // Fast2Sum: |th| < |s2|
  const double y2 = e * consts<double>::ln2_hi;                      // exact
  const double hi = y2 + r;  // Fast2Sum: |r| <= 0.35 <= |y2| unless e = 0
  lo = ((y2 - hi) + r) + (rl + e * consts<double>::ln2_lo);
  return hi;
}
// pow's C99 / torch special cases around mag = |a|^b (computed by the caller as exp(b log|a|)
// with log 0 = -inf, log inf = inf, so 0 / inf bases and infinite exponents come out right
// there): pow(a, 0) = 1 and pow(1, b) = 1 even for a NaN, |a| = 1 gives 1 for b = +-inf (that
// product is NaN), a negative base takes the sign -1 for an odd integer b and NaN for a finite
// non-integer b (-0 and -inf: C99's signed zero / infinity instead), NaN from a NaN otherwise.
// Integers tested in double without rint: x + 2^52 - 2^52 rounds x in [0, 2^52) to an integer.
inline double pow_specials(double a, double b, double mag) {
  constexpr double k52 = 4503599627370496.0, inf = std::numeric_limits<double>::infinity();
  const double ab = std::fabs(b), hb = 0.5 * ab, aa = std::fabs(a);
  const double rb = ab < k52 ? (ab + k52) - k52 : ab;
  const double rh = hb < k52 ? (hb + k52) - k52 : hb;
  const double m1 = aa == 1.0 ? 1.0 : mag;
  // (|| and ?: on doubles only: bool temporaries and std::signbit kept GCC from vectorising)
  const double sgn = std::copysign(1.0, a) < 0.0 && rb == ab && rh != hb ? -m1 : m1;
  const double y = (a < 0.0 && aa < inf && rb != ab && ab < inf) || b != b
                       ? std::numeric_limits<double>::quiet_NaN()
                       : sgn;
  return b == 0.0 || a == 1.0 ? 1.0 : y;
}
// a^b for doubles (torch.pow / float_power of two tensors), branch-free: b log|a| = yh + yl by
// log_dd and two_prod, exp(yh + yl) = 2^n (1 + qh + ql) by vm::expm1_hilo, rounded once and
// scaled by 2^n in two factors (subnormal results rounded twice). Within 0.74 ulp of mpmath
// (tests/test_vecspeed41.py; Sleef u10, torch's, is a 1 ulp bound).
inline double pow_acc(double a, double b) {
  const double aa = std::fabs(a);
  const bool fin = (aa > 0.0) & (aa < std::numeric_limits<double>::infinity());
  double ll;
  const double lh = log_dd(fin ? aa : 1.0, ll);
  const double l = fin ? lh : (aa == 0.0 ? -std::numeric_limits<double>::infinity() : aa);
  double ye;
  const double yh = two_prod(b, l, ye);  // (ye is NaN when b or l is huge: not used then)
  const double yl = std::fabs(yh) < 1024.0 ? ye + b * (fin ? ll : 0.0) : 0.0;
  double xc = yh < -746.0 ? -746.0 : yh;  // exp(-746) rounds to 0, exp(710) overflows
  xc = xc > 710.0 ? 710.0 : xc;           // (NaN kept)
  double n, rl;
  const double rh = reduce_ln2_hilo(xc, n, rl);
  const double rs = rh + (rl + yl);
  const double rsl = (rh - rs) + (rl + yl);
  double ql;
  const double qh = expm1_hilo(rs, rsl, ql);
  const double s = 1.0 + qh;
  const double v = s + (((1.0 - s) + qh) + ql);
  // 2^floor(n/2) and 2^ceil(n/2) from n's bits as vexp's (n in [-1077, 1025]: both normal)
  const uint64_t nb = as_bits(n + kRoundD);
  const double s1 = from_bits(((nb >> 1) + uint64_t(1023)) << 52);
  const double s2 = from_bits((nb - (nb >> 1) + uint64_t(1023)) << 52);
  return pow_specials(a, b, v * s1 * s2);
}
// a^b for floats: exp(b log|a|) in double (log_acc and vexp; the product's error, < 2^-45
// relative for a float-range result, is far below a float ulp), rounded once to float.
inline float pow_float(float a, float b) {
  const double ad = a, bd = b, aa = std::fabs(ad);
  const bool fin = (aa > 0.0) & (aa < std::numeric_limits<double>::infinity());
  const double l = log_acc<true>(fin ? aa : 1.0);
  const double lf = fin ? l : (aa == 0.0 ? -std::numeric_limits<double>::infinity() : aa);
  const double y = bd * lf;
  return static_cast<float>(pow_specials(ad, bd, vexp(y != y ? 0.0 : y) + (y != y ? y : 0.0)));
}
}  // namespace vm

}  // namespace ember
