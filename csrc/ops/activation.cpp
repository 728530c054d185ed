// Elementwise activations, forward and backward side by side, one fused pass each, PyTorch's
// formulas. Every kernel sees the tensor as a flat (n) array. These are memory-bound, so threads
// only start above kMinPerThread elements each.
//
// What backward reads (`saved`): the OUTPUT y for sigmoid and tanh; the INPUT x for every other
// one (relu, leaky_relu, elu, gelu, softplus, silu, mish, hardswish, hardtanh, hardsigmoid,
// logsigmoid). Backward writes a fresh dx (never accumulates); with dy_scalar, dy is one value
// for every element (a full sum's gradient, never filled in).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common.h"
#include "moments.h"
#include "vecmath.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace ember {

namespace {

// 64K elements a thread: with 2 threads, a 64x4096 float map ran at half PyTorch's speed when it
// needed 256K a thread; below 64K the fork/join costs more than the second thread gains.
constexpr int64_t kMinPerThread = int64_t(1) << 16;

// f(begin, end) over [0, n) in contiguous chunks, one per thread (serial when small).
template <typename F>
void parallel_chunks(int64_t n, F&& f) {
  const int nt = threads_for(n, kMinPerThread);
  if (nt <= 1) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    // Chunk edges on multiples of 16 elements (whole cache lines for float).
    const int64_t per = ((n + k - 1) / k + 15) / 16 * 16;
    const int64_t b = std::min(n, t * per), e = std::min(n, b + per);
    f(b, e);
  }
}

// The workers: one contiguous range, compiled per ISA (EMBER_SIMD, see vecmath.h). `op` is taken
// by value, so its captured parameters are registers, not loads through a pointer.
template <typename T, typename Op>
EMBER_SIMD void map1_range(T* y, const T* x, int64_t b, int64_t e, Op op) {
  for (int64_t i = b; i < e; ++i) y[i] = op(x[i]);
}
template <typename T, typename Op>
EMBER_SIMD void map2_range(T* dx, const T* dy, const T* s, int64_t b, int64_t e, Op op) {
  for (int64_t i = b; i < e; ++i) dx[i] = op(dy[i], s[i]);
}

// y[i] = op(x[i])
template <typename T, typename Op>
void map1(T* y, const T* x, int64_t n, Op op) {
  parallel_chunks(n, [&](int64_t b, int64_t e) { map1_range(y, x, b, e, op); });
}

// dx[i] = op(dy[i], s[i]); dy_scalar: dy is one value for every i (a full sum's gradient),
// read once, so the pass streams s alone.
template <typename T, typename Op>
void map2(T* dx, const T* dy, const T* s, int64_t n, bool dy_scalar, Op op) {
  if (dy_scalar) {
    const T g = n > 0 ? dy[0] : T(0);
    map1(dx, s, n, [g, op](T v) { return op(g, v); });
    return;
  }
  parallel_chunks(n, [&](int64_t b, int64_t e) { map2_range(dx, dy, s, b, e, op); });
}

// y = sin(x) or cos(x) over [b, e), in blocks that stay in L1: vecmath's vsincos, then, only if
// the block has one, std::sin / std::cos for |x| > kSinCosMax or inf. (Three separate loops: GCC
// vectorises neither the map with the scan fused in nor an int-free `bool |=` scan.)
template <bool kCos, typename T>
EMBER_SIMD void sincos_range(T* y, const T* x, int64_t b, int64_t e) {
  constexpr T kMax = T(vm::kSinCosMax);
  for (int64_t b0 = b; b0 < e; b0 += 2048) {
    const int64_t e0 = std::min(e, b0 + 2048);
    for (int64_t i = b0; i < e0; ++i) y[i] = vsincos<kCos>(x[i]);
    int big = 0;
    for (int64_t i = b0; i < e0; ++i) big |= std::fabs(x[i]) > kMax;
    if (big)
      for (int64_t i = b0; i < e0; ++i)
        if (std::fabs(x[i]) > kMax)
          y[i] = T(kCos ? std::cos(double(x[i])) : std::sin(double(x[i])));
  }
}

// y = fast(x) over [b, e) in blocks that stay in L1, or full(x) over a block with any x outside
// fast's range (!in(x)): vecmath.h's split double exp / logs (the hot loop free of special-value
// selects; a block of NaN or -inf runs at the full form's speed). The scan comes first and each
// loop reads x[i] before writing y[i], so y may be x (in-place ops).
template <typename T, typename Fast, typename Full, typename In>
EMBER_SIMD void split_range(T* y, const T* x, int64_t b, int64_t e, Fast fast, Full full, In in) {
  for (int64_t b0 = b; b0 < e; b0 += 2048) {
    const int64_t e0 = std::min(e, b0 + 2048);
    int out = 0;
    for (int64_t i = b0; i < e0; ++i) out |= !in(x[i]);
    if (out)
      for (int64_t i = b0; i < e0; ++i) y[i] = full(x[i]);
    else
      for (int64_t i = b0; i < e0; ++i) y[i] = fast(x[i]);
  }
}
template <typename T, typename Fast, typename Full, typename In>
void split_map(T* y, const T* x, int64_t n, Fast fast, Full full, In in) {
  parallel_chunks(n, [&](int64_t b, int64_t e) { split_range(y, x, b, e, fast, full, in); });
}
// The split forms' parts (vecmath.h, above vm::exp_normal), shared with the test hook.
struct ExpSplit {
  static double fast(double v) { return vm::exp_normal(v); }
  static double full(double v) { return vm::exp_full(v); }
  static bool in(double v) { return std::fabs(v) <= vm::kExpNormalMax; }
};
// torch.log of a double: vm::log_acc (~0.55 ulp), not vlog's ~1.85-ulp form the fused kernels use
struct LogSplit {
  static double fast(double v) { return vm::log_acc<true>(v); }
  static double full(double v) { return vm::log_specials(v, vm::log_acc<false>(v)); }
  static bool in(double v) { return vm::positive_normal(v); }
};
struct Log2Split {
  static double fast(double v) { return vm::log2_acc<true>(v); }
  static double full(double v) { return vlog2(v); }
  static bool in(double v) { return vm::positive_normal(v); }
};
struct Log10Split {
  static double fast(double v) { return vm::log10_acc<true>(v); }
  static double full(double v) { return vlog10(v); }
  static bool in(double v) { return vm::positive_normal(v); }
};
// float32 log1p's full form for split_map: log1p_fast's lanes blended with vlog1p's outside its
// range. (vlog1p itself differs from log1p_fast in the last bit of ~4e-5 of inputs -- GCC
// contracts its arithmetic differently beside the special-value selects -- and the blocks a
// lane falls in follow the thread count: this keeps the result independent of both.)
inline float log1p_full(float v) {
  const bool in = vm::log1p_fast_in(v);
  const float y = vm::log1p_fast(in ? v : 0.5f);
  return in ? y : vlog1p(v);
}
template <typename S>
void split_map(double* y, const double* x, int64_t n) {
  split_map(
      y, x, n, [](double v) { return S::fast(v); }, [](double v) { return S::full(v); },
      [](double v) { return S::in(v); });
}

template <typename T>
void sincos_map(T* y, const T* x, int64_t n, bool cosine) {
  parallel_chunks(n, [&](int64_t b, int64_t e) {
    cosine ? sincos_range<true>(y, x, b, e) : sincos_range<false>(y, x, b, e);
  });
}

