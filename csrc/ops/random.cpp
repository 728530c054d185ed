// Random sampling: normal_fill, normal samples (times std, plus mean) on a counter-based stream,
// so any thread can compute any part of it and the result does not depend on the thread count.
//
// The stream: Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC11;
// passes BigCrush; cuRAND's, JAX's and PyTorch's GPU generator) maps a counter and a 64-bit key
// to four 32-bit words. The key is one 64-bit draw from ember's NumPy generator
// (python/ember/random.py), so manual_seed, get/set_rng_state and fork_rng govern these samples
// as every other draw. Philox needs only 32x32 -> 64-bit products, which AVX2 has (SplitMix64's
// 64-bit products it has not: that loop stayed scalar, ~15 ns a sample).
//
// The transform: Box-Muller, u1 in (0, 1] and u2 in [0, 1) to r = sqrt(-2 ln u1) and the pair
// r cos(2 pi u2), r sin(2 pi u2). float takes 24 bits for each uniform (as PyTorch: the tail
// reaches 5.8 sigma) and so two pairs from one counter's four words; double takes 52 bits from
// two words each, one pair a counter. ln, sin and cos are vecmath.h's, so the loops vectorise.
//
// The layout: counters go in blocks of kCtrs; block b writes outputs [b * kBlock, (b + 1) * kBlock)
// as kPairs cosine runs and kPairs sine runs of kCtrs each, contiguous runs so stores vectorise.
// Threads split whole blocks; a short last block is computed whole and its head copied.
//
// randperm_fill: Fisher-Yates on the same stream's words (Lemire's bounded integers).
//
// Also multinomial draws with replacement, by inverse CDF as torch's: the running totals of a
// row in double, and for each uniform u the first category whose running total passes u times
// the row's total (a binary search), so zero-weight categories are never drawn.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

constexpr int64_t kCtrs = 64;  // counters per block
template <typename T>
constexpr int64_t kPairs = sizeof(T) == 4 ? 2 : 1;  // Box-Muller pairs per counter
template <typename T>
constexpr int64_t kBlock = 2 * kPairs<T> * kCtrs;  // outputs per block

// w[0..3][j] = Philox4x32-10 of counter (c + j, c >> 32, 0, 0) under key (k0, k1), j < kCtrs;
// c is a multiple of kCtrs, so c + j never carries into the high word. (j < m only, if given)
inline void philox_block(uint32_t (&w)[4][kCtrs], uint64_t c, uint64_t key, int64_t m = kCtrs) {
  for (int64_t j = 0; j < m; ++j) {
    uint32_t x0 = uint32_t(c) + uint32_t(j), x1 = uint32_t(c >> 32), x2 = 0, x3 = 0;
    uint32_t k0 = uint32_t(key), k1 = uint32_t(key >> 32);
    for (int round = 0; round < 10; ++round) {
      const uint64_t p0 = uint64_t(0xD2511F53u) * x0, p1 = uint64_t(0xCD9E8D57u) * x2;
      x0 = uint32_t(p1 >> 32) ^ x1 ^ k0;
      x1 = uint32_t(p1);
      x2 = uint32_t(p0 >> 32) ^ x3 ^ k1;
      x3 = uint32_t(p0);
      k0 += 0x9E3779B9u;  // the Weyl key schedule
      k1 += 0xBB67AE85u;
    }
    w[0][j] = x0;
    w[1][j] = x1;
    w[2][j] = x2;
    w[3][j] = x3;
  }
}

// One Box-Muller pair per j < m: cos to c[j], sin to s[j].
inline void box_muller(float* c, float* s, const uint32_t* a, const uint32_t* b, float mean,
                       float std, int64_t m = kCtrs) {
  for (int64_t j = 0; j < m; ++j) {
    const float u1 = float(int32_t(a[j] >> 8) + 1) * 0x1p-24f;  // (0, 1]: ln stays finite
    const float u2 = float(int32_t(b[j] >> 8)) * 0x1p-24f;
    const float r = std * std::sqrt(-2.0f * vlog(u1));
    const float angle = 6.28318530717958648f * u2;
    c[j] = mean + r * vsincos<true>(angle);
    s[j] = mean + r * vsincos<false>(angle);
  }
}

