// Fused optimiser updates: one pass over each parameter updates it and its state in place.
//
// Each kernel transcribes PyTorch's single-tensor update (torch/optim/<name>.py) in the same
// order of operations and in the parameter's precision (hyper-parameters are rounded to T once,
// as PyTorch's CPU kernels do with their scalar arguments), so trajectories agree to rounding.
// Where torch's CPU kernel is a fused multiply-add -- add(x, alpha=a) and addcmul are compiled
// into fma(a, x, self), lerp is vec::fmadd -- so is ours (std::fma: one instruction in the
// x86-64-v3/v4 clones), so the state and SGD-like updates match torch's bit for bit; what is
// left is torch's sqrt (not correctly rounded: ~1% of float64 results an ulp off). Two spots
// keep the unfused form (Adadelta's acc_delta, centered RMSprop's square_avg - grad_avg^2): an
// fma there stopped GCC vectorising those loops (6-7x slower).
// All arrays have n elements; optional state (nullptr) is documented per kernel.
#include "ops/optim.h"

#include <algorithm>
#include <cmath>
#include <type_traits>
#include <vector>

#include "vecmath.h"

namespace ember {

namespace {

// Runs f(begin, end) over [0, n) in contiguous chunks, one per thread; serial for small n.
template <typename F>
void for_chunks(int64_t n, F&& f) {
  const int nt = threads_for(n, int64_t(1) << 16);
  if (nt <= 1) {
    f(int64_t(0), n);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num();
    const int64_t chunk = (n + nt - 1) / nt;
    const int64_t b = std::min(n, t * chunk), e = std::min(n, b + chunk);
    if (b < e) f(b, e);
  }
}

// The one loop of every update: body(i) for i in [b, e), compiled per ISA (EMBER_SIMD, see
// vecmath.h; `flatten` inlines the body). Bodies choose with selects, never branches, and take
// their optional state as separate bodies, so the loop vectorises: the updates are memory-bound.
// Bodies touch element i of each array only, so iterations are independent: ivdep says so
// (without it GCC's alias checks give up at five arrays and amsgrad ran scalar, 16x slower).
template <typename F>
EMBER_SIMD void each_index(int64_t b, int64_t e, F body) {
#pragma GCC ivdep
  for (int64_t i = b; i < e; ++i) body(i);
}

// torch.lerp(a, b, w): a + w * (b - a) for |w| < 0.5, else b + (w - 1) * (b - a), one fused
// multiply-add as torch's vectorised CPU lerp (vec::fmadd); one fma of selected operands, as two
// fmas under a select stopped the Adam loop vectorising.
template <typename T>
inline T lerp(T a, T b, T w, bool small) {
  const T d = b - a;
  return std::fma(small ? w : w - T(1), d, small ? a : b);
}

// v * beta2 + (1 - beta2) * g * g as torch's v.mul_(beta2).addcmul_(g, g, value=1 - beta2): its
// CPU addcmul kernel is compiled into fma((1 - beta2) * g, g, v * beta2).
template <typename T>
inline T ema_sq(T v, T b2, T w2, T g) {
  return std::fma(w2 * g, g, v * b2);
}

}  // namespace

// ---- SGD ----------------------------------------------------------------------------------
// p (n), buf (n; nullptr when momentum == 0), g (n); in place:
//   d = (maximize ? -g : g) + weight_decay * p
//   buf = first ? d : momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf
//   p = p - lr * d
template <typename T>
void sgd_step(T* p, T* buf, const T* g, int64_t n, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool maximize, bool first) {
  const T nlr = static_cast<T>(-lr), wd = static_cast<T>(weight_decay);
  const T mom = static_cast<T>(momentum), keep = static_cast<T>(1.0 - dampening);
  const T sign = maximize ? T(-1) : T(1);
  const bool use_wd = weight_decay != 0.0;
  for_chunks(n, [&](int64_t b, int64_t e) {
    if (buf == nullptr) {
      each_index(b, e, [=](int64_t i) {
        const T d = use_wd ? std::fma(wd, p[i], sign * g[i]) : sign * g[i];
        p[i] = std::fma(nlr, d, p[i]);
      });
    } else {
      each_index(b, e, [=](int64_t i) {
        const T d = use_wd ? std::fma(wd, p[i], sign * g[i]) : sign * g[i];
        const T m = first ? d : std::fma(keep, d, buf[i] * mom);
        buf[i] = m;
        p[i] = std::fma(nlr, nesterov ? std::fma(mom, m, d) : m, p[i]);
      });
    }
  });
}

// ---- Adam / AdamW -------------------------------------------------------------------------
// p, exp_avg, exp_avg_sq (n), max_exp_avg_sq (n; nullptr unless amsgrad), g (n); step >= 1
// is the count including this update; in place:
//   g = maximize ? -g : g
//   decoupled (AdamW): p = p * (1 - lr * weight_decay); else g = g + weight_decay * p
//   exp_avg = lerp(exp_avg, g, 1 - beta1); exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
//   v = amsgrad ? (max_exp_avg_sq = max(max_exp_avg_sq, exp_avg_sq)) : exp_avg_sq
//   p = p - (lr / (1 - beta1^step)) * exp_avg / (sqrt(v) / sqrt(1 - beta2^step) + eps)
template <typename T>
void adam_step(T* p, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* g, int64_t n, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled,
               bool maximize, double step) {
  const double bc1 = 1.0 - std::pow(beta1, step);
  const double bc2 = 1.0 - std::pow(beta2, step);
  const T nstep = static_cast<T>(-(lr / bc1)), bc2s = static_cast<T>(std::sqrt(bc2));
  const T w1 = static_cast<T>(1.0 - beta1), b2 = static_cast<T>(beta2);
  const T w2 = static_cast<T>(1.0 - beta2), ep = static_cast<T>(eps);
  const bool small = std::abs(1.0 - beta1) < 0.5;
  const bool coupled_wd = weight_decay != 0.0 && !decoupled;
  const bool decay = weight_decay != 0.0 && decoupled;
  const T wd = static_cast<T>(weight_decay), shrink = static_cast<T>(1.0 - lr * weight_decay);
  const T sign = maximize ? T(-1) : T(1);
  // m, v and the new p of element i from its p and g (the part with and without amsgrad share).
  auto moments = [=](int64_t i, T& pi, T& m, T& v) {
    pi = decay ? p[i] * shrink : p[i];
    const T gi = coupled_wd ? std::fma(wd, pi, sign * g[i]) : sign * g[i];
    m = lerp(exp_avg[i], gi, w1, small);
    v = ema_sq(exp_avg_sq[i], b2, w2, gi);
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
  };
  for_chunks(n, [&](int64_t b, int64_t e) {
    if (max_exp_avg_sq == nullptr) {
      each_index(b, e, [=](int64_t i) {
        T pi, m, v;
        moments(i, pi, m, v);
        p[i] = pi + nstep * m / (std::sqrt(v) / bc2s + ep);
      });
    } else {
      each_index(b, e, [=](int64_t i) {
        T pi, m, v;
        moments(i, pi, m, v);
        v = std::max(max_exp_avg_sq[i], v);
        max_exp_avg_sq[i] = v;
        p[i] = pi + nstep * m / (std::sqrt(v) / bc2s + ep);
      });
    }
  });
}

// ---- Adagrad ------------------------------------------------------------------------------
// p, sum (n), g (n); clr = lr / (1 + (step - 1) * lr_decay) computed by the caller; in place:
//   g = (maximize ? -g : g) + weight_decay * p
//   sum = sum + g * g;  p = p - clr * g / (sqrt(sum) + eps)
template <typename T>
void adagrad_step(T* p, T* sum, const T* g, int64_t n, double clr, double eps, double weight_decay,
                  bool maximize) {
  const T nclr = static_cast<T>(-clr), ep = static_cast<T>(eps);
  const T wd = static_cast<T>(weight_decay), sign = maximize ? T(-1) : T(1);
  const bool use_wd = weight_decay != 0.0;
  for_chunks(n, [&](int64_t b, int64_t e) {
    each_index(b, e, [=](int64_t i) {
      const T gi = use_wd ? std::fma(wd, p[i], sign * g[i]) : sign * g[i];
      const T s = std::fma(gi, gi, sum[i]);
      sum[i] = s;
      p[i] = p[i] + nclr * gi / (std::sqrt(s) + ep);
    });
  });
}

// ---- Adadelta -----------------------------------------------------------------------------
// p, square_avg, acc_delta (n), g (n); in place:
//   g = (maximize ? -g : g) + weight_decay * p
//   square_avg = square_avg * rho + (1 - rho) * g * g
//   delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
//   acc_delta = acc_delta * rho + (1 - rho) * delta * delta;  p = p - lr * delta
template <typename T>
void adadelta_step(T* p, T* square_avg, T* acc_delta, const T* g, int64_t n, double lr, double rho,
                   double eps, double weight_decay, bool maximize) {
  const T nlr = static_cast<T>(-lr), r = static_cast<T>(rho), w = static_cast<T>(1.0 - rho);
  const T ep = static_cast<T>(eps), wd = static_cast<T>(weight_decay);
  const T sign = maximize ? T(-1) : T(1);
  const bool use_wd = weight_decay != 0.0;
  for_chunks(n, [&](int64_t b, int64_t e) {
    each_index(b, e, [=](int64_t i) {
      const T gi = use_wd ? std::fma(wd, p[i], sign * g[i]) : sign * g[i];
      const T sq = ema_sq(square_avg[i], r, w, gi);
      square_avg[i] = sq;
      const T delta = std::sqrt(acc_delta[i] + ep) / std::sqrt(sq + ep) * gi;
      acc_delta[i] = acc_delta[i] * r + w * delta * delta;
      p[i] = std::fma(nlr, delta, p[i]);
    });
  });
}

// ---- RMSprop ------------------------------------------------------------------------------
// p, square_avg (n), grad_avg (n; nullptr unless centered), buf (n; nullptr unless
// momentum > 0), g (n); in place:
//   g = (maximize ? -g : g) + weight_decay * p
//   square_avg = square_avg * alpha + (1 - alpha) * g * g
//   centered: grad_avg = lerp(grad_avg, g, 1 - alpha); avg = sqrt(square_avg - grad_avg^2) + eps
//   else avg = sqrt(square_avg) + eps
//   momentum: buf = buf * momentum + g / avg; p = p - lr * buf.  Else p = p - lr * g / avg
template <typename T>
void rmsprop_step(T* p, T* square_avg, T* grad_avg, T* buf, const T* g, int64_t n, double lr,
                  double alpha, double eps, double weight_decay, double momentum, bool maximize) {
  const T nlr = static_cast<T>(-lr), a = static_cast<T>(alpha), w = static_cast<T>(1.0 - alpha);
  const T ep = static_cast<T>(eps), wd = static_cast<T>(weight_decay);
  const T mom = static_cast<T>(momentum), sign = maximize ? T(-1) : T(1);
  const bool small = std::abs(1.0 - alpha) < 0.5;
  const bool use_wd = weight_decay != 0.0;
  // One loop per combination of optional state, so each body is branch-free.
  auto run = [&](auto centered, auto with_buf) {
    for_chunks(n, [&](int64_t b, int64_t e) {
      each_index(b, e, [=](int64_t i) {
        const T gi = use_wd ? std::fma(wd, p[i], sign * g[i]) : sign * g[i];
        const T sq = ema_sq(square_avg[i], a, w, gi);
        square_avg[i] = sq;
        T avg;
        if constexpr (decltype(centered)::value) {
          const T ga = lerp(grad_avg[i], gi, w, small);
          grad_avg[i] = ga;
          avg = std::sqrt(sq + T(-1) * ga * ga) + ep;
        } else {
          avg = std::sqrt(sq) + ep;
        }
        if constexpr (decltype(with_buf)::value) {
          const T bi = buf[i] * mom + gi / avg;
          buf[i] = bi;
          p[i] = std::fma(nlr, bi, p[i]);
        } else {
          p[i] = p[i] + nlr * gi / avg;
        }
      });
    });
  };
  using yes = std::true_type;
  using no = std::false_type;
  if (grad_avg != nullptr)
    buf != nullptr ? run(yes{}, yes{}) : run(yes{}, no{});
  else
    buf != nullptr ? run(no{}, yes{}) : run(no{}, no{});
}

// ---- Adamax -------------------------------------------------------------------------------
// p, exp_avg, exp_inf (n), g (n); step >= 1 counts this update; in place:
//   g = (maximize ? -g : g) + weight_decay * p
//   exp_avg = lerp(exp_avg, g, 1 - beta1);  exp_inf = max(exp_inf * beta2, |g| + eps)
//   p = p - (lr / (1 - beta1^step)) * exp_avg / exp_inf
template <typename T>
void adamax_step(T* p, T* exp_avg, T* exp_inf, const T* g, int64_t n, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool maximize, double step) {
  const double bc1 = 1.0 - std::pow(beta1, step);
  const T nclr = static_cast<T>(-(lr / bc1)), w1 = static_cast<T>(1.0 - beta1);
  const T b2 = static_cast<T>(beta2), ep = static_cast<T>(eps);
  const T wd = static_cast<T>(weight_decay), sign = maximize ? T(-1) : T(1);
  const bool small = std::abs(1.0 - beta1) < 0.5, use_wd = weight_decay != 0.0;
  for_chunks(n, [&](int64_t b, int64_t e) {
    each_index(b, e, [=](int64_t i) {
      const T gi = use_wd ? std::fma(wd, p[i], sign * g[i]) : sign * g[i];
      const T m = lerp(exp_avg[i], gi, w1, small);
      const T u = std::max(exp_inf[i] * b2, std::abs(gi) + ep);
      exp_avg[i] = m;
      exp_inf[i] = u;
      p[i] = p[i] + nclr * m / u;
    });
  });
}

// ---- NAdam --------------------------------------------------------------------------------
// p, exp_avg, exp_avg_sq (n), g (n); the caller computes the momentum schedule:
// cg = -lr (1 - mu_t) / (1 - mu_product_t), cm = -lr mu_{t+1} / (1 - mu_product_t mu_{t+1}),
// bc2 = 1 - beta2^step; in place:
//   g = maximize ? -g : g
//   decoupled: p = p * (1 - lr * weight_decay); else g = g + weight_decay * p
//   exp_avg = lerp(exp_avg, g, 1 - beta1); exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
//   denom = sqrt(exp_avg_sq / bc2) + eps;  p = p + cg * g / denom;  p = p + cm * exp_avg / denom
template <typename T>
void nadam_step(T* p, T* exp_avg, T* exp_avg_sq, const T* g, int64_t n, double lr, double beta1,
                double beta2, double eps, double weight_decay, bool decoupled, bool maximize,
                double bc2, double cg, double cm) {
  const T w1 = static_cast<T>(1.0 - beta1), b2 = static_cast<T>(beta2);
  const T w2 = static_cast<T>(1.0 - beta2), ep = static_cast<T>(eps);
  const T bc = static_cast<T>(bc2), cgt = static_cast<T>(cg), cmt = static_cast<T>(cm);
  const bool small = std::abs(1.0 - beta1) < 0.5;
  const bool coupled_wd = weight_decay != 0.0 && !decoupled;
  const bool decay = weight_decay != 0.0 && decoupled;
  const T wd = static_cast<T>(weight_decay), shrink = static_cast<T>(1.0 - lr * weight_decay);
  const T sign = maximize ? T(-1) : T(1);
  for_chunks(n, [&](int64_t b, int64_t e) {
    each_index(b, e, [=](int64_t i) {
      const T pi = decay ? p[i] * shrink : p[i];
      const T gi = coupled_wd ? std::fma(wd, pi, sign * g[i]) : sign * g[i];
      const T m = lerp(exp_avg[i], gi, w1, small);
      const T v = ema_sq(exp_avg_sq[i], b2, w2, gi);
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      const T denom = std::sqrt(v / bc) + ep;
      const T q = pi + cgt * gi / denom;
      p[i] = q + cmt * m / denom;
    });
  });
}

// ---- RAdam --------------------------------------------------------------------------------
// p, exp_avg, exp_avg_sq (n), g (n); step >= 1 counts this update; in place:
//   g = maximize ? -g : g
//   decoupled: p = p * (1 - lr * weight_decay); else g = g + weight_decay * p
//   exp_avg = lerp(exp_avg, g, 1 - beta1); exp_avg_sq = exp_avg_sq * beta2 + (1 - beta2) * g * g
//   rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 step beta2^step / (1 - beta2^step)
//   rho_t > 5: r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
//              p = p - exp_avg / (1 - beta1^step) * lr * (1 / (sqrt(exp_avg_sq) + eps) *
//                  sqrt(1 - beta2^step)) * r
//   else:      p = p - exp_avg / (1 - beta1^step) * lr
template <typename T>
void radam_step(T* p, T* exp_avg, T* exp_avg_sq, const T* g, int64_t n, double lr, double beta1,
                double beta2, double eps, double weight_decay, bool decoupled, bool maximize,
                double step) {
  const double t = step;
  const double bc1 = 1.0 - std::pow(beta1, t), bc2 = 1.0 - std::pow(beta2, t);
  const double rho_inf = 2.0 / (1.0 - beta2) - 1.0;
  const double rho_t = rho_inf - 2.0 * t * std::pow(beta2, t) / bc2;
  const bool rectify = rho_t > 5.0;
  const double rect = rectify ? std::sqrt((rho_t - 4.0) * (rho_t - 2.0) * rho_inf /
                                          ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                              : 0.0;
  const T w1 = static_cast<T>(1.0 - beta1), b2 = static_cast<T>(beta2);
  const T w2 = static_cast<T>(1.0 - beta2), ep = static_cast<T>(eps);
  const T bc1t = static_cast<T>(bc1), bc2s = static_cast<T>(std::sqrt(bc2));
  const T lrt = static_cast<T>(lr), rt = static_cast<T>(rect);
  const bool small = std::abs(1.0 - beta1) < 0.5;
  const bool coupled_wd = weight_decay != 0.0 && !decoupled;
  const bool decay = weight_decay != 0.0 && decoupled;
  const T wd = static_cast<T>(weight_decay), shrink = static_cast<T>(1.0 - lr * weight_decay);
  const T sign = maximize ? T(-1) : T(1);
  for_chunks(n, [&](int64_t b, int64_t e) {
    each_index(b, e, [=](int64_t i) {
      const T pi = decay ? p[i] * shrink : p[i];
      const T gi = coupled_wd ? std::fma(wd, pi, sign * g[i]) : sign * g[i];
      const T m = lerp(exp_avg[i], gi, w1, small);
      const T v = ema_sq(exp_avg_sq[i], b2, w2, gi);
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      const T upd = m / bc1t * lrt;
      // PyTorch's float / tensor is reciprocal(tensor) * float
      const T rect_upd = upd * ((T(1) / (std::sqrt(v) + ep)) * bc2s) * rt;
      p[i] = pi - (rectify ? rect_upd : upd);
    });
  });
}

// ---- Rprop --------------------------------------------------------------------------------
// p, prev, step_size (n), g (n); in place:
//   g = maximize ? -g : g;  s = sign(g * prev)
//   f = etaplus if s > 0, etaminus if s < 0, else 1
//   step_size = clamp(step_size * f, step_size_min, step_size_max)
//   g = s < 0 ? 0 : g;  p = p - sign(g) * step_size;  prev = g
template <typename T>
void rprop_step(T* p, T* prev, T* step_size, const T* g, int64_t n, double etaminus, double etaplus,
                double step_size_min, double step_size_max, bool maximize) {
  const T em = static_cast<T>(etaminus), ep = static_cast<T>(etaplus);
  const T lo = static_cast<T>(step_size_min), hi = static_cast<T>(step_size_max);
  const T sign = maximize ? T(-1) : T(1);
  for_chunks(n, [&](int64_t b, int64_t e) {
    each_index(b, e, [=](int64_t i) {
      const T gi = sign * g[i];
      const T s = gi * prev[i];
      const T f = s > T(0) ? ep : (s < T(0) ? em : T(1));
      const T ss = std::min(std::max(step_size[i] * f, lo), hi);
      const T gk = s < T(0) ? T(0) : gi;
      const T sg = T(gk > T(0)) - T(gk < T(0));
      step_size[i] = ss;
      p[i] = p[i] - sg * ss;
      prev[i] = gk;
    });
  });
}

// ---- lerp_ (optimiser state updated by the Python layer) ------------------------------------
template <typename T>
void lerp_inplace(T* start, const T* end, int64_t n, double weight) {
  const T w = static_cast<T>(weight);
  const bool small = std::abs(w) < T(0.5);  // (torch decides on the weight in T)
  for_chunks(n, [&](int64_t b, int64_t e) {
    each_index(b, e, [=](int64_t i) { start[i] = lerp(start[i], end[i], w, small); });
  });
}

// ---- ASGD ---------------------------------------------------------------------------------
// p, ax (n), g (n); eta and mu are this step's rates (the caller keeps their schedule); in place:
//   g = (maximize ? -g : g) + weight_decay * p
//   p = p * (1 - lambd * eta);  p = p - eta * g
//   ax = mu == 1 ? p : ax + (p - ax) * mu
template <typename T>
void asgd_step(T* p, T* ax, const T* g, int64_t n, double eta, double lambd, double mu,
               double weight_decay, bool maximize) {
  const T shrink = static_cast<T>(1.0 - lambd * eta), neta = static_cast<T>(-eta);
  const T m = static_cast<T>(mu), wd = static_cast<T>(weight_decay);
  const T sign = maximize ? T(-1) : T(1);
  const bool use_wd = weight_decay != 0.0, average = mu != 1.0;
  for_chunks(n, [&](int64_t b, int64_t e) {
    each_index(b, e, [=](int64_t i) {
      const T gi = use_wd ? std::fma(wd, p[i], sign * g[i]) : sign * g[i];
      const T pi = std::fma(neta, gi, p[i] * shrink);
      p[i] = pi;
      ax[i] = average ? ax[i] + (pi - ax[i]) * m : pi;
    });
  });
}

template void sgd_step<float>(float*, float*, const float*, int64_t, double, double, double, double,
                              bool, bool, bool);
template void adam_step<float>(float*, float*, float*, float*, const float*, int64_t, double,
                               double, double, double, double, bool, bool, double);
template void adagrad_step<float>(float*, float*, const float*, int64_t, double, double, double,
                                  bool);
template void adadelta_step<float>(float*, float*, float*, const float*, int64_t, double, double,
                                   double, double, bool);
template void rmsprop_step<float>(float*, float*, float*, float*, const float*, int64_t, double,
                                  double, double, double, double, bool);
template void sgd_step<double>(double*, double*, const double*, int64_t, double, double, double,
                               double, bool, bool, bool);
template void adam_step<double>(double*, double*, double*, double*, const double*, int64_t, double,
                                double, double, double, double, bool, bool, double);
template void adagrad_step<double>(double*, double*, const double*, int64_t, double, double, double,
                                   bool);
template void adadelta_step<double>(double*, double*, double*, const double*, int64_t, double,
                                    double, double, double, bool);
template void rmsprop_step<double>(double*, double*, double*, double*, const double*, int64_t,
                                   double, double, double, double, double, bool);

template void adamax_step<float>(float*, float*, float*, const float*, int64_t, double, double,
                                 double, double, double, bool, double);
template void nadam_step<float>(float*, float*, float*, const float*, int64_t, double, double,
                                double, double, double, bool, bool, double, double, double);
template void radam_step<float>(float*, float*, float*, const float*, int64_t, double, double,
                                double, double, double, bool, bool, double);
template void rprop_step<float>(float*, float*, float*, const float*, int64_t, double, double,
                                double, double, bool);
template void adamax_step<double>(double*, double*, double*, const double*, int64_t, double, double,
                                  double, double, double, bool, double);
template void nadam_step<double>(double*, double*, double*, const double*, int64_t, double, double,
                                 double, double, double, bool, bool, double, double, double);
template void radam_step<double>(double*, double*, double*, const double*, int64_t, double, double,
                                 double, double, double, bool, bool, double);
template void rprop_step<double>(double*, double*, double*, const double*, int64_t, double, double,
                                 double, double, bool);
template void lerp_inplace<float>(float*, const float*, int64_t, double);
template void lerp_inplace<double>(double*, const double*, int64_t, double);
template void asgd_step<float>(float*, float*, const float*, int64_t, double, double, double,
                               double, bool);
template void asgd_step<double>(double*, double*, const double*, int64_t, double, double, double,
                                double, bool);
// ---- gradient norms (clip_grad_norm_) -------------------------------------------------------
// x (n) -> sum of x[i]^2 in double. Fixed blocks of kBlock elements, each summed in 8 running
// lanes then the lanes pairwise; the block sums are added in order: the same result for any
// thread count.
namespace {

template <typename T>
EMBER_SIMD double block_sum_squares(const T* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; ++k) {
      const double v = static_cast<double>(x[i + k]);
      acc[k] += v * v;
    }
  for (int k = 0; i < n; ++i, ++k) {
    const double v = static_cast<double>(x[i]);
    acc[k] += v * v;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

}  // namespace

template <typename T>
double sum_squares(const T* x, int64_t n) {
  constexpr int64_t kBlock = int64_t(1) << 14;
  const int64_t nblk = (n + kBlock - 1) / kBlock;
  std::vector<double> part(static_cast<size_t>(nblk));
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(n, int64_t(1) << 17), nblk));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t b = 0; b < nblk; ++b)
    part[b] = block_sum_squares(x + b * kBlock, std::min(kBlock, n - b * kBlock));
  double s = 0;
  for (double v : part) s += v;
  return s;
}

template double sum_squares<float>(const float*, int64_t);
template double sum_squares<double>(const double*, int64_t);

}  // namespace ember
