// Embedding's weight gradient: a scatter-add of the output-gradient rows into the rows their
// indices picked (the forward, weight[indices], is a NumPy gather).
#include <algorithm>
#include <cstdint>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

// d[0..n) += s[0..n): compiled per ISA (see vecmath.h).
template <typename T>
EMBER_SIMD void add_into(T* d, const T* s, int64_t n) {
  for (int64_t j = 0; j < n; ++j) d[j] += s[j];
}

}  // namespace

// dw (V, D) += g[i] (D values) into row idx[i] for each position i < n in order, skipping row
// padding_idx (>= 0; -1 for none). Each thread owns one contiguous range of the D columns and
// adds the rows in position order: the same result for any thread count. A whole range per
// row keeps g's rows streaming in order (narrow column strips read them 4 KiB apart, ~2x
// slower). Indices must be in [0, V).
template <typename T>
void scatter_add_rows(T* dw, const int64_t* idx, const T* g, int64_t n, int64_t D,
                      int64_t padding_idx) {
  constexpr int64_t kCols = 64;  // the narrowest column range a thread gets
  const int nt = static_cast<int>(
      std::min<int64_t>(threads_for(n * D, int64_t(1) << 16), (D + kCols - 1) / kCols));
  parallel_region(nt, [&](int64_t t, int64_t parts) {
    const int64_t j0 = D * t / parts, j1 = D * (t + 1) / parts;
    for (int64_t i = 0; i < n && j1 > j0; ++i) {
      const int64_t row = idx[i];
      if (row != padding_idx) add_into(dw + row * D + j0, g + i * D + j0, j1 - j0);
    }
  });
}

// dw (V, D) = the scatter-add of g's rows into zeros: Embedding's weight gradient (row
// padding_idx stays zero).
template <typename T>
void embedding_backward(T* dw, const int64_t* idx, const T* g, int64_t n, int64_t V, int64_t D,
                        int64_t padding_idx) {
  std::fill(dw, dw + V * D, T(0));
  scatter_add_rows(dw, idx, g, n, D, padding_idx);
}

template void scatter_add_rows<float>(float*, const int64_t*, const float*, int64_t, int64_t,
                                      int64_t);
template void scatter_add_rows<double>(double*, const int64_t*, const double*, int64_t, int64_t,
                                       int64_t);
template void embedding_backward<float>(float*, const int64_t*, const float*, int64_t, int64_t,
                                        int64_t, int64_t);
template void embedding_backward<double>(double*, const int64_t*, const double*, int64_t, int64_t,
                                         int64_t, int64_t);

}  // namespace ember
