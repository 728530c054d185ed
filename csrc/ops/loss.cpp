// Elementwise losses of x and t, forward and backward side by side, one fused pass each
// (PyTorch's formulas; `kind` picks the loss). The regression losses of d = x - t:
//   0 mse        d^2                                             dl/dx = 2 d
//   1 l1         |d|                                             sign(d)
//   2 huber      |d| < delta ? d^2 / 2 : delta (|d| - delta / 2)  clamp(d, -delta, delta)
//   3 smooth_l1  |d| < beta ? d^2 / (2 beta) : |d| - beta / 2     clamp(d / beta, -1, 1)
//                (beta == 0: |d|)                                 (beta == 0: sign(d))
// and binary cross-entropy with logits x (without weights):
//   4 bce_logits (1 - t) x + softplus(-x)                         sigmoid(x) - t
//                softplus(-x) = max(-x, 0) + log1p(exp(-|x|)), the softplus kernel's form
// and the Kullback-Leibler divergence of log-probabilities x from probabilities t:
//   5 kl_div     (t == 0 ? 0 : t log t) - t x                      -t
// and binary cross-entropy of probabilities x (forward only; torch's CPU formula, vecmath's logs):
//   6 bce_probs  (t - 1) max(log1p(-x), -100) - t max(log x, -100)
// ctc_loss's forward (alpha) and backward (beta, gradient) recursions sit at the end.
// The forward sum runs over fixed blocks of kBlock elements (8 double partial sums each), added
// in block order: the result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

constexpr int64_t kBlock = 1 << 14;

// Both arms are computed and then selected, so the loops stay branch-free and vectorise (a
// branch on random data mispredicts half the time). huber's m (|d| - m / 2), m = min(|d|, delta),
// is d^2 / 2 inside (|d| - |d| / 2 is exact) and delta (|d| - delta / 2) beyond, bit for bit.
template <typename T>
inline T loss_of(T d, int kind, T p) {
  const T ad = std::fabs(d);
  switch (kind) {
    case 0:
      return d * d;
    case 1:
      return ad;
    case 2: {
      const T m = ad < p ? ad : p;  // NaN: p, and then m (NaN - ..) is NaN
      return m * (ad - T(0.5) * m);
    }
    default: {
      const T quad = T(0.5) * d * d / p, lin = ad - T(0.5) * p;
      return p == T(0) ? ad : (ad < p ? quad : lin);
    }
  }
}

// torch's sign(d): sign(0) = sign(NaN) = 0 (a NaN difference passes no l1 gradient, as in
// torch); clamp(v, -p, p) with NaN kept.
template <typename T>
inline T sign_of(T d) {
  return d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0));
}
template <typename T>
inline T clamp_to(T v, T p) {
  return v < -p ? -p : (v > p ? p : v);
}

template <typename T>
inline T grad_of(T d, int kind, T p) {
  switch (kind) {
    case 0:
      return d;  // the factor 2 is in the caller's scale
    case 1:
      return sign_of(d);
    case 2:
      return clamp_to(d, p);
    default:
      return p == T(0) ? sign_of(d) : clamp_to(d / p, T(1));
  }
}

constexpr int kBceLogits = 4, kKlDiv = 5, kBce = 6;

// the loss of x and t (of d = x - t for the regression losses)
template <int kind, typename T>
inline T loss_xt(T x, T t, T p) {
  if constexpr (kind == kBceLogits) {
    const T nx = -x;
    const T sp = (nx > T(0) ? nx : T(0)) + vm::log1p_unit(vexp(-std::fabs(nx)));
    return (T(1) - t) * x + sp;
  } else if constexpr (kind == kKlDiv) {
    return (t == T(0) ? T(0) : t * vlog(t)) - t * x;  // (t < 0: NaN, as torch's log)
  } else if constexpr (kind == kBce) {
    const T l1 = vlog1p(-x), lx = vlog(x);  // (x in [0, 1]: checked by the caller)
    return (t - T(1)) * (l1 > T(-100) ? l1 : T(-100)) - t * (lx > T(-100) ? lx : T(-100));
  } else {
    return loss_of(x - t, kind, p);
  }
}