// double: 52 bits a uniform, from the two words (hi, lo) as m in [1, 2) (exponent bits set; no
// 64-bit integer to double conversion in AVX2)
inline void box_muller(double* c, double* s, const uint32_t (&w)[4][kCtrs], double mean, double std,
                       int64_t m = kCtrs) {
  constexpr uint64_t kOne = 0x3ff0000000000000ull;
  for (int64_t j = 0; j < m; ++j) {
    const uint64_t a = (uint64_t(w[0][j]) << 20) | (w[1][j] >> 12);  // 32 + 20 bits
    const uint64_t b = (uint64_t(w[2][j]) << 20) | (w[3][j] >> 12);
    const double u1 = 2.0 - vm::from_bits(kOne | a);  // (0, 1]
    const double u2 = vm::from_bits(kOne | b) - 1.0;  // [0, 1)
    const double r = std * std::sqrt(-2.0 * vlog(u1));
    const double angle = 6.283185307179586477 * u2;
    c[j] = mean + r * vsincos<true>(angle);
    s[j] = mean + r * vsincos<false>(angle);
  }
}

// y[0, kBlock) := block b of the stream; with n < kBlock, only the pairs that reach y[0, n)
// are computed (randn(8, 8) needs a quarter of a float block): the same values, less work
template <typename T>
EMBER_SIMD void normal_block(T* y, int64_t b, uint64_t key, T mean, T std, int64_t n = kBlock<T>) {
  alignas(32) uint32_t w[4][kCtrs];
  philox_block(w, uint64_t(b) * kCtrs, key, std::min<int64_t>(n, kCtrs));
  const auto pairs = [n](int64_t from) {  // the counters whose pair reaches y[from, n)
    return std::clamp<int64_t>(n - from, 0, kCtrs);
  };
  if constexpr (sizeof(T) == 4) {
    box_muller(y, y + kCtrs, w[0], w[1], mean, std, pairs(0));
    box_muller(y + 2 * kCtrs, y + 3 * kCtrs, w[2], w[3], mean, std, pairs(2 * kCtrs));
  } else {
    box_muller(y, y + kCtrs, w, mean, std, pairs(0));
  }
}

}  // namespace

// y (n) := mean + std * N(0, 1) samples of stream `key`; y[i] depends on (key, i) alone.
template <typename T>
void normal_fill(T* y, int64_t n, uint64_t key, T mean, T std) {
  constexpr int64_t B = kBlock<T>;
  const int64_t full = n / B;
  const int nt = threads_for(n, int64_t(1) << 15);
  parallel_for(nt, full, [&](int64_t b) { normal_block(y + b * B, b, key, mean, std); });
  if (n % B) {
    T last[B];
    normal_block(last, full, key, mean, std, n % B);
    std::copy(last, last + n % B, y + full * B);
  }
}

template void normal_fill<float>(float*, int64_t, uint64_t, float, float);
template void normal_fill<double>(double*, int64_t, uint64_t, double, double);

namespace {

EMBER_SIMD void philox_words(uint32_t (&w)[4][kCtrs], int64_t b, uint64_t key) {
  philox_block(w, uint64_t(b) * kCtrs, key);
}

// The stream's words in order (counter block by block, then word w[k][j] at k * kCtrs + j).
struct WordStream {
  alignas(32) uint32_t w[4][kCtrs];
  uint64_t key;
  int64_t block = 0, pos = 4 * kCtrs;
  uint32_t next() {
    if (pos == 4 * kCtrs) {
      philox_words(w, block++, key);
      pos = 0;
    }
    const int64_t p = pos++;
    return w[p / kCtrs][p % kCtrs];
  }
  // uniform in [0, s), s >= 1: Lemire's multiply-shift, a word rejected in the biased part
  uint64_t below(uint64_t s) {
    if (s <= 0xFFFFFFFFu) {
      const uint32_t s32 = uint32_t(s);
      uint64_t m = uint64_t(next()) * s32;
      if (uint32_t(m) < s32) {
        const uint32_t t = (0u - s32) % s32;
        while (uint32_t(m) < t) m = uint64_t(next()) * s32;
      }
      return m >> 32;
    }
    auto draw = [&] {
      const uint64_t hi = next();
      return static_cast<unsigned __int128>((hi << 32) | next()) * s;
    };
    unsigned __int128 m = draw();
    if (uint64_t(m) < s) {
      const uint64_t t = (0 - s) % s;
      while (uint64_t(m) < t) m = draw();
    }
    return uint64_t(m >> 64);
  }
};

}  // namespace

