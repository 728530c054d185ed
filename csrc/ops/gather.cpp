// torch.gather along one axis and its adjoint (a scatter-add). The tensors are viewed as
// (outer, n, inner) with the gathered axis in the middle; x and the index agree on outer and
// inner, and each output element reads one position of its own (outer, :, inner) fibre.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

// Threads split `outer` (each slice of y / dx belongs to one thread): the same result for any
// thread count.
int gather_threads(int64_t outer, int64_t work) {
  return static_cast<int>(std::min<int64_t>(threads_for(work, int64_t(1) << 16), outer));
}

// One outer slice of the forward (AVX-512 / AVX2 have gather instructions for the loads).
template <typename T>
EMBER_SIMD void gather_slice(T* __restrict y, const T* __restrict x, const int64_t* idx, int64_t ni,
                             int64_t inner) {
  if (inner == 1) {  // the last axis: one gather per output
    for (int64_t j = 0; j < ni; ++j) y[j] = x[idx[j]];
    return;
  }
  for (int64_t j = 0; j < ni; ++j)
    for (int64_t i = 0; i < inner; ++i) y[j * inner + i] = x[idx[j * inner + i] * inner + i];
}

// y[j] = x[idx[j]] (AVX-512 / AVX2 gather the loads)
template <typename T>
EMBER_SIMD void gather_row(T* __restrict y, const T* __restrict x, const int64_t* idx, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] = x[idx[j]];
}

// a + b and a * b; integers wrap around as torch's (in unsigned: signed overflow is undefined)
template <typename T>
inline T add(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<T>(std::make_unsigned_t<T>(a) + std::make_unsigned_t<T>(b));
  else
    return a + b;
}
template <typename T>
inline T mul(T a, T b) {
  if constexpr (std::is_integral_v<T>)
    return static_cast<T>(std::make_unsigned_t<T>(a) * std::make_unsigned_t<T>(b));
  else
    return a * b;
}

// d[idx[j]] += g[j] in j order (repeats add up one after another)
template <typename T>
void add_at_row(T* d, const T* g, const int64_t* idx, int64_t n) {
  for (int64_t j = 0; j < n; ++j) d[idx[j]] = add(d[idx[j]], g[j]);
}

// d[i] += g[i]
template <typename T>
EMBER_SIMD void add_span(T* __restrict d, const T* __restrict g, int64_t n) {
  for (int64_t i = 0; i < n; ++i) d[i] = add(d[i], g[i]);
}

}  // namespace

// The first position of idx (n values) outside [0, nx), or -1 when all are valid.
// The scan is an unsigned max (a negative index is huge as unsigned) with no early exit, so it
// vectorises; the search for the culprit runs only on failure.
EMBER_SIMD int64_t gather_bad_index(const int64_t* idx, int64_t n, int64_t nx) {
  uint64_t worst = 0;
  for (int64_t k = 0; k < n; ++k) {
    const uint64_t u = static_cast<uint64_t>(idx[k]);
    worst = u > worst ? u : worst;
  }
  if (worst < static_cast<uint64_t>(nx)) return -1;
  // n == 0 with nx == 0 reaches here with nothing to find: no bad position then
  const int64_t* bad = std::find_if(idx, idx + n, [nx](int64_t v) { return v < 0 || v >= nx; });
  return bad == idx + n ? -1 : bad - idx;
}

