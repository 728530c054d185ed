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

// x (n) -> y: y = x > 0 ? x : alpha * expm1(x)   (so -0 -> -0, as PyTorch's).
template <typename T>
void elu_forward(T* y, const T* x, int64_t n, T alpha) {
  map1(y, x, n, [alpha](T v) {
    const T e = vm::expm1_nonpos(v > T(0) ? T(0) : v);  // keeps NaN
    return v > T(0) ? v : alpha * (v == T(0) ? v : e);
  });
}
// dy, x (n) -> dx: dx = x > 0 ? dy : dy * alpha * exp(x)   (from the input, not the output; a
// NaN x gives NaN, as PyTorch's vectorised loop, which all but a tensor's last few entries take).
template <typename T>
void elu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, T alpha) {
  map2(dx, dy, x, n, dy_scalar, [alpha](T g, T v) { return v > T(0) ? g : g * alpha * vexp(v); });
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

// ---- unary maths: torch.exp, log, sqrt, ... (the Tensor methods, not layers) ----------------
// op ids (csrc/bindings/bind_activation.cpp names them in this order): 0 exp, 1 expm1, 2 log,
// 3 log1p, 4 sqrt, 5 rsqrt, 6 reciprocal, 7 abs, 8 neg, 9 square, 10 clamp, 11 sin, 12 cos,
// 13 log2, 14 log10, 15 exp2, 16 sinh, 17 cosh, 18 atanh, 19 atan, 20 asin, 21 acos (13-21:
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
        map1(y, x, n, [](T v) { return vlog2(v); });
      break;
    case 14:
      if constexpr (sizeof(T) == 8)
        split_map<Log10Split>(y, x, n);
      else
        map1(y, x, n, [](T v) { return vlog10(v); });
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
// acos (dy * (-1 / sqrt(1 - x^2))), and exp2 from the OUTPUT (dy * (y ln2)): the roundings of
// ops.py's NumPy formulas (ln2, ln10 rounded to T), so either path gives the same bits. exp's dy *
// y and neg's -dy are plain arithmetic, not here.
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
      return apply_isa(y, x, n, isa, [](T v) { return vlog2(v); });
    case 9:
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
template void elu_forward<float>(float*, const float*, int64_t, float);
template void elu_backward<float>(float*, const float*, const float*, int64_t, bool, float);
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
template void elu_forward<double>(double*, const double*, int64_t, double);
template void elu_backward<double>(double*, const double*, const double*, int64_t, bool, double);
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
