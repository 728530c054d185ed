// Special functions elementwise on a flat (n) array, float32/float64, as torch.special's:
// erf, erfc, erfinv, lgamma, digamma, polygamma(order, .), i0, i1 (i1 is i0's derivative),
// and the regularised incomplete gamma functions P(a, x) and Q(a, x) = 1 - P (gammainc(c)).
// Also the Hurwitz zeta function and the orthogonal polynomials' three-term recurrences
// (poly_recurrence), one loop of deg steps per element as torch's.
// NumPy has none of these and SciPy is not a dependency. Each value is computed in double and
// stored as T, except erf and erfc: vecmath.h's vectorised verf / verfc in T (within ~1.3 ulp),
// ~20x faster than std::erf one value at a time, erfinv (vecmath.h's verfinv) and float lgamma
// (vlgamma). These are compute-bound, so threads start at a few thousand elements.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// psi(x): reflection for x < 0, recurrence up to x >= 10, then the asymptotic series.
// psi(0) = -inf and psi(negative integer) = NaN, as torch.digamma.
double digamma1(double x) {
  if (x == 0) return std::signbit(x) ? kInf : -kInf;
  if (x < 0) {
    if (x == std::floor(x)) return kNaN;
    return digamma1(1 - x) - kPi / std::tan(kPi * (x - std::round(x)));
  }
  double acc = 0;
  while (x < 10) acc -= 1 / x++;  // the series' error is ~1e-17 from x = 10 (~1e-13 at 6)
  const double r = 1 / (x * x);
  // Bernoulli terms B_2k / (2k): 1/12, -1/120, 1/252, -1/240, 1/132, -691/32760
  const double s =
      r *
      (1.0 / 12 -
       r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (1.0 / 132 - r * 691.0 / 32760)))));
  return acc + std::log(x) - 0.5 / x - s;
}

// Hurwitz zeta(s, q) for integer s >= 2: the terms up to q + k >= 12, then Euler-Maclaurin.
double hurwitz_zeta(int s, double q) {
  if (q <= 0 && q == std::floor(q)) return kInf;
  double sum = 0;
  while (q < 12) sum += std::pow(q++, -s);
  // sum_j B_2j / (2j)! * s (s+1) ... (s+2j-2) * q^(-s-2j+1)
  static const double b2j_fact[] = {1.0 / 12,         -1.0 / 720,     1.0 / 30240,
                                    -1.0 / 1209600,   1.0 / 47900160, -691.0 / 1307674368000,
                                    1.0 / 74724249600};
  double tail = std::pow(q, 1 - s) / (s - 1) + 0.5 * std::pow(q, -s);
  double rise = s, qp = std::pow(q, -s - 1);
  for (int j = 0; j < 7; ++j) {
    tail += b2j_fact[j] * rise * qp;
    rise *= double(s + 2 * j + 1) * double(s + 2 * j + 2);
    qp /= q * q;
  }
  return sum + tail;
}

// psi^(n)(x) = (-1)^(n+1) n! zeta(n+1, x) for n >= 1; n = 0 is digamma. Negative non-integer x
// reflects (the zeta sum would take |x| steps): differentiating psi(1-x) - psi(x) = pi cot(pi x)
// n times gives psi^(n)(x) = (-1)^n psi^(n)(1-x) - pi D_n, D_n = d^n/dx^n cot(pi x) = P_n(c) for
// c = cot(pi x), P_0(c) = c, P_{k+1}(c) = -pi (1 + c^2) P_k'(c).
double polygamma1(int n, double x) {
  if (n == 0) return digamma1(x);
  if (x == -kInf) return kNaN;  // no limit there (PyTorch: NaN too)
  if (x < 0 && x != std::floor(x)) {
    std::vector<double> p(n + 2, 0.0), q(n + 2);
    p[1] = 1;  // P_0(c) = c
    for (int k = 0; k < n; ++k) {
      std::fill(q.begin(), q.end(), 0.0);
      for (int j = 1; j <= k + 1; ++j) {  // -pi (1 + c^2) * j p_j c^(j-1)
        q[j - 1] -= kPi * j * p[j];
        q[j + 1] -= kPi * j * p[j];
      }
      p.swap(q);
    }
    const double c = 1 / std::tan(kPi * (x - std::round(x)));  // period 1: reduce exactly first
    // Within ~1e-308 of a pole c overflows; the pole term (-1)^(n+1) n! / d^(n+1) is infinite.
    if (!std::isfinite(c)) return (n % 2 == 1 || c < 0) ? kInf : -kInf;
    double d = 0;
    for (int j = n + 1; j >= 0; --j) d = d * c + p[j];
    return (n % 2 ? -1 : 1) * polygamma1(n, 1 - x) - kPi * d;
  }
  double fact = 1;
  for (int k = 2; k <= n; ++k) fact *= k;
  return (n % 2 ? 1 : -1) * fact * hurwitz_zeta(n + 1, x);
}

