// Softmax and log-softmax along one dimension of a C-contiguous tensor viewed as (outer, D, inner).
//
// inner == 1 (the last dim): each row is contiguous; one pass for the max, one for exp + sum
// (exp stored into y), one to scale. inner > 1: a block of up to kBlock inner positions is the
// vector lane, each of the D rows of the block is a contiguous segment, so nothing is gathered
// and every loop runs over contiguous memory. Rows/blocks are independent: OpenMP over them.
//
// Reductions keep kLanes partial accumulators (summed in a fixed order at the end), so the loops
// vectorise without fast-math and the result does not depend on the thread count.
// Outputs are fresh arrays, never the inputs: the row workers take them __restrict, without which
// GCC left softmax backward's 16-wide blocks scalar (it could not rule out dx aliasing y or dy).
#include <algorithm>
#include <cmath>
#include <limits>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

constexpr int kLanes = 16;  // partial accumulators of a row reduction
static_assert(kLanes == 16, "row_dot folds 2 * kLanes partial sums in five halvings");
constexpr int64_t kBlock = 64;  // inner positions per task when inner > 1

// An integer key with the order of the float: max of keys = key of the max. (A float max with
// `a > m ? a : m` does not vectorise without fast-math; integer max does.) NaN keys sort beyond
// +-inf, and either way a NaN in a row makes its exponentials, and so the row, NaN.
inline int32_t order_key(float v) {
  const int32_t b = static_cast<int32_t>(vm::as_bits(v));
  return b ^ ((b >> 31) & 0x7fffffff);  // scalar math: negative floats count down, flip them
}
inline int64_t order_key(double v) {
  const int64_t b = static_cast<int64_t>(vm::as_bits(v));
  return b ^ ((b >> 63) & int64_t(0x7fffffffffffffff));
}
inline float from_key(int32_t k) {
  return vm::from_bits(static_cast<uint32_t>(k ^ ((k >> 31) & 0x7fffffff)));
}
inline double from_key(int64_t k) {
  return vm::from_bits(static_cast<uint64_t>(k ^ ((k >> 63) & int64_t(0x7fffffffffffffff))));
}

template <typename T>
T row_max(const T* x, int64_t D) {
  auto m = order_key(-std::numeric_limits<T>::infinity());
  for (int64_t i = 0; i < D; ++i) {
    const auto k = order_key(x[i]);
    m = k > m ? k : m;
  }
  return from_key(m);
}

// Asks for the cache lines of next[0, kLanes) (a hint: never faults, changes no result).
template <typename T>
inline void prefetch_lanes(const T* next) {
  for (int j = 0; j < kLanes; j += 64 / static_cast<int>(sizeof(T))) __builtin_prefetch(next + j);
}

