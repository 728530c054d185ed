// Resampling and padding along one axis: the tensor is viewed as (outer, n, inner) and output
// position j reads input positions idx[t, j] with weights w[t, j] for t < taps (one tap for
// nearest and padding, two for linear, four for cubic, more for antialiasing). Forward and its
// adjoint side by side; parallel over `outer`.
#include <algorithm>
#include <array>
#include <vector>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

void check_taps(const char* op, const int64_t* idx, int64_t taps, int64_t n_in, int64_t n_out,
                int64_t outer, int64_t inner) {
  EMBER_CHECK(taps >= 1 && n_in >= 0 && n_out >= 0 && outer >= 0 && inner >= 0, op,
              ": negative size (taps ", taps, ", n_in ", n_in, ", n_out ", n_out, ")");
  for (int64_t k = 0; k < taps * n_out; ++k)
    EMBER_CHECK(idx[k] >= 0 && idx[k] < n_in, op, ": index ", idx[k], " is out of range for ", n_in,
                " input positions");
  numel_checked({outer, std::max(n_in, n_out), inner}, op);
}

// One outer slice of the forward: tap 0 writes, the others add (y = x0 w0 + x1 w1 + ..., in that
// order).
template <typename T>
EMBER_SIMD void forward_slice(T* __restrict y, const T* __restrict x, const int64_t* idx,
                              const T* w, int64_t taps, int64_t n_out, int64_t inner) {
  for (int64_t t = 0; t < taps; ++t) {
    const int64_t* it = idx + t * n_out;
    const T* wt = w ? w + t * n_out : nullptr;
    if (inner == 1) {  // the last axis: a gather per output
      if (t == 0 && wt)
        for (int64_t j = 0; j < n_out; ++j) y[j] = x[it[j]] * wt[j];
      else if (t == 0)
        for (int64_t j = 0; j < n_out; ++j) y[j] = x[it[j]];
      else if (wt)
        for (int64_t j = 0; j < n_out; ++j) y[j] += x[it[j]] * wt[j];
      else
        for (int64_t j = 0; j < n_out; ++j) y[j] += x[it[j]];
      continue;
    }
    for (int64_t j = 0; j < n_out; ++j) {
      const T* xr = x + it[j] * inner;
      T* yr = y + j * inner;
      const T c = wt ? wt[j] : T(1);
      if (t == 0 && wt)
        for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] * c;
      else if (t == 0)
        std::copy(xr, xr + inner, yr);
      else if (wt)
        for (int64_t i = 0; i < inner; ++i) yr[i] += xr[i] * c;
      else
        for (int64_t i = 0; i < inner; ++i) yr[i] += xr[i];
    }
  }
}

// One tap's adjoint into acc (n_in, inner), zeroed first: acc[idx[j]] += g[j] * w[j] in j order.
template <typename T>
EMBER_SIMD void scatter_tap(T* __restrict acc, const T* __restrict g, const int64_t* it,
                            const T* wt, int64_t n_in, int64_t n_out, int64_t inner) {
  std::fill(acc, acc + n_in * inner, T(0));
  for (int64_t j = 0; j < n_out; ++j) {
    T* a = acc + it[j] * inner;
    const T* gr = g + j * inner;
    if (wt) {
      const T c = wt[j];
      for (int64_t i = 0; i < inner; ++i) a[i] += gr[i] * c;
    } else {
      for (int64_t i = 0; i < inner; ++i) a[i] += gr[i];
    }
  }
}

}  // namespace

// x (outer, n_in, inner), idx (taps, n_out) in [0, n_in), w (taps, n_out) or null (weight 1)
//   -> y (outer, n_out, inner): y[o, j] = sum_t w[t, j] * x[o, idx[t, j]], taps added in order.
template <typename T>
void gather_axis_forward(T* y, const T* x, const int64_t* idx, const T* w, int64_t outer,
                         int64_t n_in, int64_t inner, int64_t n_out, int64_t taps) {
  check_taps("gather_axis_forward", idx, taps, n_in, n_out, outer, inner);
  const int nt = threads_for(outer * n_out * inner * taps, 1 << 15);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t o = 0; o < outer; ++o)
    forward_slice(y + o * n_out * inner, x + o * n_in * inner, idx, w, taps, n_out, inner);
}

// The adjoint: g (outer, n_out, inner) -> dx (outer, n_in, inner). Each tap's terms are summed
// in j order on their own and the taps' sums then added in order: the association of summing
// one scatter per tap.
template <typename T>
void gather_axis_backward(T* dx, const T* g, const int64_t* idx, const T* w, int64_t outer,
                          int64_t n_in, int64_t inner, int64_t n_out, int64_t taps) {
  check_taps("gather_axis_backward", idx, taps, n_in, n_out, outer, inner);
  const int nt = threads_for(outer * n_out * inner * taps, 1 << 15);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<T> scratch(taps > 1 ? static_cast<size_t>(n_in * inner) : 0);
#pragma omp for schedule(static)
    for (int64_t o = 0; o < outer; ++o) {
      T* d = dx + o * n_in * inner;
      const T* go = g + o * n_out * inner;
      scatter_tap(d, go, idx, w, n_in, n_out, inner);
      for (int64_t t = 1; t < taps; ++t) {
        scatter_tap(scratch.data(), go, idx + t * n_out, w ? w + t * n_out : nullptr, n_in, n_out,
                    inner);
        for (int64_t k = 0; k < n_in * inner; ++k) d[k] += scratch[static_cast<size_t>(k)];
      }
    }
  }
}

