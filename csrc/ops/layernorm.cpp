// Layer normalisation over the last M elements of each of N rows (the caller flattens the
// normalised dims into M and everything before them into N).
//
// Statistics take two passes per row in the row's type, kSumLanes independent accumulators (so
// the loops vectorise without fast-math), blocks summed in double. Output is one more pass.
// Backward takes two passes per row (the two row sums, then dx) and accumulates dw/db into
// per-thread partial rows, reduced in a fixed order afterwards: no atomics, and the result depends
// only on the inputs and the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "common.h"
#include "moments.h"
#include "vecmath.h"

namespace ember {

namespace {

// Backward sums: 32 accumulators per sum (2 or 4 512-bit vectors: one add chain would bound the
// loop by the add latency). 16 doubles made GCC 12 vectorise across iterations with permutes and
// an in-order scalar reduction, 5x slower.
constexpr int kLanes = 32;

// Row sums: kSumLanes independent accumulators in the row's type within blocks of kBlock
// elements (the loops vectorise at full width without reassociation and are not bound by one
// add chain), block sums added in double, so float32 rounding grows with kBlock / kSumLanes,
// not with the row length.
constexpr int kSumLanes = 32;
constexpr int64_t kBlock = 1024;

// kSquare: sum x^2 (RMS norm's statistic) in the same blocks.
template <typename T, bool kSquare = false>
inline double row_sum(const T* x, int64_t M) {
  double total = 0;
  for (int64_t b0 = 0; b0 < M; b0 += kBlock) {
    const int64_t b1 = std::min(M, b0 + kBlock);
    T s[kSumLanes] = {};
    int64_t i = b0;
    for (; i + kSumLanes <= b1; i += kSumLanes)
      for (int j = 0; j < kSumLanes; ++j) s[j] += kSquare ? x[i + j] * x[i + j] : x[i + j];
    T block = 0;
    for (; i < b1; ++i) block += kSquare ? x[i] * x[i] : x[i];
    total += double(block + lane_sum<kSumLanes>(s));
  }
  return total;
}

// sum (x - m) and sum (x - m)^2 over a row, blocked as row_sum.
template <typename T>
inline void row_dev_sums(const T* x, int64_t M, T m, double& sd, double& sq) {
  sd = sq = 0;
  for (int64_t b0 = 0; b0 < M; b0 += kBlock) {
    const int64_t b1 = std::min(M, b0 + kBlock);
    T s[kSumLanes] = {}, q[kSumLanes] = {};
    int64_t i = b0;
    for (; i + kSumLanes <= b1; i += kSumLanes)
      for (int j = 0; j < kSumLanes; ++j) {
        const T d = x[i + j] - m;
        s[j] += d;
        q[j] += d * d;
      }
    T bs = 0, bq = 0;
    for (; i < b1; ++i) {
      const T d = x[i] - m;
      bs += d;
      bq += d * d;
    }
    sd += double(bs + lane_sum<kSumLanes>(s));
    sq += double(bq + lane_sum<kSumLanes>(q));
  }
}

// mean and biased variance of one row, by two passes over the row (in cache): the mean, then
// the deviations with the corrected two-pass formula (Chan, Golub & LeVeque),
// var = (sum d^2 - (sum d)^2 / M) / M: no cancellation for a large common offset (x = 1e4 +
// noise), and the sums run at the row type's full SIMD width.
// Rows longer than kL1Row values do not stay in L1 between the passes: their m is the mean of
// the first block only, which removes a common offset as well and saves a pass over the row (the
// corrected formula is exact for any m; its float rounding grows with (m - mean)^2 / var).
constexpr int64_t kL1Row = 4096;

template <typename T>
inline void row_moments(const T* x, int64_t M, T& mean_out, T& var_out) {
  if (M <= 0) {
    mean_out = var_out = T(0);
    return;
  }
  const int64_t M0 = M <= kL1Row ? M : kBlock;
  const T m = T(row_sum(x, M0) / double(M0));
  double sd, sq;
  row_dev_sums(x, M, m, sd, sq);
  mean_out = T(double(m) + sd / double(M));  // m's own rounding (float sums of 1e4s) corrected
  var_out = T(std::max((sq - sd * sd / double(M)) / double(M), 0.0));
}

// The next row, when rows stay in L1 (M <= kL1Row), is prefetched (a touch per cache line)
// before this one is worked on: the hardware prefetcher follows the loads of a stream and falls
// idle while a row's passes run in L1. Measured on 8192x768 float32, 1 thread: forward 2.5 ->
// 1.8 ms, backward 4.4 -> 3.6 ms. A GCC builtin (prefetcht0 on x86), no ISA of its own.
template <typename T>
inline void prefetch_row(const T* p, int64_t M) {
  if (M > kL1Row) return;
  for (int64_t k = 0; k < M; k += 64 / int64_t(sizeof(T))) __builtin_prefetch(p + k);
}

// mean and rstd = 1 / sqrt(var + eps) of one row (any eps, as PyTorch: var + eps < 0 gives a
// NaN rstd); a finite row whose sums overflowed takes the
// scaled path (moments.h) instead of ending with rstd = 0 or NaN.
template <typename T>
inline void row_stats(const T* x, int64_t M, T eps, T& mu, T& rs) {
  T var;
  row_moments(x, M, mu, var);
  rs = T(1) / std::sqrt(var + eps);
  double m, r;
  if (!(std::isfinite(var) && std::isfinite(mu)) && scaled_moments(x, 1, M, M, double(eps), m, r)) {
    mu = T(m);
    rs = T(r);
  }
}

// One row of the forward: the statistics, then y. The row workers are compiled per ISA
// (EMBER_SIMD, see vecmath.h: flatten inlines row_moments into each clone).
// mean null: RMS norm's row, mu = 0 and rs = 1 / sqrt(mean(x^2) + eps) (x^2 overflowing to
// inf gives rs = 0, as torch's composite).
template <typename T>
EMBER_SIMD void forward_row(T* __restrict yr, T* mean, T* rstd, const T* __restrict xr,
                            const T* __restrict w, const T* __restrict b, int64_t M, T eps) {
  T mu = T(0), rs;
  if (mean) {
    row_stats(xr, M, eps, mu, rs);
    *mean = mu;
  } else {
    rs = T(1) / std::sqrt(T(row_sum<T, true>(xr, M) / double(M)) + eps);
  }
  *rstd = rs;
  if (w && b)
    for (int64_t i = 0; i < M; ++i) yr[i] = (xr[i] - mu) * rs * w[i] + b[i];
  else if (w)
    for (int64_t i = 0; i < M; ++i) yr[i] = (xr[i] - mu) * rs * w[i];
  else if (b)
    for (int64_t i = 0; i < M; ++i) yr[i] = (xr[i] - mu) * rs + b[i];
  else
    for (int64_t i = 0; i < M; ++i) yr[i] = (xr[i] - mu) * rs;
}

// One row of the backward: the two row sums, then dx and the dw / db partial rows (pw, pb;
// null when not wanted) in the same pass.
template <typename T>
EMBER_SIMD void backward_row(T* __restrict dr, T* __restrict pw, T* __restrict pb,
                             const T* __restrict gr, const T* __restrict xr, T mu, T rs,
                             const T* __restrict w, int64_t M, T invM, bool centred) {
  const bool want_p = pw != nullptr;
  constexpr int L = kLanes;
  T sg[L] = {}, sgx[L] = {};
  int64_t i = 0;
  for (; i + L <= M; i += L)
    for (int j = 0; j < L; ++j) {
      const T xh = (xr[i + j] - mu) * rs;
      const T g = w ? gr[i + j] * w[i + j] : gr[i + j];
      sg[j] += g;
      sgx[j] += g * xh;
    }
  T s1 = 0, s2 = 0;
  for (; i < M; ++i) {
    const T xh = (xr[i] - mu) * rs;
    const T g = w ? gr[i] * w[i] : gr[i];
    s1 += g;
    s2 += g * xh;
  }
  s1 += lane_sum<L>(sg);
  s2 += lane_sum<L>(sgx);
  const T m1 = centred ? s1 * invM : T(0), m2 = s2 * invM;  // (RMS norm: no mean to follow)
  // dx, and the dw/db partial rows in the same pass (w null: weight 1).
  if (want_p && w)
    for (int64_t c = 0; c < M; ++c) {
      const T xh = (xr[c] - mu) * rs;
      dr[c] = rs * (gr[c] * w[c] - m1 - xh * m2);
      pw[c] += gr[c] * xh;
      pb[c] += gr[c];
    }
  else if (want_p)
    for (int64_t c = 0; c < M; ++c) {
      const T xh = (xr[c] - mu) * rs;
      dr[c] = rs * (gr[c] - m1 - xh * m2);
      pw[c] += gr[c] * xh;
      pb[c] += gr[c];
    }
  else if (w)
    for (int64_t c = 0; c < M; ++c) {
      const T xh = (xr[c] - mu) * rs;
      dr[c] = rs * (gr[c] * w[c] - m1 - xh * m2);
    }
  else
    for (int64_t c = 0; c < M; ++c) {
      const T xh = (xr[c] - mu) * rs;
      dr[c] = rs * (gr[c] - m1 - xh * m2);
    }
}

}  // namespace

// x (N, M), w (M) or null, b (M) or null -> y (N, M), mean (N), rstd (N)
// y = (x - mean) * rstd * w + b, rstd = 1 / sqrt(var + eps) with the biased variance.
// mean null: RMS norm, y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps).
template <typename T>
void layer_norm_forward(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t N,
                        int64_t M, T eps) {
  EMBER_CHECK(N >= 0 && M >= 0, "layer_norm_forward: negative size (", N, ", ", M, ")");
  if (N == 0) return;
  const int nt = threads_for(mul_checked(N, M, "layer_norm_forward"), 1 << 15);
  parallel_for(nt, N, [&](int64_t r) {
    if (r + 1 < N) prefetch_row(x + (r + 1) * M, M);
    forward_row(y + r * M, mean ? mean + r : nullptr, rstd + r, x + r * M, w, b, M, eps);
  });
}

// dy, x (N, M), mean, rstd (N), w (M) or null -> dx (N, M), dw (M) or null, db (M) or null
// From y = xhat * w + b, xhat = (x - mean) * rstd, g = dy * w:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dw = sum_rows dy * xhat,  db = sum_rows dy.
// mean null: RMS norm's, xhat = x * rstd and no mean(g) term (nothing was subtracted).
template <typename T>
void layer_norm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* mean, const T* rstd,
                         const T* w, int64_t N, int64_t M) {
  EMBER_CHECK(N >= 0 && M >= 0, "layer_norm_backward: negative size (", N, ", ", M, ")");
  const bool want_p = dw || db;
  if (N == 0) {
    if (dw) std::fill(dw, dw + M, T(0));
    if (db) std::fill(db, db + M, T(0));
    return;
  }
  const int nt = threads_for(mul_checked(N, M, "layer_norm_backward"), 1 << 15);
  // Per-thread partial rows: [t][0] dw, [t][1] db.
  std::vector<T> part(want_p ? static_cast<size_t>(nt) * 2 * M : 0, T(0));
  const T invM = M > 0 ? T(1) / static_cast<T>(M) : T(0);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int t = nt > 1 ? omp_get_thread_num() : 0;
    T* pw = want_p ? part.data() + static_cast<size_t>(t) * 2 * M : nullptr;
    T* pb = want_p ? pw + M : nullptr;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < N; ++r) {
      if (r + 1 < N) {
        prefetch_row(x + (r + 1) * M, M);
        prefetch_row(dy + (r + 1) * M, M);
      }
      backward_row(dx + r * M, pw, pb, dy + r * M, x + r * M, mean ? mean[r] : T(0), rstd[r], w, M,
                   invM, mean != nullptr);
    }
  }
  if (!want_p) return;
  // Fixed-order reduction of the partial rows.
  for (int64_t c = 0; c < M; ++c) {
    T sw = 0, sb = 0;
    for (int t = 0; t < nt; ++t) {
      sw += part[static_cast<size_t>(t) * 2 * M + c];
      sb += part[static_cast<size_t>(t) * 2 * M + M + c];
    }
    if (dw) dw[c] = sw;
    if (db) db[c] = sb;
  }
}