// dx = dy * cos(x) (sin's) or dy * -sin(x) (cos's): the derivative into dx, then scaled in place.
template <typename T>
void sincos_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, bool cosine) {
  parallel_chunks(n, [&](int64_t b, int64_t e) {
    cosine ? sincos_range<false>(dx, x, b, e) : sincos_range<true>(dx, x, b, e);
    const T sign = cosine ? T(-1) : T(1);
    if (dy_scalar)
      map1_range(dx, dx, b, e, [g = dy[0] * sign](T d) { return g * d; });
    else
      map2_range(dx, dy, dx, b, e, [sign](T g, T d) { return g * (sign * d); });
  });
}

}  // namespace

// x (n) -> y (n): y = max(x, 0) (NaN propagates).
template <typename T>
void relu_forward(T* y, const T* x, int64_t n) {
  map1(y, x, n, [](T v) { return v < T(0) ? T(0) : v; });
}
// dy, x (n) -> dx: dx = x <= 0 ? 0 : dy (the gradient at 0 is 0 and a NaN passes dy, as
// PyTorch's threshold_backward).
template <typename T>
void relu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar) {
  map2(dx, dy, x, n, dy_scalar, [](T g, T v) { return v <= T(0) ? T(0) : g; });
}

// x (n) -> y: y = x > 0 ? x : x * slope.
template <typename T>
void leaky_relu_forward(T* y, const T* x, int64_t n, T slope) {
  map1(y, x, n, [slope](T v) { return v > T(0) ? v : v * slope; });
}
// dy, x (n) -> dx: dx = x > 0 ? dy : dy * slope.
template <typename T>
void leaky_relu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, T slope) {
  map2(dx, dy, x, n, dy_scalar, [slope](T g, T v) { return v > T(0) ? g : g * slope; });
}

// x (n) -> y: y = x > 0 ? x * scale : expm1(x * input_scale) * (alpha * scale), PyTorch's elu
// kernel with its coefficients rounded in T (elu: scale = input_scale = 1; selu, celu: see
// nn/functional.py). -0 stays -0, as PyTorch's. input_scale > 0 (all but celu of a negative
// alpha): the argument is <= 0 wherever it counts, so the cheaper expm1_nonpos.
template <typename T>
void elu_forward(T* y, const T* x, int64_t n, T alpha, T scale, T input_scale) {
  const T neg = alpha * scale;
  if (input_scale > T(0)) {
    map1(y, x, n, [=](T v) {
      const T u = (v > T(0) ? T(0) : v) * input_scale;
      const T e = vm::expm1_nonpos(u);  // keeps NaN
      return v > T(0) ? v * scale : (u == T(0) ? u : e) * neg;
    });
  } else {
    map1(y, x, n, [=](T v) {
      const T u = (v > T(0) ? T(0) : v) * input_scale;
      const T e = vexpm1(u);
      return v > T(0) ? v * scale : (u == T(0) ? u : e) * neg;
    });
  }
}
// dy, x (n) -> dx: dx = x > 0 ? dy * scale : dy * input_scale * (alpha * scale) * exp(x *
// input_scale), PyTorch's order (from the input, not the output; a NaN x gives NaN, as PyTorch's
// vectorised loop, which all but a tensor's last few entries take).
template <typename T>
void elu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, T alpha, T scale,
                  T input_scale) {
  const T neg = alpha * scale;
  map2(dx, dy, x, n, dy_scalar, [=](T g, T v) {
    return v > T(0) ? g * scale : g * input_scale * neg * vexp(v * input_scale);
  });
}

// x (n) -> y: approximate == false: y = x * Phi(x) = x/2 * erfc(-x/sqrt(2)) (exact GELU;
// erfc keeps the far negative tail accurate where 1 + erf(x/sqrt(2)) would cancel);
// approximate == true: y = x/2 * (1 + tanh(k (x + 0.044715 x^3))), k = sqrt(2/pi), computed as
// x * sigmoid(2 k (x + 0.044715 x^3)) (the same function, no cancellation for x << 0).
template <typename T>
void gelu_forward(T* y, const T* x, int64_t n, bool approximate) {
  constexpr T kBeta = T(0.79788456080286535588);  // sqrt(2/pi)
  constexpr T kKappa = T(0.044715);
  if (approximate)
    map1(y, x, n, [](T v) {
      T inner = kBeta * (v + kKappa * v * v * v);
      return v * vsigmoid(T(2) * inner);
    });
  else
    map1(y, x, n, [](T v) { return v * vnormal(v).cdf; });
}
// dy, x (n) -> dx: exact: dx = dy * (Phi(x) + x * phi(x)), phi(x) = exp(-x^2/2)/sqrt(2 pi);
// tanh: with s = sigmoid(2 inner) = (1 + tanh(inner))/2:
// dx = dy * (s + x * 2 s (1 - s) * k (1 + 3 * 0.044715 x^2)).
template <typename T>
void gelu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, bool approximate) {
  constexpr T kBeta = T(0.79788456080286535588);
  constexpr T kKappa = T(0.044715);
  if (approximate)
    map2(dx, dy, x, n, dy_scalar, [](T g, T v) {
      T x2 = v * v;
      T s = vsigmoid(T(2) * kBeta * (v + kKappa * x2 * v));
      T d_inner = kBeta * (T(1) + T(3) * kKappa * x2);
      return g * (s + v * T(2) * s * (T(1) - s) * d_inner);
    });
  else
    map2(dx, dy, x, n, dy_scalar, [](T g, T v) {
      const NormalCdfPdf<T> p = vnormal(v);
      // inf * pdf(inf) = inf * 0: NaN, as PyTorch's (float32's pdf is clamped, not 0)
      const T vpdf = v - v != T(0) ? v * T(0) : v * p.pdf;
      return g * (p.cdf + vpdf);
    });
}

// x (n) -> y: y = 1 / (1 + exp(-x)).
template <typename T>
void sigmoid_forward(T* y, const T* x, int64_t n) {
  map1(y, x, n, [](T v) { return vsigmoid(v); });
}
// dy, y (n) -> dx: dx = dy * (1 - y) * y   (from the OUTPUT y).
template <typename T>
void sigmoid_backward(T* dx, const T* dy, const T* y, int64_t n, bool dy_scalar) {
  map2(dx, dy, y, n, dy_scalar, [](T g, T s) { return g * (T(1) - s) * s; });
}

// x (n) -> y: y = tanh(x).
template <typename T>
void tanh_forward(T* y, const T* x, int64_t n) {
  map1(y, x, n, [](T v) { return vtanh(v); });
}
// dy, y (n) -> dx: dx = dy * (1 - y^2)   (from the OUTPUT y).
template <typename T>
void tanh_backward(T* dx, const T* dy, const T* y, int64_t n, bool dy_scalar) {
  map2(dx, dy, y, n, dy_scalar, [](T g, T t) { return g * (T(1) - t * t); });
}

