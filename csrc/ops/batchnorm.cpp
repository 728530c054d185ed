// Batch normalisation over (N, C, S): inputs (N,C), (N,C,L) and (N,C,H,W) are viewed as (N, C, S)
// with S the product of the trailing dimensions. Statistics per channel over N*S values, in one
// pass of shifted sums in double (shift = the channel's first value, so a large mean does not
// cancel), with 32 independent lanes so the loop vectorises without reassociation. Parallel over
// channels; each channel's sums run in a fixed order, so results do not depend on the threads.
#include <algorithm>
#include <cmath>
#include <limits>

#include "common.h"
#include "moments.h"
#include "vecmath.h"

namespace ember {

namespace {

// 32 double accumulators per sum (four 512-bit vectors): GCC 12 vectorises the float -> double
// lanes at this width; with 8 or 16 lanes it compiled one cvtss2sd per value (scalar, and the
// bottleneck of the whole op). Rows whose length is not a multiple of 32 (7x7 = 49) take one
// half-width step and then single values, each into accumulators of their own.
constexpr int kLanes = 32;

// a[0] + ... + a[n-1] for n a power of two, as a tree of halves (a fixed order).
template <int n>
inline double lane_sum(double* a) {
  if constexpr (n == 1) {
    return a[0];
  } else {
    for (int j = 0; j < n / 2; ++j) a[j] += a[j + n / 2];
    return lane_sum<n / 2>(a);
  }
}

// s += sum(x - shift), q += sum((x - shift)^2) over channel c of (N, C, S).
template <typename T>
EMBER_SIMD void shifted_sums(const T* x, int64_t N, int64_t C, int64_t S, int64_t c, double shift,
                             double* s, double* q) {
  constexpr int L = kLanes, H = kLanes / 2;
  double as[L] = {0}, aq[L] = {0}, hs[H] = {0}, hq[H] = {0}, ts = 0, tq = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* p = x + (n * C + c) * S;
    int64_t i = 0;
    for (; i + L <= S; i += L)
      for (int j = 0; j < L; ++j) {
        const double d = double(p[i + j]) - shift;
        as[j] += d;
        aq[j] += d * d;
      }
    for (; i + H <= S; i += H)
      for (int j = 0; j < H; ++j) {
        const double d = double(p[i + j]) - shift;
        hs[j] += d;
        hq[j] += d * d;
      }
    for (; i < S; ++i) {
      const double d = double(p[i]) - shift;
      ts += d;
      tq += d * d;
    }
  }
  *s = lane_sum<L>(as) + lane_sum<H>(hs) + ts;
  *q = lane_sum<L>(aq) + lane_sum<H>(hq) + tq;
}

// a += sum(dy), b += sum(dy * (x - mean)) over channel c (lanes as shifted_sums).
template <typename T>
EMBER_SIMD void grad_sums(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, int64_t c,
                          double mean, double* a, double* b) {
  constexpr int L = kLanes, H = kLanes / 2;
  double sa[L] = {0}, sb[L] = {0}, ha[H] = {0}, hb[H] = {0}, ta = 0, tb = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T* g = dy + (n * C + c) * S;
    const T* p = x + (n * C + c) * S;
    int64_t i = 0;
    for (; i + L <= S; i += L)
      for (int j = 0; j < L; ++j) {
        const double d = double(g[i + j]);
        sa[j] += d;
        sb[j] += d * (double(p[i + j]) - mean);
      }
    for (; i + H <= S; i += H)
      for (int j = 0; j < H; ++j) {
        const double d = double(g[i + j]);
        ha[j] += d;
        hb[j] += d * (double(p[i + j]) - mean);
      }
    for (; i < S; ++i) {
      const double d = double(g[i]);
      ta += d;
      tb += d * (double(p[i]) - mean);
    }
  }
  *a = lane_sum<L>(sa) + lane_sum<H>(ha) + ta;
  *b = lane_sum<L>(sb) + lane_sum<H>(hb) + tb;
}

// sum(x) over channel c, in plain order (the rare non-finite path of batch_norm_forward).
template <typename T>
double channel_sum(const T* x, int64_t N, int64_t C, int64_t S, int64_t c) {
  double s = 0;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < S; ++i) s += double(x[(n * C + c) * S + i]);
  return s;
}

