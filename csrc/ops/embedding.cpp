// Embedding's weight gradient: a scatter-add of the output-gradient rows into the rows their
// indices picked (the forward, weight[indices], is a NumPy gather); embedding_bag's sum / mean
// forward and backward in one pass over each bag (no (T, D) lookup in between).
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

// d[0..n) += s[0..n) * a
template <typename T>
EMBER_SIMD void add_scaled_into(T* d, const T* s, T a, int64_t n) {
  for (int64_t j = 0; j < n; ++j) d[j] += s[j] * a;
}

// d[0..n) /= c
template <typename T>
EMBER_SIMD void divide_row(T* d, T c, int64_t n) {
  for (int64_t j = 0; j < n; ++j) d[j] /= c;
}

// A bag's running max: where s > m (never for NaN; a NaN already in m stays), m = s and its
// row number r.
template <typename T>
EMBER_SIMD void max_into(T* m, int64_t* arg, const T* s, int64_t r, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    const bool gt = s[j] > m[j];
    m[j] = gt ? s[j] : m[j];
    arg[j] = gt ? r : arg[j];
  }
}

// o[0..D) = the sum of rows w[idx[i]] for i in [b0, b1) with idx[i] != padding_idx, in order,
// kCols columns at a time summed in registers (out's row was loaded and stored once per row:
// 1.8x PyTorch's time), the next rows prefetched (they are random rows of a large table).
template <typename T>
EMBER_SIMD void bag_sum(T* o, const T* w, const int64_t* idx, int64_t b0, int64_t b1, int64_t D,
                        int64_t padding_idx) {
  constexpr int64_t kCols = 128 / sizeof(T) * 4;  // 128 floats: 8 AVX-512 / 16 AVX2 registers
  for (int64_t i = b0; i < std::min(b1, b0 + 4); ++i)
    if (idx[i] != padding_idx) __builtin_prefetch(w + idx[i] * D);
  int64_t j0 = 0;
  for (; j0 + kCols <= D; j0 += kCols) {
    T acc[kCols] = {};
    for (int64_t i = b0; i < b1; ++i) {
      if (j0 == 0 && i + 4 < b1 && idx[i + 4] != padding_idx)
        for (int64_t p = 0; p < D; p += 64 / int64_t(sizeof(T)))
          __builtin_prefetch(w + idx[i + 4] * D + p);
      if (idx[i] == padding_idx) continue;
      const T* r = w + idx[i] * D + j0;
      for (int64_t j = 0; j < kCols; ++j) acc[j] += r[j];
    }
    for (int64_t j = 0; j < kCols; ++j) o[j0 + j] = acc[j];
  }
  if (j0 < D) {  // the last columns (and narrow tables)
    std::fill(o + j0, o + D, T(0));
    for (int64_t i = b0; i < b1; ++i)
      if (idx[i] != padding_idx) add_into(o + j0, w + idx[i] * D + j0, D - j0);
  }
}

// The entries of bag [b0, b1) that count (padding_idx, or none: -1, is left out).
inline int64_t bag_count(const int64_t* idx, int64_t b0, int64_t b1, int64_t padding_idx) {
  int64_t c = 0;
  for (int64_t i = b0; i < b1; ++i) c += idx[i] != padding_idx;
  return c;
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

// w (V, D), idx (T,) in [0, V), bounds (B+1,) non-decreasing in [0, T] -> out (B, D):
// out[b] = the sum of w[idx[i]] over i in [bounds[b], bounds[b+1]) with idx[i] != padding_idx,
// in position order; mean divides it by that count afterwards (PyTorch's order: sum, then
// divide); an empty bag gives zeros. Bags are independent: one thread each.
template <typename T>
void embedding_bag_forward(T* out, const T* w, const int64_t* idx, const int64_t* bounds, int64_t B,
                           int64_t D, int64_t padding_idx, bool mean) {
  const int64_t T_ = B ? bounds[B] - bounds[0] : 0;
  parallel_for(threads_for((T_ + B) * D), B, [&](int64_t b) {
    T* o = out + b * D;
    bag_sum(o, w, idx, bounds[b], bounds[b + 1], D, padding_idx);
    if (mean) {
      const int64_t c = bag_count(idx, bounds[b], bounds[b + 1], padding_idx);
      if (c > 1) divide_row(o, static_cast<T>(c), D);
    }
  });
}

// dw (V, D) = the adjoint of embedding_bag_forward: g[b] (times 1/count for mean, as PyTorch's
// axpy) added into row idx[i] for each counted position i of bag b, in position order. As
// scatter_add_rows, each thread owns one range of the D columns: the same result for any
// thread count.
template <typename T>
void embedding_bag_backward(T* dw, const T* g, const int64_t* idx, const int64_t* bounds, int64_t B,
                            int64_t V, int64_t D, int64_t padding_idx, bool mean) {
  std::fill(dw, dw + V * D, T(0));
  constexpr int64_t kCols = 64;
  const int64_t T_ = B ? bounds[B] - bounds[0] : 0;
  const int nt = static_cast<int>(
      std::min<int64_t>(threads_for(T_ * D, int64_t(1) << 16), (D + kCols - 1) / kCols));
  parallel_region(nt, [&](int64_t t, int64_t parts) {
    const int64_t j0 = D * t / parts, j1 = D * (t + 1) / parts;
    if (j1 <= j0) return;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t c = mean ? bag_count(idx, bounds[b], bounds[b + 1], padding_idx) : 1;
      const T scale = static_cast<T>(1.0 / static_cast<double>(c > 1 ? c : 1));
      for (int64_t i = bounds[b]; i < bounds[b + 1]; ++i) {
        if (idx[i] == padding_idx) continue;
        if (c > 1)
          add_scaled_into(dw + idx[i] * D + j0, g + b * D + j0, scale, j1 - j0);
        else
          add_into(dw + idx[i] * D + j0, g + b * D + j0, j1 - j0);
      }
    }
  });
}