// x (n) -> y: y = beta*x > threshold ? x : log(1 + exp(beta*x)) / beta, computed as
// (max(z, 0) + log1p(exp(-|z|))) / beta with z = beta*x (the same function, never overflows).
// (log1p of exp(-|z|) in [0, 1] needs no range checks; 1/beta is one rounding of its own.)
template <typename T>
void softplus_forward(T* y, const T* x, int64_t n, T beta, T threshold) {
  const T inv_beta = T(1) / beta;
  map1(y, x, n, [beta, inv_beta, threshold](T v) {
    T z = v * beta;
    T sp = ((z > T(0) ? z : T(0)) + vm::log1p_unit(vexp(-std::fabs(z)))) * inv_beta;
    return z > threshold ? v : sp;
  });
}
// dy, x (n) -> dx: dx = beta*x > threshold ? dy : dy * sigmoid(beta*x).
template <typename T>
void softplus_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, T beta,
                       T threshold) {
  map2(dx, dy, x, n, dy_scalar, [beta, threshold](T g, T v) {
    T z = v * beta;
    return z > threshold ? g : g * vsigmoid(z);
  });
}

// x (n) -> y: y = x * sigmoid(x) (silu / swish).
template <typename T>
void silu_forward(T* y, const T* x, int64_t n) {
  map1(y, x, n, [](T v) { return v * vsigmoid(v); });
}
// dy, x (n) -> dx: dx = dy * s * (1 + x * (1 - s)), s = sigmoid(x).
template <typename T>
void silu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar) {
  map2(dx, dy, x, n, dy_scalar, [](T g, T v) {
    T s = vsigmoid(v);
    return g * (s * (T(1) + v * (T(1) - s)));
  });
}

// softplus(x) = max(x, 0) + log1p(exp(-|x|)), never overflowing.
template <typename T>
inline T softplus1(T v) {
  return (v > T(0) ? v : T(0)) + vm::log1p_unit(vexp(-std::fabs(v)));
}

// x (n) -> y: y = x * tanh(softplus(x)) (mish).
template <typename T>
void mish_forward(T* y, const T* x, int64_t n) {
  map1(y, x, n, [](T v) { return v * vtanh(softplus1(v)); });
}
// dy, x (n) -> dx: dx = dy * (t + x * sigmoid(x) * (1 - t^2)), t = tanh(softplus(x)).
template <typename T>
void mish_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar) {
  map2(dx, dy, x, n, dy_scalar, [](T g, T v) {
    T t = vtanh(softplus1(v));
    return g * (t + v * vsigmoid(v) * (T(1) - t * t));
  });
}

// x (n) -> y: y = x * min(max(x + 3, 0), 6) / 6 (hardswish; NaN propagates).
template <typename T>
void hardswish_forward(T* y, const T* x, int64_t n) {
  // std::max / std::min (not `r > 0 ? r : 0`): GCC then emits one max and one min instead of
  // a chain of mask compares that ran hardswish at 0.7x PyTorch's speed; a NaN r passes through
  // either way and v * r keeps x's NaN, so the values are unchanged.
  map1(y, x, n, [](T v) { return v * std::min(std::max(v + T(3), T(0)), T(6)) / T(6); });
}
// dy, x (n) -> dx: dx = x <= -3 ? 0 : x >= 3 ? dy : dy * (x / 3 + 1/2); a NaN x gives NaN, as
// PyTorch's vectorised loop (its scalar tail, a tensor's last few entries, passes dy).
template <typename T>
void hardswish_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar) {
  map2(dx, dy, x, n, dy_scalar, [](T g, T v) {
    return v <= T(-3) ? T(0) : (v >= T(3) ? g : g * (v / T(3) + T(0.5)));  // NaN stays NaN
  });
}

// x (n) -> y: y = min(max(x, lo), hi) (hardtanh; relu6 is lo = 0, hi = 6; NaN propagates).
template <typename T>
void hardtanh_forward(T* y, const T* x, int64_t n, T lo, T hi) {
  map1(y, x, n, [lo, hi](T v) { return v < lo ? lo : (v > hi ? hi : v); });
}
// dy, x (n) -> dx: dx = lo < x < hi ? dy : 0 (PyTorch's: a NaN x gets 0).
template <typename T>
void hardtanh_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, T lo, T hi) {
  map2(dx, dy, x, n, dy_scalar, [lo, hi](T g, T v) { return v > lo && v < hi ? g : T(0); });
}

// x (n) -> y: y = min(max(x + 3, 0), 6) / 6 (hardsigmoid; NaN propagates).
template <typename T>
void hardsigmoid_forward(T* y, const T* x, int64_t n) {
  map1(y, x, n, [](T v) {
    T r = v + T(3);
    r = r < T(0) ? T(0) : r;
    r = r > T(6) ? T(6) : r;
    return r / T(6);
  });
}
// dy, x (n) -> dx: dx = -3 < x < 3 ? dy * (1/6 rounded to float, in double too, as PyTorch) : 0.
template <typename T>
void hardsigmoid_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar) {
  constexpr T kSixth = T(1.0f / 6.0f);
  map2(dx, dy, x, n, dy_scalar, [](T g, T v) { return v > T(-3) && v < T(3) ? g * kSixth : T(0); });
}

// x (n) -> y: y = log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)) (finite for any finite x).
template <typename T>
void logsigmoid_forward(T* y, const T* x, int64_t n) {
  map1(y, x, n, [](T v) { return (v < T(0) ? v : T(0)) - vm::log1p_unit(vexp(-std::fabs(v))); });
}
// dy, x (n) -> dx: dx = dy * sigmoid(-x).
template <typename T>
void logsigmoid_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar) {
  map2(dx, dy, x, n, dy_scalar, [](T g, T v) { return g * vsigmoid(-v); });
}

