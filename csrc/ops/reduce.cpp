// Row sums: the contiguous fast path of sum / mean over trailing dims (and of unbroadcast).
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

}  // namespace ember
