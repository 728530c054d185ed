// Row sums (the contiguous fast path of sum / mean / 2-norm over trailing dims and of
// unbroadcast), the cumulative sum, arithmetic with a broadcast row or column, and the fill
// that is a full sum's gradient.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

constexpr int64_t kLanes = 32;    // running sums per block: element i goes to lane i % kLanes
constexpr int64_t kBlock = 1024;  // elements per block

// Sum of x[0..n) (of x^2 when Square), n <= kBlock: kLanes running sums (independent, so the
// loop vectorises without reassociation), then folded pairwise. The file is built with
// -ffp-contract=off: x*x is rounded before it is added, as squaring first and summing would.
template <bool Square, typename T>
EMBER_SIMD T block_sum(const T* x, int64_t n) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t k = 0; k < kLanes; ++k) acc[k] += Square ? x[i + k] * x[i + k] : x[i + k];
  for (int64_t k = 0; i < n; ++i, ++k) acc[k] += Square ? x[i] * x[i] : x[i];
  for (int64_t w = kLanes / 2; w > 0; w /= 2)
    for (int64_t k = 0; k < w; ++k) acc[k] += acc[k + w];
  return acc[0];
}

// Sum of blocks [b0, b1) by recursive halving; leaf(b) is block b's sum.
template <typename T, typename Leaf>
T block_tree(int64_t b0, int64_t b1, const Leaf& leaf) {
  if (b1 - b0 == 1) return leaf(b0);
  const int64_t mid = b0 + (b1 - b0) / 2;
  return block_tree<T>(b0, mid, leaf) + block_tree<T>(mid, b1, leaf);
}

}  // namespace

// x (rows, n) -> y (rows): y[r] = sum of x[r, :] (of x[r, :]^2 when square) in T. Blocks of kBlock
// elements summed as above, the block sums added pairwise: the error grows like log2(n) (NumPy's
// pairwise sum is the same idea), and the order depends on n only, so every thread count gives the
// same bits. Threads over rows; a few long rows are split by blocks instead (same tree).
template <bool Square, typename T>
void sum_rows_impl(T* y, const T* x, int64_t rows, int64_t n) {
  if (n == 0) {
    std::fill(y, y + rows, T(0));
    return;
  }
  const int64_t nblk = (n + kBlock - 1) / kBlock;
  auto block = [=](const T* row, int64_t b) {
    return block_sum<Square>(row + b * kBlock, std::min(kBlock, n - b * kBlock));
  };
  const int nt = threads_for(rows * n, int64_t(1) << 16);
  if (rows >= nt || nblk < 2 * nt) {
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * n;
      y[r] = block_tree<T>(0, nblk, [&](int64_t b) { return block(row, b); });
    }
    return;
  }
  std::vector<T> part(static_cast<size_t>(nblk));
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * n;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t b = 0; b < nblk; ++b) part[b] = block(row, b);
    y[r] = block_tree<T>(0, nblk, [&](int64_t b) { return part[b]; });
  }
}

template <typename T>
void sum_rows(T* y, const T* x, int64_t rows, int64_t n, bool square) {
  if (square)
    sum_rows_impl<true>(y, x, rows, n);
  else
    sum_rows_impl<false>(y, x, rows, n);
}

template void sum_rows<float>(float*, const float*, int64_t, int64_t, bool);
template void sum_rows<double>(double*, const double*, int64_t, int64_t, bool);

// ---- cumulative sum ------------------------------------------------------------------------
// x (outer, n, inner) -> y (same): y[o, i, :] = acc[i] rounded to T, acc[i] = acc[i - 1] +
// x[o, i, :] from acc[-1] = 0 (reverse: from the end), one addition after another in double, as
// PyTorch's CPU scan (float32 accumulates in double, and a leading -0 comes out +0). inner > 1
// vectorises over inner (the running sums in a double buffer); for inner == 1 (the last dim)
// kRows rows run side by side, hiding the addition's latency.
namespace {

constexpr int64_t kRows = 8;

template <typename T>
EMBER_SIMD void scan_inner(T* y, const T* x, double* acc, int64_t n, int64_t inner, bool reverse) {
  const int64_t first = reverse ? n - 1 : 0, step = reverse ? -inner : inner;
  T* yp = y + first * inner;
  const T* xp = x + first * inner;
  for (int64_t j = 0; j < inner; ++j) acc[j] = 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < inner; ++j) yp[j] = static_cast<T>(acc[j] += xp[j]);
    yp += step;
    xp += step;
  }
}

// rows (< = kRows) rows of length n, each scanned on its own; the rows advance together.
template <typename T>
EMBER_SIMD void scan_rows(T* y, const T* x, int64_t rows, int64_t n, bool reverse) {
  double acc[kRows] = {};
  const int64_t first = reverse ? n - 1 : 0, step = reverse ? -1 : 1;
  int64_t i = first;
  for (int64_t c = 0; c < n; ++c, i += step)
    for (int64_t r = 0; r < rows; ++r) y[r * n + i] = static_cast<T>(acc[r] += x[r * n + i]);
}

}  // namespace