// ---- float32 log2 / log10 by AVX-512 table lookup ---------------------------------------------
// x = 2^e m, m in [0.75, 1.5) (vgetexpps / vgetmantps, denormals included); j = round(32 (m - 1))
// in [-8, 16] picks c_j ~ 1/(1 + j/32) from a 32-entry register table (vpermt2ps, index j mod 32),
// r = m c_j - 1 in [-0.021, 0.021] and log_b x = e log_b 2 - log_b c_j + log_b(1 + r), the last as
// r (C_hi + C_lo) + r^2 Q(r), Q a cubic (least squares on Chebyshev nodes of |r| <= 0.0215,
// mpmath; error < 1e-8 of log_b(1 + r) / r^2). Exact pieces keep it within 0.53 ulp over every
// positive float (the vecmath.h form, the other CPUs' path, is within 0.8): m c_j as p + pl
// (p = fl(m c_j) by an uncontractable mul_round, pl = fma(m, c_j, -p); r = p - 1 exact), pl
// entering the low part as pl C (1 - r); -log_b c_j as a 16-bit T_hi + T_lo so s = e Eh + T_hi is
// exact (Eh: 1, or log10(2) to 16 bits); w = s + r C_hi rounded once with its error d = r C_hi + (s
// - w) (s - w exact) carried beside the low part. One vfixupimmps sets 0 -> -inf, negative -> NaN,
// inf -> inf, NaN -> NaN. 15 lanes' ops fewer than the polynomial form: 0.32 ms vs 0.49 ms on 1e6.
// Tables by mpmath: c_j = float(1 / (1 + j/32)), T = -log_b(c_j) (of the float c_j).
struct Log2Table {
  static constexpr float C[32] = {
      1.0f,         0.969696999f, 0.941176474f, 0.914285719f, 0.888888896f, 0.864864886f,
      0.842105269f, 0.820512831f, 0.800000012f, 0.780487776f, 0.761904776f, 0.744186044f,
      0.727272749f, 0.711111128f, 0.695652187f, 0.680851042f, 0.666666687f, 0.0f,
      0.0f,         0.0f,         0.0f,         0.0f,         0.0f,         0.0f,
      1.33333337f,  1.27999997f,  1.23076928f,  1.18518519f,  1.14285719f,  1.10344827f,
      1.06666672f,  1.03225803f};
  static constexpr float TH[32] = {
      0.0f,           0.0443878174f, 0.0874633789f, 0.12928772f,   0.169921875f,  0.209457397f,
      0.247924805f,   0.285400391f,  0.321929932f,  0.357559204f,  0.392318726f,  0.426269531f,
      0.45942688f,    0.491851807f,  0.52355957f,   0.554595947f,  0.584960938f,  0.0f,
      0.0f,           0.0f,          0.0f,          0.0f,          0.0f,          0.0f,
      -0.415039062f,  -0.356140137f, -0.299560547f, -0.245117188f, -0.192642212f, -0.14201355f,
      -0.0931091309f, -0.0458068848f};
  static constexpr float TL[32] = {0.0f,
                                   6.25898019e-06f,
                                   -5.43030353e-07f,
                                   -4.71084331e-06f,
                                   3.11569329e-06f,
                                   -4.066766e-06f,
                                   2.69800717e-06f,
                                   1.80942664e-06f,
                                   -1.85825104e-06f,
                                   -7.14573889e-06f,
                                   -1.32967944e-06f,
                                   -4.77117328e-06f,
                                   4.69575889e-06f,
                                   1.25475503e-06f,
                                   2.35887228e-06f,
                                   -7.04990498e-06f,
                                   1.52022551e-06f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   1.52022551e-06f,
                                   -3.64125981e-06f,
                                   2.11271512e-07f,
                                   4.67891459e-06f,
                                   -2.93052176e-06f,
                                   -5.44969316e-06f,
                                   -3.48774506e-07f,
                                   3.23814811e-06f};
  static constexpr float Ch = 1.4426950216293335f, Cl = 1.925963033500011e-08f;
  static constexpr float Q[4] = {0.28865817189216614f, -0.36078497767448425f, 0.48089832067489624f,
                                 -0.7213475108146667f};
  static constexpr float Eh = 1.0f, El = 0.0f;
};
struct Log10Table {
  static constexpr const float* C = Log2Table::C;
  static constexpr float TH[32] = {
      0.0f,           0.0133666992f, 0.0263214111f,  0.0389251709f,  0.0511474609f,  0.0630493164f,
      0.0746307373f,  0.0859222412f, 0.0969085693f,  0.107635498f,   0.118103027f,   0.128311157f,
      0.138305664f,   0.14805603f,   0.157608032f,   0.166946411f,   0.176086426f,   0.0f,
      0.0f,           0.0f,          0.0f,           0.0f,           0.0f,           0.0f,
      -0.124938965f,  -0.107208252f, -0.0901794434f, -0.0737915039f, -0.0579986572f, -0.042755127f,
      -0.0280303955f, -0.0137939453f};
  static constexpr float TL[32] = {0.0f,
                                   -2.7506037e-06f,
                                   7.5259718e-06f,
                                   -7.107295e-06f,
                                   5.05827393e-06f,
                                   2.41882458e-06f,
                                   2.87775651e-06f,
                                   -7.61816682e-06f,
                                   1.43720058e-06f,
                                   -1.60346826e-06f,
                                   -3.72335512e-06f,
                                   7.32165108e-06f,
                                   -2.97883912e-06f,
                                   6.49466574e-06f,
                                   -1.86954253e-07f,
                                   1.48223489e-06f,
                                   4.82033147e-06f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   0.0f,
                                   2.15292459e-07f,
                                   -1.70798751e-06f,
                                   2.7968315e-06f,
                                   5.2865098e-06f,
                                   6.6908342e-06f,
                                   3.14814997e-06f,
                                   1.64925734e-06f,
                                   5.67376992e-06f};
  static constexpr float Ch = 0.4342944920063019f, Cl = -1.0103049952192578e-08f;
  static constexpr float Q[4] = {0.08689476549625397f, -0.10860709846019745f, 0.14476482570171356f,
                                 -0.21714724600315094f};
  static constexpr float Eh = 0.301025390625f, El = 4.605039066518657e-06f;  // log10(2)
};

#if EMBER_SIMD_CLONES
template <class K>
EMBER_TARGET("arch=x86-64-v4")
void log_table_avx512(float* y, const float* x, int64_t n) {
  const __m512 c0 = _mm512_loadu_ps(K::C), c1 = _mm512_loadu_ps(K::C + 16);
  const __m512 h0 = _mm512_loadu_ps(K::TH), h1 = _mm512_loadu_ps(K::TH + 16);
  const __m512 l0 = _mm512_loadu_ps(K::TL), l1 = _mm512_loadu_ps(K::TL + 16);
  const __m512 ch = _mm512_set1_ps(K::Ch), cl = _mm512_set1_ps(K::Cl), one = _mm512_set1_ps(1.0f);
  // 32 m + (1.5 * 2^23 - 32): round(32 (m - 1)) in the low mantissa bits (vpermt2ps reads 5)
  const __m512 s32 = _mm512_set1_ps(32.0f), shift = _mm512_set1_ps(12582912.0f - 32.0f);
  const __mmask16 all = 0xffff;
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m512 v = _mm512_maskz_loadu_ps(k, x + i);
    // (the masked forms with a full mask: GCC 12 warns of the unmasked ones' undefined source)
    const __m512 m = _mm512_mask_getmant_ps(v, all, v, _MM_MANT_NORM_p75_1p5, _MM_MANT_SIGN_nan);
    __m512 e = _mm512_mask_getexp_ps(v, all, v);
    e = _mm512_mask_add_ps(e, _mm512_cmp_ps_mask(m, one, _CMP_LT_OQ), e, one);  // m < 1: e + 1
    const __m512i j = _mm512_castps_si512(_mm512_fmadd_ps(m, s32, shift));
    const __m512 c = _mm512_permutex2var_ps(c0, j, c1);
    const __m512 p =
        _mm512_mask_mul_round_ps(m, all, m, c, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512 pl = _mm512_fmsub_ps(m, c, p);
    const __m512 r = _mm512_sub_ps(p, one);
    __m512 q = _mm512_fmadd_ps(_mm512_set1_ps(K::Q[0]), r, _mm512_set1_ps(K::Q[1]));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(K::Q[2]));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(K::Q[3]));
    __m512 low = _mm512_fmadd_ps(r, _mm512_fmadd_ps(r, q, cl), _mm512_permutex2var_ps(l0, j, l1));
    low = _mm512_fmadd_ps(pl, _mm512_fnmadd_ps(r, ch, ch), low);
    low = _mm512_fmadd_ps(e, _mm512_set1_ps(K::El), low);
    const __m512 s = _mm512_fmadd_ps(e, _mm512_set1_ps(K::Eh), _mm512_permutex2var_ps(h0, j, h1));
    const __m512 w = _mm512_fmadd_ps(r, ch, s);
    const __m512 d = _mm512_fmadd_ps(r, ch, _mm512_sub_ps(s, w));
    const __m512 res = _mm512_add_ps(w, _mm512_add_ps(d, low));
    // classes of v -> 1 (QNaN: v), 2 (SNaN: quieted), 4 (zero: -inf), 8 (one: +0), 3 (-inf and
    // negatives: NaN), 5 (+inf), 0 (positive: res)
    _mm512_mask_storeu_ps(y + i, k, _mm512_fixupimm_ps(res, v, _mm512_set1_epi32(0x03538421), 0));
  }
}
#endif