// y (n) := a uniformly random permutation of 0..n-1 on stream `key`, a function of (key, n)
// alone: Fisher-Yates from the top, swap position i with j uniform in [0, i]. The j of a batch
// of positions are drawn first, so the swaps can prefetch their random targets (a permutation
// of 1M int64 is 8 MiB: every swap would wait on memory; NumPy's and torch's ~2x slower).
void randperm_fill(int64_t* y, int64_t n, uint64_t key) {
  for (int64_t i = 0; i < n; ++i) y[i] = i;
  WordStream words{};
  words.key = key;
  constexpr int64_t kBatch = 256, kAhead = 16;
  int64_t js[kBatch];
  for (int64_t top = n - 1; top > 0; top -= kBatch) {
    const int64_t len = std::min(kBatch, top);  // positions top, top - 1, ..., top - len + 1
    for (int64_t k = 0; k < len; ++k) js[k] = int64_t(words.below(uint64_t(top - k) + 1));
    for (int64_t k = 0; k < len; ++k) {
      if (k + kAhead < len) __builtin_prefetch(y + js[k + kAhead], 1);
      std::swap(y[top - k], y[js[k]]);
    }
  }
}

namespace {

constexpr int64_t kLanes = 8;  // independent add chains: a double add's latency is 4 cycles

// c[i] := the running total of x[0..i] in double. A single chain of adds would wait on each
// one: kLanes segments keep their own running totals side by side, then each takes the sum of
// the segments before it. Non-decreasing, and c[i] == c[i-1] exactly where x[i] == 0.
template <typename T>
EMBER_SIMD void running_totals(const T* x, int64_t n, double* c) {
  const int64_t m = n / kLanes;  // segment length; the last segment takes the remainder too
  double s[kLanes] = {};
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < kLanes; ++j) c[j * m + i] = s[j] += double(x[j * m + i]);
  for (int64_t i = kLanes * m; i < n; ++i) c[i] = s[kLanes - 1] += double(x[i]);
  for (int64_t j = 1; j < kLanes && m > 0; ++j) {
    const double before = c[j * m - 1];
    const int64_t end = j == kLanes - 1 ? n : (j + 1) * m;
    for (int64_t i = j * m; i < end; ++i) c[i] += before;
  }
}

}  // namespace

// 1 if a weight of x (n) is negative or not finite (or, for double, the total passes double's
// range: float's cannot), 2 if none is positive, else 0. Lane counts, so the loop vectorises.
template <typename T>
EMBER_SIMD int check_row(const T* x, int64_t n) {
  constexpr T kMax = std::numeric_limits<T>::max();
  int32_t bad[kLanes] = {}, positive[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) {
      bad[j] |= !(x[i + j] >= T(0) && x[i + j] <= kMax);  // NaN fails both
      positive[j] |= x[i + j] > T(0);
    }
  for (; i < n; ++i) {
    bad[0] |= !(x[i] >= T(0) && x[i] <= kMax);
    positive[0] |= x[i] > T(0);
  }
  int32_t any_bad = 0, any_positive = 0;
  for (int64_t j = 0; j < kLanes; ++j) {
    any_bad |= bad[j];
    any_positive |= positive[j];
  }
  if (!any_bad && sizeof(T) == 8) {
    double total[kLanes] = {}, sum = 0.0;
    for (i = 0; i + kLanes <= n; i += kLanes)
      for (int64_t j = 0; j < kLanes; ++j) total[j] += double(x[i + j]);
    for (; i < n; ++i) sum += double(x[i]);
    for (int64_t j = 0; j < kLanes; ++j) sum += total[j];
    any_bad = std::isinf(sum);
  }
  return any_bad ? 1 : any_positive ? 0 : 2;
}