void check_sizes(const char* op, int64_t N, int64_t C, int64_t S, bool training) {
  EMBER_CHECK(N >= 0 && C >= 0 && S >= 0, op, ": negative size (", N, ", ", C, ", ", S, ")");
  const int64_t M = mul_checked(N, S, op);
  numel_checked({N, C, S}, op);
  EMBER_CHECK(!training || M > 1, op,
              ": Expected more than 1 value per channel when training, got input viewed as (N, C, "
              "S) = (",
              N, ", ", C, ", ", S, ")");
}

// y = (x - m) * scale + b over channel c (the forward's second pass). The workers above and
// below are compiled per ISA (EMBER_SIMD, see vecmath.h).
template <typename T>
EMBER_SIMD void normalise_channel(T* y, const T* x, int64_t N, int64_t C, int64_t S, int64_t c, T m,
                                  T scale, T b) {
  for (int64_t n = 0; n < N; ++n) {
    const T* __restrict p = x + (n * C + c) * S;
    T* __restrict q = y + (n * C + c) * S;
    for (int64_t i = 0; i < S; ++i) q[i] = (p[i] - m) * scale + b;
  }
}

// dx = a * dy + b * (x - m) * r + d over channel c (training), or a * dy (eval). r != 1 only for
// huge x (see coefs in batch_norm_backward), so the common loop keeps its two FMAs.
template <typename T>
EMBER_SIMD void input_grad_channel(T* dx, const T* dy, const T* x, int64_t N, int64_t C, int64_t S,
                                   int64_t c, T a, T b, T d, T m, T r, bool training) {
  for (int64_t n = 0; n < N; ++n) {
    const T* __restrict g = dy + (n * C + c) * S;
    const T* __restrict p = x + (n * C + c) * S;
    T* __restrict q = dx + (n * C + c) * S;
    if (training) {
      if (r == T(1))
        for (int64_t i = 0; i < S; ++i) q[i] = a * g[i] + b * (p[i] - m) + d;
      else
        for (int64_t i = 0; i < S; ++i) q[i] = a * g[i] + b * ((p[i] - m) * r) + d;
    } else {
      for (int64_t i = 0; i < S; ++i) q[i] = a * g[i];
    }
  }
}

// S == 1 ((N, C) input, BatchNorm1d's common case): a channel's values are C apart, so a
// per-channel loop would touch one cache line per value. Instead a block of kBlock channels is the
// vector lane and the rows stream past it; each channel still sums over n in order, as the
// per-channel path does for S == 1, so the results are the same bit for bit.
constexpr int64_t kBlock = 64;

// s[j] += sum_n (x[n, c0 + j] - shift[j]), q[j] likewise squared, for j < w.
template <typename T>
EMBER_SIMD void shifted_sums_rows(const T* x, int64_t N, int64_t C, int64_t c0, int64_t w,
                                  const double* shift, double* s, double* q) {
  for (int64_t n = 0; n < N; ++n) {
    const T* p = x + n * C + c0;
    for (int64_t j = 0; j < w; ++j) {
      const double d = double(p[j]) - shift[j];
      s[j] += d;
      q[j] += d * d;
    }
  }
}

// a[j] += sum_n dy[n, c0 + j], b[j] += sum_n dy * (x - mean[j]).
template <typename T>
EMBER_SIMD void grad_sums_rows(const T* dy, const T* x, int64_t N, int64_t C, int64_t c0, int64_t w,
                               const double* mean, double* a, double* b) {
  for (int64_t n = 0; n < N; ++n) {
    const T* g = dy + n * C + c0;
    const T* p = x + n * C + c0;
    for (int64_t j = 0; j < w; ++j) {
      a[j] += double(g[j]);
      b[j] += double(g[j]) * (double(p[j]) - mean[j]);
    }
  }
}

// out[n, c0 + j] = a[j] * u[n, c0 + j] + k[j] * (v[n, c0 + j] - m[j]) * r[j] + d[j]
// (v null: no k term; r null: r = 1).
template <typename T>
EMBER_SIMD void affine_rows(T* out, const T* u, const T* v, int64_t N, int64_t C, int64_t c0,
                            int64_t w, const T* a, const T* k, const T* m, const T* r, const T* d) {
  for (int64_t n = 0; n < N; ++n) {
    const T* __restrict up = u + n * C + c0;
    T* __restrict q = out + n * C + c0;
    if (v) {
      const T* __restrict vp = v + n * C + c0;
      if (r)
        for (int64_t j = 0; j < w; ++j) q[j] = a[j] * up[j] + k[j] * ((vp[j] - m[j]) * r[j]) + d[j];
      else
        for (int64_t j = 0; j < w; ++j) q[j] = a[j] * up[j] + k[j] * (vp[j] - m[j]) + d[j];
    } else {
      for (int64_t j = 0; j < w; ++j) q[j] = (up[j] - m[j]) * a[j] + d[j];
    }
  }
}