// sum of exp(x - m); the exponentials are also stored in y when y != nullptr. The next row (of
// D elements at `next`) is prefetched meanwhile, so its max pass finds it in cache: memory
// traffic overlaps the exponentials instead of following them.
template <typename T>
T row_sum_exp(T* __restrict y, const T* __restrict x, int64_t D, T m, const T* next) {
  T acc[kLanes] = {};
  int64_t i = 0;
  if (y) {
    for (; i + kLanes <= D; i += kLanes) {
      prefetch_lanes(next + i);
      for (int j = 0; j < kLanes; ++j) {
        T e = vexp(x[i + j] - m);
        y[i + j] = e;
        acc[j] += e;
      }
    }
  } else {
    for (; i + kLanes <= D; i += kLanes) {
      prefetch_lanes(next + i);
      for (int j = 0; j < kLanes; ++j) acc[j] += vexp(x[i + j] - m);
    }
  }
  T s = 0;
  for (; i < D; ++i) {
    T e = vexp(x[i] - m);
    if (y) y[i] = e;
    s += e;
  }
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

// acc[j] += acc[j + W] for j < W: one step of a fixed-order tree sum (W a compile-time constant,
// so each step is a whole-vector add of two halves).
template <int W, typename T>
inline void fold_half(T* acc) {
  for (int j = 0; j < W; ++j) acc[j] += acc[j + W];
}

// sum of a[i] * b[i] (b == nullptr: sum of a[i]). Two vectors of partial sums (two independent
// add chains: a 128-wide row is latency-bound with one), folded in halves at the end, so the
// reduction is log-depth shuffles rather than a serial chain of 2 * kLanes scalar adds.
template <typename T>
T row_dot(const T* a, const T* b, int64_t D) {
  constexpr int kAcc = 2 * kLanes;
  T acc[kAcc] = {};
  int64_t i = 0;
  if (b) {
    for (; i + kAcc <= D; i += kAcc)
      for (int j = 0; j < kAcc; ++j) acc[j] += a[i + j] * b[i + j];
    for (; i + kLanes <= D; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  } else {
    for (; i + kAcc <= D; i += kAcc)
      for (int j = 0; j < kAcc; ++j) acc[j] += a[i + j];
    for (; i + kLanes <= D; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j];
  }
  T s = 0;
  for (; i < D; ++i) s += b ? a[i] * b[i] : a[i];
  fold_half<kAcc / 2>(acc);
  fold_half<kAcc / 4>(acc);
  fold_half<kAcc / 8>(acc);
  fold_half<kAcc / 16>(acc);
  fold_half<kAcc / 32>(acc);
  return acc[0] + s;
}

// One contiguous row (inner == 1); `next` is the row to prefetch.
template <typename T>
EMBER_SIMD void forward_row(T* __restrict y, const T* __restrict x, int64_t D, bool log,
                            const T* next) {
  const T m = row_max(x, D);
  if (log) {
    const T ls = std::log(row_sum_exp<T>(nullptr, x, D, m, next));
    for (int64_t i = 0; i < D; ++i) y[i] = (x[i] - m) - ls;  // (x - m) is exact near the max
  } else {
    // Exponentials into y (a pure map), then their sum and the scaling: the row is in L1 by
    // now, and the map pipelines better than a loop that also carries the sums.
    const T inv = T(1) / row_sum_exp(y, x, D, m, next);
    for (int64_t i = 0; i < D; ++i) y[i] *= inv;
  }
}

// Rows [r0, r1) in one call (one dispatch through the ISA resolver per chunk, not per row;
// `log` fixed at compile time).
template <typename T, bool kLog>
EMBER_SIMD void backward_rows(T* __restrict dx, const T* __restrict y, const T* __restrict dy,
                              int64_t r0, int64_t r1, int64_t rows, int64_t D) {
  for (int64_t r = r0; r < r1; ++r) {
    const T* yr = y + r * D;
    const T* gr = dy + r * D;
    T* dr = dx + r * D;
    const T s = kLog ? row_dot<T>(gr, nullptr, D) : row_dot(gr, yr, D);
    if (!kLog) {  // a plain map (GCC split a 16-wide inner block of it into 8+4+2+1+1 lanes)
      for (int64_t i = 0; i < D; ++i) dr[i] = yr[i] * (gr[i] - s);
      continue;
    }
    // log: the exponentials leave time to prefetch the next row's y and dy meanwhile.
    const int64_t next = r + 1 < rows ? D : 0;
    int64_t i = 0;
    for (; i + kLanes <= D; i += kLanes) {
      prefetch_lanes(yr + next + i);
      prefetch_lanes(gr + next + i);
      for (int j = 0; j < kLanes; ++j) dr[i + j] = gr[i + j] - vexp(yr[i + j]) * s;
    }
    for (; i < D; ++i) dr[i] = gr[i] - vexp(yr[i]) * s;
  }
}

// A block of w <= kBlock inner positions: x + d*inner is row d of the block.
template <typename T>
EMBER_SIMD void forward_block(T* __restrict y, const T* __restrict x, int64_t D, int64_t inner,
                              int64_t w, bool log) {
  T m[kBlock], s[kBlock];
  for (int64_t j = 0; j < w; ++j) m[j] = -std::numeric_limits<T>::infinity();
  for (int64_t d = 0; d < D; ++d) {
    const T* xr = x + d * inner;
    for (int64_t j = 0; j < w; ++j) m[j] = xr[j] > m[j] ? xr[j] : m[j];
  }
  for (int64_t j = 0; j < w; ++j) s[j] = 0;
  if (log) {
    for (int64_t d = 0; d < D; ++d) {
      const T* xr = x + d * inner;
      for (int64_t j = 0; j < w; ++j) s[j] += vexp(xr[j] - m[j]);
    }
    for (int64_t j = 0; j < w; ++j) s[j] = std::log(s[j]);
    for (int64_t d = 0; d < D; ++d) {
      const T* xr = x + d * inner;
      T* yr = y + d * inner;
      for (int64_t j = 0; j < w; ++j) yr[j] = (xr[j] - m[j]) - s[j];
    }
  } else {
    for (int64_t d = 0; d < D; ++d) {
      const T* xr = x + d * inner;
      T* yr = y + d * inner;
      for (int64_t j = 0; j < w; ++j) {
        T e = vexp(xr[j] - m[j]);
        yr[j] = e;
        s[j] += e;
      }
    }
    for (int64_t j = 0; j < w; ++j) s[j] = T(1) / s[j];
    for (int64_t d = 0; d < D; ++d) {
      T* yr = y + d * inner;
      for (int64_t j = 0; j < w; ++j) yr[j] *= s[j];
    }
  }
}

template <typename T>
EMBER_SIMD void backward_block(T* __restrict dx, const T* __restrict y, const T* __restrict dy,
                               int64_t D, int64_t inner, int64_t w, bool log) {
  T s[kBlock];
  for (int64_t j = 0; j < w; ++j) s[j] = 0;
  for (int64_t d = 0; d < D; ++d) {
    const T* yr = y + d * inner;
    const T* gr = dy + d * inner;
    if (log)
      for (int64_t j = 0; j < w; ++j) s[j] += gr[j];
    else
      for (int64_t j = 0; j < w; ++j) s[j] += gr[j] * yr[j];
  }
  for (int64_t d = 0; d < D; ++d) {
    const T* yr = y + d * inner;
    const T* gr = dy + d * inner;
    T* dr = dx + d * inner;
    if (log)
      for (int64_t j = 0; j < w; ++j) dr[j] = gr[j] - vexp(yr[j]) * s[j];
    else
      for (int64_t j = 0; j < w; ++j) dr[j] = yr[j] * (gr[j] - s[j]);
  }
}

// Runs f(task) for every row (inner == 1) or (outer, inner block) task, in parallel when big.
template <typename F>
void for_tasks(int64_t outer, int64_t D, int64_t inner, F&& f) {
  const int64_t nblk = inner == 1 ? 1 : (inner + kBlock - 1) / kBlock;
  parallel_for(threads_for(outer * D * inner, 1 << 15), outer * nblk, [&](int64_t t) {
    const int64_t o = t / nblk, j0 = (t % nblk) * kBlock;
    f(o * D * inner + j0, std::min(kBlock, inner - j0));
  });
}

// f(r0, r1) over chunks of the `rows` contiguous rows of D elements, in parallel when big.
template <typename F>
void for_row_chunks(int64_t rows, int64_t D, F&& f) {
  const int64_t per = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(D, 1));  // ~64 KB
  const int64_t nchunk = (rows + per - 1) / per;
  parallel_for(threads_for(rows * D, 1 << 15), nchunk,
               [&](int64_t c) { f(c * per, std::min(rows, (c + 1) * per)); });
}

template <typename T>
void softmax_impl(T* y, const T* x, int64_t outer, int64_t D, int64_t inner, bool log) {
  EMBER_CHECK(outer >= 0 && D >= 0 && inner >= 0, "softmax_forward: negative size (", outer, ", ",
              D, ", ", inner, ")");
  if (outer == 0 || D == 0 || inner == 0) return;
  if (inner == 1)
    for_tasks(outer, D, 1, [&](int64_t off, int64_t) {
      const int64_t next = off + D < outer * D ? off + D : off;  // the last row: itself
      forward_row(y + off, x + off, D, log, x + next);
    });
  else
    for_tasks(outer, D, inner,
              [&](int64_t off, int64_t w) { forward_block(y + off, x + off, D, inner, w, log); });
}

template <typename T>
void softmax_backward_impl(T* dx, const T* y, const T* dy, int64_t outer, int64_t D, int64_t inner,
                           bool log) {
  EMBER_CHECK(outer >= 0 && D >= 0 && inner >= 0, "softmax_backward: negative size (", outer, ", ",
              D, ", ", inner, ")");
  if (outer == 0 || D == 0 || inner == 0) return;
  if (inner == 1)
    for_row_chunks(outer, D, [&](int64_t r0, int64_t r1) {
      if (log)
        backward_rows<T, true>(dx, y, dy, r0, r1, outer, D);
      else
        backward_rows<T, false>(dx, y, dy, r0, r1, outer, D);
    });
  else
    for_tasks(outer, D, inner, [&](int64_t off, int64_t w) {
      backward_block(dx + off, y + off, dy + off, D, inner, w, log);
    });
}

}  // namespace