// ---- group norm: the rows are (n, g), C/G channels of S positions each, and the affine is per
// channel. The statistics are layer norm's (row_stats); the parameter gradients go through
// per-(n, c) sums, reduced over n in order afterwards (deterministic for any thread count).

namespace {

// One (n, g) row of cg channels x S positions; w, b point at the group's first channel.
template <typename T>
EMBER_SIMD void group_forward_row(T* __restrict yr, T* mean, T* rstd, const T* __restrict xr,
                                  const T* w, const T* b, int64_t cg, int64_t S, T eps) {
  T mu, rs;
  row_stats(xr, cg * S, eps, mu, rs);
  *mean = mu;
  *rstd = rs;
  for (int64_t k = 0; k < cg; ++k) {
    const T wc = w ? w[k] : T(1), bc = b ? b[k] : T(0);
    const T* __restrict xs = xr + k * S;
    T* __restrict ys = yr + k * S;
    for (int64_t i = 0; i < S; ++i) ys[i] = (xs[i] - mu) * rs * wc + bc;
  }
}

// sum(dy) and sum(dy * (x - mu)) over one channel's S positions; centred, so a large common
// offset in x cancels exactly. Half-width steps after the full-width loop keep short channels
// (S = 49 for 7x7) vectorised.
template <typename T>
inline void channel_sums(const T* g, const T* x, int64_t S, T mu, T& a, T& b) {
  constexpr int L = kLanes;
  T sa[L] = {}, sb[L] = {};
  int64_t i = 0;
  for (; i + L <= S; i += L)
    for (int j = 0; j < L; ++j) {
      sa[j] += g[i + j];
      sb[j] += g[i + j] * (x[i + j] - mu);
    }
  T ha[L / 2] = {}, hb[L / 2] = {};  // own arrays: sharing sa, sb would keep them in memory
  for (; i + L / 2 <= S; i += L / 2)
    for (int j = 0; j < L / 2; ++j) {
      ha[j] += g[i + j];
      hb[j] += g[i + j] * (x[i + j] - mu);
    }
  T s1 = 0, s2 = 0;
  for (; i < S; ++i) {
    s1 += g[i];
    s2 += g[i] * (x[i] - mu);
  }
  a = s1 + lane_sum<L / 2>(ha) + lane_sum<L>(sa);
  b = s2 + lane_sum<L / 2>(hb) + lane_sum<L>(sb);
}

// One row of the backward: the per-channel sums (kept in pa, pb: row n's entries of the (N, C)
// partials: sum dy and sum dy * xhat), then
//   dx = rstd * (dy w - mean(dy w) - xhat * mean(dy w xhat)) = dy * A + xhat * B + C
// with A, B, C per channel (xhat, not x - mu, times B: rstd^2 underflows for huge x).
template <typename T>
EMBER_SIMD void group_backward_row(T* __restrict dr, T* pa, T* pb, const T* __restrict gr,
                                   const T* __restrict xr, T mu, T rs, const T* w, int64_t cg,
                                   int64_t S) {
  T s1 = 0, s2 = 0;
  for (int64_t k = 0; k < cg; ++k) {
    T sg, sgd;
    channel_sums(gr + k * S, xr + k * S, S, mu, sg, sgd);
    pa[k] = sg;
    pb[k] = sgd * rs;
    const T wc = w ? w[k] : T(1);
    s1 += wc * pa[k];
    s2 += wc * pb[k];
  }
  const T invM = cg * S > 0 ? T(1) / static_cast<T>(cg * S) : T(0);
  const T B = -rs * (s2 * invM), C = -rs * (s1 * invM);
  for (int64_t k = 0; k < cg; ++k) {
    const T A = rs * (w ? w[k] : T(1));
    const T* __restrict gs = gr + k * S;
    const T* __restrict xs = xr + k * S;
    T* __restrict ds = dr + k * S;
    for (int64_t i = 0; i < S; ++i) ds[i] = gs[i] * A + ((xs[i] - mu) * rs * B + C);
  }
}

void check_groups(const char* op, int64_t N, int64_t C, int64_t S, int64_t G) {
  EMBER_CHECK(N >= 0 && C >= 0 && S >= 0, op, ": negative size (", N, ", ", C, ", ", S, ")");
  EMBER_CHECK(G > 0 && C % G == 0, op, ": num_channels ", C, " must be divisible by num_groups ",
              G);
  numel_checked({N, C, S}, op);
}

}  // namespace

