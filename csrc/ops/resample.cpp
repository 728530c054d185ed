// Resampling and padding along one axis: the tensor is viewed as (outer, n, inner) and output
// position j reads input positions idx[t, j] with weights w[t, j] for t < taps (one tap for
// nearest and padding, two for linear, four for cubic, more for antialiasing). Forward and its
// adjoint side by side; parallel over `outer`.
#include <algorithm>
#include <cmath>
#include <cstdint>
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
  if (inner == 1 && w && taps == 2) {  // linear along the last axis: both taps in one pass
    const int64_t *i0 = idx, *i1 = idx + n_out;
    const T *w0 = w, *w1 = w + n_out;
    for (int64_t j = 0; j < n_out; ++j) {
      T acc = x[i0[j]] * w0[j];  // (the taps' order and roundings of the loop below)
      acc += x[i1[j]] * w1[j];
      y[j] = acc;
    }
    return;
  }
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
  const int64_t *off, *yshape, *xstride, *ystride;
  int64_t ndim;
  int64_t a, b, x0;  // the last axis's longest run: y[a, b) = x[x0, x0 + b - a)
};

// Rows (the last two axes): y row r is v throughout when mr[r] < 0, else x row mr[r] through the
// last axis's map m (n entries): the centre run [a, b) as a straight copy, the border positions
// one by one. One call per plane, so the loops vectorise for the build's ISA.
template <typename T>
EMBER_SIMD void pad_rows(T* __restrict y, const T* __restrict x, const int64_t* mr, int64_t rows,
                         int64_t xrow, const int64_t* m, int64_t n, int64_t a, int64_t b,
                         int64_t x0, T v) {
  for (int64_t r = 0; r < rows; ++r) {
    T* yr = y + r * n;
    if (mr[r] < 0) {
      for (int64_t j = 0; j < n; ++j) yr[j] = v;
      continue;
    }
    const T* xr = x + mr[r] * xrow;
    for (int64_t j = 0; j < a; ++j) yr[j] = m[j] < 0 ? v : xr[m[j] < 0 ? 0 : m[j]];
    const T* xc = xr + x0 - a;
    for (int64_t j = a; j < b; ++j) yr[j] = xc[j];
    for (int64_t j = b; j < n; ++j) yr[j] = m[j] < 0 ? v : xr[m[j] < 0 ? 0 : m[j]];
  }
}

// Axes d.. of one block (d <= ndim - 2).
template <typename T>
void pad_block(T* y, const T* x, const PadView& p, int64_t d, T v) {
  const int64_t* m = p.maps + p.off[d];
  const int64_t last = p.ndim - 1;
  if (d == last - 1) {
    pad_rows(y, x, m, p.yshape[d], p.xstride[d], p.maps + p.off[last], p.yshape[last], p.a, p.b,
             p.x0, v);
    return;
  }
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
  // 1-D runs as one row of a 2-D (1, n) problem.
  const int64_t zero = 0;
  std::vector<int64_t> xs(xshape, xshape + ndim), ys(yshape, yshape + ndim), all;
  if (ndim == 1) {
    xs.insert(xs.begin(), 1);
    ys.insert(ys.begin(), 1);
    all.push_back(zero);
    all.insert(all.end(), maps, maps + yshape[0]);
    maps = all.data();
    ndim = 2;
  }
  std::vector<int64_t> off(ndim), xstride(ndim), ystride(ndim);
  int64_t xn = 1, yn = 1, o = 0;
  for (int64_t d = ndim - 1; d >= 0; --d) {
    xstride[d] = xn;
    ystride[d] = yn;
    xn *= xs[d];
    yn *= ys[d];
  }
  for (int64_t d = 0; d < ndim; ++d) {
    off[d] = o;
    o += ys[d];
  }
  if (yn == 0) return;
  if (xn == 0) {  // every map is -1
    std::fill(y, y + yn, v);
    return;
  }
  const int64_t* ml = maps + off[ndim - 1];
  const int64_t n = ys[ndim - 1];
  int64_t a = 0, b = 0;  // the longest run of consecutive sources in the last map
  for (int64_t j = 0; j < n;) {
    int64_t e = j + 1;
    if (ml[j] >= 0)
      while (e < n && ml[e] == ml[e - 1] + 1) ++e;
    if (ml[j] >= 0 && e - j > b - a) a = j, b = e;
    j = e;
  }
  const PadView p{maps, off.data(), ys.data(), xstride.data(),   ystride.data(),
                  ndim, a,          b,         b > a ? ml[a] : 0};
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(yn, int64_t(1) << 16), ys[0]));
  parallel_for(nt, ys[0], [&](int64_t j) {
    T* yj = y + j * ystride[0];
    if (ndim == 2)
      pad_rows(yj, x, maps + j, 1, xstride[0], ml, n, a, b, p.x0, v);
    else if (maps[j] < 0)
      std::fill(yj, yj + ystride[0], v);
    else
      pad_block(yj, x + maps[j] * xstride[0], p, 1, v);
  });
}