// Modified Bessel functions of the first kind, orders 0 and 1: the power series up to |x| = 30,
// the asymptotic expansion e^x / sqrt(2 pi x) * sum_k (-1)^k a_k(nu) / x^k beyond.
double bessel_i(int nu, double x) {
  const double ax = std::fabs(x);
  double v;
  if (ax <= 30) {
    const double q = x * x / 4;
    double term = nu ? x / 2 : 1, sum = term;
    for (int k = 1; k < 500 && std::fabs(term) > 1e-17 * std::fabs(sum); ++k) {
      term *= q / (double(k) * double(k + nu));
      sum += term;
    }
    return sum;
  } else {
    const double mu = 4.0 * nu * nu;
    double term = 1, sum = 1;
    for (int k = 1; k < 15; ++k) {
      term *= -(mu - double(2 * k - 1) * double(2 * k - 1)) / (k * 8 * ax);
      sum += term;
    }
    v = std::exp(ax - 0.5 * (std::log(2 * kPi) + std::log(ax))) * sum;  // finite where the value is
  }
  return (nu && x < 0) ? -v : v;
}

// e^-|x| I0(x) and e^-|x| I1(x) by Cephes' Chebyshev series (torch's tables; special.py's I0/I1
// and the K0/K1 series use these): |x| <= 8 in t = |x|/2 - 2, beyond in t = 32/|x| - 2 divided by
// sqrt(|x|), both evaluated and one selected (branch-free, so the loop vectorises; the series in
// NumPy took 3-5x torch's time). NaN propagates; i0e(+-inf) = 0, i1e(+-inf) = +-0.
constexpr double kI0A[30] = {
    -4.41534164647933937950e-18, 3.33079451882223809783e-17,  -2.43127984654795469359e-16,
    1.71539128555513303061e-15,  -1.16853328779934516808e-14, 7.67618549860493561688e-14,
    -4.85644678311192946090e-13, 2.95505266312963983461e-12,  -1.72682629144155570723e-11,
    9.67580903537323691224e-11,  -5.18979560163526290666e-10, 2.65982372468238665035e-09,
    -1.30002500998624804212e-08, 6.04699502254191894932e-08,  -2.67079385394061173391e-07,
    1.11738753912010371815e-06,  -4.41673835845875056359e-06, 1.64484480707288970893e-05,
    -5.75419501008210370398e-05, 1.88502885095841655729e-04,  -5.76375574538582365885e-04,
    1.63947561694133579842e-03,  -4.32430999505057594430e-03, 1.05464603945949983183e-02,
    -2.37374148058994688156e-02, 4.93052842396707084878e-02,  -9.49010970480476444210e-02,
    1.71620901522208775349e-01,  -3.04682672343198398683e-01, 6.76795274409476084995e-01,
};
constexpr double kI0B[25] = {
    -7.23318048787475395456e-18, -4.83050448594418207126e-18, 4.46562142029675999901e-17,
    3.46122286769746109310e-17,  -2.82762398051658348494e-16, -3.42548561967721913462e-16,
    1.77256013305652638360e-15,  3.81168066935262242075e-15,  -9.55484669882830764870e-15,
    -4.15056934728722208663e-14, 1.54008621752140982691e-14,  3.85277838274214270114e-13,
    7.18012445138366623367e-13,  -1.79417853150680611778e-12, -1.32158118404477131188e-11,
    -3.14991652796324136454e-11, 1.18891471078464383424e-11,  4.94060238822496958910e-10,
    3.39623202570838634515e-09,  2.26666899049817806459e-08,  2.04891858946906374183e-07,
    2.89137052083475648297e-06,  6.88975834691682398426e-05,  3.36911647825569408990e-03,
    8.04490411014108831608e-01,
};
constexpr double kI1A[29] = {
    2.77791411276104639959e-18,  -2.11142121435816608115e-17, 1.55363195773620046921e-16,
    -1.10559694773538630805e-15, 7.60068429473540693410e-15,  -5.04218550472791168711e-14,
    3.22379336594557470981e-13,  -1.98397439776494371520e-12, 1.17361862988909016308e-11,
    -6.66348972350202774223e-11, 3.62559028155211703701e-10,  -1.88724975172282928790e-09,
    9.38153738649577178388e-09,  -4.44505912879632808065e-08, 2.00329475355213526229e-07,
    -8.56872026469545474066e-07, 3.47025130813767847674e-06,  -1.32731636560394358279e-05,
    4.78156510755005422638e-05,  -1.61760815825896745588e-04, 5.12285956168575772895e-04,
    -1.51357245063125314899e-03, 4.15642294431288815669e-03,  -1.05640848946261981558e-02,
    2.47264490306265168283e-02,  -5.29459812080949914269e-02, 1.02643658689847095384e-01,
    -1.76416518357834055153e-01, 2.52587186443633654823e-01,
};
constexpr double kI1B[25] = {
    7.51729631084210481353e-18,  4.41434832307170791151e-18,  -4.65030536848935832153e-17,
    -3.20952592199342395980e-17, 2.96262899764595013876e-16,  3.30820231092092828324e-16,
    -1.88035477551078244854e-15, -3.81440307243700780478e-15, 1.04202769841288027642e-14,
    4.27244001671195135429e-14,  -2.10154184277266431302e-14, -4.08355111109219731823e-13,
    -7.19855177624590851209e-13, 2.03562854414708950722e-12,  1.41258074366137813316e-11,
    3.25260358301548823856e-11,  -1.89749581235054123450e-11, -5.58974346219658380687e-10,
    -3.83538038596423702205e-09, -2.63146884688951950684e-08, -2.51223623787020892529e-07,
    -3.88256480887769039346e-06, -1.10588938762623716291e-04, -9.76109749136146840777e-03,
    7.78576235018280120474e-01,
};
template <int N>
inline double chbevl(double t, const double (&c)[N]) {
  double b0 = c[0], b1 = 0, b2 = 0;
#pragma GCC unroll 32  // (unrolled, the loop over elements vectorises)
  for (int k = 1; k < N; ++k) {
    b2 = b1;
    b1 = b0;
    b0 = t * b1 - b2 + c[k];
  }
  return 0.5 * (b0 - b2);
}
template <bool kOne>
inline double bessel_ie(double x) {
  const double ax = std::fabs(x);
  const double as = ax <= 8 ? 8.0 : ax;  // (the far form's argument kept off 0 for small x)
  const double near = kOne ? chbevl(ax / 2 - 2, kI1A) * ax : chbevl(ax / 2 - 2, kI0A);
  const double far = (kOne ? chbevl(32 / as - 2, kI1B) : chbevl(32 / as - 2, kI0B)) / std::sqrt(as);
  const double v = ax <= 8 ? near : far;
  return kOne && x < 0 ? -v : v;  // (torch's i1e(-0) is +0)
}
template <bool kOne, typename T>
EMBER_SIMD void bessel_ie_span(T* y, const T* x, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) y[i] = static_cast<T>(bessel_ie<kOne>(static_cast<double>(x[i])));
}

