// Embedding's weight gradient: a scatter-add of the output-gradient rows into the rows their
// indices picked (the forward, weight[indices], is a NumPy gather).
#include <algorithm>
#include <cstdint>

#include "common.h"

namespace ember {

// dw (V, D) += g[i] (D values) into row idx[i] for each position i < n in order, skipping row
// padding_idx (>= 0; -1 for none). Threads split the D columns and each adds the rows in
// position order: the same result for any thread count. Indices must be in [0, V).
template <typename T>
void scatter_add_rows(T* dw, const int64_t* idx, const T* g, int64_t n, int64_t D,
                      int64_t padding_idx) {
  constexpr int64_t kCols = 64;
  const int64_t nblk = (D + kCols - 1) / kCols;
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(n * D, int64_t(1) << 16), nblk));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t b = 0; b < nblk; ++b) {
    const int64_t j0 = b * kCols, j1 = std::min(D, j0 + kCols);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = idx[i];
      if (row == padding_idx) continue;
      T* d = dw + row * D;
      const T* s = g + i * D;
      for (int64_t j = j0; j < j1; ++j) d[j] += s[j];
    }
  }
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