template void pad_forward<float>(float*, const float*, const int64_t*, const int64_t*,
                                 const int64_t*, int64_t, float);
template void pad_forward<double>(double*, const double*, const int64_t*, const int64_t*,
                                  const int64_t*, int64_t, double);

// ---- point taps: grid_sample's gather ------------------------------------------------------
// Every output point p of image n reads K input positions idx[n, k, p] in [-1, M) (-1: a tap
// outside the image, which reads nothing) with weights w[n, k, p], the same for all C channels.

namespace {

// One channel plane: y[p] = sum_k w[k, p] x[idx[k, p]] in k order, a tap outside reading 0
// (0 * w: NaN where a non-finite grid point made w NaN, as PyTorch).
template <typename T, typename I>
EMBER_SIMD void taps_plane(T* __restrict y, const T* __restrict x, const I* idx, const T* w,
                           int64_t K, int64_t P) {
  std::fill(y, y + P, T(0));
  for (int64_t k = 0; k < K; ++k) {
    const I* it = idx + k * P;
    const T* wt = w + k * P;
    for (int64_t p = 0; p < P; ++p) {  // (an unconditional load, then a select: a gather)
      const T v = x[it[p] >= 0 ? it[p] : 0];
      y[p] += (it[p] >= 0 ? v : T(0)) * wt[p];
    }
  }
}

// Its adjoint for one plane: dx (M) = 0, then dx[idx[k, p]] += g[p] w[k, p] in (k, p) order.
template <typename T>
EMBER_SIMD void taps_plane_adjoint(T* __restrict dx, const T* __restrict g, const int64_t* idx,
                                   const T* w, int64_t M, int64_t K, int64_t P) {
  std::fill(dx, dx + M, T(0));
  for (int64_t k = 0; k < K; ++k) {
    const int64_t* it = idx + k * P;
    const T* wt = w + k * P;
    for (int64_t p = 0; p < P; ++p)
      if (it[p] >= 0) dx[it[p]] += g[p] * wt[p];
  }
}

// One tap row: d[p] = sum_c x[c, idx[p]] g[c, p] over the channels in order (0 outside).
template <typename T>
EMBER_SIMD void taps_dot_row(T* __restrict d, const T* __restrict x, const T* __restrict g,
                             const int64_t* it, int64_t C, int64_t M, int64_t P) {
  std::fill(d, d + P, T(0));
  for (int64_t c = 0; c < C; ++c) {
    const T* xc = x + c * M;
    const T* gc = g + c * P;
    for (int64_t p = 0; p < P; ++p) {
      const T v = xc[it[p] >= 0 ? it[p] : 0];
      d[p] += (it[p] >= 0 ? v : T(0)) * gc[p];
    }
  }
}

}  // namespace