// Whether the float32 log2 / log10 run log_table_avx512: for the kernels (isa 0) where the CPU has
// AVX-512, for vecmath_apply's isa 4 (the x86-64-v4 clone's slot) always.
bool log_table_for(int isa) {
#if EMBER_SIMD_CLONES
  static const bool v4 = __builtin_cpu_supports("x86-64-v4");
  return isa == 4 || (isa == 0 && v4);
#else
  (void)isa;
  return false;
#endif
}

// float32 log2 (kTen false) / log10 of x (n) -> y: the table form (log_table_for), else the
// vecmath.h form in the clone EMBER_SIMD picks.
template <bool kTen>
void log2_10_float(float* y, const float* x, int64_t n) {
  parallel_chunks(n, [&](int64_t b, int64_t e) {
#if EMBER_SIMD_CLONES
    if (log_table_for(0)) {
      if constexpr (kTen)
        log_table_avx512<Log10Table>(y + b, x + b, e - b);
      else
        log_table_avx512<Log2Table>(y + b, x + b, e - b);
      return;
    }
#endif
    if constexpr (kTen)
      map1_range(y, x, b, e, [](float v) { return vlog10(v); });
    else
      map1_range(y, x, b, e, [](float v) { return vlog2(v); });
  });
}

// ---- unary maths: torch.exp, log, sqrt, ... (the Tensor methods, not layers) ----------------
// op ids (csrc/bindings/bind_activation.cpp names them in this order): 0 exp, 1 expm1, 2 log,
// 3 log1p, 4 sqrt, 5 rsqrt, 6 reciprocal, 7 abs, 8 neg, 9 square, 10 clamp, 11 sin, 12 cos,
// 13 log2, 14 log10, 15 exp2, 16 sinh, 17 cosh, 18 atanh, 19 atan, 20 asin, 21 acos, 22 cube
// (x * x * x), 23 inv_square (1 / (x * x)): pow's, 24 sign (13-21:
// vecmath.h's forms, float results within a last bit: in double, or in float for log2, log10,
// asin, acos, atan; NumPy's loops were 5-10x slower than PyTorch's).

// x (n) -> y: y = op(x); clamp: min(max(x, lo), hi) as PyTorch's (x's NaN propagates, x is kept
// where it ties a bound so clamp(-0.0, min=0) is -0.0, lo > hi gives hi, a NaN bound gives NaN
// everywhere); a missing bound is -inf / inf. expm1 and log1p keep -0.0 (vecmath's give +0).
// expm1 is computed in double for float32 too (vm::expm1_float): rounded once, it agrees with
// PyTorch's float32 to the last bit in > 99% of inputs (tests/test_parity2.py holds that). float32
// log1p stays in float (within a last bit of PyTorch's, equal in ~96%): double's log1p or log in a
// float loop does not vectorise and ran at 0.25x PyTorch.
template <typename T>
void unary_forward(T* y, const T* x, int64_t n, int op, T lo, T hi) {
  switch (op) {
    case 0:
      if constexpr (sizeof(T) == 8)
        split_map<ExpSplit>(y, x, n);
      else
        map1(y, x, n, [](T v) { return vexp(v); });
      break;
    case 1:
      if constexpr (sizeof(T) == 4)
        map1(y, x, n, [](T v) { return v == T(0) ? v : vm::expm1_float(v); });
      else
        map1(y, x, n, [](T v) { return v == T(0) ? v : vexpm1(v); });
      break;
    case 2:
      if constexpr (sizeof(T) == 8)
        split_map<LogSplit>(y, x, n);
      else
        map1(y, x, n, [](T v) { return vlog(v); });
      break;
    case 3:
      if constexpr (sizeof(T) == 4)  // blocks of x in (-1, 1e37] by the select-free form
        split_map(
            y, x, n, [](float v) { return v == 0.0f ? v : vm::log1p_fast(v); },
            [](float v) { return v == 0.0f ? v : log1p_full(v); },
            [](float v) { return vm::log1p_fast_in(v); });
      else
        map1(y, x, n, [](T v) { return v == T(0) ? v : vlog1p(v); });
      break;
    case 4:
      map1(y, x, n, [](T v) { return std::sqrt(v); });  // exactly rounded; sqrt(-0) = -0
      break;
    case 5:
      map1(y, x, n, [](T v) { return T(1) / std::sqrt(v); });  // PyTorch's: rsqrt(-0) = -inf
      break;
    case 6:
      map1(y, x, n, [](T v) { return T(1) / v; });
      break;
    case 7:
      map1(y, x, n, [](T v) { return std::fabs(v); });
      break;
    case 8:
      map1(y, x, n, [](T v) { return -v; });
      break;
    case 9:
      map1(y, x, n, [](T v) { return v * v; });
      break;
    case 10:
      if (lo != lo || hi != hi) {
        map1(y, x, n, [](T) { return std::numeric_limits<T>::quiet_NaN(); });
        break;
      }
      map1(y, x, n, [lo, hi](T v) {
        const T r = v < lo ? lo : v;
        return r > hi ? hi : r;
      });
      break;
    case 11:
      sincos_map(y, x, n, false);
      break;
    case 12:
      sincos_map(y, x, n, true);
      break;
    case 13:
      if constexpr (sizeof(T) == 8)
        split_map<Log2Split>(y, x, n);
      else
        log2_10_float<false>(y, x, n);
      break;
    case 14:
      if constexpr (sizeof(T) == 8)
        split_map<Log10Split>(y, x, n);
      else
        log2_10_float<true>(y, x, n);
      break;
    case 15:
      map1(y, x, n, [](T v) { return vexp2(v); });
      break;
    case 16:
      map1(y, x, n, [](T v) { return vsinh(v); });
      break;
    case 17:
      map1(y, x, n, [](T v) { return vcosh(v); });
      break;
    case 18:
      map1(y, x, n, [](T v) { return vatanh(v); });
      break;
    case 19:
      map1(y, x, n, [](T v) { return vatan(v); });
      break;
    case 20:
      map1(y, x, n, [](T v) { return vasin(v); });
      break;
    case 21:
      map1(y, x, n, [](T v) { return vacos(v); });
      break;
    case 22:  // pow(x, 3) and pow(x, -2) as torch's and NumPy's roundings: one pass, not two
      map1(y, x, n, [](T v) { return v * v * v; });
      break;
    case 23:
      map1(y, x, n, [](T v) { return T(1) / (v * v); });
      break;
    case 24:  // torch's (0 < x) - (x < 0): +0 for +-0 and NaN
      map1(y, x, n, [](T v) { return T(T(0) < v) - T(v < T(0)); });
      break;
    default:
      EMBER_CHECK(false, "unary_forward: unknown op id ", op);
  }
}

