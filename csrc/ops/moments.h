// Normalisation statistics shared by layer, group and batch norm: lane_sum, the fixed-order sum of
// a vector of lane accumulators, and moments that cannot overflow: the rare-path fallback used
// when a finite row's fast sums overflowed (|x| above ~1e154 in float64, where (x - mean)^2
// is out of range). The values are scaled by an exact power of two, 2^-e with e the exponent of
// max |x|, so the scaled moments are those of numbers in [-2, 2]; mean and rstd are scaled back
// exactly. PyTorch returns NaN or 0 there (its variance overflows); this gives the finite result.
#pragma once

#include <cmath>
#include <cstdint>

namespace ember {

// s[0] + ... + s[n-1] for n a power of two, as a tree of halves (a fixed order): log2(n) vector
// adds, where a chain of n dependent scalar adds (the strict order without fast-math) cost ~100
// cycles per row sum in layer norm, more than the sums' own work for rows of a few hundred values.
// Recursive, so every step has a constant trip count and unrolls into register adds (a loop over
// the widths stayed a loop of scalar adds through the stack). Layer, group and batch norm's sums.
template <int n, typename T>
inline T lane_sum(T* s) {
  if constexpr (n == 1) {
    return s[0];
  } else {
    for (int j = 0; j < n / 2; ++j) s[j] += s[j + n / 2];
    return lane_sum<n / 2>(s);
  }
}

// Values x[b * stride + i] for b < nb, i < len (a row: nb = 1; a batch-norm channel: nb = N,
// stride = C * S). Returns false (outputs untouched) when a value is NaN or infinite: those
// propagate through the ordinary path.
template <typename T>
bool scaled_moments(const T* x, int64_t nb, int64_t len, int64_t stride, double eps, double& mean,
                    double& rstd) {
  double amax = 0;
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t i = 0; i < len; ++i) {
      const double v = std::fabs(double(x[b * stride + i]));
      amax = (v > amax || v != v) ? v : amax;  // a NaN sticks (fmax would skip it)
    }
  const double M = double(nb) * double(len);
  if (!std::isfinite(amax) || M <= 0 || amax == 0) return false;
  const double s = std::ldexp(1.0, -std::ilogb(amax));  // exact
  double sum = 0, sq = 0;
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t i = 0; i < len; ++i) sum += double(x[b * stride + i]) * s;
  const double m = sum / M;
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t i = 0; i < len; ++i) {
      const double d = double(x[b * stride + i]) * s - m;
      sq += d * d;
    }
  const double var = sq / M;  // of the scaled values
  mean = m / s;
  // 1/sqrt(var / s^2 + eps) without forming var / s^2; var == 0 means a constant row
  rstd = var > 0 ? s / std::sqrt(var + eps * s * s) : 1.0 / std::sqrt(eps);
  return true;
}

}  // namespace ember