// The first row of w (rows x n) that cannot be drawn from, with check_row's why; {-1, 0} when
// every row can.
template <typename T>
std::pair<int64_t, int> multinomial_check(const T* w, int64_t rows, int64_t n) {
  std::vector<int> why(static_cast<size_t>(rows), 0);
  parallel_for(threads_for(rows * n), rows,
               [&](int64_t r) { why[static_cast<size_t>(r)] = check_row(w + r * n, n); });
  for (int64_t r = 0; r < rows; ++r)
    if (why[static_cast<size_t>(r)]) return {r, why[static_cast<size_t>(r)]};
  return {-1, 0};
}

// out[r, j] := the category of row r (of w, rows x n, checked by multinomial_check) for uniform
// u[r, j] in [0, 1).
template <typename T>
void multinomial_draw(const T* w, int64_t rows, int64_t n, const double* u, int64_t k,
                      int64_t* out) {
  auto draw = [n](const double* c, double ur) -> int64_t {
    const double total = c[n - 1];
    const double x = ur * total;  // (u outside [0, 1) or NaN still lands on a positive weight)
    const double* hit = std::upper_bound(c, c + n, x > 0.0 ? x : 0.0);
    // ur * total rounded up to the total: the last positive category (where c reaches it)
    if (hit == c + n) hit = std::lower_bound(c, c + n, total);
    return hit - c;
  };
  const int64_t log_n = 64 - __builtin_clzll(uint64_t(n));
  const int nt = threads_for(rows * (n + k * log_n));
  if (rows >= nt) {  // rows over threads, a running-total buffer each
    parallel_region(nt, [&](int tid, int team) {
      std::vector<double> c(static_cast<size_t>(n));
      for (int64_t r = tid; r < rows; r += team) {
        running_totals(w + r * n, n, c.data());
        for (int64_t j = 0; j < k; ++j) out[r * k + j] = draw(c.data(), u[r * k + j]);
      }
    });
  } else {  // few rows: each row's draws over threads
    std::vector<double> c(static_cast<size_t>(n));
    for (int64_t r = 0; r < rows; ++r) {
      running_totals(w + r * n, n, c.data());
      parallel_for(nt, k, [&](int64_t j) { out[r * k + j] = draw(c.data(), u[r * k + j]); });
    }
  }
}

template std::pair<int64_t, int> multinomial_check<float>(const float*, int64_t, int64_t);
template std::pair<int64_t, int> multinomial_check<double>(const double*, int64_t, int64_t);
template void multinomial_draw<float>(const float*, int64_t, int64_t, const double*, int64_t,
                                      int64_t*);
template void multinomial_draw<double>(const double*, int64_t, int64_t, const double*, int64_t,
                                       int64_t*);

// integers_fill: y[i] = low + a bounded draw in [0, rng] (0 < rng < 2^32 - 1) from a NumPy bit
// generator's own entry (bitgen's next_uint32), as NumPy's Generator.integers(low, high, n,
// dtype=int64) draws them (random_bounded_uint64_fill's 32-bit branch: Lemire's multiply with
// rejection below 2^32 mod (rng + 1)), so the same values and the same state after: a seeded
// ember.randint keeps its stream. Serial: each draw advances the generator.
void integers_fill(int64_t* y, int64_t n, uint32_t (*next_uint32)(void*), void* state, int64_t low,
                   uint32_t rng) {
  const uint32_t excl = rng + 1;
  const uint32_t threshold = (UINT32_MAX - rng) % excl;
  for (int64_t i = 0; i < n; ++i) {
    uint64_t m = uint64_t(next_uint32(state)) * excl;
    uint32_t leftover = static_cast<uint32_t>(m);
    if (leftover < excl) {
      while (leftover < threshold) {
        m = uint64_t(next_uint32(state)) * excl;
        leftover = static_cast<uint32_t>(m);
      }
    }
    y[i] = static_cast<int64_t>(static_cast<uint64_t>(low) + (m >> 32));
  }
}

}  // namespace ember