// x (outer, nx, inner), idx (outer, ni, inner) in [0, nx) -> y (outer, ni, inner):
// y[o, j, i] = x[o, idx[o, j, i], i]. T is any element type (a copy, no arithmetic).
template <typename T>
void gather_forward(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t nx, int64_t ni,
                    int64_t inner) {
  const int nt = gather_threads(outer, outer * ni * inner);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t o = 0; o < outer; ++o)
    gather_slice(y + o * ni * inner, x + o * nx * inner, idx + o * ni * inner, ni, inner);
}
// dy, idx (outer, ni, inner) -> dx (outer, nx, inner): dx = 0 (unless accumulate: scatter_add
// into dx's values), then dx[o, idx[o, j, i], i] += dy[o, j, i] in j order (repeated indices
// add up, in np.add.at's order).
template <typename T>
void gather_backward(T* dx, const T* dy, const int64_t* idx, int64_t outer, int64_t nx, int64_t ni,
                     int64_t inner, bool accumulate) {
  const int nt = gather_threads(outer, outer * std::max(nx, ni) * inner);
  parallel_for(nt, outer, [&](int64_t o) {
    T* d = dx + o * nx * inner;
    const int64_t* io = idx + o * ni * inner;
    const T* g = dy + o * ni * inner;
    if (!accumulate) std::fill(d, d + nx * inner, T(0));
    // the last axis: one add per element without the index arithmetic (the same adds in the
    // same order, ~1.5x at 256 x 256)
    if (inner == 1) {
      add_at_row(d, g, io, ni);
      return;
    }
    for (int64_t j = 0; j < ni; ++j)
      for (int64_t i = 0; i < inner; ++i) {
        T& t = d[io[j * inner + i] * inner + i];
        t = add(t, g[j * inner + i]);
      }
  });
}

// out (outer, nx, inner), src and idx (outer, ni, inner) with idx in [0, nx) -> out with
// out[o, idx[o, j, i], i] = src[o, j, i] for j in order (a repeated target keeps its last
// value, as torch.scatter's CPU loop). T is any element type (a copy). Threads split outer.
template <typename T>
void scatter_forward(T* out, const T* src, const int64_t* idx, int64_t outer, int64_t nx,
                     int64_t ni, int64_t inner) {
  const int nt = gather_threads(outer, outer * ni * inner);
  parallel_for(nt, outer, [&](int64_t o) {
    T* d = out + o * nx * inner;
    const int64_t* io = idx + o * ni * inner;
    const T* s = src + o * ni * inner;
    for (int64_t j = 0; j < ni; ++j)
      for (int64_t i = 0; i < inner; ++i) d[io[j * inner + i] * inner + i] = s[j * inner + i];
  });
}