// dy, saved (n) -> dx, PyTorch's formulas. saved is the OUTPUT y for expm1 (dy * (y + 1)), sqrt
// (dy / (2y)), rsqrt (-0.5 dy * y^3) and reciprocal (-dy * y^2); the INPUT x for log (dy / x),
// log1p (dy / (x + 1)), abs (dy * sgn(x), sgn(NaN) = 0), square (dy * 2x: 2x may overflow), clamp
// (dy where lo <= x <= hi, else 0: a NaN x or bound gets 0), sin (dy cos x) and cos (-dy sin x);
// log2 (dy * (1 / (x ln2))), log10 (dy * (1 / (x ln10))), sinh (dy cosh x), cosh (dy sinh x),
// atanh (dy * (1 / (1 - x^2))), atan (dy * (1 / (1 + x^2))), asin (dy * (1 / sqrt(1 - x^2))),
// acos (dy * (-1 / sqrt(1 - x^2))), cube (dy * (3 x^2)), inv_square (dy * (-2 / x^3)), and exp2
// from the OUTPUT (dy * (y ln2)): the roundings of ops.py's NumPy formulas (ln2, ln10 rounded to
// T), so either path gives the same bits; except inv_square's, which ember.pow does not use (its
// Pow node computes -2 x^-3 by np.power). exp's dy * y and neg's -dy are plain arithmetic, not
// here.
template <typename T>
void unary_backward(T* dx, const T* dy, const T* s, int64_t n, bool dy_scalar, int op, T lo, T hi) {
  switch (op) {
    case 1:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * (v + T(1)); });
      break;
    case 2:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g / v; });
      break;
    case 3:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g / (v + T(1)); });
      break;
    case 4:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g / (T(2) * v); });
      break;
    case 5:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return T(-0.5) * g * (v * v * v); });
      break;
    case 6:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return -g * (v * v); });
      break;
    case 7:
      map2(dx, dy, s, n, dy_scalar,
           [](T g, T v) { return g * (v > T(0) ? T(1) : (v < T(0) ? T(-1) : T(0))); });
      break;
    case 9:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * (T(2) * v); });
      break;
    case 10:
      map2(dx, dy, s, n, dy_scalar, [lo, hi](T g, T v) { return v >= lo && v <= hi ? g : T(0); });
      break;
    case 11:
    case 12:
      sincos_backward(dx, dy, s, n, dy_scalar, op == 12);
      break;
    case 13:
      map2(dx, dy, s, n, dy_scalar,
           [](T g, T v) { return g * (T(1) / (v * T(0.6931471805599453))); });
      break;
    case 14:
      map2(dx, dy, s, n, dy_scalar,
           [](T g, T v) { return g * (T(1) / (v * T(2.302585092994046))); });
      break;
    case 15:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * (v * T(0.6931471805599453)); });
      break;
    case 16:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * vcosh(v); });
      break;
    case 17:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * vsinh(v); });
      break;
    case 18:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * (T(1) / (T(1) - v * v)); });
      break;
    case 19:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * (T(1) / (T(1) + v * v)); });
      break;
    case 20:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * (T(1) / std::sqrt(T(1) - v * v)); });
      break;
    case 21:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * (T(-1) / std::sqrt(T(1) - v * v)); });
      break;
    case 22:  // (ember.pow's own backward is ops.py's; these for the positional entries)
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * (T(3) * (v * v)); });
      break;
    case 23:
      map2(dx, dy, s, n, dy_scalar, [](T g, T v) { return g * (T(-2) / (v * v * v)); });
      break;
    case 24:  // (sign's gradient is zero, as torch's)
      map2(dx, dy, s, n, dy_scalar, [](T, T) { return T(0); });
      break;
    default:
      EMBER_CHECK(false, "unary_backward: no backward kernel for op id ", op);
  }
}

// Test hook: y = f(x) for one vecmath function (0 exp, 1 expm1, 2 log, 3 log1p, 4 tanh,
// 5 sigmoid, 6 erf, 7 erfc, 8 log2, 9 log10, 10 asin, 11 acos, 12 atan, 13 gelu (exact),
// 14 gelu_grad: its derivative, 15 sin, 16 cos, 17 erfinv, 18 exp2, 19 lgamma; 20-23 float64
// exp, log, log2, log10 split as the unary kernels run them; 24 atanh), serially, in the
// clone for `isa`: 0 the one EMBER_SIMD's resolver picks, 4 x86-64-v4, 3 x86-64-v3, 1 the baseline
// (the caller checks that the CPU has it: vecmath_isa_supported), so tests cover every clone's
// code.
template <typename T, typename Op>
EMBER_SIMD void apply_simd(T* y, const T* x, int64_t n, Op op) {
  for (int64_t i = 0; i < n; ++i) y[i] = op(x[i]);
}
#if EMBER_SIMD_CLONES
template <typename T, typename Op>
EMBER_TARGET("arch=x86-64-v4")
void apply_v4(T* y, const T* x, int64_t n, Op op) {
  for (int64_t i = 0; i < n; ++i) y[i] = op(x[i]);
}
template <typename T, typename Op>
EMBER_TARGET("arch=x86-64-v3")
void apply_v3(T* y, const T* x, int64_t n, Op op) {
  for (int64_t i = 0; i < n; ++i) y[i] = op(x[i]);
}
template <typename T, typename Op>
__attribute__((flatten)) void apply_base(T* y, const T* x, int64_t n, Op op) {
  for (int64_t i = 0; i < n; ++i) y[i] = op(x[i]);
}
#endif

template <typename T, typename Op>
void apply_isa(T* y, const T* x, int64_t n, int isa, Op op) {
#if EMBER_SIMD_CLONES
  if (isa == 4) return apply_v4(y, x, n, op);
  if (isa == 3) return apply_v3(y, x, n, op);
  if (isa == 1) return apply_base(y, x, n, op);
#endif
  EMBER_CHECK(isa == 0, "vecmath_apply: isa ", isa, " is not available in this build");
  apply_simd(y, x, n, op);
}

// Whether vecmath_apply can run clone `isa` here (0: always).
bool vecmath_isa_supported(int isa) {
#if EMBER_SIMD_CLONES
  if (isa == 4) return __builtin_cpu_supports("x86-64-v4");
  if (isa == 3) return __builtin_cpu_supports("x86-64-v3");
  if (isa == 1) return true;
#endif
  return isa == 0;
}

// A split form (split_map) in clone `isa`, lane by lane: the fast form in its range, the full one
// outside (double only). The kernels also run the full form on in-range lanes that share a block
// with an out-of-range one: the tests hold the two to the same bits there.
template <typename S>
void apply_split(double* y, const double* x, int64_t n, int isa) {
  apply_isa(y, x, n, isa, [](double v) { return S::fast(v); });
  for (int64_t i = 0; i < n; ++i)
    if (!S::in(x[i])) apply_isa(y + i, x + i, 1, isa, [](double v) { return S::full(v); });
}