// x (N, C, S), w, b (C) or null -> y (N, C, S), mean, rstd (N, G):
// y = (x - mean) * rstd * w[c] + b[c] with the statistics of each (n, group) row of C/G * S values.
template <typename T>
void group_norm_forward(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t N,
                        int64_t C, int64_t S, int64_t G, T eps) {
  check_groups("group_norm_forward", N, C, S, G);
  const int64_t cg = C / G, M = cg * S;
  if (M == 0) {  // every group is empty: the same statistics for each, and no y to write (the
    // row loop walked all N * C empty channels)
    T mu, rs;
    row_stats(x, 0, eps, mu, rs);
    std::fill(mean, mean + N * G, mu);
    std::fill(rstd, rstd + N * G, rs);
    return;
  }
  const int nt = threads_for(N * C * S, 1 << 15);
  parallel_for(nt, N * G, [&](int64_t r) {
    const int64_t c0 = (r % G) * cg;
    group_forward_row(y + r * M, mean + r, rstd + r, x + r * M, w ? w + c0 : nullptr,
                      b ? b + c0 : nullptr, cg, S, eps);
  });
}

// dy, x (N, C, S), mean, rstd (N, G), w (C) or null -> dx (N, C, S), dw (C) or null, db (C) or
// null: dw = sum_{n,s} dy * xhat, db = sum_{n,s} dy.
template <typename T>
void group_norm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* mean, const T* rstd,
                         const T* w, int64_t N, int64_t C, int64_t S, int64_t G) {
  check_groups("group_norm_backward", N, C, S, G);
  const int64_t cg = C / G, M = cg * S;
  if (M == 0) {  // no values: dx is empty and dw, db sum nothing (the (N, C) partials could be
    // 2^40 long)
    if (dw) std::fill(dw, dw + C, T(0));
    if (db) std::fill(db, db + C, T(0));
    return;
  }
  std::vector<T> pa(static_cast<size_t>(N * C)), pb(static_cast<size_t>(N * C));
  const int nt = threads_for(N * C * S, 1 << 15);
  parallel_for(nt, N * G, [&](int64_t r) {
    const int64_t c0 = (r % G) * cg, off = (r / G) * C + c0;
    group_backward_row(dx + r * M, pa.data() + off, pb.data() + off, dy + r * M, x + r * M, mean[r],
                       rstd[r], w ? w + c0 : nullptr, cg, S);
  });
  for (int64_t c = 0; c < C; ++c) {
    T sa = 0, sb = 0;
    for (int64_t n = 0; n < N; ++n) {
      sa += pa[static_cast<size_t>(n * C + c)];
      sb += pb[static_cast<size_t>(n * C + c)];
    }
    if (db) db[c] = sa;
    if (dw) dw[c] = sb;
  }
}

template void group_norm_forward<float>(float*, float*, float*, const float*, const float*,
                                        const float*, int64_t, int64_t, int64_t, int64_t, float);
template void group_norm_forward<double>(double*, double*, double*, const double*, const double*,
                                         const double*, int64_t, int64_t, int64_t, int64_t, double);
template void group_norm_backward<float>(float*, float*, float*, const float*, const float*,
                                         const float*, const float*, const float*, int64_t, int64_t,
                                         int64_t, int64_t);
template void group_norm_backward<double>(double*, double*, double*, const double*, const double*,
                                          const double*, const double*, const double*, int64_t,
                                          int64_t, int64_t, int64_t);

template void layer_norm_forward<float>(float*, float*, float*, const float*, const float*,
                                        const float*, int64_t, int64_t, float);
template void layer_norm_forward<double>(double*, double*, double*, const double*, const double*,
                                         const double*, int64_t, int64_t, double);
template void layer_norm_backward<float>(float*, float*, float*, const float*, const float*,
                                         const float*, const float*, const float*, int64_t,
                                         int64_t);
template void layer_norm_backward<double>(double*, double*, double*, const double*, const double*,
                                          const double*, const double*, const double*, int64_t,
                                          int64_t);

}  // namespace ember