namespace {

template <char Op, typename T>
inline T scatter_combine(T a, T v) {
  if (Op == '+') return add(a, v);
  if (Op == '*') return mul(a, v);
  if (v != v || a != a) return v != v ? v : a;  // amax / amin: a NaN wins
  return Op == '>' ? std::max(a, v) : std::min(a, v);
}

// Target t of a slice takes src value v: combined into d[t], or (without include_self, c[t]
// still 0) replacing it; c counts the values (a uint8_t c only flags the first one).
template <char Op, typename T, typename C>
inline void scatter_one(T* d, C* c, int64_t t, T v, bool include_self) {
  d[t] = (!include_self && c[t] == 0) ? v : scatter_combine<Op>(d[t], v);
  if (!c) return;
  if constexpr (std::is_same_v<C, uint8_t>)
    c[t] = 1;
  else
    c[t] += 1;
}

// One outer slice; c may be null (include_self then required: no first-hit test).
template <char Op, typename T, typename C>
void scatter_slice(T* d, C* c, const T* s, const int64_t* io, int64_t ni, int64_t inner,
                   bool include_self) {
  if (inner == 1) {  // the last axis: no index arithmetic (~2x at (1000, 1000))
    for (int64_t j = 0; j < ni; ++j) scatter_one<Op>(d, c, io[j], s[j], include_self);
    return;
  }
  for (int64_t j = 0; j < ni; ++j)
    for (int64_t i = 0; i < inner; ++i)
      scatter_one<Op>(d, c, io[j * inner + i] * inner + i, s[j * inner + i], include_self);
}

// d[t] := d[t] / max(c[t] + self, 1) over a slice, in double and rounded once (float: the
// float division by the count, exactly: double rounding is harmless for a quotient); integers
// divide rounding down, as torch's "floor" division.
template <typename T, typename C>
EMBER_SIMD void mean_slice(T* d, const C* c, int64_t n, int64_t self) {
  if constexpr (std::is_integral_v<T>) {
    for (int64_t t = 0; t < n; ++t) {
      const int64_t k = std::max<int64_t>(static_cast<int64_t>(c[t]) + self, 1);
      const int64_t a = d[t], q = a / k;
      d[t] = static_cast<T>(q - (a % k != 0 && a < 0));
    }
  } else {
    for (int64_t t = 0; t < n; ++t)
      d[t] = static_cast<T>(double(d[t]) / std::max(double(c[t]) + double(self), 1.0));
  }
}

// One slice by op, counting in c, or (c null) in thread-local scratch where the mean or the
// first-hit test needs counts.
template <typename T>
void scatter_reduce_slice(T* d, int64_t* c, const T* s, const int64_t* io, int64_t n, int64_t ni,
                          int64_t inner, char op, bool include_self) {
  const int64_t self = include_self ? 1 : 0;
  if (op == 'm' && c) {  // (the slice's sums while they are in cache, then their means)
    scatter_slice<'+'>(d, c, s, io, ni, inner, include_self);
    mean_slice(d, c, n, self);
    return;
  }
  if (op == 'm') {  // (double: exact to 2^53)
    thread_local std::vector<double> scratch;
    scratch.assign(static_cast<size_t>(n), 0.0);
    scatter_slice<'+'>(d, scratch.data(), s, io, ni, inner, include_self);
    mean_slice(d, scratch.data(), n, self);
    return;
  }
  if (!c && !include_self) {  // first-hit flags, a byte per target
    thread_local std::vector<uint8_t> seen;
    seen.assign(static_cast<size_t>(n), 0);
    uint8_t* f = seen.data();
    if (op == '+') scatter_slice<'+'>(d, f, s, io, ni, inner, false);
    if (op == '*') scatter_slice<'*'>(d, f, s, io, ni, inner, false);
    if (op == '>') scatter_slice<'>'>(d, f, s, io, ni, inner, false);
    if (op == '<') scatter_slice<'<'>(d, f, s, io, ni, inner, false);
    return;
  }
  if (op == '+') scatter_slice<'+'>(d, c, s, io, ni, inner, include_self);
  if (op == '*') scatter_slice<'*'>(d, c, s, io, ni, inner, include_self);
  if (op == '>') scatter_slice<'>'>(d, c, s, io, ni, inner, include_self);
  if (op == '<') scatter_slice<'<'>(d, c, s, io, ni, inner, include_self);
}

}  // namespace

// out (outer, nx, inner) holding x's values, src and idx (outer, ni, inner) with idx in [0, nx)
// -> out, count: for j in order, t = out[o, idx[o, j, i], i] becomes src[o, j, i] combined into
// t by `op` ('+' sum, '*' prod, '>' amax, '<' amin, as torch.scatter_reduce: a NaN in either
// wins amax and amin), count[o, :, i] (zeroed by the caller; may be null) the number of src
// values each target took. Without include_self a target's first src value replaces x's
// instead of combining. 'm' (mean) is the sum divided by the count (plus one with
// include_self; at least 1), as torch's: in double and rounded once, which for float is the
// float division of the float sum by the count; integers round down. T float, double, int32_t
// or int64_t (integers wrap around). Threads split outer (each slice of out is one thread's),
// so every thread count gives the same bits (the combinations at a target run in j order, as
// np.ufunc.at's). Without count the counts live in a slice of scratch instead of a whole int64
// array.
template <typename T>
void scatter_reduce_forward(T* out, int64_t* count, const T* src, const int64_t* idx, int64_t outer,
                            int64_t nx, int64_t ni, int64_t inner, char op, bool include_self) {
  const int nt = gather_threads(outer, outer * std::max(nx, ni) * inner);
  parallel_for(nt, outer, [&](int64_t o) {
    scatter_reduce_slice(out + o * nx * inner, count ? count + o * nx * inner : nullptr,
                         src + o * ni * inner, idx + o * ni * inner, nx * inner, ni, inner, op,
                         include_self);
  });
}