// x (N, C, M), idx (N, K, P) in [-1, M), w (N, K, P) -> y (N, C, P):
// y[n, c, p] = sum_k w[n, k, p] x[n, c, idx[n, k, p]] (a tap outside reads 0), taps in order.
template <typename T>
void point_taps_forward(T* y, const T* x, const int64_t* idx, const T* w, int64_t N, int64_t C,
                        int64_t M, int64_t K, int64_t P) {
  parallel_for(threads_for(N * C * K * P), N * C, [&](int64_t nc) {
    const int64_t n = nc / C;
    taps_plane(y + nc * P, x + nc * M, idx + n * K * P, w + n * K * P, K, P);
  });
}

// The adjoint in x: g (N, C, P) -> dx (N, C, M). One thread per (n, c) plane.
template <typename T>
void point_taps_backward(T* dx, const T* g, const int64_t* idx, const T* w, int64_t N, int64_t C,
                         int64_t M, int64_t K, int64_t P) {
  parallel_for(threads_for(N * C * (K * P + M)), N * C, [&](int64_t nc) {
    const int64_t n = nc / C;
    taps_plane_adjoint(dx + nc * M, g + nc * P, idx + n * K * P, w + n * K * P, M, K, P);
  });
}

// x (N, C, M), g (N, C, P), idx (N, K, P) -> d (N, K, P) = sum_c x[n, c, idx] g[n, c, p]: each
// tap's value dotted with the output gradient over the channels (the grid's gradient is the
// weights' derivatives times these). One thread per (n, k) row.
template <typename T>
void point_taps_dot(T* d, const T* x, const T* g, const int64_t* idx, int64_t N, int64_t C,
                    int64_t M, int64_t K, int64_t P) {
  parallel_for(threads_for(N * C * K * P), N * K, [&](int64_t nk) {
    const int64_t n = nk / K;
    taps_dot_row(d + nk * P, x + n * C * M, g + n * C * P, idx + nk * P, C, M, P);
  });
}

// ---- grid_sample: source coordinates and taps from the grid -------------------------------
// A block of points at a time: each axis's source coordinates (and their slopes d/dgrid), then
// every tap's flat position and weight, then the gather over the channels. The unnormalising
// multiply-add follows torch's kernels: its vectorised 2-D kernel fuses (g + 1) * n / 2 - 1/2
// into one FMA (align_corners=False), its scalar 3-D kernel rounds ((g + 1) * n - 1) / 2 step by
// step; the 3-D coordinates are therefore plain (not EMBER_SIMD) code, which, compiled for the
// baseline ISA, has no FMA to contract into.