// x (outer, D, inner) -> y (outer, D, inner): y = exp(x - max) / sum(exp(x - max)) along D.
// Logits of +-1e4 stay finite; -inf entries give 0; a row of all -inf gives NaN (as PyTorch).
template <typename T>
void softmax_forward(T* y, const T* x, int64_t outer, int64_t D, int64_t inner) {
  softmax_impl(y, x, outer, D, inner, false);
}
// y, dy (outer, D, inner) -> dx: dx = y * (dy - sum_D(dy * y)).
template <typename T>
void softmax_backward(T* dx, const T* y, const T* dy, int64_t outer, int64_t D, int64_t inner) {
  softmax_backward_impl(dx, y, dy, outer, D, inner, false);
}

// x (outer, D, inner) -> y: y = (x - max) - log(sum(exp(x - max))) along D.
template <typename T>
void log_softmax_forward(T* y, const T* x, int64_t outer, int64_t D, int64_t inner) {
  softmax_impl(y, x, outer, D, inner, true);
}
// y = log_softmax(x), dy (outer, D, inner) -> dx: dx = dy - exp(y) * sum_D(dy).
template <typename T>
void log_softmax_backward(T* dx, const T* y, const T* dy, int64_t outer, int64_t D, int64_t inner) {
  softmax_backward_impl(dx, y, dy, outer, D, inner, true);
}