// x (outer, nx, inner), idx (ni) in [0, nx) -> y (outer, ni, inner): y[o, j, :] = x[o, idx[j], :]
// (torch.index_select; T any element type of x's width: a copy, no arithmetic). Threads split
// the (outer, ni) output rows, each row written by one thread.
template <typename T>
void index_select_forward(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t nx,
                          int64_t ni, int64_t inner) {
  const int64_t rows = outer * ni;
  const int nt = static_cast<int>(
      std::min<int64_t>(threads_for(rows * inner, int64_t(1) << 16), std::max<int64_t>(rows, 1)));
  if (inner == 1) {  // the last axis: each output row of ni values gathers from x's row
    parallel_for(nt, outer, [&](int64_t o) { gather_row(y + o * ni, x + o * nx, idx, ni); });
    return;
  }
  parallel_for(nt, rows, [&](int64_t r) {
    const int64_t o = r / ni, j = r - o * ni;
    std::copy_n(x + (o * nx + idx[j]) * inner, inner, y + r * inner);
  });
}

// dy (outer, ni, inner), idx (ni) in [0, nx) -> dx (outer, nx, inner): dx = 0 (unless
// accumulate: added into dx's values), then dx[o, idx[j], :] += dy[o, j, :] in j order (repeats
// add up in np.add.at's order): index_select's backward and index_add. Each thread owns whole
// outer slices, or (one slice: dim 0) a band of columns, so the sums do not depend on threads.
template <typename T>
void index_select_backward(T* dx, const T* dy, const int64_t* idx, int64_t outer, int64_t nx,
                           int64_t ni, int64_t inner, bool accumulate) {
  const int nt = threads_for(outer * std::max(nx, ni) * inner, int64_t(1) << 16);
  auto slice = [&](int64_t o, int64_t c0, int64_t c1) {
    T* d = dx + o * nx * inner;
    const T* g = dy + o * ni * inner;
    // the whole slice zeroed as one span (inner == 1 made nx one-element fills: (256, 1024)
    // along dim 1 took 573 us, now 95)
    if (!accumulate && c1 - c0 == inner)
      std::fill(d, d + nx * inner, T(0));
    else if (!accumulate)
      for (int64_t k = 0; k < nx; ++k) std::fill(d + k * inner + c0, d + k * inner + c1, T(0));
    if (inner == 1) {
      add_at_row(d, g, idx, ni);
      return;
    }
    for (int64_t j = 0; j < ni; ++j) add_span(d + idx[j] * inner + c0, g + j * inner + c0, c1 - c0);
  };
  if (outer >= nt || inner < 64) {
    const int n = static_cast<int>(std::min<int64_t>(nt, outer));
    parallel_for(n, outer, [&](int64_t o) { slice(o, 0, inner); });
    return;
  }
  // few slices, long rows: bands of columns (multiples of 16 elements: whole cache lines)
  for (int64_t o = 0; o < outer; ++o) {
#pragma omp parallel num_threads(nt)
    {
      const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t step = ((inner + parts - 1) / parts + 15) / 16 * 16;
      const int64_t c0 = std::min(inner, step * t), c1 = std::min(inner, step * (t + 1));
      if (c0 < c1) slice(o, c0, c1);
    }
  }
}

template void index_select_forward<uint8_t>(uint8_t*, const uint8_t*, const int64_t*, int64_t,
                                            int64_t, int64_t, int64_t);
template void index_select_forward<uint16_t>(uint16_t*, const uint16_t*, const int64_t*, int64_t,
                                             int64_t, int64_t, int64_t);
template void index_select_forward<uint32_t>(uint32_t*, const uint32_t*, const int64_t*, int64_t,
                                             int64_t, int64_t, int64_t);
template void index_select_forward<uint64_t>(uint64_t*, const uint64_t*, const int64_t*, int64_t,
                                             int64_t, int64_t, int64_t);