namespace {

// PyTorch's reflect_coordinates: c reflected into [lo2 / 2, hi2 / 2], *d = its slope (+-1).
template <typename T>
inline T reflect(T c, T lo2, T hi2, T* d) {
  if (lo2 == hi2) {
    *d = T(0);
    return T(0);
  }
  const T mn = lo2 / 2, span = (hi2 - lo2) / 2;
  const bool below = c < mn;
  const T a = below ? mn - c : c - mn;
  const T extra = std::fmod(a, span), flips = std::floor(a / span);
  const bool even = std::fmod(flips, T(2)) == T(0);  // (false for NaN / inf: the odd branch)
  *d = (even == !below) ? T(1) : T(-1);
  return even ? extra + mn : span - extra + mn;
}

// The unnormalised c along an axis of n pixels -> after the padding mode (0 zeros, 1 border,
// 2 reflection); *slope (d c / d g on entry) times the padding's derivative.
template <typename T>
inline T pad_coord(T c, int64_t n, int padding, bool align, int nd, T* slope) {
  const T nt = static_cast<T>(n);
  if (padding == 2) {
    T dr;
    c = align ? reflect(c, T(0), T(2) * (nt - T(1)), &dr)
              : reflect(c, T(-1), T(2) * nt - T(1), &dr);
    *slope *= dr;
  }
  if (padding != 0) {  // clip_coordinates_set_grad
    const bool inside = c > T(0) && c < nt - T(1);
    // a NaN coordinate clips as torch's: to 0 in 2-D (its vector kernel's clamp_min(0, in)),
    // to n - 1 in 3-D (its scalar std::min(n - 1, std::max(in, 0)))
    if (c != c)
      c = nd == 3 ? nt - T(1) : T(0);
    else
      c = std::min(std::max(c, T(0)), nt - T(1));
    if (!inside) *slope = T(0);
  }
  return c;
}

// 2-D: component `comp` of bl grid points (stride 2) -> source coordinates c and slopes.
template <typename T>
EMBER_SIMD void coords_2d(T* __restrict c, T* __restrict slope, const T* __restrict g, int64_t bl,
                          int64_t n, int padding, bool align) {
  const T nt = static_cast<T>(n);
  const T half = align ? (nt - T(1)) / T(2) : nt / T(2);
  for (int64_t p = 0; p < bl; ++p) {
    const T gp = g[2 * p] + T(1);
    c[p] = align ? gp * half : std::fma(gp, half, T(-0.5));
  }
  std::fill(slope, slope + bl, half);
  if (padding != 0)
    for (int64_t p = 0; p < bl; ++p) c[p] = pad_coord(c[p], n, padding, align, 2, &slope[p]);
}

// 3-D: the same, unfused (see above).
template <typename T>
void coords_3d(T* c, T* slope, const T* g, int64_t bl, int64_t n, int padding, bool align) {
  const T nt = static_cast<T>(n);
  for (int64_t p = 0; p < bl; ++p) {
    const T gp = g[3 * p] + T(1);
    slope[p] = align ? (nt - T(1)) / T(2) : nt / T(2);
    c[p] = align ? gp / T(2) * (nt - T(1)) : (gp * nt - T(1)) / T(2);
    c[p] = pad_coord(c[p], n, padding, align, 3, &slope[p]);
  }
}

constexpr int64_t kGridBlock = 256;  // points per block: its taps stay in L1 across channels

// Per axis a (D,) H, W the coordinates c[a * bl + p] -> K = 2^ND (bilinear) or 1 (nearest) taps:
// idx[k * bl + p] the flat position (-1 outside), w its weight, frac[a * bl + p] the fraction
// past the lower tap. Tap k's bit (ND - 1 - a) picks axis a's upper neighbour.
template <int ND, typename T, typename I>
EMBER_SIMD void block_taps(I* __restrict idx, T* __restrict w, T* __restrict frac,
                           const T* __restrict c, int64_t bl, const int64_t* sizes, bool nearest) {
  T base[ND * kGridBlock], hi[ND];
  for (int64_t q = 0; q < ND * bl; ++q) {
    base[q] = nearest ? std::nearbyint(c[q]) : std::floor(c[q]);  // nearbyint: halves to even
    frac[q] = c[q] - base[q];
  }
  for (int a = 0; a < ND; ++a) hi[a] = static_cast<T>(sizes[a]);
  const int K = nearest ? 1 : 1 << ND;
  for (int k = 0; k < K; ++k) {
    T off[ND];
    for (int a = 0; a < ND; ++a) off[a] = T((k >> (ND - 1 - a)) & 1);
    for (int64_t p = 0; p < bl; ++p) {
      bool ok = true;
      int64_t flat = 0;
      T wt = T(1);
#pragma GCC unroll 3
      for (int a = 0; a < ND; ++a) {
        const T i = base[a * bl + p] + off[a];
        // (false for a NaN or huge coordinate, whose cast would be junk: never read)
        const bool inside = i >= T(0) && i < hi[a];
        ok = ok && inside;
        flat = flat * sizes[a] + (inside ? static_cast<int64_t>(i) : 0);
        const T fr = frac[a * bl + p];
        const T wa = off[a] != T(0) ? fr : T(1) - fr;
        wt = a == 0 ? wa : wt * wa;
      }
      idx[k * bl + p] = ok ? static_cast<I>(flat) : I(-1);
      // torch's 3-D kernel skips a tap outside (its 2-D one adds 0 * weight, NaN for a NaN /
      // inf coordinate); nearest's single tap weighs 1
      w[k * bl + p] = (ND == 3 && !ok) ? T(0) : nearest ? T(1) : wt;
    }
  }
}

// y[c, p] = sum_k w[k, p] x[c, idx[k, p]] for a block's K taps, in k order (0 * w outside):
// channel by channel, so that the gathers from one plane hit L1 (point by point over the
// channels, a random grid's reads span every plane: measured 1.5x slower).
template <int K, typename T, typename I>
EMBER_SIMD void block_gather(T* __restrict y, const T* __restrict x, const I* __restrict idx,
                             const T* __restrict w, int64_t C, int64_t xs, int64_t ys, int64_t bl) {
  for (int64_t ch = 0; ch < C; ++ch) {
    const T* xc = x + ch * xs;
    T* yc = y + ch * ys;
    for (int64_t p = 0; p < bl; ++p) {  // (an unconditional load, then a select)
      T acc = T(0);
      for (int k = 0; k < K; ++k) {
        const I j = idx[k * bl + p];
        const T v = xc[j >= 0 ? j : 0];
        acc += (j >= 0 ? v : T(0)) * w[k * bl + p];
      }
      yc[p] = acc;
    }
  }
}

// The taps of points [p0, p0 + bl) of image n.
template <typename T, typename I>
void grid_block(I* idx, T* w, T* frac, T* slope, const T* grid, int64_t P, int64_t n, int64_t p0,
                int64_t bl, const int64_t* sizes, int nd, bool nearest, int padding, bool align) {
  T c[3 * kGridBlock];
  for (int a = 0; a < nd; ++a) {
    const T* g = grid + (n * P + p0) * nd + (nd - 1 - a);  // grid's last dim is x, y[, z]
    if (nd == 2)
      coords_2d(c + a * bl, slope + a * bl, g, bl, sizes[a], padding, align);
    else
      coords_3d(c + a * bl, slope + a * bl, g, bl, sizes[a], padding, align);
  }
  if (nd == 2)
    block_taps<2>(idx, w, frac, c, bl, sizes, nearest);
  else
    block_taps<3>(idx, w, frac, c, bl, sizes, nearest);
}

}  // namespace