template void softmax_forward<float>(float*, const float*, int64_t, int64_t, int64_t);
template void softmax_forward<double>(double*, const double*, int64_t, int64_t, int64_t);
template void softmax_backward<float>(float*, const float*, const float*, int64_t, int64_t,
                                      int64_t);
template void softmax_backward<double>(double*, const double*, const double*, int64_t, int64_t,
                                       int64_t);
template void log_softmax_forward<float>(float*, const float*, int64_t, int64_t, int64_t);
template void log_softmax_forward<double>(double*, const double*, int64_t, int64_t, int64_t);
template void log_softmax_backward<float>(float*, const float*, const float*, int64_t, int64_t,
                                          int64_t);
template void log_softmax_backward<double>(double*, const double*, const double*, int64_t, int64_t,
                                           int64_t);

// ---- fused cross-entropy with class-index targets ------------------------------------------
// PyTorch's rule, with eps = label_smoothing and w the class weights (all 1 when absent):
//   loss_i = (1 - eps) w_t (lse_i - x_it) + eps / C * sum_c w_c (lse_i - x_ic),  t = target_i
// and 0 for rows whose target is ignore_index. lse_i = m + log(sum_c exp(x_ic - m)), written as
// (m - x) + log(s) so no term cancels. Backward recomputes p = exp(x - lse) from the saved lse,
// so neither pass allocates an (N, C) intermediate. log_input: x already holds log-probabilities
// (nll_loss): lse is 0 and backward has no softmax term.
// logp (optional, logits only): log_softmax(x) = (x - m) - log(s), written in the same pass over
// each row / block (every position, ignored ones too). The caller keeps it instead of x, as torch
// keeps log_softmax's output (x may then change before backward), and backward takes lse = 0.
// Rows of few classes (S == 1, C <= kSmallC): the row kernels below leave a row of 10 classes to
// their scalar tails (per-row overhead dominated). Forward transposes a block of kBlock rows into
// a (C, kBlock) scratch, so the rows become the vector lanes of the K-dim block kernel; backward
// takes the exponentials of the whole block of rows in one flat pass.