// float i0 / i1: bessel_ie's e^-|x| I(x) in double times vexp(|x|), rounded once (within ~0.5
// ulp; bessel_i's series took 4.7x torch's time). The exponent is clamped at 200 for finite |x|
// (float's value is inf there already); at +-inf bessel_ie's 0 times vexp's inf is torch's NaN.
template <bool kOne>
EMBER_SIMD void bessel_i_float_span(float* y, const float* x, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) {
    const double v = x[i], a = std::fabs(v);
    const double ac = a > 200.0 && a < std::numeric_limits<double>::infinity() ? 200.0 : a;
    const double r = bessel_ie<kOne>(v) * vexp(ac);
    // i1 = x / 2 to double precision below 2^-30: its exact halves round as torch's (half the
    // smallest subnormal to 0), not by the series' last-bit noise
    y[i] = static_cast<float>(kOne && a < 0x1p-30 ? 0.5 * v : r);
  }
}

// P(a, x) (upper = false) or Q(a, x): the series for P when x < a + 1, else Lentz's continued
// fraction for Q (Numerical Recipes' gammp/gammq); each converges fast in its region, and the
// other function is 1 minus it. Edge values as torch.special.gammainc/gammaincc.
double incomplete_gamma(double a, double x, bool upper) {
  if (std::isnan(a) || std::isnan(x) || a < 0 || x < 0) return kNaN;
  if (a == 0) return x > 0 ? (upper ? 0.0 : 1.0) : kNaN;
  if (x == 0) return upper ? 1.0 : 0.0;
  if (std::isinf(a)) return std::isinf(x) ? kNaN : (upper ? 1.0 : 0.0);
  if (std::isinf(x)) return upper ? 0.0 : 1.0;
  constexpr double eps = 1e-16, tiny = 1e-300;
  constexpr int max_iter = 100000;  // the series takes ~sqrt(a) terms near x = a
  // log of x^a e^-x / Gamma(a); lgamma_r: std::lgamma writes the global signgam (not thread safe)
  int sign;
  const double log_front = a * std::log(x) - x - lgamma_r(a, &sign);
  if (x < a + 1) {
    double ap = a, term = 1 / a, sum = term;
    for (int i = 0; i < max_iter && std::fabs(term) > std::fabs(sum) * eps; ++i) {
      ap += 1;
      term *= x / ap;
      sum += term;
    }
    const double p = sum * std::exp(log_front);
    return upper ? 1 - p : p;
  }
  double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
  for (int i = 1; i < max_iter; ++i) {
    const double an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1) < eps) break;
  }
  const double q = std::exp(log_front) * h;
  return upper ? q : 1 - q;
}

}  // namespace