// dl/dx of x and t, without mse's factor 2
template <int kind, typename T>
inline T grad_xt(T x, T t, T p) {
  if constexpr (kind == kBceLogits)
    return vsigmoid(x) - t;
  else if constexpr (kind == kKlDiv)
    return -t;
  else
    return grad_of(x - t, kind, p);
}

// out[i] = loss of x[i], t[i] over [0, n); kind is a template argument, so the loop is one
// branch-free map.
template <typename T, int kind>
EMBER_SIMD void loss_map(T* out, const T* x, const T* t, int64_t n, T p) {
  for (int64_t i = 0; i < n; ++i) out[i] = loss_xt<kind>(x[i], t[i], p);
}

// vecmath.h's sum_double compiled per ISA (EMBER_SIMD inlines it into each clone).
template <typename T>
EMBER_SIMD double sum_range(const T* a, int64_t n) {
  return sum_double(a, n);
}

template <typename T>
EMBER_SIMD void diff_map(T* d, const T* x, const T* t, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = x[i] - t[i];
}

// Sum of the losses of [b, e), also stored in loss when it is not null (else staged in a small
// buffer that stays in L1); x - t also stored in diff when it is not null (from the same
// L1-resident chunk, so keeping it costs a store, not another pass over x and t).
template <typename T, int kind>
double forward_block(T* loss, T* diff, const T* x, const T* t, int64_t b, int64_t e, T p) {
  constexpr int64_t kChunk = 1024;
  T buf[kChunk];
  double s = 0;
  for (int64_t c = b; c < e; c += kChunk) {
    const int64_t len = std::min(kChunk, e - c);
    T* out = loss ? loss + c : buf;
    loss_map<T, kind>(out, x + c, t + c, len, p);
    if (diff) diff_map(diff + c, x + c, t + c, len);
    s += sum_range(out, len);
  }
  return s;
}

// t == nullptr: x already holds d (t taken as 0, and d - 0 is d bit for bit).
template <typename T, int kind>
EMBER_SIMD void backward_range(T* dx, const T* x, const T* t, const T* g, T scale, int64_t b,
                               int64_t e, T p) {
  if (!t && g)
    for (int64_t i = b; i < e; ++i) dx[i] = (scale * g[i]) * grad_of(x[i], kind, p);
  else if (!t)
    for (int64_t i = b; i < e; ++i) dx[i] = scale * grad_of(x[i], kind, p);
  else if (g)
    for (int64_t i = b; i < e; ++i) dx[i] = (scale * g[i]) * grad_xt<kind>(x[i], t[i], p);
  else
    for (int64_t i = b; i < e; ++i) dx[i] = scale * grad_xt<kind>(x[i], t[i], p);
}

void check_kind(int kind, double param, const char* op) {
  EMBER_CHECK(kind >= 0 && kind <= kBce, op, ": unknown loss kind ", kind,
              " (0 mse, 1 l1, 2 huber, 3 smooth_l1, 4 bce_logits, 5 kl_div, 6 bce_probs)");
  EMBER_CHECK(kind != 2 || param > 0, op, ": huber delta must be positive, got ", param);
  EMBER_CHECK(kind != 3 || param >= 0, op, ": smooth_l1 beta must be >= 0, got ", param);
}

}  // namespace

// x, t (n) -> loss (n) per element (when loss is not null), diff (n) = x - t (when diff is not
// null: what backward needs, so x and t may change after the forward); returns the sum of the
// losses.
template <typename T>
double regression_loss_forward(T* loss, T* diff, const T* x, const T* t, int64_t n, int kind,
                               double param) {
  check_kind(kind, param, "regression_loss_forward");
  EMBER_CHECK(n >= 0, "regression_loss_forward: negative size ", n);
  const int64_t nblk = (n + kBlock - 1) / kBlock;
  std::vector<double> part(static_cast<size_t>(nblk));
  const T p = static_cast<T>(param);
  const int nt = threads_for(n, 1 << 16);
  parallel_for(nt, nblk, [&](int64_t k) {
    const int64_t b = k * kBlock, e = std::min(n, b + kBlock);
    double s;
    switch (kind) {
      case 0:
        s = forward_block<T, 0>(loss, diff, x, t, b, e, p);
        break;
      case 1:
        s = forward_block<T, 1>(loss, diff, x, t, b, e, p);
        break;
      case 2:
        s = forward_block<T, 2>(loss, diff, x, t, b, e, p);
        break;
      case 3:
        s = forward_block<T, 3>(loss, diff, x, t, b, e, p);
        break;
      case kBceLogits:
        s = forward_block<T, kBceLogits>(loss, diff, x, t, b, e, p);
        break;
      case kBce:
        s = forward_block<T, kBce>(loss, diff, x, t, b, e, p);
        break;
      default:
        s = forward_block<T, kKlDiv>(loss, diff, x, t, b, e, p);
    }
    part[static_cast<size_t>(k)] = s;
  });
  double total = 0;
  for (double s : part) total += s;
  return total;
}