// grid (N, P, nd) -> idx (N, K, P) in [-1, M), w (N, K, P), frac (N, nd, P), slope (N, nd, P):
// grid_sample's taps (bilinear K = 2^nd, nearest K = 1) for its backward.
template <typename T>
void grid_sample_taps(int64_t* idx, T* w, T* frac, T* slope, const T* grid, int64_t N, int64_t P,
                      const int64_t* sizes, int nd, bool nearest, int padding, bool align) {
  const int64_t K = nearest ? 1 : int64_t(1) << nd, B = kGridBlock;
  const int64_t nb = (P + B - 1) / B;
  parallel_for(threads_for(N * P * K * 8), N * nb, [&](int64_t job) {
    const int64_t n = job / nb, p0 = (job % nb) * B, bl = std::min(B, P - p0);
    int64_t ik[8 * kGridBlock];
    T wk[8 * kGridBlock], fr[3 * kGridBlock], sl[3 * kGridBlock];
    grid_block(ik, wk, fr, sl, grid, P, n, p0, bl, sizes, nd, nearest, padding, align);
    for (int64_t k = 0; k < K; ++k) {
      std::copy(ik + k * bl, ik + (k + 1) * bl, idx + (n * K + k) * P + p0);
      std::copy(wk + k * bl, wk + (k + 1) * bl, w + (n * K + k) * P + p0);
    }
    for (int a = 0; a < nd; ++a) {
      std::copy(fr + a * bl, fr + (a + 1) * bl, frac + (n * nd + a) * P + p0);
      std::copy(sl + a * bl, sl + (a + 1) * bl, slope + (n * nd + a) * P + p0);
    }
  });
}