// a (n), x (n) -> y (n): y = P(a, x), or Q(a, x) = 1 - P(a, x) when upper.
template <typename T>
void gammainc_forward(T* y, const T* a, const T* x, int64_t n, bool upper) {
  const int nt = threads_for(n, 1024);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i)
    y[i] = static_cast<T>(
        incomplete_gamma(static_cast<double>(a[i]), static_cast<double>(x[i]), upper));
}

template void gammainc_forward<float>(float*, const float*, const float*, int64_t, bool);
template void gammainc_forward<double>(double*, const double*, const double*, int64_t, bool);

namespace {
// y[i] = erf(x[i]) over [b, e): compiled per ISA (EMBER_SIMD, see vecmath.h).
template <typename T>
EMBER_SIMD void erf_span(T* y, const T* x, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) y[i] = verf(x[i]);
}
// y[i] = erfc(x[i]): vecmath's verfc (float: vm::erfc_float, in double, relative error < 3e-10,
// rounded once; double: vm::erfc_tail64, within ~1 ulp) -- std::erfc ran one value at a time at
// 1/20 of PyTorch's speed.
template <typename T>
EMBER_SIMD void erfc_span(T* y, const T* x, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) y[i] = verfc(x[i]);
}
// y[i] = lgamma(x[i]) for float: vecmath's vlgamma (in double, branch-free, within ~0.5 ulp),
// vectorised; libm's lgamma ran one value at a time at ~1/4 of PyTorch's speed.
EMBER_SIMD void lgamma_span_float(float* y, const float* x, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) y[i] = vlgamma(x[i]);
}
// y[i] = erfinv(x[i]): vecmath's verfinv (float: a polynomial in double; double: polynomials up
// to |x| = 0.999, Giles' start and Halley steps beyond, vectorised; erfinv1 one value at a time
// with libm's erf and exp ran at 1/25 - 1/50 of PyTorch's speed).
// Groups of 16 with every |x| <= 0.9966 (float) / 0.999 (double) by the central form alone
// (vm::erfinv_float_central / erfinv_central64, the same bits): the blend evaluated every
// form for every lane (double: the Halley steps too).
// A uniform x in (-1, 1) takes it in ~95% of the groups, a 2048-block split in 0.1%: ~1.1x
// faster at 256x1024, as the double log's division dominates.
template <typename T>
EMBER_SIMD void erfinv_span(T* y, const T* x, int64_t b, int64_t e) {
  constexpr T kCentral = sizeof(T) == 4 ? T(vm::kErfinvCentral) : T(vm::kErfinvCentral64);
  int64_t i = b;
  for (; i + 16 <= e; i += 16) {
    int tail = 0;  // (read before any write: y may be x)
    for (int j = 0; j < 16; ++j) tail |= !(std::fabs(x[i + j]) <= kCentral);
    if (tail) {
      for (int j = 0; j < 16; ++j) y[i + j] = verfinv(x[i + j]);
    } else if constexpr (sizeof(T) == 4) {
      for (int j = 0; j < 16; ++j) y[i + j] = vm::erfinv_float_central(x[i + j]);
    } else {
      for (int j = 0; j < 16; ++j)
        y[i + j] = std::copysign(vm::erfinv_central64(std::fabs(x[i + j])), x[i + j]);
    }
  }
  for (; i < e; ++i) y[i] = verfinv(x[i]);
}
// frac(x) = x - trunc(x), torch's (and ops.py's NumPy form's) bits: NaN at +-inf.
template <typename T>
EMBER_SIMD void frac_span(T* y, const T* x, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) y[i] = x[i] - std::trunc(x[i]);
}
}  // namespace