// x, t (n), g (n) or null -> dx (n) = (g ? scale * g : scale) * dl/dx  (mse: d; see the top).
// t null: x holds d = x - t (forward's diff; not for bce_logits and kl_div).
template <typename T>
void regression_loss_backward(T* dx, const T* x, const T* t, const T* g, T scale, int64_t n,
                              int kind, double param) {
  check_kind(kind, param, "regression_loss_backward");
  EMBER_CHECK(kind != kBce, "regression_loss_backward: bce has no fused backward");
  EMBER_CHECK(n >= 0, "regression_loss_backward: negative size ", n);
  EMBER_CHECK(t || kind < kBceLogits, "regression_loss_backward: bce_logits and kl_div need t");
  const T p = static_cast<T>(param);
  const int64_t nblk = (n + kBlock - 1) / kBlock;
  const int nt = threads_for(n, 1 << 16);
  parallel_for(nt, nblk, [&](int64_t k) {
    const int64_t b = k * kBlock, e = std::min(n, b + kBlock);
    switch (kind) {
      case 0:
        backward_range<T, 0>(dx, x, t, g, scale, b, e, p);
        break;
      case 1:
        backward_range<T, 1>(dx, x, t, g, scale, b, e, p);
        break;
      case 2:
        backward_range<T, 2>(dx, x, t, g, scale, b, e, p);
        break;
      case 3:
        backward_range<T, 3>(dx, x, t, g, scale, b, e, p);
        break;
      case kBceLogits:
        backward_range<T, kBceLogits>(dx, x, t, g, scale, b, e, p);
        break;
      default:
        backward_range<T, kKlDiv>(dx, x, t, g, scale, b, e, p);
    }
  });
}

template double regression_loss_forward<float>(float*, float*, const float*, const float*, int64_t,
                                               int, double);
template double regression_loss_forward<double>(double*, double*, const double*, const double*,
                                                int64_t, int, double);
template void regression_loss_backward<float>(float*, const float*, const float*, const float*,
                                              float, int64_t, int, double);
template void regression_loss_backward<double>(double*, const double*, const double*, const double*,
                                               double, int64_t, int, double);

// ---- CTC ------------------------------------------------------------------------------------
// Graves et al. (2006) in log space, in double, with PyTorch's three-term log-sum-exp. Each sample
// is independent: one thread per sample, so the result does not depend on the thread count. A
// step of either recursion (every extended label s at one t) is one vectorised loop (ctc_step,
// vexp / vlog: within ~1e-15 relative of libm's).

namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// log(exp(a) + exp(b) + exp(c)) as PyTorch's CTC forms it: shifted by the largest (0 when all
// are -inf, giving -inf), one log for the three terms. A NaN argument gives NaN.
inline double logsumexp3(double a, double b, double c) {
  double m = std::max(a, std::max(b, c));
  if (m == kNegInf) m = 0.0;
  auto ex = [m](double v) { return v == kNegInf ? 0.0 : vexp(v - m); };
  return vlog(ex(a) + ex(b) + ex(c)) + m;
}

// Extended label s may be reached from s - 2: a label (odd s) that is not a repeat.
inline bool ctc_skip(const int64_t* ext, int64_t s) {
  return s >= 2 && (s % 2) == 1 && ext[s] != ext[s - 2];
}

// out[s] = logsumexp3(p0[s], p1[s], use2[s] ? p2[s] : -inf) + em[s] for s < n: one step of the
// alpha (p1 = p0 - 1, p2 = p0 - 2) or beta (p1 = p0 + 1, p2 = p0 + 2) recursion.
EMBER_SIMD void ctc_step(double* __restrict out, const double* __restrict p0,
                         const double* __restrict p1, const double* __restrict p2,
                         const int64_t* __restrict use2, const double* __restrict em, int64_t n) {
  for (int64_t s = 0; s < n; ++s)
    out[s] = logsumexp3(p0[s], p1[s], use2[s] ? p2[s] : kNegInf) + em[s];
}

