// Softmax and log-softmax along one dimension of a C-contiguous tensor viewed as (outer, D, inner).
//
// inner == 1 (the last dim): each row is contiguous; one pass for the max, one for exp + sum
// (exp stored into y), one to scale. inner > 1: a block of up to kBlock inner positions is the
// vector lane, each of the D rows of the block is a contiguous segment, so nothing is gathered
// and every loop runs over contiguous memory. Rows/blocks are independent: OpenMP over them.
//
// Reductions keep kLanes partial accumulators (summed in a fixed order at the end), so the loops
// vectorise without fast-math and the result does not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

constexpr int kLanes = 16;      // partial accumulators of a row reduction
constexpr int64_t kBlock = 64;  // inner positions per task when inner > 1

template <typename T>
T row_max(const T* x, int64_t D) {
  T acc[kLanes];
  for (int j = 0; j < kLanes; ++j) acc[j] = -std::numeric_limits<T>::infinity();
  int64_t i = 0;
  for (; i + kLanes <= D; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  T m = -std::numeric_limits<T>::infinity();
  for (; i < D; ++i) m = x[i] > m ? x[i] : m;
  for (int j = 0; j < kLanes; ++j) m = acc[j] > m ? acc[j] : m;
  return m;
}

// sum of exp(x - m); the exponentials are also stored in y when y != nullptr.
template <typename T>
T row_sum_exp(T* y, const T* x, int64_t D, T m) {
  T acc[kLanes] = {};
  int64_t i = 0;
  if (y) {
    for (; i + kLanes <= D; i += kLanes)
      for (int j = 0; j < kLanes; ++j) {
        T e = vexp(x[i + j] - m);
        y[i + j] = e;
        acc[j] += e;
      }
  } else {
    for (; i + kLanes <= D; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += vexp(x[i + j] - m);
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

// sum of a[i] * b[i] (b == nullptr: sum of a[i]).
template <typename T>
T row_dot(const T* a, const T* b, int64_t D) {
  T acc[kLanes] = {};
  int64_t i = 0;
  if (b) {
    for (; i + kLanes <= D; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  } else {
    for (; i + kLanes <= D; i += kLanes)
      for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j];
  }
  T s = 0;
  for (; i < D; ++i) s += b ? a[i] * b[i] : a[i];
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

// One contiguous row (inner == 1).
template <typename T>
EMBER_SIMD void forward_row(T* y, const T* x, int64_t D, bool log) {
  const T m = row_max(x, D);
  if (log) {
    const T ls = std::log(row_sum_exp<T>(nullptr, x, D, m));
    for (int64_t i = 0; i < D; ++i) y[i] = (x[i] - m) - ls;  // (x - m) is exact near the max
  } else {
    const T inv = T(1) / row_sum_exp(y, x, D, m);
    for (int64_t i = 0; i < D; ++i) y[i] *= inv;
  }
}

template <typename T>
EMBER_SIMD void backward_row(T* dx, const T* y, const T* dy, int64_t D, bool log) {
  if (log) {
    const T s = row_dot<T>(dy, nullptr, D);
    for (int64_t i = 0; i < D; ++i) dx[i] = dy[i] - vexp(y[i]) * s;
  } else {
    const T s = row_dot(dy, y, D);
    for (int64_t i = 0; i < D; ++i) dx[i] = y[i] * (dy[i] - s);
  }
}

// A block of w <= kBlock inner positions: x + d*inner is row d of the block.
template <typename T>
EMBER_SIMD void forward_block(T* y, const T* x, int64_t D, int64_t inner, int64_t w, bool log) {
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
EMBER_SIMD void backward_block(T* dx, const T* y, const T* dy, int64_t D, int64_t inner,
                                 int64_t w, bool log) {
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
  const int64_t ntask = outer * nblk;
  const int nt = threads_for(outer * D * inner, 1 << 15);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t t = 0; t < ntask; ++t) {
    const int64_t o = t / nblk, j0 = (t % nblk) * kBlock;
    f(o * D * inner + j0, std::min(kBlock, inner - j0));
  }
}

template <typename T>
void softmax_impl(T* y, const T* x, int64_t outer, int64_t D, int64_t inner, bool log) {
  EMBER_CHECK(outer >= 0 && D >= 0 && inner >= 0, "softmax_forward: negative size (", outer, ", ",
              D, ", ", inner, ")");
  if (outer == 0 || D == 0 || inner == 0) return;
  if (inner == 1)
    for_tasks(outer, D, 1, [&](int64_t off, int64_t) { forward_row(y + off, x + off, D, log); });
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
    for_tasks(outer, D, 1,
              [&](int64_t off, int64_t) { backward_row(dx + off, y + off, dy + off, D, log); });
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

}  // namespace ember