// w (V, D), idx, bounds as embedding_bag_forward -> out (B, D), arg (B, D): each bag's
// per-column max over its counted rows and the weight row it came from (the first such, as
// PyTorch's scan that replaces on v > max, so a NaN first row stays); an empty bag gives 0, -1.
template <typename T>
void embedding_bag_max_forward(T* out, int64_t* arg, const T* w, const int64_t* idx,
                               const int64_t* bounds, int64_t B, int64_t D, int64_t padding_idx) {
  const int64_t T_ = B ? bounds[B] - bounds[0] : 0;
  parallel_for(threads_for((T_ + B) * D), B, [&](int64_t b) {
    T* o = out + b * D;
    int64_t* a = arg + b * D;
    bool first = true;
    for (int64_t i = bounds[b]; i < bounds[b + 1]; ++i) {
      if (idx[i] == padding_idx) continue;
      const T* row = w + idx[i] * D;
      if (first) {
        std::copy(row, row + D, o);
        std::fill(a, a + D, idx[i]);
        first = false;
      } else {
        max_into(o, a, row, idx[i], D);
      }
    }
    if (first) {
      std::fill(o, o + D, T(0));
      std::fill(a, a + D, int64_t(-1));
    }
  });
}

// dw (V, D): g[b, j] added into dw[arg[b, j], j] where arg[b, j] >= 0, bags in order; each
// thread owns a range of columns, so the result does not depend on the thread count.
template <typename T>
void embedding_bag_max_backward(T* dw, const T* g, const int64_t* arg, int64_t B, int64_t V,
                                int64_t D) {
  std::fill(dw, dw + V * D, T(0));
  constexpr int64_t kCols = 64;
  const int nt = static_cast<int>(
      std::min<int64_t>(threads_for(B * D, int64_t(1) << 16), (D + kCols - 1) / kCols));
  parallel_region(nt, [&](int64_t t, int64_t parts) {
    const int64_t j0 = D * t / parts, j1 = D * (t + 1) / parts;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = j0; j < j1; ++j) {
        const int64_t r = arg[b * D + j];
        if (r >= 0) dw[r * D + j] += g[b * D + j];
      }
  });
}

template void embedding_bag_max_forward<float>(float*, int64_t*, const float*, const int64_t*,
                                               const int64_t*, int64_t, int64_t, int64_t);
template void embedding_bag_max_forward<double>(double*, int64_t*, const double*, const int64_t*,
                                                const int64_t*, int64_t, int64_t, int64_t);
template void embedding_bag_max_backward<float>(float*, const float*, const int64_t*, int64_t,
                                                int64_t, int64_t);
template void embedding_bag_max_backward<double>(double*, const double*, const int64_t*, int64_t,
                                                 int64_t, int64_t);
template void embedding_bag_forward<float>(float*, const float*, const int64_t*, const int64_t*,
                                           int64_t, int64_t, int64_t, bool);
template void embedding_bag_forward<double>(double*, const double*, const int64_t*, const int64_t*,
                                            int64_t, int64_t, int64_t, bool);
template void embedding_bag_backward<float>(float*, const float*, const int64_t*, const int64_t*,
                                            int64_t, int64_t, int64_t, int64_t, bool);
template void embedding_bag_backward<double>(double*, const double*, const int64_t*, const int64_t*,
                                             int64_t, int64_t, int64_t, int64_t, bool);
template void scatter_add_rows<float>(float*, const int64_t*, const float*, int64_t, int64_t,
                                      int64_t);
template void scatter_add_rows<double>(double*, const int64_t*, const double*, int64_t, int64_t,
                                       int64_t);
template void embedding_backward<float>(float*, const int64_t*, const float*, int64_t, int64_t,
                                        int64_t, int64_t);
template void embedding_backward<double>(double*, const int64_t*, const double*, int64_t, int64_t,
                                         int64_t, int64_t);

}  // namespace ember