namespace {

constexpr int64_t kSmallC = 32;

// sum_c w_c (m - x_c) (w == nullptr: all 1); every term >= 0.
template <typename T>
T row_wdist(const T* x, const T* w, int64_t C, T m) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= C; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += (w ? w[i + j] : T(1)) * (m - x[i + j]);
  T s = 0;
  for (; i < C; ++i) s += (w ? w[i] : T(1)) * (m - x[i]);
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

template <typename T>
EMBER_SIMD T ce_forward_row(T* __restrict logp, T* lse, const T* __restrict x, int64_t C, int64_t t,
                            const T* w, T eps, T sw, const T* next, bool log_input) {
  if (log_input) {
    *lse = 0;
    T loss = -(1 - eps) * (w ? w[t] : T(1)) * x[t];
    if (eps > 0) loss -= eps / T(C) * row_dot(x, w, C);
    return loss;
  }
  const T m = row_max(x, C);
  const T ls = std::log(row_sum_exp<T>(nullptr, x, C, m, next));
  *lse = m + ls;
  if (logp)
    for (int64_t j = 0; j < C; ++j) logp[j] = (x[j] - m) - ls;
  // -(w_t logp_t), as torch's nll: a certain prediction's loss is -0 there too (the same bits
  // as (m - x_t) + ls otherwise)
  T loss = -((1 - eps) * (w ? w[t] : T(1)) * ((x[t] - m) - ls));
  if (eps > 0) loss += eps / T(C) * (row_wdist(x, w, C, m) + ls * sw);
  return loss;
}

// dx_j = c * (p_j * s - eps / C * w_j) - c (1 - eps) w_t [j == t], p_j = exp(x_j - lse), with
// p already in dx (unused for log_input). Two passes (exponentials, then this) so that rows of
// few classes can take their exponentials in one flat pass over many rows (ce_backward_small).
template <typename T>
inline void ce_backward_finish(T* dx, int64_t C, int64_t t, const T* w, T eps, T sw, T c,
                               bool log_input) {
  const T wt = w ? w[t] : T(1);
  // e is exactly 0 without smoothing, even for c = NaN (a 'mean' over zero total weight): then
  // only the target's entry is NaN, as in PyTorch's nll_loss backward
  const T s = c * ((1 - eps) * wt + eps / T(C) * sw), e = eps != 0 ? c * eps / T(C) : T(0);
  if (log_input)  // d/dx of -(1 - eps) w_t x_t - eps / C sum_j w_j x_j
    for (int64_t j = 0; j < C; ++j) dx[j] = -e * (w ? w[j] : T(1));
  else if (w)
    for (int64_t j = 0; j < C; ++j) dx[j] = dx[j] * s - e * w[j];
  else
    for (int64_t j = 0; j < C; ++j) dx[j] = dx[j] * s - e;
  dx[t] -= c * (1 - eps) * wt;
}

// One row: without a weight, the exponentials and the finish in one pass: a row of 50K classes
// does not stay in L1 between two passes (the kernel at 4096 x 50K, 1 thread: ~0.45 -> ~0.15 s).
// The same operations; label-smoothed rows may differ from the two-pass form in the last bit
// (the compiler contracts them into FMAs differently).
template <typename T>
EMBER_SIMD void ce_backward_row(T* __restrict dx, const T* __restrict x, T lse, int64_t C,
                                int64_t t, const T* w, T eps, T sw, T c, bool log_input) {
  if (!log_input && !w) {
    const T s = c * ((1 - eps) + eps / T(C) * sw), e = eps != 0 ? c * eps / T(C) : T(0);
    for (int64_t j = 0; j < C; ++j) dx[j] = vexp(x[j] - lse) * s - e;
    dx[t] -= c * (1 - eps);
    return;
  }
  if (!log_input)
    for (int64_t j = 0; j < C; ++j) dx[j] = vexp(x[j] - lse);
  ce_backward_finish(dx, C, t, w, eps, sw, c, log_input);
}

// The K-dim layout x (N, C, S): a task is one sample's block of nw <= kBlock positions, the
// positions are the vector lanes (x + c*S is class c's segment of the block; target, loss, lse
// point at the block's positions). The same formulas as the rows above, each sum over c taken in
// order per position. (Plain inline: the EMBER_SIMD workers below flatten it into each clone.)
template <typename T>
inline void ce_forward_lanes(T* __restrict loss, T* __restrict lse, T* __restrict logp,
                             const T* __restrict x, const int64_t* target, const T* w, int64_t C,
                             int64_t S, int64_t nw, int64_t ignore, T eps, T sw, bool log_input) {
  T m[kBlock], ls[kBlock], d[kBlock];
  for (int64_t j = 0; j < nw; ++j) m[j] = ls[j] = d[j] = 0;
  if (!log_input) {
    for (int64_t j = 0; j < nw; ++j) m[j] = -std::numeric_limits<T>::infinity();
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < nw; ++j) m[j] = x[c * S + j] > m[j] ? x[c * S + j] : m[j];
    for (int64_t c = 0; c < C; ++c)
      for (int64_t j = 0; j < nw; ++j) ls[j] += vexp(x[c * S + j] - m[j]);
    // vlog vectorises (std::log stayed a libm call per position: a third of a 10-class pass)
    for (int64_t j = 0; j < nw; ++j) ls[j] = vlog(ls[j]);
    if (logp)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < nw; ++j) logp[c * S + j] = (x[c * S + j] - m[j]) - ls[j];
  }
  if (eps > 0)  // sum_c w_c (m - x_c), or sum_c w_c x_c for log-probabilities
    for (int64_t c = 0; c < C; ++c) {
      const T wc = w ? w[c] : T(1);
      for (int64_t j = 0; j < nw; ++j)
        d[j] += log_input ? wc * x[c * S + j] : wc * (m[j] - x[c * S + j]);
    }
  for (int64_t j = 0; j < nw; ++j) {
    const int64_t t = target[j];
    if (t == ignore) {
      loss[j] = lse[j] = 0;
      continue;
    }
    const T wt = w ? w[t] : T(1), xt = x[t * S + j];
    T l;
    if (log_input) {
      lse[j] = 0;
      l = -(1 - eps) * wt * xt;
      if (eps > 0) l -= eps / T(C) * d[j];
    } else {
      lse[j] = m[j] + ls[j];
      l = -((1 - eps) * wt * ((xt - m[j]) - ls[j]));  // (-w_t logp_t, as the rows')
      if (eps > 0) l += eps / T(C) * (d[j] + ls[j] * sw);
    }
    loss[j] = l;
  }
}