// x (n) -> y (n): y = f(x) for f by id: 0 erf, 1 erfc, 2 erfinv, 3 lgamma, 4 digamma,
// 5 polygamma (order), 6 i0, 7 i1, 8 frac, 9 i0e, 10 i1e.
template <typename T>
void special_forward(T* y, const T* x, int64_t n, int which, int order) {
  EMBER_CHECK(which >= 0 && which <= 10, "special_forward: unknown function id ", which);
  EMBER_CHECK(order >= 0, "special_forward: polygamma order must be >= 0, got ", order);
  const bool vec_float = sizeof(T) == 4 && (which == 3 || which == 6 || which == 7);
  if (which <= 2 || which >= 8 || vec_float) {  // vectorised, a chunk a thread
    const int nt = threads_for(n, int64_t(1) << 15);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
      const int64_t b = n * t / k, e = n * (t + 1) / k;
      if (which == 8) {
        frac_span(y, x, b, e);
      } else if (which >= 9) {
        if (which == 9)
          bessel_ie_span<false>(y, x, b, e);
        else
          bessel_ie_span<true>(y, x, b, e);
      } else if (which == 2) {
        erfinv_span(y, x, b, e);
      } else if constexpr (sizeof(T) == 4) {
        if (which == 6)
          bessel_i_float_span<false>(y, x, b, e);
        else if (which == 7)
          bessel_i_float_span<true>(y, x, b, e);
        else if (which == 3)
          lgamma_span_float(y, x, b, e);
        else if (which == 1)
          erfc_span(y, x, b, e);
        else
          erf_span(y, x, b, e);
      } else if (which == 1) {
        erfc_span(y, x, b, e);
      } else {
        erf_span(y, x, b, e);
      }
    }
    return;
  }
  const int nt = threads_for(n, 4096);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]);
    double r;
    switch (which) {
      case 3: {
        int sign;  // lgamma_r: std::lgamma writes the global signgam (a race across threads)
        r = lgamma_r(v, &sign);
        break;
      }
      case 4:
        r = digamma1(v);
        break;
      case 5:
        r = polygamma1(order, v);
        break;
      case 6:
        r = bessel_i(0, v);
        break;
      default:
        r = bessel_i(1, v);
    }
    y[i] = static_cast<T>(r);
  }
}

template void special_forward<float>(float*, const float*, int64_t, int, int);
template void special_forward<double>(double*, const double*, int64_t, int, int);

namespace {
// The Hurwitz zeta function sum_k (k + q)^-x as Cephes' zeta (torch.special.zeta's, computed
// in double): the terms directly while they add to the sum and q + k <= 9 (a q far below 0
// takes |q| of them, as torch's), then Euler-Maclaurin with B_2j / (2j)! in kA.
double hurwitz_zeta_real(double x, double q) {
  static const double kA[] = {12.0,
                              -720.0,
                              30240.0,
                              -1209600.0,
                              47900160.0,
                              -1.8924375803183791606e9,
                              7.47242496e10,
                              -2.950130727918164224e12,
                              1.1646782814350067249e14,
                              -4.5979787224074726105e15,
                              1.8152105401943546773e17,
                              -7.1661652561756670113e18};
  constexpr double eps = 1.11022302462515654042e-16;
  if (x == 1) return kInf;
  if (x < 1) return kNaN;
  if (q <= 0) {
    if (q == std::floor(q)) return kInf;
    if (x != std::floor(x)) return kNaN;  // a negative base to a non-integer power
  }
  double s = std::pow(q, -x), a = q, b = 0;
  for (int i = 0; i < 9 || a <= 9;) {
    ++i;
    a += 1;
    b = std::pow(a, -x);
    s += b;
    if (-eps * s < b && b < eps * s) return s;
  }
  const double w = a;
  s += b * w / (x - 1) - 0.5 * b;
  double f = 1, k = 0;
  for (int i = 0; i < 12; ++i) {
    f *= x + k;
    b /= w;
    const double t = f * b / kA[i];
    s += t;
    if (std::fabs(t / s) < eps) break;
    k += 1;
    f *= x + k;
    b /= w;
    k += 1;
  }
  return s;
}
}  // namespace