// Runs f(c0, w) over the channel blocks, in parallel when big.
template <typename F>
void for_channel_blocks(int64_t N, int64_t C, F&& f) {
  const int64_t nblk = (C + kBlock - 1) / kBlock;
  const int nt = threads_for(N * C, 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t b = 0; b < nblk; ++b) f(b * kBlock, std::min(kBlock, C - b * kBlock));
}

}  // namespace

// x (N,C,S), weight (C) or null, bias (C) or null, running_mean (C) / running_var (C) or null
//   -> y (N,C,S), save_mean (C), save_invstd (C)
// training: batch statistics; save_invstd = 1/sqrt(biased var + eps); running stats (when given)
//   updated in place: r = (1-momentum)*r + momentum*stat, running_var with the unbiased variance.
// eval: running statistics (required); save_mean = running_mean, save_invstd = 1/sqrt(rv + eps).
template <typename T>
void batch_norm_forward(T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                        const T* x, const T* weight, const T* bias, int64_t N, int64_t C, int64_t S,
                        bool training, double momentum, double eps) {
  check_sizes("batch_norm", N, C, S, training);
  EMBER_CHECK(training || (running_mean && running_var),
              "batch_norm: running_mean and running_var are required when training=False");
  const int64_t M = N * S;
  // channel c's statistics from its shifted sums (training) or the running ones (eval)
  auto stats = [&](int64_t c, double shift, double s, double q, double* mean, double* invstd) {
    if (training) {
      const double dm = s / double(M);
      double var = std::max(q / double(M) - dm * dm, 0.0);
      *mean = shift + dm;
      *invstd = 1.0 / std::sqrt(var + eps);
      if (!(std::isfinite(var) && std::isfinite(*mean))) {
        // finite values whose shifted sums overflowed: the scaled path (moments.h)
        if (scaled_moments(x + c * S, N, S, C * S, eps, *mean, *invstd)) {
          var = *invstd > 0 ? 1.0 / (*invstd * *invstd) - eps : HUGE_VAL;
        } else {
          // a NaN or infinite value: PyTorch's plain mean (+-inf or NaN) and a NaN variance
          // (the shifted sums give NaN for an infinite shift)
          *mean = channel_sum(x, N, C, S, c) / double(M);
          var = *invstd = std::numeric_limits<double>::quiet_NaN();
        }
      }
      if (running_mean)
        running_mean[c] = T((1.0 - momentum) * double(running_mean[c]) + momentum * *mean);
      if (running_var)
        running_var[c] = T((1.0 - momentum) * double(running_var[c]) +
                           momentum * var * double(M) / double(M - 1));
    } else {
      *mean = double(running_mean[c]);
      *invstd = 1.0 / std::sqrt(double(running_var[c]) + eps);
    }
    save_mean[c] = T(*mean);
    save_invstd[c] = T(*invstd);
  };
  if (S == 1) {
    for_channel_blocks(N, C, [&](int64_t c0, int64_t w) {
      double shift[kBlock], s[kBlock] = {0}, q[kBlock] = {0};
      for (int64_t j = 0; j < w; ++j) shift[j] = training ? double(x[c0 + j]) : 0.0;
      if (training) shifted_sums_rows(x, N, C, c0, w, shift, s, q);
      T m[kBlock], scale[kBlock], b[kBlock];
      for (int64_t j = 0; j < w; ++j) {
        const int64_t c = c0 + j;
        double mean, invstd;
        stats(c, shift[j], s[j], q[j], &mean, &invstd);
        m[j] = T(mean);
        scale[j] = T((weight ? double(weight[c]) : 1.0) * invstd);
        b[j] = bias ? bias[c] : T(0);
      }
      affine_rows<T>(y, x, nullptr, N, C, c0, w, scale, nullptr, m, nullptr, b);
    });
    return;
  }
  const int nt = threads_for(mul_checked(M, C, "batch_norm"), 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t c = 0; c < C; ++c) {
    double mean, invstd, shift = 0, s = 0, q = 0;
    if (training) {
      shift = double(x[c * S]);  // M > 1, so x[0, c, 0] exists
      shifted_sums(x, N, C, S, c, shift, &s, &q);
    }
    stats(c, shift, s, q, &mean, &invstd);
    const T m = T(mean);
    const T scale = T((weight ? double(weight[c]) : 1.0) * invstd);
    normalise_channel(y, x, N, C, S, c, m, scale, bias ? bias[c] : T(0));
  }
}