template <typename T>
void cumsum(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  if (n == 0 || outer == 0 || inner == 0) return;
  if (inner == 1) {
    const int64_t groups = (outer + kRows - 1) / kRows;
    const int nt = static_cast<int>(std::min<int64_t>(threads_for(outer * n), groups));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t gi = 0; gi < groups; ++gi) {
      const int64_t r0 = gi * kRows;
      scan_rows(y + r0 * n, x + r0 * n, std::min(kRows, outer - r0), n, reverse);
    }
    return;
  }
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(outer * n * inner), outer));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<double> acc(static_cast<size_t>(inner));
#pragma omp for schedule(static)
    for (int64_t o = 0; o < outer; ++o)
      scan_inner(y + o * n * inner, x + o * n * inner, acc.data(), n, inner, reverse);
  }
}

template void cumsum<float>(float*, const float*, int64_t, int64_t, int64_t, bool);
template void cumsum<double>(double*, const double*, int64_t, int64_t, int64_t, bool);

// ---- broadcast arithmetic ------------------------------------------------------------------
// x (rows, n) op v -> y (rows, n), v (n,) the same for every row (per_row false) or (rows,) one
// value per row (per_row true); flip computes v op x. op: 0 add, 1 subtract, 2 multiply,
// 3 divide -- one IEEE operation per element, so the bits are NumPy's. NumPy pays its
// broadcasting iterator per row; here a row is one vectorised loop.
namespace {

template <int Op, typename T>
inline T apply_op(T a, T b) {
  if constexpr (Op == 0) return a + b;
  if constexpr (Op == 1) return a - b;
  if constexpr (Op == 2) return a * b;
  return a / b;
}

template <int Op, bool Flip, typename T>
EMBER_SIMD void binary_row(T* y, const T* x, const T* v, int64_t n, bool per_row) {
  if (per_row) {
    const T c = v[0];
    for (int64_t j = 0; j < n; ++j) y[j] = Flip ? apply_op<Op>(c, x[j]) : apply_op<Op>(x[j], c);
  } else {
    for (int64_t j = 0; j < n; ++j)
      y[j] = Flip ? apply_op<Op>(v[j], x[j]) : apply_op<Op>(x[j], v[j]);
  }
}

template <int Op, bool Flip, typename T>
void binary_rows(T* y, const T* x, const T* v, int64_t rows, int64_t n, bool per_row) {
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(rows * n), rows));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < rows; ++r)
    binary_row<Op, Flip>(y + r * n, x + r * n, per_row ? v + r : v, n, per_row);
}

template <int Op, typename T>
void binary_flip(T* y, const T* x, const T* v, int64_t rows, int64_t n, bool per_row, bool flip) {
  if (flip)
    binary_rows<Op, true>(y, x, v, rows, n, per_row);
  else
    binary_rows<Op, false>(y, x, v, rows, n, per_row);
}

}  // namespace

template <typename T>
void broadcast_binary(T* y, const T* x, const T* v, int64_t rows, int64_t n, int op, bool per_row,
                      bool flip) {
  switch (op) {
    case 0:
      binary_flip<0>(y, x, v, rows, n, per_row, flip);
      break;
    case 1:
      binary_flip<1>(y, x, v, rows, n, per_row, flip);
      break;
    case 2:
      binary_flip<2>(y, x, v, rows, n, per_row, flip);
      break;
    default:
      binary_flip<3>(y, x, v, rows, n, per_row, flip);
      break;
  }
}

template void broadcast_binary<float>(float*, const float*, const float*, int64_t, int64_t, int,
                                      bool, bool);
template void broadcast_binary<double>(double*, const double*, const double*, int64_t, int64_t, int,
                                       bool, bool);

// ---- fill -----------------------------------------------------------------------------------
// y (n) = value: a full sum's gradient; fill_rows: one value per row. Compiled per ISA, so the
// stores are full-width vectors (NumPy's fill is built for the baseline: ~2x slower on a 1 MiB
// array).
namespace {

template <typename T>
EMBER_SIMD void fill_span(T* y, int64_t n, T value) {
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}

}  // namespace

template <typename T>
void fill(T* y, int64_t n, T value) {
  const int nt = threads_for(n, int64_t(1) << 18);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t i0 = n * t / parts, i1 = n * (t + 1) / parts;
    fill_span(y + i0, i1 - i0, value);
  }
}

// y (rows, n): y[r, :] = v[r] (a trailing-dims sum's gradient, expanded). Threads over rows.
template <typename T>
void fill_rows(T* y, const T* v, int64_t rows, int64_t n) {
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(rows * n, int64_t(1) << 18), rows));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < rows; ++r) fill_span(y + r * n, n, v[r]);
}

template void fill<float>(float*, int64_t, float);
template void fill<double>(double*, int64_t, double);
template void fill_rows<float>(float*, const float*, int64_t, int64_t);
template void fill_rows<double>(double*, const double*, int64_t, int64_t);

}  // namespace ember