template <typename T>
void vecmath_apply(T* y, const T* x, int64_t n, int which, int isa) {
  if (which >= 20 && which <= 23) {  // exp, log, log2, log10 as the float64 kernels split them
    EMBER_CHECK(sizeof(T) == 8, "vecmath_apply: the split forms are float64 only");
    if constexpr (sizeof(T) == 8) {
      if (which == 20) apply_split<ExpSplit>(y, x, n, isa);
      if (which == 21) apply_split<LogSplit>(y, x, n, isa);
      if (which == 22) apply_split<Log2Split>(y, x, n, isa);
      if (which == 23) apply_split<Log10Split>(y, x, n, isa);
    }
    return;
  }
  switch (which) {
    case 0:
      return apply_isa(y, x, n, isa, [](T v) { return vexp(v); });
    case 1:
      return apply_isa(y, x, n, isa, [](T v) { return vexpm1(v); });
    case 2:
      return apply_isa(y, x, n, isa, [](T v) { return vlog(v); });
    case 3:
      return apply_isa(y, x, n, isa, [](T v) { return vlog1p(v); });
    case 4:
      return apply_isa(y, x, n, isa, [](T v) { return vtanh(v); });
    case 5:
      return apply_isa(y, x, n, isa, [](T v) { return vsigmoid(v); });
    case 6:
      return apply_isa(y, x, n, isa, [](T v) { return verf(v); });
    case 7:
      return apply_isa(y, x, n, isa, [](T v) { return verfc(v); });
    case 8:
    case 9:
#if EMBER_SIMD_CLONES
      if constexpr (sizeof(T) == 4)
        if (log_table_for(isa)) {
          if (which == 8) return log_table_avx512<Log2Table>(y, x, n);
          return log_table_avx512<Log10Table>(y, x, n);
        }
#endif
      if (which == 8) return apply_isa(y, x, n, isa, [](T v) { return vlog2(v); });
      return apply_isa(y, x, n, isa, [](T v) { return vlog10(v); });
    case 10:
      return apply_isa(y, x, n, isa, [](T v) { return vasin(v); });
    case 11:
      return apply_isa(y, x, n, isa, [](T v) { return vacos(v); });
    case 12:
      return apply_isa(y, x, n, isa, [](T v) { return vatan(v); });
    case 13:  // GELU forward x Phi(x)
      return apply_isa(y, x, n, isa, [](T v) { return v * vnormal(v).cdf; });
    case 14:  // GELU's derivative Phi(x) + x phi(x) (as gelu_backward with dy = 1)
      return apply_isa(y, x, n, isa, [](T v) {
        const NormalCdfPdf<T> p = vnormal(v);
        return p.cdf + (v - v != T(0) ? v * T(0) : v * p.pdf);
      });
    case 15:  // sin, cos: the clone's vsincos, then std::sin / std::cos past kSinCosMax as the op
    case 16:
      if (which == 15)
        apply_isa(y, x, n, isa, [](T v) { return vsincos<false>(v); });
      else
        apply_isa(y, x, n, isa, [](T v) { return vsincos<true>(v); });
      for (int64_t i = 0; i < n; ++i)
        if (std::fabs(x[i]) > T(vm::kSinCosMax))
          y[i] = T(which == 16 ? std::cos(double(x[i])) : std::sin(double(x[i])));
      return;
    case 17:
      return apply_isa(y, x, n, isa, [](T v) { return verfinv(v); });
    case 18:
      return apply_isa(y, x, n, isa, [](T v) { return vexp2(v); });
    case 19:  // float only: double lgamma is libm's lgamma_r (see special.cpp)
      if constexpr (sizeof(T) == 4) return apply_isa(y, x, n, isa, [](T v) { return vlgamma(v); });
      EMBER_CHECK(false, "vecmath_apply: lgamma is float32 only");
      return;
    case 24:
      return apply_isa(y, x, n, isa, [](T v) { return vatanh(v); });
    default:
      EMBER_CHECK(false, "vecmath_apply: unknown function id ", which);
  }
}

// float logaddexp / logaddexp2 for elementwise.cpp's math2_forward (vm::logaddexp_float: built
// here, where the clones fuse its series; b_one: b is one value). Two loops: a select of b[0] or
// b[i] kept GCC from vectorising.
template <bool kTwo>
EMBER_SIMD void logaddexp_float_range(float* y, const float* a, const float* b, bool b_one,
                                      int64_t i0, int64_t i1) {
  if (b_one) {
    const float bv = b[0];
    for (int64_t i = i0; i < i1; ++i) y[i] = vm::logaddexp_float<kTwo>(a[i], bv);
  } else {
    for (int64_t i = i0; i < i1; ++i) y[i] = vm::logaddexp_float<kTwo>(a[i], b[i]);
  }
}
void logaddexp_float_forward(float* y, const float* a, const float* b, int64_t n, bool b_one,
                             bool two) {
  parallel_chunks(n, [&](int64_t i0, int64_t i1) {
    if (two)
      logaddexp_float_range<true>(y, a, b, b_one, i0, i1);
    else
      logaddexp_float_range<false>(y, a, b, b_one, i0, i1);
  });
}

// ---- prelu and glu: a parameter per channel / two halves, so not flat maps ----------------

namespace {

// f(b, e) over rows [0, rows) of `len` elements each, split across threads when large enough.
template <typename F>
void parallel_rows(int64_t rows, int64_t len, F&& f) {
  const int nt = int(std::min<int64_t>(threads_for(rows * len, kMinPerThread), rows));
  if (nt <= 1) {
    f(int64_t(0), rows);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
    f(rows * t / k, rows * (t + 1) / k);
  }
}

template <typename T>
EMBER_SIMD void prelu_row(T* y, const T* x, const T* w, bool w_per_elem, int64_t n) {
  if (w_per_elem) {
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : w[i] * x[i];
  } else {
    const T wv = w[0];
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : wv * x[i];
  }
}

// dx = x > 0 ? dy : w dy; returns sum(x > 0 ? 0 : dy x) (one slope), or adds dy x elementwise
// into acc (w_per_elem: one slope per element, inner = 1).
template <typename T>
EMBER_SIMD double prelu_grad_row(T* dx, const T* dy, const T* x, const T* w, bool w_per_elem,
                                 int64_t n, double* acc) {
  double s = 0;
  if (w_per_elem) {
    for (int64_t i = 0; i < n; ++i) {
      const bool pos = x[i] > T(0);
      dx[i] = pos ? dy[i] : w[i] * dy[i];
      acc[i] += pos ? 0.0 : double(dy[i]) * double(x[i]);
    }
  } else {
    // 16 lane sums (a fixed order that vectorises: one running double sum stayed scalar, 20x
    // slower), added as a tree, then in double across rows
    constexpr int L = 16;
    const T wv = w[0];
    T lanes[L] = {};
    const int64_t nv = n / L * L;
    for (int64_t i0 = 0; i0 < nv; i0 += L)
      for (int j = 0; j < L; ++j) {
        const T v = x[i0 + j], g = dy[i0 + j];
        dx[i0 + j] = v > T(0) ? g : wv * g;
        lanes[j] += v > T(0) ? T(0) : g * v;
      }
    for (int64_t i = nv; i < n; ++i) {
      dx[i] = x[i] > T(0) ? dy[i] : wv * dy[i];
      s += x[i] > T(0) ? 0.0 : double(dy[i]) * double(x[i]);
    }
    s += double(lane_sum<L>(lanes));
  }
  return s;
}

template <typename T>
EMBER_SIMD void glu_row(T* y, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * vsigmoid(b[i]);
}

template <typename T>
EMBER_SIMD void glu_grad_row(T* da, T* db, const T* dy, const T* a, const T* b, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const T s = vsigmoid(b[i]), ga = dy[i] * s;
    da[i] = ga;
    db[i] = ga * a[i] * (T(1) - s);
  }
}

}  // namespace

// x (outer, C, inner), w (C) -> y: y = x > 0 ? x : w[c] x.
template <typename T>
void prelu_forward(T* y, const T* x, const T* w, int64_t outer, int64_t C, int64_t inner) {
  if (inner == 1) {  // (N, C): rows of C with a slope each
    parallel_rows(outer, C, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) prelu_row(y + r * C, x + r * C, w, true, C);
    });
    return;
  }
  parallel_rows(outer * C, inner, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r)
      prelu_row(y + r * inner, x + r * inner, w + r % C, false, inner);
  });
}