// x (n), q (n) -> y (n): y = zeta(x, q), the Hurwitz zeta function.
template <typename T>
void zeta_forward(T* y, const T* x, const T* q, int64_t n) {
  const int nt = threads_for(n, 2048);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1024) if (nt > 1)
  for (int64_t i = 0; i < n; ++i)
    y[i] = static_cast<T>(hurwitz_zeta_real(static_cast<double>(x[i]), static_cast<double>(q[i])));
}

template void zeta_forward<float>(float*, const float*, const float*, int64_t);
template void zeta_forward<double>(double*, const double*, const double*, int64_t);

namespace {
// a * q - c rounded once for float (torch's compiled loops fuse it into a multiply-subtract:
// float32 then overflows where that does); a * q is exact in double. Plain in double.
inline float mul_sub(float a, float q, float c) {
  return static_cast<float>(double(a) * double(q) - double(c));
}
inline double mul_sub(double a, double q, double c) { return a * q - c; }
}  // namespace

// x (n), p1 (n), deg (n) -> r (n): the three-term recurrence of an orthogonal polynomial family
// from P_0 = 1 and P_1 = p1 up to P_deg (elements with deg < 2 get p1), as torch.special's
// loops: P_j = (a P_{j-1} - c) / d with, by kind, 0 Chebyshev (of x: 2x, P_{j-2}, 1),
// 1 Hermite H (2x, 2(j-1) P_{j-2}, 1), 2 Hermite He (x, (j-1) P_{j-2}, 1), 3 Laguerre
// (2(j-1) + 1 - x, (j-1) P_{j-2}, j), 4 Legendre ((2j-1) x, (j-1) P_{j-2}, j). Chebyshev,
// Laguerre and Legendre stop where P_{j-1} is NaN (torch's loops do); the special cases around
// the recurrence (n < 0, the interval's ends, the trigonometric forms) are Python's.
template <typename T>
void poly_recurrence(T* r, const T* x, const T* p1, const int64_t* deg, int64_t n, int kind) {
  EMBER_CHECK(kind >= 0 && kind <= 4, "poly_recurrence: unknown kind ", kind);
  const bool stop_nan = kind == 0 || kind >= 3;
  int64_t work = 0;  // a degree of 1e9 must not look like a small problem
  for (int64_t i = 0; i < n; ++i) work += std::min<int64_t>(std::max<int64_t>(deg[i], 1), 1 << 20);
  const int nt = threads_for(work, 1 << 16);
#pragma omp parallel for num_threads(nt) schedule(dynamic, 256) if (nt > 1)
  for (int64_t i = 0; i < n; ++i) {
    const T xi = x[i];
    T p = T(1), q = p1[i];
    for (int64_t j = 2; j <= deg[i] && !(stop_nan && std::isnan(q)); ++j) {
      const T k = static_cast<T>(j - 1);
      T a, c, rj;
      switch (kind) {
        case 0:
          a = xi + xi, c = p;
          break;
        case 1:
          a = xi + xi, c = (k + k) * p;
          break;
        case 2:
          a = xi, c = k * p;
          break;
        case 3:
          a = (k + k) + (T(1) - xi), c = k * p;
          break;
        default:
          a = (k + k + T(1)) * xi, c = k * p;
      }
      rj = mul_sub(a, q, c);
      if (kind >= 3) rj /= static_cast<T>(j);
      p = q;
      q = rj;
    }
    r[i] = q;
  }
}

template void poly_recurrence<float>(float*, const float*, const float*, const int64_t*, int64_t,
                                     int);
template void poly_recurrence<double>(double*, const double*, const double*, const int64_t*,
                                      int64_t, int);

}  // namespace ember