// e[s] = exp(v[s] - m) for s < n.
EMBER_SIMD void ctc_exp_shift(double* __restrict e, const double* __restrict v, double m,
                              int64_t n) {
  for (int64_t s = 0; s < n; ++s) e[s] = vexp(v[s] - m);
}

// One step's gradient row: gt[c] = (exp(lp[c]) - exp(log(acc[c]) + m + nll - lp[c])) * g.
template <typename T>
EMBER_SIMD void ctc_grad_row(T* __restrict gt, const T* __restrict lpt,
                             const double* __restrict acc, double m, double nll, double g,
                             int64_t C) {
  for (int64_t c = 0; c < C; ++c) {
    const double l = double(lpt[c]);
    const double lcab = vlog(acc[c]) + m;
    // each term rounded to T first, as torch: a float32 exp(l) past FLT_MAX is inf there too
    gt[c] = (T(vexp(l)) - T(vexp(lcab + nll - l))) * T(g);
  }
}

}  // namespace

// lp (T, N, C) log-probabilities, ext (N, L) blank-interleaved targets in [0, C), in_len (N,) in
// [1, T], ext_len (N,) in [1, L] -> nll (N,), alpha (T, N, L) (-inf beyond each sample's
// in_len and ext_len): alpha[t, s] = log of the summed probability of the prefixes that end in
// extended label s at step t.
template <typename T>
void ctc_loss_forward(double* nll, double* alpha, const T* lp, const int64_t* ext,
                      const int64_t* in_len, const int64_t* ext_len, int64_t Tm, int64_t N,
                      int64_t C, int64_t L) {
  std::fill(alpha, alpha + Tm * N * L, kNegInf);
  parallel_for(threads_for(Tm * N * L * 8), N, [&](int64_t n) {
    const int64_t* e = ext + n * L;
    const int64_t Tn = in_len[n], Ln = ext_len[n];
    // the previous step's alpha behind two -inf (s - 1, s - 2 before the first label); each step
    // runs over Ln rounded up to 8 lanes (-inf beyond Ln), so the vector loop has no scalar tail
    const int64_t n8 = (Ln + 7) / 8 * 8;
    std::vector<double> prev(static_cast<size_t>(n8 + 2), kNegInf), em(n8, 0.0), cur(n8);
    std::vector<int64_t> skip(static_cast<size_t>(n8), 0);  // (as wide as a double: 8 lanes)
    for (int64_t s = 0; s < Ln; ++s) skip[s] = ctc_skip(e, s);
    auto emit = [&](int64_t t, int64_t s) { return double(lp[(t * N + n) * C + e[s]]); };
    double* a0 = alpha + n * L;
    a0[0] = emit(0, 0);
    if (Ln > 1) a0[1] = emit(0, 1);
    for (int64_t t = 1; t < Tn; ++t) {
      const double* a = alpha + ((t - 1) * N + n) * L;
      std::copy(a, a + Ln, prev.data() + 2);
      for (int64_t s = 0; s < Ln; ++s) em[s] = emit(t, s);
      const double* p = prev.data() + 2;
      ctc_step(cur.data(), p, p - 1, p - 2, skip.data(), em.data(), n8);
      std::copy(cur.data(), cur.data() + Ln, alpha + (t * N + n) * L);
    }
    const double* last = alpha + ((Tn - 1) * N + n) * L;
    nll[n] = -logsumexp3(last[Ln - 1], Ln > 1 ? last[Ln - 2] : kNegInf, kNegInf);
  });
}