// dy, x (outer, C, inner), w (C) -> dx, dw (C): dx = x > 0 ? dy : w[c] dy, dw[c] = the sum of
// dy x where x <= 0. Each thread sums its rows into its own C doubles, added in thread order.
template <typename T>
void prelu_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, int64_t outer, int64_t C,
                    int64_t inner) {
  const int64_t rows = inner == 1 ? outer : outer * C, len = inner == 1 ? C : inner;
  const int nt =
      int(std::max<int64_t>(1, std::min<int64_t>(threads_for(rows * len, kMinPerThread), rows)));
  std::vector<double> acc(size_t(nt) * size_t(C), 0.0);
  auto work = [&](int64_t t, int64_t b, int64_t e) {
    double* a = acc.data() + t * C;
    for (int64_t r = b; r < e; ++r) {
      const int64_t o = r * len;
      if (inner == 1)
        prelu_grad_row(dx + o, dy + o, x + o, w, true, len, a);
      else
        a[r % C] += prelu_grad_row(dx + o, dy + o, x + o, w + r % C, false, len, a);
    }
  };
  if (nt <= 1) {
    work(0, 0, rows);
  } else {
#pragma omp parallel num_threads(nt)
    {
      const int64_t t = omp_get_thread_num(), k = omp_get_num_threads();
      work(t, rows * t / k, rows * (t + 1) / k);
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int t = 0; t < nt; ++t) s += acc[size_t(t) * size_t(C) + size_t(c)];
    dw[c] = T(s);
  }
}

// x (outer, 2 h) -> y (outer, h): y = a sigmoid(b), a and b the halves of each row.
template <typename T>
void glu_forward(T* y, const T* x, int64_t outer, int64_t h) {
  parallel_rows(outer, h, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) glu_row(y + r * h, x + 2 * r * h, x + 2 * r * h + h, h);
  });
}

// dy (outer, h), x (outer, 2 h) -> dx (outer, 2 h): da = dy s, db = dy a s (1 - s), s = sigmoid(b).
template <typename T>
void glu_backward(T* dx, const T* dy, const T* x, int64_t outer, int64_t h) {
  parallel_rows(outer, 2 * h, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t o = 2 * r * h;
      glu_grad_row(dx + o, dx + o + h, dy + r * h, x + o, x + o + h, h);
    }
  });
}

template void relu_forward<float>(float*, const float*, int64_t);
template void relu_backward<float>(float*, const float*, const float*, int64_t, bool);
template void leaky_relu_forward<float>(float*, const float*, int64_t, float);
template void leaky_relu_backward<float>(float*, const float*, const float*, int64_t, bool, float);
template void elu_forward<float>(float*, const float*, int64_t, float, float, float);
template void elu_backward<float>(float*, const float*, const float*, int64_t, bool, float, float,
                                  float);
template void gelu_forward<float>(float*, const float*, int64_t, bool);
template void gelu_backward<float>(float*, const float*, const float*, int64_t, bool, bool);
template void sigmoid_forward<float>(float*, const float*, int64_t);
template void sigmoid_backward<float>(float*, const float*, const float*, int64_t, bool);
template void tanh_forward<float>(float*, const float*, int64_t);
template void tanh_backward<float>(float*, const float*, const float*, int64_t, bool);
template void softplus_forward<float>(float*, const float*, int64_t, float, float);
template void softplus_backward<float>(float*, const float*, const float*, int64_t, bool, float,
                                       float);
template void vecmath_apply<float>(float*, const float*, int64_t, int, int);
template void unary_forward<float>(float*, const float*, int64_t, int, float, float);
template void unary_backward<float>(float*, const float*, const float*, int64_t, bool, int, float,
                                    float);
template void silu_forward<float>(float*, const float*, int64_t);
template void silu_backward<float>(float*, const float*, const float*, int64_t, bool);
template void mish_forward<float>(float*, const float*, int64_t);
template void mish_backward<float>(float*, const float*, const float*, int64_t, bool);
template void hardswish_forward<float>(float*, const float*, int64_t);
template void hardswish_backward<float>(float*, const float*, const float*, int64_t, bool);
template void hardtanh_forward<float>(float*, const float*, int64_t, float, float);
template void hardtanh_backward<float>(float*, const float*, const float*, int64_t, bool, float,
                                       float);
template void hardsigmoid_forward<float>(float*, const float*, int64_t);
template void hardsigmoid_backward<float>(float*, const float*, const float*, int64_t, bool);
template void logsigmoid_forward<float>(float*, const float*, int64_t);
template void logsigmoid_backward<float>(float*, const float*, const float*, int64_t, bool);
template void relu_forward<double>(double*, const double*, int64_t);
template void relu_backward<double>(double*, const double*, const double*, int64_t, bool);
template void leaky_relu_forward<double>(double*, const double*, int64_t, double);
template void leaky_relu_backward<double>(double*, const double*, const double*, int64_t, bool,
                                          double);
template void elu_forward<double>(double*, const double*, int64_t, double, double, double);
template void elu_backward<double>(double*, const double*, const double*, int64_t, bool, double,
                                   double, double);
template void gelu_forward<double>(double*, const double*, int64_t, bool);
template void gelu_backward<double>(double*, const double*, const double*, int64_t, bool, bool);
template void sigmoid_forward<double>(double*, const double*, int64_t);
template void sigmoid_backward<double>(double*, const double*, const double*, int64_t, bool);
template void tanh_forward<double>(double*, const double*, int64_t);
template void tanh_backward<double>(double*, const double*, const double*, int64_t, bool);
template void softplus_forward<double>(double*, const double*, int64_t, double, double);
template void softplus_backward<double>(double*, const double*, const double*, int64_t, bool,
                                        double, double);
template void vecmath_apply<double>(double*, const double*, int64_t, int, int);
template void unary_forward<double>(double*, const double*, int64_t, int, double, double);
template void unary_backward<double>(double*, const double*, const double*, int64_t, bool, int,
                                     double, double);
template void silu_forward<double>(double*, const double*, int64_t);
template void silu_backward<double>(double*, const double*, const double*, int64_t, bool);
template void mish_forward<double>(double*, const double*, int64_t);
template void mish_backward<double>(double*, const double*, const double*, int64_t, bool);
template void hardswish_forward<double>(double*, const double*, int64_t);
template void hardswish_backward<double>(double*, const double*, const double*, int64_t, bool);
template void hardtanh_forward<double>(double*, const double*, int64_t, double, double);
template void hardtanh_backward<double>(double*, const double*, const double*, int64_t, bool,
                                        double, double);
template void hardsigmoid_forward<double>(double*, const double*, int64_t);
template void hardsigmoid_backward<double>(double*, const double*, const double*, int64_t, bool);
template void logsigmoid_forward<double>(double*, const double*, int64_t);
template void logsigmoid_backward<double>(double*, const double*, const double*, int64_t, bool);

template void prelu_forward<float>(float*, const float*, const float*, int64_t, int64_t, int64_t);
template void prelu_forward<double>(double*, const double*, const double*, int64_t, int64_t,
                                    int64_t);
template void prelu_backward<float>(float*, float*, const float*, const float*, const float*,
                                    int64_t, int64_t, int64_t);
template void prelu_backward<double>(double*, double*, const double*, const double*, const double*,
                                     int64_t, int64_t, int64_t);
template void glu_forward<float>(float*, const float*, int64_t, int64_t);
template void glu_forward<double>(double*, const double*, int64_t, int64_t);
template void glu_backward<float>(float*, const float*, const float*, int64_t, int64_t);
template void glu_backward<double>(double*, const double*, const double*, int64_t, int64_t);

}  // namespace ember