// lse == nullptr: 0 (x holds log_softmax).
template <typename T>
inline void ce_backward_lanes(T* __restrict dx, const T* __restrict x, const T* lse,
                              const int64_t* target, const T* w, const T* g, T scale, int64_t C,
                              int64_t S, int64_t nw, int64_t ignore, T eps, T sw, bool log_input) {
  T cs[kBlock], sc[kBlock], e[kBlock], l0[kBlock];
  for (int64_t j = 0; j < nw; ++j) {
    const int64_t t = target[j];
    const bool ign = t == ignore;
    const T c = ign ? T(0) : (g ? scale * g[j] : scale), wt = ign ? T(0) : (w ? w[t] : T(1));
    cs[j] = c;
    sc[j] = c * ((1 - eps) * wt + eps / T(C) * sw);
    e[j] = eps != 0 ? c * eps / T(C) : T(0);
    l0[j] = ign || !lse ? T(0) : lse[j];
  }
  for (int64_t c = 0; c < C; ++c) {
    const T wc = w ? w[c] : T(1);
    T* dr = dx + c * S;
    const T* xr = x + c * S;
    if (log_input)
      for (int64_t j = 0; j < nw; ++j) dr[j] = -e[j] * wc;
    else if (w)
      for (int64_t j = 0; j < nw; ++j) dr[j] = vexp(xr[j] - l0[j]) * sc[j] - e[j] * wc;
    else
      for (int64_t j = 0; j < nw; ++j) dr[j] = vexp(xr[j] - l0[j]) * sc[j] - e[j];
  }
  for (int64_t j = 0; j < nw; ++j) {
    const int64_t t = target[j];
    if (t == ignore) {
      for (int64_t c = 0; c < C; ++c) dx[c * S + j] = 0;  // also where exp(x) overflowed
    } else {
      dx[t * S + j] -= cs[j] * (1 - eps) * (w ? w[t] : T(1));
    }
  }
}

// The K-dim workers: one (sample, block of positions) of x (N, C, S).
template <typename T>
EMBER_SIMD void ce_forward_block(T* loss, T* lse, T* logp, const T* x, const int64_t* target,
                                 const T* w, int64_t C, int64_t S, int64_t nw, int64_t ignore,
                                 T eps, T sw, bool log_input) {
  ce_forward_lanes(loss, lse, logp, x, target, w, C, S, nw, ignore, eps, sw, log_input);
}

template <typename T>
EMBER_SIMD void ce_backward_block(T* dx, const T* x, const T* lse, const int64_t* target,
                                  const T* w, const T* g, T scale, int64_t C, int64_t S, int64_t nw,
                                  int64_t ignore, T eps, T sw, bool log_input) {
  ce_backward_lanes(dx, x, lse, target, w, g, scale, C, S, nw, ignore, eps, sw, log_input);
}

// nw <= kBlock rows of C <= kSmallC classes <-> their (C, kBlock) transpose.
template <typename T>
inline void rows_to_lanes(T* __restrict b, const T* __restrict x, int64_t C, int64_t nw) {
  for (int64_t j = 0; j < nw; ++j)
    for (int64_t c = 0; c < C; ++c) b[c * kBlock + j] = x[j * C + c];
}
template <typename T>
inline void lanes_to_rows(T* __restrict x, const T* __restrict b, int64_t C, int64_t nw) {
  for (int64_t j = 0; j < nw; ++j)
    for (int64_t c = 0; c < C; ++c) x[j * C + c] = b[c * kBlock + j];
}

// The small-C workers: rows [0, nw) of x (nw, C) (target, loss, lse, g at those rows).
template <typename T>
EMBER_SIMD void ce_forward_small(T* loss, T* lse, T* logp, const T* x, const int64_t* target,
                                 const T* w, int64_t C, int64_t nw, int64_t ignore, T eps, T sw,
                                 bool log_input) {
  T xb[kSmallC * kBlock], lb[kSmallC * kBlock];
  rows_to_lanes(xb, x, C, nw);
  ce_forward_lanes(loss, lse, logp ? lb : nullptr, xb, target, w, C, kBlock, nw, ignore, eps, sw,
                   log_input);
  if (logp) lanes_to_rows(logp, lb, C, nw);
}