template void gather_forward<uint8_t>(uint8_t*, const uint8_t*, const int64_t*, int64_t, int64_t,
                                      int64_t, int64_t);
template void gather_forward<uint16_t>(uint16_t*, const uint16_t*, const int64_t*, int64_t, int64_t,
                                       int64_t, int64_t);
template void gather_forward<uint32_t>(uint32_t*, const uint32_t*, const int64_t*, int64_t, int64_t,
                                       int64_t, int64_t);
template void gather_forward<uint64_t>(uint64_t*, const uint64_t*, const int64_t*, int64_t, int64_t,
                                       int64_t, int64_t);
template void scatter_forward<uint8_t>(uint8_t*, const uint8_t*, const int64_t*, int64_t, int64_t,
                                       int64_t, int64_t);
template void scatter_forward<uint16_t>(uint16_t*, const uint16_t*, const int64_t*, int64_t,
                                        int64_t, int64_t, int64_t);
template void scatter_forward<uint32_t>(uint32_t*, const uint32_t*, const int64_t*, int64_t,
                                        int64_t, int64_t, int64_t);
template void scatter_forward<uint64_t>(uint64_t*, const uint64_t*, const int64_t*, int64_t,
                                        int64_t, int64_t, int64_t);

// ---- bincount --------------------------------------------------------------------------------
// x (n,) int64 -> lo, hi: its least and greatest values (n >= 1); one vectorised pass (NumPy's
// bincount finds them with a scalar loop, ~1/3 of its time).
EMBER_SIMD void int64_range(int64_t* lo, int64_t* hi, const int64_t* x, int64_t n) {
  int64_t a = x[0], b = x[0];
  for (int64_t i = 0; i < n; ++i) {
    a = x[i] < a ? x[i] : a;
    b = x[i] > b ? x[i] : b;
  }
  *lo = a, *hi = b;
}

// x (n,) int64 in [0, bins) -> counts (bins) int64 += the number of each value; with w (n,)
// sums (bins) double += w[i] at x[i] in order i (NumPy's bincount: the same bits). Counts go to
// four sub-histograms in turn when they are small (a run of one value then adds to four
// counters, not one whose store each increment waits for), added at the end.
void bincount_counts(int64_t* counts, const int64_t* x, int64_t n, int64_t bins) {
  if (bins > 4096) {
    for (int64_t i = 0; i < n; ++i) ++counts[x[i]];
    return;
  }
  std::vector<int64_t> sub(static_cast<size_t>(4 * bins), 0);
  int64_t *c0 = sub.data(), *c1 = c0 + bins, *c2 = c1 + bins, *c3 = c2 + bins;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) ++c0[x[i]], ++c1[x[i + 1]], ++c2[x[i + 2]], ++c3[x[i + 3]];
  for (; i < n; ++i) ++c0[x[i]];
  for (int64_t j = 0; j < bins; ++j) counts[j] += (c0[j] + c1[j]) + (c2[j] + c3[j]);
}

template <typename W>
void bincount_weights(double* sums, const int64_t* x, const W* w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) sums[x[i]] += static_cast<double>(w[i]);
}
template void bincount_weights<float>(double*, const int64_t*, const float*, int64_t);
template void bincount_weights<double>(double*, const int64_t*, const double*, int64_t);

// the adding kernels: float, double, and integers (wrapping around)
template void gather_backward<float>(float*, const float*, const int64_t*, int64_t, int64_t,
                                     int64_t, int64_t, bool);
template void index_select_backward<float>(float*, const float*, const int64_t*, int64_t, int64_t,
                                           int64_t, int64_t, bool);
template void scatter_reduce_forward<float>(float*, int64_t*, const float*, const int64_t*, int64_t,
                                            int64_t, int64_t, int64_t, char, bool);
template void gather_backward<double>(double*, const double*, const int64_t*, int64_t, int64_t,
                                      int64_t, int64_t, bool);
