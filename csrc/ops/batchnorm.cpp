// Batch normalisation over (N, C, S): inputs (N,C), (N,C,L) and (N,C,H,W) are viewed as (N, C, S)
// with S the product of the trailing dimensions. Statistics per channel over N*S values, in one
// pass of shifted sums in double (shift = the channel's first value, so a large mean does not
// cancel), with 32 independent lanes so the loop vectorises without reassociation. Parallel over
// channels; each channel's sums run in a fixed order, so results do not depend on the threads.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common.h"
#include "moments.h"
#include "vecmath.h"

namespace ember {

namespace {

// 32 double accumulators per sum (four 512-bit vectors): GCC 12 vectorises the float -> double
// lanes at this width; with 8 or 16 lanes it compiled one cvtss2sd per value (scalar, and the
// bottleneck of the whole op). A row's last S % 32 values (17 of 7x7 = 49) go through the same
// 32-lane step from a padded copy whose padding adds exact zeros, so short rows stay vectorised.
constexpr int kLanes = 32;

// as += p - shift, aq += (p - shift)^2 lane by lane over kLanes values.
template <typename T>
inline void shifted_step(const T* p, double shift, double* as, double* aq) {
  for (int j = 0; j < kLanes; ++j) {
    const double d = double(p[j]) - shift;
    as[j] += d;
    aq[j] += d * d;
  }
}

// s += sum(x - shift), q += sum((x - shift)^2) over channel c of (N, C, S). shift is a value of
// x (x[0, c, 0]), so padding with it adds d = 0 exactly.
template <typename T>
EMBER_SIMD void shifted_sums(const T* x, int64_t N, int64_t C, int64_t S, int64_t c, double shift,
                             double* s, double* q) {
  double as[kLanes] = {0}, aq[kLanes] = {0};
  T pad[kLanes];
  for (int64_t n = 0; n < N; ++n) {
    const T* p = x + (n * C + c) * S;
    int64_t i = 0;
    for (; i + kLanes <= S; i += kLanes) shifted_step(p + i, shift, as, aq);
    if (i < S) {
      for (int j = 0; j < kLanes; ++j) pad[j] = i + j < S ? p[i + j] : T(shift);
      shifted_step(pad, shift, as, aq);
    }
  }
  *s = lane_sum<kLanes>(as);
  *q = lane_sum<kLanes>(aq);
}

// sa += g, sb += g * (p - mean) lane by lane over kLanes values.
template <typename T>
inline void grad_step(const T* g, const T* p, double mean, double* sa, double* sb) {
  for (int j = 0; j < kLanes; ++j) {
    const double d = double(g[j]);
    sa[j] += d;
    sb[j] += d * (double(p[j]) - mean);
  }
}

// a += sum(dy), b += sum(dy * (x - mean)) over channel c (lanes as shifted_sums; the padding
// is dy = 0 at x = 0, so it adds zeros while mean is finite, and a non-finite mean makes the
// sums NaN anyway).
template <typename T>
EMBER_SIMD void grad_sums(const T* dy, const T* x, int64_t N, int64_t C, int64_t S, int64_t c,
                          double mean, double* a, double* b) {
  double sa[kLanes] = {0}, sb[kLanes] = {0};
  T pg[kLanes], px[kLanes];
  for (int64_t n = 0; n < N; ++n) {
    const T* g = dy + (n * C + c) * S;
    const T* p = x + (n * C + c) * S;
    int64_t i = 0;
    for (; i + kLanes <= S; i += kLanes) grad_step(g + i, p + i, mean, sa, sb);
    if (i < S) {
      for (int j = 0; j < kLanes; ++j) {
        pg[j] = i + j < S ? g[i + j] : T(0);
        px[j] = i + j < S ? p[i + j] : T(0);
      }
      grad_step(pg, px, mean, sa, sb);
    }
  }
  *a = lane_sum<kLanes>(sa);
  *b = lane_sum<kLanes>(sb);
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

// Small S ((N, C) input, 7x7 images): a channel's rows are short and far apart, so a
// per-channel loop pays its per-row costs (or, for S == 1, a cache line per value) on a few values.
// Instead x is viewed as (N, C*S): a block of whole channels is a contiguous run of columns in
// every image; the columns are the vector lanes and the images stream past them. Each column sums
// over n in order and a channel's total adds its S column sums in order: the same result for any
// blocking, so for any thread count.
constexpr int64_t kColumns = 512;  // columns per block (sums in L1)
// S below this takes the column path (measured: 12x12 gains from it, 14x14 loses)
constexpr int64_t kSmallS = 160;

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

// Runs f(c0, kb) over blocks of kb whole channels (at most kColumns columns), in parallel when
// big; at least one block per thread.
template <typename F>
void for_channel_blocks(int64_t N, int64_t C, int64_t S, F&& f) {
  const int nt = threads_for(N * C * S, 1 << 14);
  const int64_t kb =
      std::max<int64_t>(1, std::min(kColumns / std::max<int64_t>(S, 1), (C + nt - 1) / nt));
  const int64_t nblk = (C + kb - 1) / kb;
  parallel_for(nt, nblk, [&](int64_t b) { f(b * kb, std::min(kb, C - b * kb)); });
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
  if (S < kSmallS) {
    for_channel_blocks(N, C, S, [&](int64_t c0, int64_t kb) {
      const int64_t w = kb * S, j0 = c0 * S;  // the block's columns of the (N, C*S) view
      double shift[kColumns] = {0}, s[kColumns] = {0}, q[kColumns] = {0};
      for (int64_t k = 0; k < kb; ++k)
        std::fill(shift + k * S, shift + (k + 1) * S, training ? double(x[(c0 + k) * S]) : 0.0);
      if (training) shifted_sums_rows(x, N, C * S, j0, w, shift, s, q);
      T m[kColumns], scale[kColumns], b[kColumns];
      for (int64_t k = 0; k < kb; ++k) {
        const int64_t c = c0 + k;
        double sc = 0, qc = 0, mean, invstd;
        for (int64_t i = k * S; i < (k + 1) * S; ++i) sc += s[i], qc += q[i];
        stats(c, shift[k * S], sc, qc, &mean, &invstd);
        std::fill(m + k * S, m + (k + 1) * S, T(mean));
        std::fill(scale + k * S, scale + (k + 1) * S,
                  T((weight ? double(weight[c]) : 1.0) * invstd));
        std::fill(b + k * S, b + (k + 1) * S, bias ? bias[c] : T(0));
      }
      affine_rows<T>(y, x, nullptr, N, C * S, j0, w, scale, nullptr, m, nullptr, b);
    });
    return;
  }
  const int nt = threads_for(mul_checked(M, C, "batch_norm"), 1 << 14);
  std::vector<T> ms(static_cast<size_t>(C)), scales(static_cast<size_t>(C));
  parallel_for(training ? nt : 1, C, [&](int64_t c) {
    double mean, invstd, shift = 0, s = 0, q = 0;
    if (training) {
      shift = double(x[c * S]);  // M > 1, so x[0, c, 0] exists
      shifted_sums(x, N, C, S, c, shift, &s, &q);
    }
    stats(c, shift, s, q, &mean, &invstd);
    ms[c] = T(mean);
    scales[c] = T((weight ? double(weight[c]) : 1.0) * invstd);
  });
  // then the (image, channel) planes in memory order: channel by channel strode across the
  // images and ran at half a copy's speed (eval at (16, 64, 56, 56): 1.3 ms, torch 0.9 ms)
  parallel_for(nt, N * C, [&](int64_t p) {
    const int64_t c = p % C;
    normalise_channel(y + p * S, x + p * S, 1, 1, S, 0, ms[c], scales[c], bias ? bias[c] : T(0));
  });
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
  if (S < kSmallS) {
    for_channel_blocks(N, C, S, [&](int64_t c0, int64_t kb) {
      const int64_t w = kb * S, j0 = c0 * S;  // the block's columns of the (N, C*S) view
      double mean[kColumns] = {0}, sdy[kColumns] = {0}, sdyx[kColumns] = {0};
      for (int64_t k = 0; k < kb; ++k)
        std::fill(mean + k * S, mean + (k + 1) * S, double(save_mean[c0 + k]));
      if (dweight || dbias || (dx && training))
        grad_sums_rows(dy, x, N, C * S, j0, w, mean, sdy, sdyx);
      T k1[kColumns], k2[kColumns], k3[kColumns], m[kColumns], r[kColumns];
      bool scaled = false;
      for (int64_t k = 0; k < kb; ++k) {
        double sa = 0, sb = 0, a, b, d, rk;
        for (int64_t i = k * S; i < (k + 1) * S; ++i) sa += sdy[i], sb += sdyx[i];
        coefs(c0 + k, sa, sb, &a, &b, &d, &rk);
        scaled |= rk != 1;
        const int64_t i0 = k * S, i1 = i0 + S;
        std::fill(k1 + i0, k1 + i1, T(a));
        std::fill(k2 + i0, k2 + i1, T(b));
        std::fill(k3 + i0, k3 + i1, T(d));
        std::fill(r + i0, r + i1, T(rk));
        std::fill(m + i0, m + i1, training ? T(mean[i0]) : T(0));  // eval: dx = k1 * (dy - 0)
      }
      if (dx)
        affine_rows<T>(dx, dy, training ? x : nullptr, N, C * S, j0, w, k1, k2, m,
                       scaled ? r : nullptr, k3);
    });
    return;
  }
  const int nt = threads_for(mul_checked(M, C, "batch_norm_backward"), 1 << 14);
  parallel_for(nt, C, [&](int64_t c) {
    const double mean = double(save_mean[c]);
    double sdy = 0, sdyx = 0, k1, k2, k3, r;
    if (dweight || dbias || (dx && training)) grad_sums(dy, x, N, C, S, c, mean, &sdy, &sdyx);
    coefs(c, sdy, sdyx, &k1, &k2, &k3, &r);
    if (!dx) return;
    input_grad_channel(dx, dy, x, N, C, S, c, T(k1), T(k2), T(k3), T(mean), T(r), training);
  });
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