// Backward needs no sum over a row: the exponentials of all nw rows in one flat pass, then
// each row's finish (a transpose both ways cost more than the row kernels saved).
template <typename T>
EMBER_SIMD void ce_backward_small(T* __restrict dx, const T* __restrict x, const T* lse,
                                  const int64_t* target, const T* w, const T* g, T scale, int64_t C,
                                  int64_t nw, int64_t ignore, T eps, T sw, bool log_input) {
  const int64_t n = nw * C;
  if (!log_input && lse) {
    for (int64_t i = 0; i < nw; ++i)
      for (int64_t j = 0; j < C; ++j) dx[i * C + j] = x[i * C + j] - lse[i];
    for (int64_t k = 0; k < n; ++k) dx[k] = vexp(dx[k]);
  } else if (!log_input) {
    for (int64_t k = 0; k < n; ++k) dx[k] = vexp(x[k]);
  }
  for (int64_t i = 0; i < nw; ++i) {
    const int64_t t = target[i];
    T* di = dx + i * C;
    if (t == ignore)
      std::fill(di, di + C, T(0));
    else
      ce_backward_finish(di, C, t, w, eps, sw, g ? scale * g[i] : scale, log_input);
  }
}

// Every target is a class in [0, C) or ignore_index; sum of the weights (1 each) of the others.
template <typename T>
double checked_weight_sum(const int64_t* target, const T* w, int64_t N, int64_t C, int64_t ignore,
                          const char* op) {
  double total = 0;
  int64_t count = 0;  // (without weights: an integer count, not a chain of dependent adds)
  for (int64_t i = 0; i < N; ++i) {
    const int64_t t = target[i];
    if (t == ignore) continue;
    EMBER_CHECK(t >= 0 && t < C, op, ": target ", t, " is out of bounds for ", C,
                " classes (ignore_index ", ignore, ")");
    if (w)
      total += double(w[t]);
    else
      ++count;
  }
  return w ? total : double(count);
}

// sum of a[0 .. n) in double, as 8 interleaved partial sums (lane i % 8) added in lane order:
// the same bits at any thread count, without one long chain of dependent adds (a third of
// nll_loss's forward on (8, 21, 128, 128)).
template <typename T>
EMBER_SIMD double sum_in_lanes(const T* a, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(a[i + j]);
  for (int j = 0; i < n; ++i, ++j) acc[j] += double(a[i]);
  double total = 0;
  for (int j = 0; j < 8; ++j) total += acc[j];
  return total;
}

template <typename T>
T sum_or_count(const T* w, int64_t C) {
  if (!w) return T(C);
  T s = 0;
  for (int64_t j = 0; j < C; ++j) s += w[j];
  return s;
}

}  // namespace

// x (N, C, S) logits (log-probabilities when log_input; S = 1: rows), target (N, S) int64, w (C)
// or nullptr -> loss (N, S) per position (0 where ignored), lse (N, S) (backward's input),
// logp (N, C, S) = log_softmax(x) when not null (logits only), sums[0] = sum of loss (in
// double, sum_in_lanes), sums[1] = summed weight of the non-ignored targets (the 'mean'
// denominator). Throws on a target outside [0, C) other than ignore_index before writing anything.
template <typename T>
void cross_entropy_forward(T* loss, T* lse, T* logp, double* sums, const T* x,
                           const int64_t* target, const T* w, int64_t N, int64_t C, int64_t S,
                           int64_t ignore_index, double label_smoothing, bool log_input) {
  const char* op = log_input ? "nll_loss_forward" : "cross_entropy_forward";
  EMBER_CHECK(N >= 0 && C >= 0 && S >= 0, op, ": negative size (", N, ", ", C, ", ", S, ")");
  EMBER_CHECK(!(logp && log_input), op, ": log_softmax is kept only for logits");
  const int64_t M = mul_checked(N, S, op);
  sums[1] = checked_weight_sum(target, w, M, C, ignore_index, op);
  const T eps = static_cast<T>(label_smoothing), sw = sum_or_count(w, C);
  // nll_loss (log-probabilities, no smoothing) reads one entry per position, not the rows: a
  // team for (256, 1000) cost ~90 us of thread wake-up for ~3 us of work
  const int64_t MC = mul_checked(M, C, op), work = log_input && eps == 0 ? M : MC;
  const int nt = threads_for(work, 1 << 15);
  if (S == 1 && log_input && eps == 0) {  // nll_loss of rows: one entry each (the small-C
    // path's transpose to lanes was 2x PyTorch's time at 4096x10)
    parallel_for(nt, N, [&](int64_t i) {
      const int64_t t = target[i];
      lse[i] = 0;
      loss[i] = t == ignore_index ? T(0) : -(w ? w[t] : T(1)) * x[i * C + t];
    });
  } else if (S == 1 && C <= kSmallC) {
    const int64_t nblk = (N + kBlock - 1) / kBlock;
    parallel_for(nt, nblk, [&](int64_t k) {
      const int64_t i = k * kBlock;
      ce_forward_small(loss + i, lse + i, logp ? logp + i * C : nullptr, x + i * C, target + i, w,
                       C, std::min(kBlock, N - i), ignore_index, eps, sw, log_input);
    });
  } else if (S == 1) {
    parallel_for(nt, N, [&](int64_t i) {
      const int64_t t = target[i];
      const T *xi = x + i * C, *next = i + 1 < N ? xi + C : xi;
      T* li = logp ? logp + i * C : nullptr;
      if (t == ignore_index) {
        loss[i] = 0;
        lse[i] = 0;
        if (li) forward_row(li, xi, C, true, next);
      } else {
        loss[i] = ce_forward_row(li, lse + i, xi, C, t, w, eps, sw, next, log_input);
      }
    });
  } else {
    const int64_t nblk = (S + kBlock - 1) / kBlock;
    parallel_for(nt, N * nblk, [&](int64_t k) {
      const int64_t n = k / nblk, j0 = (k % nblk) * kBlock, o = n * S + j0;
      ce_forward_block(loss + o, lse + o, logp ? logp + n * C * S + j0 : nullptr,
                       x + n * C * S + j0, target + o, w, C, S, std::min(kBlock, S - j0),
                       ignore_index, eps, sw, log_input);
    });
  }
  sums[0] = sum_in_lanes(loss, M);
}