// x (N, C, M = prod sizes), grid (N, P, nd) -> y (N, C, P): grid_sample bilinear / nearest,
// the taps of a block of points made once (int32 positions: 16-lane gathers) and read by every
// channel. Each output is the k-ordered sum point_taps_forward makes.
template <typename T>
void grid_sample_forward(T* y, const T* x, const T* grid, int64_t N, int64_t C, int64_t P,
                         const int64_t* sizes, int nd, bool nearest, int padding, bool align) {
  const int64_t K = nearest ? 1 : int64_t(1) << nd, B = kGridBlock;
  int64_t M = 1;
  for (int a = 0; a < nd; ++a) M *= sizes[a];
  const int64_t nb = (P + B - 1) / B;
  const bool narrow = M <= INT32_MAX;
  parallel_for(threads_for(N * C * K * P), N * nb, [&](int64_t job) {
    const int64_t n = job / nb, p0 = (job % nb) * B, bl = std::min(B, P - p0);
    int32_t i32[8 * kGridBlock];
    int64_t i64[8 * kGridBlock];
    T w[8 * kGridBlock], fr[3 * kGridBlock], sl[3 * kGridBlock];
    T* yb = y + n * C * P + p0;
    const T* xb = x + n * C * M;
    auto gather = [&](const auto* idx) {
      if (K == 1)
        block_gather<1>(yb, xb, idx, w, C, M, P, bl);
      else if (K == 4)
        block_gather<4>(yb, xb, idx, w, C, M, P, bl);
      else
        block_gather<8>(yb, xb, idx, w, C, M, P, bl);
    };
    if (narrow) {
      grid_block(i32, w, fr, sl, grid, P, n, p0, bl, sizes, nd, nearest, padding, align);
      gather(i32);
    } else {
      grid_block(i64, w, fr, sl, grid, P, n, p0, bl, sizes, nd, nearest, padding, align);
      gather(i64);
    }
  });
}

template void grid_sample_taps<float>(int64_t*, float*, float*, float*, const float*, int64_t,
                                      int64_t, const int64_t*, int, bool, int, bool);
template void grid_sample_taps<double>(int64_t*, double*, double*, double*, const double*, int64_t,
                                       int64_t, const int64_t*, int, bool, int, bool);
template void grid_sample_forward<float>(float*, const float*, const float*, int64_t, int64_t,
                                         int64_t, const int64_t*, int, bool, int, bool);
template void grid_sample_forward<double>(double*, const double*, const double*, int64_t, int64_t,
                                          int64_t, const int64_t*, int, bool, int, bool);

template void point_taps_forward<float>(float*, const float*, const int64_t*, const float*, int64_t,
                                        int64_t, int64_t, int64_t, int64_t);
template void point_taps_forward<double>(double*, const double*, const int64_t*, const double*,
                                         int64_t, int64_t, int64_t, int64_t, int64_t);
template void point_taps_backward<float>(float*, const float*, const int64_t*, const float*,
                                         int64_t, int64_t, int64_t, int64_t, int64_t);
template void point_taps_backward<double>(double*, const double*, const int64_t*, const double*,
                                          int64_t, int64_t, int64_t, int64_t, int64_t);
template void point_taps_dot<float>(float*, const float*, const float*, const int64_t*, int64_t,
                                    int64_t, int64_t, int64_t, int64_t);
template void point_taps_dot<double>(double*, const double*, const double*, const int64_t*, int64_t,
                                     int64_t, int64_t, int64_t, int64_t);

}  // namespace ember