// PyTorch's gradient of nll in lp (exact for the logits behind a log_softmax):
// grad[t, n, c] = g[n] (exp(lp) - exp(log(sum over s labelled c of alpha beta) + nll - lp)) for
// t < in_len, 0 beyond; 0 throughout where zero_infinity and nll is infinite. beta runs the
// recursion backwards from each sample's last step.
template <typename T>
void ctc_loss_backward(T* grad, const double* g, const T* lp, const int64_t* ext,
                       const int64_t* in_len, const int64_t* ext_len, const double* alpha,
                       const double* nll, bool zero_infinity, int64_t Tm, int64_t N, int64_t C,
                       int64_t L) {
  parallel_for(threads_for(Tm * N * (L + C) * 8), N, [&](int64_t n) {
    const int64_t* e = ext + n * L;
    const int64_t Tn = in_len[n], Ln = ext_len[n];
    for (int64_t t = Tn; t < Tm; ++t)
      std::fill(grad + (t * N + n) * C, grad + (t * N + n + 1) * C, T(0));
    if (zero_infinity && std::isinf(nll[n])) {
      for (int64_t t = 0; t < Tn; ++t)
        std::fill(grad + (t * N + n) * C, grad + (t * N + n + 1) * C, T(0));
      return;
    }
    // beta at t + 1 and at t, each followed by two -inf (s + 1, s + 2 past the last label);
    // a step runs over Ln rounded up to 8 lanes (as the forward's)
    const int64_t n8 = (Ln + 7) / 8 * 8, W = std::max(n8, L) + 2;
    std::vector<double> beta(static_cast<size_t>(2 * W), kNegInf), acc(static_cast<size_t>(C));
    std::vector<double> ab(static_cast<size_t>(L)), ex(static_cast<size_t>(L)), em(W, 0.0);
    std::vector<int64_t> skip2(static_cast<size_t>(W), 0);  // s + 2 reachable from s
    for (int64_t s = 0; s < L; ++s) skip2[s] = s + 2 < L && ctc_skip(e, s + 2);
    double* b = beta.data();  // beta at t + 1
    double* bt = b + W;       // beta at t
    for (int64_t t = Tn - 1; t >= 0; --t) {
      const T* lpt = lp + (t * N + n) * C;
      for (int64_t s = 0; s < Ln; ++s) em[s] = double(lpt[e[s]]);
      if (t == Tn - 1) {
        for (int64_t s = 0; s < Ln; ++s)
          bt[s] = ((s == Ln - 1 || s == Ln - 2) ? 0.0 : kNegInf) + em[s];
      } else {
        ctc_step(bt, b, b + 1, b + 2, skip2.data(), em.data(), n8);
        std::fill(bt + Ln, bt + W, kNegInf);  // (the lanes past Ln: -inf, as beyond the labels)
      }
      // log sum over the positions labelled c of alpha beta, shifted by their max
      const double* at = alpha + (t * N + n) * L;
      double m = kNegInf;
      for (int64_t s = 0; s < L; ++s) {
        ab[s] = at[s] + bt[s];
        if (ab[s] > m || ab[s] != ab[s]) m = ab[s];
      }
      if (!std::isfinite(m)) m = 0.0;
      ctc_exp_shift(ex.data(), ab.data(), m, L);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t s = 0; s < L; ++s) acc[e[s]] += ex[s];
      // PyTorch's last step assigns the last label's term rather than adding it: a target label
      // equal to the blank drops the final blank's term (its loss is the same, its gradient
      // differs; matched here)
      if (t == Tn - 1 && Ln > 1 && e[Ln - 2] == e[Ln - 1]) acc[e[Ln - 1]] = ex[Ln - 2];
      ctc_grad_row(grad + (t * N + n) * C, lpt, acc.data(), m, nll[n], g[n], C);
      std::swap(b, bt);
      std::fill(bt, bt + W, kNegInf);
    }
  });
}

template void ctc_loss_forward<float>(double*, double*, const float*, const int64_t*,
                                      const int64_t*, const int64_t*, int64_t, int64_t, int64_t,
                                      int64_t);
template void ctc_loss_forward<double>(double*, double*, const double*, const int64_t*,
                                       const int64_t*, const int64_t*, int64_t, int64_t, int64_t,
                                       int64_t);
template void ctc_loss_backward<float>(float*, const double*, const float*, const int64_t*,
                                       const int64_t*, const int64_t*, const double*, const double*,
                                       bool, int64_t, int64_t, int64_t, int64_t);
template void ctc_loss_backward<double>(double*, const double*, const double*, const int64_t*,
                                        const int64_t*, const int64_t*, const double*,
                                        const double*, bool, int64_t, int64_t, int64_t, int64_t);

}  // namespace ember