// x, lse, target, w, log_input as in forward (lse == nullptr: 0, x holding forward's logp); the
// gradient of position i's loss is scale * (g ? g[i] : 1) -> dx (N, C, S) (ignored positions 0).
template <typename T>
void cross_entropy_backward(T* dx, const T* x, const T* lse, const int64_t* target, const T* w,
                            const T* g, T scale, int64_t N, int64_t C, int64_t S,
                            int64_t ignore_index, double label_smoothing, bool log_input) {
  const char* op = log_input ? "nll_loss_backward" : "cross_entropy_backward";
  EMBER_CHECK(N >= 0 && C >= 0 && S >= 0, op, ": negative size (", N, ", ", C, ", ", S, ")");
  const int64_t M = mul_checked(N, S, op);
  checked_weight_sum(target, w, M, C, ignore_index, op);
  const T eps = static_cast<T>(label_smoothing), sw = sum_or_count(w, C);
  const int nt = threads_for(mul_checked(M, C, op), 1 << 15);
  if (S == 1 && C <= kSmallC) {
    const int64_t nblk = (N + kBlock - 1) / kBlock;
    parallel_for(nt, nblk, [&](int64_t k) {
      const int64_t i = k * kBlock;
      ce_backward_small(dx + i * C, x + i * C, lse ? lse + i : nullptr, target + i, w,
                        g ? g + i : nullptr, scale, C, std::min(kBlock, N - i), ignore_index, eps,
                        sw, log_input);
    });
  } else if (S == 1) {
    parallel_for(nt, N, [&](int64_t i) {
      const int64_t t = target[i];
      T* di = dx + i * C;
      if (t == ignore_index)
        std::fill(di, di + C, T(0));
      else
        ce_backward_row(di, x + i * C, lse ? lse[i] : T(0), C, t, w, eps, sw,
                        g ? scale * g[i] : scale, log_input);
    });
  } else {
    const int64_t nblk = (S + kBlock - 1) / kBlock;
    parallel_for(nt, N * nblk, [&](int64_t k) {
      const int64_t n = k / nblk, j0 = (k % nblk) * kBlock, o = n * S + j0;
      ce_backward_block(dx + n * C * S + j0, x + n * C * S + j0, lse ? lse + o : nullptr,
                        target + o, w, g ? g + o : nullptr, scale, C, S, std::min(kBlock, S - j0),
                        ignore_index, eps, sw, log_input);
    });
  }
}

template void cross_entropy_forward<float>(float*, float*, float*, double*, const float*,
                                           const int64_t*, const float*, int64_t, int64_t, int64_t,
                                           int64_t, double, bool);
template void cross_entropy_forward<double>(double*, double*, double*, double*, const double*,
                                            const int64_t*, const double*, int64_t, int64_t,
                                            int64_t, int64_t, double, bool);
template void cross_entropy_backward<float>(float*, const float*, const float*, const int64_t*,
                                            const float*, const float*, float, int64_t, int64_t,
                                            int64_t, int64_t, double, bool);
template void cross_entropy_backward<double>(double*, const double*, const double*, const int64_t*,
                                             const double*, const double*, double, int64_t, int64_t,
                                             int64_t, int64_t, double, bool);

}  // namespace ember