// Backward of  x (N,C,S), weight (C) -> y (N,C,S)  given forward's save_mean (C), save_invstd (C):
// dy (N,C,S) -> dx (N,C,S), dweight (C), dbias (C); any output may be null (not computed).
// training: dx = w*invstd*(dy - mean(dy) - xhat*mean(dy*xhat)); eval: dx = w*invstd*dy
// (the statistics are constants). dweight = sum(dy*xhat), dbias = sum(dy). weight null means 1.
template <typename T>
void batch_norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight,
                         const T* save_mean, const T* save_invstd, int64_t N, int64_t C, int64_t S,
                         bool training) {
  check_sizes("batch_norm_backward", N, C, S, false);
  const int64_t M = N * S;
  // dx = k1*dy + k2*(x - mean)*r + k3 from channel c's sums; r = 1 unless invstd^3 in k2
  // underflows (huge x), then r = invstd and k2 holds the other invstd^2
  auto coefs = [&](int64_t c, double sdy, double sdyx, double* k1, double* k2, double* k3,
                   double* r) {
    const double invstd = double(save_invstd[c]), w = weight ? double(weight[c]) : 1.0;
    if (dbias) dbias[c] = T(sdy);
    if (dweight) dweight[c] = T(sdyx * invstd);
    *k1 = w * invstd;
    *k2 = *k3 = 0;
    *r = 1;
    if (training && M > 0) {
      *k2 = -w * invstd * invstd * invstd * sdyx / double(M);
      if (std::fabs(*k2) < double(std::numeric_limits<T>::min()) && invstd < 1) {
        *r = invstd;
        *k2 = -w * invstd * (invstd * sdyx) / double(M);
      }
      *k3 = -w * invstd * sdy / double(M);
    }
  };
  if (S == 1) {
    for_channel_blocks(N, C, [&](int64_t c0, int64_t w) {
      double mean[kBlock] = {0}, sdy[kBlock] = {0}, sdyx[kBlock] = {0};
      for (int64_t j = 0; j < w; ++j) mean[j] = double(save_mean[c0 + j]);
      if (dweight || dbias || (dx && training)) grad_sums_rows(dy, x, N, C, c0, w, mean, sdy, sdyx);
      T k1[kBlock], k2[kBlock], k3[kBlock], m[kBlock], r[kBlock];
      bool scaled = false;
      for (int64_t j = 0; j < w; ++j) {
        double a, b, d, rj;
        coefs(c0 + j, sdy[j], sdyx[j], &a, &b, &d, &rj);
        k1[j] = T(a), k2[j] = T(b), k3[j] = T(d), r[j] = T(rj);
        scaled |= rj != 1;
        m[j] = training ? T(mean[j]) : T(0);  // eval: dx = k1 * (dy - 0) + 0
      }
      if (dx)
        affine_rows<T>(dx, dy, training ? x : nullptr, N, C, c0, w, k1, k2, m, scaled ? r : nullptr,
                       k3);
    });
    return;
  }
  const int nt = threads_for(mul_checked(M, C, "batch_norm_backward"), 1 << 14);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t c = 0; c < C; ++c) {
    const double mean = double(save_mean[c]);
    double sdy = 0, sdyx = 0, k1, k2, k3, r;
    if (dweight || dbias || (dx && training)) grad_sums(dy, x, N, C, S, c, mean, &sdy, &sdyx);
    coefs(c, sdy, sdyx, &k1, &k2, &k3, &r);
    if (!dx) continue;
    input_grad_channel(dx, dy, x, N, C, S, c, T(k1), T(k2), T(k3), T(mean), T(r), training);
  }
}

template void batch_norm_forward<float>(float*, float*, float*, float*, float*, const float*,
                                        const float*, const float*, int64_t, int64_t, int64_t, bool,
                                        double, double);
template void batch_norm_forward<double>(double*, double*, double*, double*, double*, const double*,
                                         const double*, const double*, int64_t, int64_t, int64_t,
                                         bool, double, double);
template void batch_norm_backward<float>(float*, float*, float*, const float*, const float*,
                                         const float*, const float*, const float*, int64_t, int64_t,
                                         int64_t, bool);
template void batch_norm_backward<double>(double*, double*, double*, const double*, const double*,
                                          const double*, const double*, const double*, int64_t,
                                          int64_t, int64_t, bool);

}  // namespace ember