template void gather_axis_forward<float>(float*, const float*, const int64_t*, const float*,
                                         int64_t, int64_t, int64_t, int64_t, int64_t);
template void gather_axis_forward<double>(double*, const double*, const int64_t*, const double*,
                                          int64_t, int64_t, int64_t, int64_t, int64_t);
template void gather_axis_backward<float>(float*, const float*, const int64_t*, const float*,
                                          int64_t, int64_t, int64_t, int64_t, int64_t);
template void gather_axis_backward<double>(double*, const double*, const int64_t*, const double*,
                                           int64_t, int64_t, int64_t, int64_t, int64_t);

// ---- padding along several axes at once ----------------------------------------------------

namespace {

struct PadView {
  const int64_t* maps;  // map d starts at maps + off[d]
  const int64_t *off, *xshape, *yshape, *xstride, *ystride;
  int64_t ndim;
  // The last axis as runs: y[y0, y0 + len) = x[x0, x0 + len), or v when x0 < 0.
  std::vector<std::array<int64_t, 3>> runs;
};

// The last axis's map cut into runs of consecutive sources (constant padding: three runs, the
// edge modes one per border position and the centre).
std::vector<std::array<int64_t, 3>> map_runs(const int64_t* m, int64_t n) {
  std::vector<std::array<int64_t, 3>> runs;
  for (int64_t j = 0; j < n;) {
    int64_t e = j + 1;
    if (m[j] < 0)
      while (e < n && m[e] < 0) ++e;
    else
      while (e < n && m[e] == m[e - 1] + 1) ++e;
    runs.push_back({j, e - j, m[j]});
    j = e;
  }
  return runs;
}

template <typename T>
void pad_block(T* y, const T* x, const PadView& p, int64_t d, T v) {
  if (d == p.ndim - 1) {
    for (const auto& r : p.runs) {
      if (r[2] < 0)
        std::fill(y + r[0], y + r[0] + r[1], v);
      else
        std::copy(x + r[2], x + r[2] + r[1], y + r[0]);
    }
    return;
  }
  const int64_t* m = p.maps + p.off[d];
  for (int64_t j = 0; j < p.yshape[d]; ++j) {
    T* yj = y + j * p.ystride[d];
    if (m[j] < 0)
      std::fill(yj, yj + p.ystride[d], v);
    else
      pad_block(yj, x + m[j] * p.xstride[d], p, d + 1, v);
  }
}

}  // namespace

// x (xshape), maps[d] (yshape[d]) in [-1, xshape[d]) -> y (yshape):
// y[j_0, .., j_k] = x[maps_0[j_0], .., maps_k[j_k]], or v where any maps_d[j_d] is -1. The maps
// are stored one after the other. Constant padding (and its adjoint, a crop), reflect,
// replicate and circular padding are all such maps. Threads split axis 0.
template <typename T>
void pad_forward(T* y, const T* x, const int64_t* maps, const int64_t* xshape,
                 const int64_t* yshape, int64_t ndim, T v) {
  std::vector<int64_t> off(ndim), xstride(ndim), ystride(ndim);
  int64_t xs = 1, ys = 1, o = 0;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    xstride[d] = xs;
    ystride[d] = ys;
    xs *= xshape[d];
    ys *= yshape[d];
  }
  for (int64_t d = 0; d < ndim; ++d) {
    off[d] = o;
    o += yshape[d];
  }
  if (ys == 0) return;
  if (xs == 0) {  // every map is -1
    std::fill(y, y + ys, v);
    return;
  }
  const PadView p{
      maps,           off.data(),     xshape, yshape,
      xstride.data(), ystride.data(), ndim,   map_runs(maps + off[ndim - 1], yshape[ndim - 1])};
  if (ndim == 1) {
    pad_block(y, x, p, 0, v);
    return;
  }
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(ys, int64_t(1) << 16), yshape[0]));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t j = 0; j < yshape[0]; ++j) {
    T* yj = y + j * ystride[0];
    if (maps[j] < 0)
      std::fill(yj, yj + ystride[0], v);
    else
      pad_block(yj, x + maps[j] * xstride[0], p, 1, v);
  }
}

template void pad_forward<float>(float*, const float*, const int64_t*, const int64_t*,
                                 const int64_t*, int64_t, float);
template void pad_forward<double>(double*, const double*, const int64_t*, const int64_t*,
                                  const int64_t*, int64_t, double);

}  // namespace ember