template void index_select_backward<double>(double*, const double*, const int64_t*, int64_t,
                                            int64_t, int64_t, int64_t, bool);
template void scatter_reduce_forward<double>(double*, int64_t*, const double*, const int64_t*,
                                             int64_t, int64_t, int64_t, int64_t, char, bool);
template void gather_backward<int32_t>(int32_t*, const int32_t*, const int64_t*, int64_t, int64_t,
                                       int64_t, int64_t, bool);
template void index_select_backward<int32_t>(int32_t*, const int32_t*, const int64_t*, int64_t,
                                             int64_t, int64_t, int64_t, bool);
template void scatter_reduce_forward<int32_t>(int32_t*, int64_t*, const int32_t*, const int64_t*,
                                              int64_t, int64_t, int64_t, int64_t, char, bool);
template void gather_backward<int64_t>(int64_t*, const int64_t*, const int64_t*, int64_t, int64_t,
                                       int64_t, int64_t, bool);
template void index_select_backward<int64_t>(int64_t*, const int64_t*, const int64_t*, int64_t,
                                             int64_t, int64_t, int64_t, bool);
template void scatter_reduce_forward<int64_t>(int64_t*, int64_t*, const int64_t*, const int64_t*,
                                              int64_t, int64_t, int64_t, int64_t, char, bool);

}  // namespace ember

namespace ember {

// torch.cat / torch.stack of C-contiguous arrays of one dtype, as bytes: the output is
// (outer, sum of blocks) and input k fills columns [offset_k, offset_k + block_k) of every
// row (block = its bytes per outer index). Each byte is written once, so the result does not
// depend on the thread count.
namespace {

// One row when every block is one element of W bytes (stack along the last dim): plain
// element copies, where a memcpy call per element would cost several times more.
template <typename W>
void concat_elements(char* out, const char* const* in, int64_t n, int64_t o) {
  W* dst = reinterpret_cast<W*>(out) + o * n;
  for (int64_t k = 0; k < n; ++k) dst[k] = reinterpret_cast<const W*>(in[k])[o];
}

// Rows [o0, o1) when every block is one element of W bytes and there are N inputs, N known at
// compile time: the interleaving loop vectorises (shuffles), where the per-row loop over the
// input pointers copied an element at a time (stack of two 1000x1000 along -1: ~3.5x NumPy).
template <typename W, int N>
EMBER_SIMD void interleave(char* out, const char* const* in, int64_t o0, int64_t o1) {
  W* __restrict dst = reinterpret_cast<W*>(out);
  const W* src[N];
  for (int k = 0; k < N; ++k) src[k] = reinterpret_cast<const W*>(in[k]);
  for (int64_t o = o0; o < o1; ++o)
    for (int k = 0; k < N; ++k) dst[o * N + k] = src[k][o];
}

template <typename W>
void concat_rows(char* out, const char* const* in, int64_t n, int64_t o0, int64_t o1) {
  if (n == 2) return interleave<W, 2>(out, in, o0, o1);
  if (n == 3) return interleave<W, 3>(out, in, o0, o1);
  if (n == 4) return interleave<W, 4>(out, in, o0, o1);
  for (int64_t o = o0; o < o1; ++o) concat_elements<W>(out, in, n, o);
}

}  // namespace

void concat_forward(char* out, const char* const* in, const int64_t* block, int64_t n,
                    int64_t outer) {
  int64_t row = 0;
  bool uniform = n > 0;
  for (int64_t k = 0; k < n; ++k) {
    row += block[k];
    uniform = uniform && block[k] == block[0];
  }
  const int64_t width =
      uniform && (block[0] == 4 || block[0] == 8 || block[0] == 2 || block[0] == 1) ? block[0] : 0;
  const int64_t total = outer * row;
  // One thread runs without an OpenMP team: entering one, even of one thread, was a large part
  // of a small cat.
  if (width == 0) {
    // Blocks of several elements: threads split the output's bytes (not its rows, which may
    // be one: cat along dim 0), each copying the pieces of blocks that fall in its range.
    auto copy_bytes = [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo / std::max<int64_t>(row, 1); o < outer && o * row < hi; ++o) {
        int64_t at = o * row;  // where block k of row o starts in the output
        for (int64_t k = 0; k < n; at += block[k], ++k) {
          const int64_t s = std::max(at, lo), e = std::min(at + block[k], hi);
          if (s < e) std::copy_n(in[k] + o * block[k] + (s - at), e - s, out + s);
        }
      }
    };
    const int nt = threads_for(total, int64_t(1) << 18);
    if (nt == 1) return copy_bytes(0, total);
#pragma omp parallel num_threads(nt)
    {
      const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t lo = total * t / parts / 64 * 64;  // cache-line boundaries between threads
      const int64_t hi = t + 1 == parts ? total : total * (t + 1) / parts / 64 * 64;
      copy_bytes(lo, hi);
    }
    return;
  }
  auto copy_rows = [&](int64_t o0, int64_t o1) {
    if (width == 8)
      concat_rows<uint64_t>(out, in, n, o0, o1);
    else if (width == 4)
      concat_rows<uint32_t>(out, in, n, o0, o1);
    else if (width == 2)
      concat_rows<uint16_t>(out, in, n, o0, o1);
    else
      concat_rows<uint8_t>(out, in, n, o0, o1);
  };
  const int nt = static_cast<int>(
      std::min<int64_t>(threads_for(total, int64_t(1) << 18), std::max<int64_t>(outer, 1)));
  parallel_region(
      nt, [&](int64_t t, int64_t parts) { copy_rows(outer * t / parts, outer * (t + 1) / parts); });
}

// ---- nonzero --------------------------------------------------------------------------------

// The nonzero bytes of m (n bytes): a sum of 0/1 bytes (bool), which vectorises.
EMBER_SIMD int64_t count_nonzero_bytes(const uint8_t* m, int64_t n) {
  int64_t c = 0;
  for (int64_t i = 0; i < n; ++i) c += m[i] != 0;
  return c;
}

// m (shape, nd >= 1 dims, C order) bytes, count of them nonzero -> out (count, nd) int64: the
// index of each nonzero byte in C order (torch.nonzero). Written in one pass: each row of the
// last dim writes every position's index and moves on by (m[j] != 0), without a branch that a
// random mask mispredicts half the time; words of 8 zero bytes are skipped (a sparse mask).
// The one position after the last nonzero goes to a scratch row.
void nonzero_indices(int64_t* out, const uint8_t* m, const int64_t* shape, int64_t nd,
                     int64_t count) {
  int64_t n = 1;
  for (int64_t d = 0; d < nd; ++d) n *= shape[d];
  if (count == 0 || n == 0) return;
  const int64_t last = shape[nd - 1];
  std::vector<int64_t> at(static_cast<size_t>(nd), 0);  // the row's index (dims < nd - 1)
  int64_t scratch[64];
  std::vector<int64_t> big(nd > 64 ? static_cast<size_t>(nd) : 0);
  int64_t* spare = nd > 64 ? big.data() : scratch;
  int64_t k = 0;
  for (int64_t r = 0; r < n / last && k < count; ++r) {
    const uint8_t* row = m + r * last;
    for (int64_t j = 0; j < last; ++j) {
      if ((j & 7) == 0 && j + 8 <= last) {  // a word of zeros: skip it
        uint64_t w;
        std::memcpy(&w, row + j, 8);
        if (w == 0) {
          j += 7;
          continue;
        }
      }
      int64_t* dst = k < count ? out + k * nd : spare;
      for (int64_t d = 0; d + 1 < nd; ++d) dst[d] = at[d];
      dst[nd - 1] = j;
      k += row[j] != 0;
    }
    for (int64_t d = nd - 2; d >= 0; --d) {  // the next row's index
      if (++at[d] < shape[d]) break;
      at[d] = 0;
    }
  }
}

}  // namespace ember
