// Row sums (the contiguous fast path of sum / mean / 2-norm over trailing dims and of
// unbroadcast), the cumulative sum and product, the product over dims, logsumexp over dims,
// arithmetic with a broadcast row or column, and the fill that is a full sum's gradient.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

// Hand-vectorised with GCC vector types (32 bytes: each clone's registers; the baseline clone
// splits them in two SSE halves): written lane by lane, GCC kept the running sums in memory and
// every addition waited on a store. kAcc independent accumulators hide the addition's latency.
template <typename T>
struct VecOf {
  typedef T type __attribute__((vector_size(32)));
};
template <typename T>
using Vec = typename VecOf<T>::type;
template <typename T>
constexpr int64_t kW = 32 / sizeof(T);  // lanes per vector
constexpr int64_t kAcc = 8;             // vector accumulators
constexpr int64_t kBlock = 1024;        // elements per row block
constexpr int64_t kRowBlock = 16;       // rows summed one after another before the pairwise tree

// (vectors pass by reference: by value they change the baseline clone's ABI)
template <typename T>
inline void load(Vec<T>& v, const T* p) {
  std::memcpy(&v, p, sizeof v);
}

template <typename T>
inline void store(T* p, const Vec<T>& v) {
  std::memcpy(p, &v, sizeof v);
}

// acc += x[0..kW) (their squares when Square)
template <bool Square, typename T>
inline void add_term(Vec<T>& acc, const T* p) {
  Vec<T> v;
  load(v, p);
  acc += Square ? v * v : v;
}

// A binary counter of partial sums, each w values wide, in caller-given storage of levels * w
// values: the i-th partial pushed is merged with the ones held at the levels of i's trailing one
// bits, so level l holds the sum of an aligned run of 2^l partials and the merges form a pairwise
// tree; total() then adds the levels still held, smallest first. The tree depends on the number
// of partials only.
template <typename T>
struct Cascade {
  T* level;  // levels * w values
  int64_t w;
  int64_t count = 0;

  Cascade(T* storage, int64_t width) : level(storage), w(width) {}

  // acc: w values (overwritten)
  void push(T* acc) {
    int64_t l = 0;
    for (int64_t c = count; c & 1; c >>= 1, ++l)
      for (int64_t j = 0; j < w; ++j) acc[j] = level[l * w + j] + acc[j];
    for (int64_t j = 0; j < w; ++j) level[l * w + j] = acc[j];
    ++count;
  }

  // y = first (or 0 when null) + the levels held, smallest first
  void total(T* y, const T* first) const {
    bool any = first != nullptr;
    for (int64_t j = 0; j < w; ++j) y[j] = any ? first[j] : T(0);
    for (int64_t l = 0; (count >> l) != 0; ++l) {
      if (!((count >> l) & 1)) continue;
      if (any)
        for (int64_t j = 0; j < w; ++j) y[j] = level[l * w + j] + y[j];
      else
        for (int64_t j = 0; j < w; ++j) y[j] = level[l * w + j];
      any = true;
    }
  }
};

// levels a cascade of `partials` pushes needs
inline int64_t cascade_levels(int64_t partials) {
  int64_t l = 1;
  while ((int64_t(1) << l) <= partials) ++l;
  return l;
}

constexpr int kLevels = 48;                        // 2^48 partials: more than any array
constexpr int64_t kChunkBlocks = 16;               // blocks per chunk (a thread's share of a row)
constexpr int64_t kChunk = kChunkBlocks * kBlock;  // elements per chunk

}  // namespace

// csrc/ops/elementwise.cpp: y[i] = the float value of the float16 (bfloat16) bits x[i], exact
void widen16_sum_span(float* y, const uint16_t* x, int64_t n, bool bf16);

namespace {

// Where the sums below read x. Plain: the T values in place. Wide16: float16 / bfloat16 bits,
// widened to float a block (or a few rows) at a time into the caller's buffer: exact, so a
// 16-bit array sums as its float32 copy would, bit for bit, without that copy's pass over
// memory (twice the 16-bit array's bytes, written fresh).
template <typename T>
struct Plain {
  const T* x;
  Plain at(int64_t off) const { return {x + off}; }
  // x[i, i + n) as T (buf unused)
  const T* span(int64_t i, int64_t, T*) const { return x + i; }
  // k rows of w values from row r (rows ld apart in x) and their stride (buf unused)
  const T* rows(int64_t r, int64_t, int64_t ld, int64_t, T*, int64_t& stride) const {
    stride = ld;
    return x + r * ld;
  }
};

struct Wide16 {
  const uint16_t* x;
  bool bf16;
  Wide16 at(int64_t off) const { return {x + off, bf16}; }
  const float* span(int64_t i, int64_t n, float* buf) const {
    widen16_sum_span(buf, x + i, n, bf16);
    return buf;
  }
  const float* rows(int64_t r, int64_t k, int64_t ld, int64_t w, float* buf,
                    int64_t& stride) const {
    for (int64_t q = 0; q < k; ++q) widen16_sum_span(buf + q * w, x + (r + q) * ld, w, bf16);
    stride = w;
    return buf;
  }
};

// Products a[i] * b[i] as the summed values, a block at a time into the caller's buffer (rounded
// as a * b's array would be: the file is built with -ffp-contract=off), so a row of products sums
// as sum(a * b, -1) does, bit for bit, without that product array's pass over memory.
template <typename T>
struct ProdSrc {
  const T* a;
  const T* b;
  ProdSrc at(int64_t off) const { return {a + off, b + off}; }
  const T* span(int64_t i, int64_t n, T* buf) const {
    for (int64_t k = 0; k < n; ++k) buf[k] = a[i + k] * b[i + k];
    return buf;
  }
};

// x's values with NaN as 0 (nansum), a block (or a few rows) at a time into the caller's buffer:
// a row sums as sum(where(isnan(x), 0, x)) does, bit for bit, without that array's two passes.
template <typename T>
struct NanZero {
  const T* x;
  NanZero at(int64_t off) const { return {x + off}; }
  const T* span(int64_t i, int64_t n, T* buf) const {
    for (int64_t k = 0; k < n; ++k) buf[k] = x[i + k] == x[i + k] ? x[i + k] : T(0);
    return buf;
  }
  const T* rows(int64_t r, int64_t k, int64_t ld, int64_t w, T* buf, int64_t& stride) const {
    for (int64_t q = 0; q < k; ++q) span((r + q) * ld, w, buf + q * w);
    stride = w;
    return buf;
  }
};

// a := the sums of x[0..n) (of x^2 when Square), n <= kBlock, in kAcc * kW lanes: element i
// goes to lane i % (kAcc * kW) (a tail of whole vectors to the first accumulators, the last < kW
// elements to the last accumulator). Each lane adds at most kBlock / (kAcc * kW) = 16 (float)
// elements in order, as NumPy's pairwise sum does at its leaves. The file is built with
// -ffp-contract=off: x*x is rounded before it is added, as squaring first and summing would.
template <bool Square, typename T>
inline void block_acc(Vec<T> (&a)[kAcc], const T* x, int64_t n) {
  constexpr int64_t W = kW<T>, S = kAcc * W;
  for (int64_t k = 0; k < kAcc; ++k) a[k] = Vec<T>{};
  int64_t i = 0;
  for (; i + S <= n; i += S)
    for (int64_t k = 0; k < kAcc; ++k) add_term<Square>(a[k], x + i + k * W);
  for (int64_t k = 0; i + W <= n; i += W, ++k) add_term<Square>(a[k], x + i);
  if (i < n) {  // (a fixed-length copy: a variable one was a call to memcpy)
    T tail[W];
    for (int64_t k = 0; k < W; ++k) tail[k] = i + k < n ? x[i + k] : T(0);
    add_term<Square>(a[kAcc - 1], tail);
  }
}

template <bool Square, typename T>
inline void block_lanes(T* lanes, const T* x, int64_t n) {
  Vec<T> a[kAcc];
  block_acc<Square>(a, x, n);
  for (int64_t k = 0; k < kAcc; ++k) store(lanes + k * kW<T>, a[k]);
}

// The lanes folded pairwise into one sum: lane j with lane j + S/2, and so on (the accumulators
// first, in registers, then the lanes of the one left).
template <typename T>
inline T fold_acc(Vec<T> (&a)[kAcc]) {
  static_assert(kAcc == 8, "the fold below is written out for 8 accumulators");
  a[0] += a[4], a[1] += a[5], a[2] += a[6], a[3] += a[7];
  a[0] += a[2], a[1] += a[3];
  a[0] += a[1];
  T lanes[kW<T>];
  store(lanes, a[0]);
  for (int64_t w = kW<T> / 2; w > 0; w /= 2)
    for (int64_t k = 0; k < w; ++k) lanes[k] += lanes[k + w];
  return lanes[0];
}

template <typename T>
inline T fold_lanes(const T* lanes) {
  Vec<T> a[kAcc];
  for (int64_t k = 0; k < kAcc; ++k) load(a[k], lanes + k * kW<T>);
  return fold_acc<T>(a);
}

// lanes := the lane sums of x[0..n), n <= kChunk: its blocks' lanes through a cascade.
template <bool Square, typename T, typename Src>
inline void chunk_lanes(T* lanes, const Src& x, int64_t n) {
  constexpr int64_t S = kAcc * kW<T>;
  T storage[5 * S];  // <= 16 blocks
  Cascade<T> c(storage, S);
  T acc[S], buf[kBlock];
  int64_t b = 0;
  for (; b + kBlock <= n; b += kBlock) {  // whole blocks: the loops' bounds known
    block_lanes<Square>(acc, x.span(b, kBlock, buf), kBlock);
    c.push(acc);
  }
  if (b < n) {
    block_lanes<Square>(acc, x.span(b, n - b, buf), n - b);
    c.push(acc);
  }
  c.total(lanes, nullptr);
}

template <bool Square, typename T, typename Src>
EMBER_SIMD void chunk_part(T* lanes, const Src x, int64_t n) {
  chunk_lanes<Square, T>(lanes, x, n);
}

// The sum of a row from its chunks' lane sums part(c): whole chunks through a cascade (a full
// chunk's lanes are its cascade's one level-4 entry, so this continues the same tree), the last
// partial chunk added first as a serial cascade would.
template <typename T, typename Part>
inline T chunks_total(int64_t n, const Part& part) {
  constexpr int64_t S = kAcc * kW<T>;
  T storage[kLevels * S];
  Cascade<T> top(storage, S);
  T acc[S], last[S];
  const int64_t full = n / kChunk;
  for (int64_t c = 0; c < full; ++c) {
    part(acc, c);
    top.push(acc);
  }
  const bool partial = full * kChunk < n;
  if (partial) part(last, full);
  top.total(acc, partial ? last : nullptr);
  return fold_lanes(acc);
}

// A short row, n < kAcc * kW: one vector accumulator, folded pairwise, then the tail of < kW
// values added in order (block_acc's 8 accumulators, their fold and a tail copied through memory
// cost ~4x a 28-value row's additions). Each lane adds at most kAcc values in order.
template <bool Square, typename T>
inline T short_sum(const T* x, int64_t n) {
  constexpr int64_t W = kW<T>;
  Vec<T> a = Vec<T>{};
  int64_t i = 0;
  for (; i + W <= n; i += W) add_term<Square>(a, x + i);
  T lanes[W];
  store(lanes, a);
  for (int64_t w = W / 2; w > 0; w /= 2)
    for (int64_t k = 0; k < w; ++k) lanes[k] += lanes[k + w];
  T s = lanes[0];
  for (; i < n; ++i) s += Square ? x[i] * x[i] : x[i];
  return s;
}

template <bool Square, typename T, typename Src>
inline T row_sum(const Src& x, int64_t n) {
  if (n < kAcc * kW<T>) {
    T buf[kAcc * kW<T>];
    return short_sum<Square>(x.span(0, n, buf), n);
  }
  if (n <= kBlock) {
    Vec<T> a[kAcc];
    T buf[kBlock];
    block_acc<Square>(a, x.span(0, n, buf), n);
    return fold_acc<T>(a);
  }
  return chunks_total<T>(n, [&](T* out, int64_t c) {
    chunk_lanes<Square, T>(out, x.at(c * kChunk), std::min(kChunk, n - c * kChunk));
  });
}

template <bool Square, typename T, typename Src>
EMBER_SIMD void row_sums(T* y, const Src x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) y[r] = row_sum<Square, T>(x.at(r * n), n);
}

// x (rows, n) -> y (rows): y[r] = sum of x[r, :] (of x[r, :]^2 when square) in T. Blocks of kBlock
// elements summed in lanes as above, the blocks' lanes added pairwise (a cascade), the lanes
// folded pairwise at the end: the error grows like log2(n) (NumPy's pairwise sum is the same
// idea), and the order depends on n only, so every thread count gives the same bits. Threads
// over rows; a few long rows are split by chunks instead (the same tree).
template <bool Square, typename T, typename Src>
void sum_rows_impl(T* y, const Src& x, int64_t rows, int64_t n) {
  constexpr int64_t S = kAcc * kW<T>;
  const int64_t nchunks = (n + kChunk - 1) / kChunk;
  const int nt = threads_for(rows * n, int64_t(1) << 16);
  if (nt == 1) {  // (no team: entering even a one-thread region costs ~0.5 us)
    row_sums<Square, T>(y, x, rows, n);
    return;
  }
  if (rows >= nt || nchunks < 2 * nt) {
#pragma omp parallel num_threads(nt)
    {
      const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t r0 = rows * t / parts, r1 = rows * (t + 1) / parts;
      row_sums<Square, T>(y + r0, x.at(r0 * n), r1 - r0, n);
    }
    return;
  }
  std::vector<T> part(static_cast<size_t>(nchunks * S));
  for (int64_t r = 0; r < rows; ++r) {
    const Src row = x.at(r * n);
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < nchunks; ++c)
      chunk_part<Square, T>(part.data() + c * S, row.at(c * kChunk),
                            std::min(kChunk, n - c * kChunk));
    y[r] = chunks_total<T>(n, [&](T* out, int64_t c) {
      std::copy(part.data() + c * S, part.data() + (c + 1) * S, out);
    });
  }
}

// Column sums of a panel: y[j] = sum over r < n of x[r * ld + j], j < w. Rows are added in blocks
// of kRowBlock, four rows summed pairwise and added to acc in one contiguous vectorised pass (acc:
// w values, L1/L2 resident; measured ~15% faster than strips of columns in registers, whose reads
// jump between rows), and the block sums merged by a cascade (storage: cascade_levels(blocks) * w
// values): the additions form a pairwise tree over blocks, as the row sums': error ~ log2(n) ulp.
// buf: 4 * w values of scratch for a Wide16 x (unused by Plain).
template <bool Square, typename T, typename Src>
EMBER_SIMD void panel_sum(T* y, const Src x, int64_t n, int64_t ld, int64_t w,
                          T* __restrict storage, T* __restrict acc, T* __restrict buf) {
  Cascade<T> c(storage, w);
  if (n <= kRowBlock) acc = y;  // one block: the cascade's total is acc itself, so sum into y
  if (n == 0)
    for (int64_t j = 0; j < w; ++j) y[j] = 0;
  for (int64_t r0 = 0; r0 < n; r0 += kRowBlock) {
    const int64_t r1 = std::min(n, r0 + kRowBlock);
    for (int64_t j = 0; j < w; ++j) acc[j] = 0;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {  // four rows a pass: acc read and written a quarter as often
      int64_t st;
      const T* __restrict a = x.rows(r, 4, ld, w, buf, st);
      const T* __restrict b = a + st;
      const T* __restrict c2 = b + st;
      const T* __restrict d = c2 + st;
      int64_t j = 0;
      // whole vectors explicitly (the loop's own vectorisation ran a narrow panel, 100000 x 16
      // over dim 0, at ~2x torch's time), the same operations in the same order
      for (; j + kW<T> <= w; j += kW<T>) {
        Vec<T> va, vb, vc, vd, s;
        load(va, a + j), load(vb, b + j), load(vc, c2 + j), load(vd, d + j), load(s, acc + j);
        s += Square ? (va * va + vb * vb) + (vc * vc + vd * vd) : (va + vb) + (vc + vd);
        store(acc + j, s);
      }
      for (; j < w; ++j)
        acc[j] += Square ? (a[j] * a[j] + b[j] * b[j]) + (c2[j] * c2[j] + d[j] * d[j])
                         : (a[j] + b[j]) + (c2[j] + d[j]);
    }
    for (; r < r1; ++r) {
      int64_t st;
      const T* __restrict row = x.rows(r, 1, ld, w, buf, st);
      for (int64_t j = 0; j < w; ++j) acc[j] += Square ? row[j] * row[j] : row[j];
    }
    if (n > kRowBlock) c.push(acc);
  }
  if (n > kRowBlock) c.total(y, nullptr);
}

// x (outer, n, inner), inner > 1 -> y (outer, inner): sums over n by panels of at most kPanel
// columns (whole strips), so acc and the cascade stay in L1 while the rows stream past (whole
// rows as one panel: a 3 x 1e6 sum over dim 0 ran at ~2.5x torch's time, acc and the cascade
// copies going through memory). Each column is summed in the same order however the panels fall,
// so every thread count gives the same bits.
template <bool Square, typename T, typename Src>
void sum_cols_impl(T* y, const Src& x, int64_t outer, int64_t n, int64_t inner) {
  constexpr int64_t S = kAcc * kW<T>;
  constexpr int64_t kPanel = 64 * S;  // 16 KiB of acc
  const int nt = threads_for(outer * n * inner, int64_t(1) << 16);
  const int64_t strips = (inner + S - 1) / S;
  const int64_t panels = std::max<int64_t>((strips * S + kPanel - 1) / kPanel,
                                           outer >= nt ? 1 : std::min<int64_t>(nt, strips));
  const int64_t width = std::min(inner, (strips + panels - 1) / panels * S);  // widest panel
  const int64_t items = outer * panels;
  const int64_t levels = cascade_levels((n + kRowBlock - 1) / kRowBlock);
  const int64_t wide = std::is_same_v<Src, Plain<T>> ? 0 : 4;  // rows of widening buffer
  const int64_t need = (levels + 1 + wide) * width;
  auto panel = [&](int64_t it, T* s) {
    const int64_t o = it / panels, p = it % panels;
    const int64_t c0 = std::min(inner, strips * p / panels * S);
    const int64_t c1 = std::min(inner, strips * (p + 1) / panels * S);
    if (c1 > c0)
      panel_sum<Square, T>(y + o * inner + c0, x.at(o * n * inner + c0), n, inner, c1 - c0, s,
                           s + levels * width, s + (levels + 1) * width);
  };
  if (nt == 1 && need <= 4096) {  // no team, no allocation (~1 us of a 32x32 sum)
    T scratch[4096];
    for (int64_t it = 0; it < items; ++it) panel(it, scratch);
    return;
  }
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    std::vector<T> scratch(static_cast<size_t>(need));
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) panel(it, scratch.data());
  }
}

template <typename T, typename Src>
void sum_dim_impl(T* y, const Src& x, int64_t outer, int64_t n, int64_t inner, bool square) {
  if (outer == 0 || inner == 0) return;
  if (inner == 1) {
    if (square)
      sum_rows_impl<true, T>(y, x, outer, n);
    else
      sum_rows_impl<false, T>(y, x, outer, n);
  } else if (square) {
    sum_cols_impl<true, T>(y, x, outer, n, inner);
  } else {
    sum_cols_impl<false, T>(y, x, outer, n, inner);
  }
}

}  // namespace

// x (outer, n, inner) -> y (outer, inner): the sum over n (of squares when square) in T.
template <typename T>
void sum_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool square) {
  sum_dim_impl(y, Plain<T>{x}, outer, n, inner, square);
}

// x (outer, n, inner) -> y (outer, inner): sum_dim of x with its NaNs as 0 (nansum), the bits of
// sum_dim over where(isnan(x), 0, x).
template <typename T>
void nansum_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner) {
  sum_dim_impl(y, NanZero<T>{x}, outer, n, inner, false);
}

template void nansum_dim<float>(float*, const float*, int64_t, int64_t, int64_t);
template void nansum_dim<double>(double*, const double*, int64_t, int64_t, int64_t);

// x (outer, n, inner) float16 (bf16: bfloat16) bits -> y (outer, inner) float32: sum_dim<float>
// of x's float32 values, bit for bit, widening a block at a time (torch sums 16-bit floats in
// float32 too; the caller rounds).
void sum_dim16(float* y, const uint16_t* x, int64_t outer, int64_t n, int64_t inner, bool square,
               bool bf16) {
  sum_dim_impl(y, Wide16{x, bf16}, outer, n, inner, square);
}

// a, b (rows, n) -> y (rows): y[r] = sum of a[r, :] * b[r, :] (einsum's 'ij,ij->i'), the bits of
// sum_dim over the products' array (the same products, the same tree).
template <typename T>
void dot_rows(T* y, const T* a, const T* b, int64_t rows, int64_t n) {
  if (rows == 0) return;
  sum_rows_impl<false, T>(y, ProdSrc<T>{a, b}, rows, n);
}

// ---- matrix times vector --------------------------------------------------------------------
namespace {

// y[q] = a[q, :] . v for R rows of n values (n apart), v's vectors loaded once for the R rows:
// blocks of kBlock columns in two vector accumulators a row (each product rounded, then added:
// -ffp-contract=off), folded pairwise, the tail added in order; the blocks' sums merged pairwise
// (a binary counter, as Cascade's). Each row's arithmetic is the same for any R.
template <int R, typename T>
inline void dot_group(T* y, const T* a, const T* v, int64_t n) {
  constexpr int64_t W = kW<T>;
  T level[R][kLevels];
  int64_t count = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t b1 = std::min(n, b0 + kBlock);
    Vec<T> acc[R][2];
    for (int q = 0; q < R; ++q) acc[q][0] = acc[q][1] = Vec<T>{};
    int64_t i = b0;
    for (; i + 2 * W <= b1; i += 2 * W) {
      Vec<T> v0, v1;
      load(v0, v + i);
      load(v1, v + i + W);
      for (int q = 0; q < R; ++q) {
        Vec<T> x0, x1;
        load(x0, a + q * n + i);
        load(x1, a + q * n + i + W);
        acc[q][0] += x0 * v0;
        acc[q][1] += x1 * v1;
      }
    }
    if (i + W <= b1) {
      Vec<T> v0;
      load(v0, v + i);
      for (int q = 0; q < R; ++q) {
        Vec<T> x0;
        load(x0, a + q * n + i);
        acc[q][0] += x0 * v0;
      }
      i += W;
    }
    for (int q = 0; q < R; ++q) {
      T lanes[W];
      store(lanes, acc[q][0] + acc[q][1]);
      for (int64_t w = W / 2; w > 0; w /= 2)
        for (int64_t k = 0; k < w; ++k) lanes[k] += lanes[k + w];
      T s = lanes[0];
      for (int64_t j = i; j < b1; ++j) s += a[q * n + j] * v[j];
      int64_t l = 0;
      for (int64_t c = count; c & 1; c >>= 1, ++l) s = level[q][l] + s;
      level[q][l] = s;
    }
    ++count;
  }
  for (int q = 0; q < R; ++q) {  // the levels held, smallest first
    T s = T(0);
    bool any = false;
    for (int64_t l = 0; (count >> l) != 0; ++l)
      if ((count >> l) & 1) {
        s = any ? level[q][l] + s : level[q][l];
        any = true;
      }
    y[q] = s;
  }
}

template <typename T>
EMBER_SIMD void matvec_rows(T* y, const T* a, const T* v, int64_t rows, int64_t n) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) dot_group<4>(y + r, a + r * n, v, n);
  for (; r < rows; ++r) dot_group<1>(y + r, a + r * n, v, n);
}

// y[j] = sum over r < rows of v[r] * a[r * ld + j], j < w: panel_sum's order (blocks of
// kRowBlock rows, four rows a pass added pairwise, the blocks merged by a cascade) over the
// products, formed in the pass (storage: cascade_levels(blocks) * w values; acc: w values).
template <typename T>
EMBER_SIMD void vecmat_panel(T* y, const T* a, const T* v, int64_t rows, int64_t ld, int64_t w,
                             T* __restrict storage, T* __restrict acc) {
  Cascade<T> c(storage, w);
  for (int64_t r0 = 0; r0 < rows; r0 += kRowBlock) {
    const int64_t r1 = std::min(rows, r0 + kRowBlock);
    for (int64_t j = 0; j < w; ++j) acc[j] = 0;
    int64_t r = r0;
    for (; r + 4 <= r1; r += 4) {
      const T* __restrict p0 = a + r * ld;
      const T* __restrict p1 = p0 + ld;
      const T* __restrict p2 = p1 + ld;
      const T* __restrict p3 = p2 + ld;
      const T s0 = v[r], s1 = v[r + 1], s2 = v[r + 2], s3 = v[r + 3];
      for (int64_t j = 0; j < w; ++j)
        acc[j] += (s0 * p0[j] + s1 * p1[j]) + (s2 * p2[j] + s3 * p3[j]);
    }
    for (; r < r1; ++r) {
      const T* __restrict p = a + r * ld;
      const T s = v[r];
      for (int64_t j = 0; j < w; ++j) acc[j] += s * p[j];
    }
    c.push(acc);
  }
  c.total(y, nullptr);
}

}  // namespace

// a (rows, n) @ v (n,) -> y (rows): y[r] = a[r, :] . v (dot_group's blocked pairwise order).
// Threads over rows; each row's bits are the same for any thread count.
template <typename T>
void matvec(T* y, const T* a, const T* v, int64_t rows, int64_t n) {
  if (rows == 0) return;
  const int nt = threads_for(rows * n, int64_t(1) << 16);
  parallel_region(nt, [&](int64_t t, int64_t parts) {
    const int64_t r0 = rows * t / parts, r1 = rows * (t + 1) / parts;
    matvec_rows<T>(y + r0, a + r0 * n, v, r1 - r0, n);
  });
}

// v (rows,) @ a (rows, n) -> y (n): y[j] = sum over r of v[r] * a[r, j] (vecmat_panel's order).
// Threads over column ranges of whole strips; a column's bits are the same for any thread count.
template <typename T>
void vecmat(T* y, const T* v, const T* a, int64_t rows, int64_t n) {
  if (n == 0) return;
  constexpr int64_t S = kAcc * kW<T>;
  const int nt = threads_for(rows * n, int64_t(1) << 16);
  const int64_t strips = (n + S - 1) / S;
  const int64_t levels = cascade_levels((rows + kRowBlock - 1) / kRowBlock);
  parallel_region(nt, [&](int64_t t, int64_t parts) {
    const int64_t c0 = std::min(n, strips * t / parts * S);
    const int64_t c1 = std::min(n, strips * (t + 1) / parts * S);
    if (c1 <= c0) return;
    std::vector<T> scratch(static_cast<size_t>((levels + 1) * (c1 - c0)));
    vecmat_panel<T>(y + c0, a + c0, v, rows, n, c1 - c0, scratch.data(),
                    scratch.data() + levels * (c1 - c0));
  });
}

template void matvec<float>(float*, const float*, const float*, int64_t, int64_t);
template void matvec<double>(double*, const double*, const double*, int64_t, int64_t);
template void vecmat<float>(float*, const float*, const float*, int64_t, int64_t);
template void vecmat<double>(double*, const double*, const double*, int64_t, int64_t);
template void dot_rows<float>(float*, const float*, const float*, int64_t, int64_t);
template void dot_rows<double>(double*, const double*, const double*, int64_t, int64_t);
template void sum_dim<float>(float*, const float*, int64_t, int64_t, int64_t, bool);
template void sum_dim<double>(double*, const double*, int64_t, int64_t, int64_t, bool);
// int64 sums (the binding's, as uint64: exact, wrapping as torch's; NumPy's integer sums over a
// short last dim ran ~9x torch's time)
template void sum_dim<uint64_t>(uint64_t*, const uint64_t*, int64_t, int64_t, int64_t, bool);

// ---- max / min ------------------------------------------------------------------------------
// x (outer, n, inner), n >= 1 -> v (outer, inner) the max (min when !Max) over n, and, when idx is
// not null, idx (outer, inner) int64 the first index holding it, as PyTorch: NaN is larger (and
// smaller) than every number, so a NaN is the result and its first index the index.
namespace {

// a replaces b as the extreme: strictly better (ties keep the first), or the first NaN.
template <bool Max, typename T>
inline bool better(T a, T b) {
  return (Max ? a > b : a < b) || (a != a && b == b);
}

// The extreme of a row: kAcc running maxima (v > a ? v : a is one vmaxps, which keeps a when v is
// NaN) and, off the critical path, a mask of the NaNs seen: any NaN makes the result NaN. The
// elements after the whole chunks go a vector at a time, the last vector overlapping the one
// before (an extreme may read a value twice), so only rows shorter than a vector are scalar.
template <bool Max, typename T>
inline T row_extreme(const T* x, int64_t n) {
  constexpr int64_t W = kW<T>, K = kAcc / 2;
  typedef decltype(Vec<T>{} != Vec<T>{}) Mask;
  T m = x[0];
  if (n < W) {
    for (int64_t i = 1; i < n; ++i) m = better<Max>(x[i], m) ? x[i] : m;
    return m;
  }
  Vec<T> a[K];
  Mask nan = Mask{};
  const auto take = [&](Vec<T>& acc, const T* p) {
    Vec<T> v;
    load(v, p);
    acc = (Max ? v > acc : v < acc) ? v : acc;
    nan |= v != v;
  };
  load(a[0], x);
  nan |= a[0] != a[0];
  for (int64_t k = 1; k < K; ++k) a[k] = a[0];
  int64_t i = W;
  for (; i + K * W <= n; i += K * W)
    for (int64_t k = 0; k < K; ++k) take(a[k], x + i + k * W);
  for (; i + W <= n; i += W) take(a[0], x + i);
  if (i < n) take(a[1], x + n - W);
  for (int64_t k = 1; k < K; ++k) a[0] = (Max ? a[k] > a[0] : a[k] < a[0]) ? a[k] : a[0];
  bool any_nan = false;
  for (int64_t j = 0; j < W; ++j) any_nan |= nan[j] != 0;
  if (any_nan) return std::numeric_limits<T>::quiet_NaN();
  // the lanes folded by halves, independent steps (the chain of W compares in order was ~1/3 of
  // a 16-value row's time); with no NaN any order finds the extreme, but for the sign of a zero:
  // an extreme 0 is taken again in order, as PyTorch's (the first of -0 and +0 it meets)
  T lanes[W];
  store(lanes, a[0]);
  for (int64_t w = W / 2; w > 0; w /= 2)
    for (int64_t k = 0; k < w; ++k)
      lanes[k] =
          (Max ? lanes[k + w] > lanes[k] : lanes[k + w] < lanes[k]) ? lanes[k + w] : lanes[k];
  if (better<Max>(lanes[0], m)) m = lanes[0];
  if (m != T(0)) return m;
  m = x[0];
  for (int64_t j = 0; j < W; ++j) m = better<Max>(a[0][j], m) ? a[0][j] : m;
  return m;
}

// The first i with x[i] == m (the first NaN when m is NaN); m is in x[0..n). A second pass that
// stops there, testing 4 vectors at a time: their compare masks OR-ed as vectors, then the
// 64-bit words of the result (an OR of 16 scalar compares GCC left in scalar code ran ~2 elements
// a cycle, ~1/3 of an int64 argmax(1) of 1000x1000; a mask copied out through memory stalled on
// store forwarding).
template <typename T>
inline int64_t first_index(const T* x, int64_t n, T m) {
  constexpr int64_t W = kW<T>, B = 4 * W;
  typedef decltype(Vec<T>{} != Vec<T>{}) Mask;
  typedef uint64_t Words __attribute__((vector_size(32)));
  static_assert(sizeof(Mask) == sizeof(Words), "32-byte masks");
  const bool nan = m != m;
  Vec<T> mv;
  for (int64_t j = 0; j < W; ++j) mv[j] = m;
  const auto any = [](const Mask& h) {
    Words u;
    std::memcpy(&u, &h, sizeof u);
    return ((u[0] | u[1]) | (u[2] | u[3])) != 0;
  };
  int64_t i = 0;
  for (; i + B <= n; i += B) {
    Vec<T> v0, v1, v2, v3;
    load(v0, x + i), load(v1, x + i + W), load(v2, x + i + 2 * W), load(v3, x + i + 3 * W);
    const Mask h = nan ? ((v0 != v0) | (v1 != v1)) | ((v2 != v2) | (v3 != v3))
                       : ((v0 == mv) | (v1 == mv)) | ((v2 == mv) | (v3 == mv));
    if (any(h)) break;
  }
  if (nan)
    while (x[i] == x[i]) ++i;
  else
    while (x[i] != m) ++i;
  return i;
}

// The first index of a row's extreme with one pass over the row (row_extreme then first_index
// read it twice: argmax(1) of 1000x1000 float32 ~105 us, NumPy's ~89): blocks of kIdxBlock
// elements are reduced as row_extreme's loop, and per lane the best value so far and the first
// block that reached it are kept (a strict compare keeps the first); the first index is then in
// the first block holding the row's extreme, searched by first_index while it is in L1. (Lane
// indices blended in the inner loop instead cost as much as the second pass.) A NaN anywhere:
// the first NaN's index, by first_index.
constexpr int64_t kIdxBlock = 256;
template <bool Max, typename T>
inline int64_t row_extreme_index(const T* x, int64_t n) {
  constexpr int64_t W = kW<T>, K = kAcc / 2, C = K * W;
  static_assert(kIdxBlock % C == 0, "blocks of whole chunks");
  typedef decltype(Vec<T>{} != Vec<T>{}) Mask;  // (lanes as wide as T's: also block numbers)
  // (a row of one block: two passes over it in L1 beat the block bookkeeping)
  if (n <= kIdxBlock || n / kIdxBlock > INT32_MAX) return first_index(x, n, row_extreme<Max>(x, n));
  const int64_t full = n / C * C;  // the elements in whole chunks of K vectors
  Vec<T> a[K];
  Mask at = Mask{}, blk = Mask{}, nan = Mask{};
  for (int64_t k = 0; k < K; ++k) {
    load(a[k], x + k * W);
    nan |= a[k] != a[k];
  }
  Vec<T> best = a[0];  // (block 0's values: at 0 holds until a later block beats them)
  int64_t i = C;
  for (int64_t b1 = kIdxBlock;; b1 += kIdxBlock, blk += 1) {
    for (const int64_t e = std::min(full, b1); i < e; i += C)
      for (int64_t k = 0; k < K; ++k) {
        Vec<T> v;
        load(v, x + i + k * W);
        a[k] = (Max ? v > a[k] : v < a[k]) ? v : a[k];
        nan |= v != v;
      }
    // the running extremes so far, per lane: beaten in this block, or not
    Vec<T> c = a[0];
    for (int64_t k = 1; k < K; ++k) c = (Max ? a[k] > c : a[k] < c) ? a[k] : c;
    const Mask b = Max ? c > best : c < best;
    best = b ? c : best;
    at = b ? blk : at;
    if (i == full) break;
  }
  bool any_nan = false;
  for (int64_t j = 0; j < W; ++j) any_nan |= nan[j] != 0;
  if (any_nan) return first_index(x, n, std::numeric_limits<T>::quiet_NaN());
  T m = best[0];
  for (int64_t j = 1; j < W; ++j) m = (Max ? best[j] > m : best[j] < m) ? best[j] : m;
  int64_t first = INT64_MAX;
  for (int64_t j = 0; j < W; ++j)
    if (best[j] == m) first = std::min(first, int64_t(at[j]));
  const int64_t i0 = first * kIdxBlock;
  int64_t idx = i0 + first_index(x + i0, std::min(full, i0 + kIdxBlock) - i0, m);
  for (int64_t i = full; i < n; ++i)  // (after every block: only a strictly better one, or a NaN)
    if (better<Max>(x[i], x[idx])) idx = i;
  return idx;
}

template <bool Max, typename T>
EMBER_SIMD void extreme_rows(T* v, int64_t* idx, const T* x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * n;
    if (idx) {  // (the value at the index: a -0 or +0 as the row holds it, as PyTorch's)
      idx[r] = row_extreme_index<Max>(row, n);
      v[r] = row[idx[r]];
    } else {
      v[r] = row_extreme<Max>(row, n);
    }
  }
}

// n rows of inner values, ld apart: v and idx start as row 0 and each later row updates them,
// vectorised across inner.
template <bool Max, typename T>
inline void extreme_cols_block(T* v, int64_t* idx, const T* x, int64_t n, int64_t ld,
                               int64_t inner) {
  for (int64_t j = 0; j < inner; ++j) v[j] = x[j];
  if (idx) {
    for (int64_t j = 0; j < inner; ++j) idx[j] = 0;
    for (int64_t r = 1; r < n; ++r) {
      const T* row = x + r * ld;
      for (int64_t j = 0; j < inner; ++j) {
        const bool b = better<Max>(row[j], v[j]);
        v[j] = b ? row[j] : v[j];
        idx[j] = b ? r : idx[j];
      }
    }
  } else {
    for (int64_t r = 1; r < n; ++r) {
      const T* row = x + r * ld;
      for (int64_t j = 0; j < inner; ++j) v[j] = better<Max>(row[j], v[j]) ? row[j] : v[j];
    }
  }
}

// The values alone: strips of kExtStrip vectors of columns, their extremes in registers over
// all the rows and stored once (through v in L1, a load and a store per element and row:
// amax(0) of 10x100000 float32 ~1.6x this time). The same compares in the same order: the
// same bits.
constexpr int64_t kExtStrip = 8;
template <bool Max, typename T>
inline int64_t extreme_cols_strips(T* v, const T* x, int64_t n, int64_t ld, int64_t inner) {
  constexpr int64_t W = kW<T>, S = kExtStrip;
  typedef decltype(Vec<T>{} != Vec<T>{}) Mask;
  int64_t j = 0;
  for (; j + S * W <= inner; j += S * W) {
    Vec<T> m[S];
#pragma GCC unroll 8
    for (int64_t s = 0; s < S; ++s) load(m[s], x + j + s * W);
    for (int64_t r = 1; r < n; ++r) {
      const T* row = x + r * ld + j;
#pragma GCC unroll 8
      for (int64_t s = 0; s < S; ++s) {
        Vec<T> e;
        load(e, row + s * W);
        const Mask b = (Max ? e > m[s] : e < m[s]) | ((e != e) & (m[s] == m[s]));  // (better)
        m[s] = b ? e : m[s];
      }
    }
#pragma GCC unroll 8
    for (int64_t s = 0; s < S; ++s) store(v + j + s * W, m[s]);
  }
  return j;
}

// (in blocks of kExtCols columns, all rows for each: v and idx stay in L1 instead of going
// through memory once a row; amax(0) of 10x100000 float32 ran 2.2x torch's time)
constexpr int64_t kExtCols = 512;
template <bool Max, typename T>
EMBER_SIMD void extreme_cols(T* v, int64_t* idx, const T* x, int64_t n, int64_t ld, int64_t inner) {
  if (!idx) {
    const int64_t j = extreme_cols_strips<Max>(v, x, n, ld, inner);
    v += j, x += j, inner -= j;
  }
  for (int64_t j = 0; j < inner; j += kExtCols)
    extreme_cols_block<Max>(v + j, idx ? idx + j : nullptr, x + j, n, ld,
                            std::min(kExtCols, inner - j));
}

template <bool Max, typename T>
void extreme_impl(T* v, int64_t* idx, const T* x, int64_t outer, int64_t n, int64_t inner) {
  const int nt = threads_for(outer * n * inner, int64_t(1) << 16);
  if (nt == 1) {  // (no team, as the sums)
    if (inner == 1)
      extreme_rows<Max>(v, idx, x, outer, n);
    else
      for (int64_t o = 0; o < outer; ++o)
        extreme_cols<Max>(v + o * inner, idx ? idx + o * inner : nullptr, x + o * n * inner, n,
                          inner, inner);
    return;
  }
  if (inner == 1) {
#pragma omp parallel num_threads(nt)
    {
      const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t r0 = outer * t / parts, r1 = outer * (t + 1) / parts;
      extreme_rows<Max>(v + r0, idx ? idx + r0 : nullptr, x + r0 * n, r1 - r0, n);
    }
    return;
  }
  // threads over outer, or over column ranges when outer is smaller than the team
  const int64_t cols = outer >= nt ? 1 : nt;
  const int64_t items = outer * cols;
  parallel_for(nt, items, [&](int64_t it) {
    const int64_t o = it / cols, c = it % cols;
    const int64_t j0 = inner * c / cols, j1 = inner * (c + 1) / cols;
    const int64_t off = o * inner + j0;
    extreme_cols<Max>(v + off, idx ? idx + off : nullptr, x + o * n * inner + j0, n, inner,
                      j1 - j0);
  });
}

}  // namespace

template <typename T>
void extreme_dim(T* v, int64_t* idx, const T* x, int64_t outer, int64_t n, int64_t inner,
                 bool use_max) {
  if (outer == 0 || inner == 0) return;
  if (use_max)
    extreme_impl<true>(v, idx, x, outer, n, inner);
  else
    extreme_impl<false>(v, idx, x, outer, n, inner);
}

template void extreme_dim<float>(float*, int64_t*, const float*, int64_t, int64_t, int64_t, bool);
template void extreme_dim<double>(double*, int64_t*, const double*, int64_t, int64_t, int64_t,
                                  bool);
// (integers: the same loops, the NaN tests always false)
template void extreme_dim<int32_t>(int32_t*, int64_t*, const int32_t*, int64_t, int64_t, int64_t,
                                   bool);
template void extreme_dim<int64_t>(int64_t*, int64_t*, const int64_t*, int64_t, int64_t, int64_t,
                                   bool);

// ---- variance -------------------------------------------------------------------------------
// x (outer, n, inner) -> y (outer, inner): sum((x - mean)^2) / denom over n, its square root when
// root, rounded once to T. Two passes in double (the mean, then the squared deviations), as the
// float64 NumPy path it replaces, so a float32 variance of large values neither overflows nor
// loses the small spread. Rows: kLanesD running sums per block of kBlock (each lane adds <= 128
// values in order), the block sums added in order (in double: ~1e-16 * n / kBlock relative);
// columns: row after row, vectorised across inner (NumPy's own order for a column sum).
namespace {

constexpr int64_t kLanesD = 8;

// sum over x[0..n) of (x - m), squared when Square, in double
template <bool Square, typename T>
inline double dev_sum(const T* x, int64_t n, double m) {
  double total = 0;
  for (int64_t b = 0; b < n; b += kBlock) {
    const int64_t e = std::min(n, b + kBlock);
    double acc[kLanesD] = {};
    int64_t i = b;
    for (; i + kLanesD <= e; i += kLanesD)
      for (int64_t k = 0; k < kLanesD; ++k) {
        const double d = static_cast<double>(x[i + k]) - m;
        acc[k] += Square ? d * d : d;
      }
    for (int64_t k = 0; i < e; ++i, ++k) {
      const double d = static_cast<double>(x[i]) - m;
      acc[k] += Square ? d * d : d;
    }
    for (int64_t w = kLanesD / 2; w > 0; w /= 2)
      for (int64_t k = 0; k < w; ++k) acc[k] += acc[k + w];
    total += acc[0];
  }
  return total;
}

template <typename T>
inline T finish_var(double q, double denom, bool root) {
  const double v = q / denom;
  return static_cast<T>(root ? std::sqrt(v) : v);
}

template <typename T>
EMBER_SIMD void var_rows(T* y, const T* x, int64_t rows, int64_t n, double denom, bool root) {
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * n;
    const double m = dev_sum<false>(row, n, 0.0) / static_cast<double>(n);
    y[r] = finish_var<T>(dev_sum<true>(row, n, m), denom, root);
  }
}

// n rows of inner values ld apart; s and q: inner doubles of scratch
template <typename T>
EMBER_SIMD void var_cols(T* y, const T* x, int64_t n, int64_t ld, int64_t inner, double denom,
                         bool root, double* s, double* q) {
  for (int64_t j = 0; j < inner; ++j) s[j] = q[j] = 0;
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < inner; ++j) s[j] += static_cast<double>(x[r * ld + j]);
  const double inv_n = 1.0 / static_cast<double>(n);
  for (int64_t j = 0; j < inner; ++j) s[j] *= inv_n;  // the means
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < inner; ++j) {
      const double d = static_cast<double>(x[r * ld + j]) - s[j];
      q[j] += d * d;
    }
  for (int64_t j = 0; j < inner; ++j) y[j] = finish_var<T>(q[j], denom, root);
}

}  // namespace

template <typename T>
void var_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, double denom, bool root) {
  if (outer == 0 || inner == 0) return;
  const int nt = threads_for(outer * n * inner, int64_t(1) << 16);
  if (nt == 1 && inner == 1) {  // (no team, as the sums)
    var_rows(y, x, outer, n, denom, root);
    return;
  }
  if (inner == 1) {
#pragma omp parallel num_threads(nt)
    {
      const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t r0 = outer * t / parts, r1 = outer * (t + 1) / parts;
      var_rows(y + r0, x + r0 * n, r1 - r0, n, denom, root);
    }
    return;
  }
  if (nt == 1) {  // (no team: an inactive parallel region costs ~0.3 us of a small var)
    std::vector<double> scratch(static_cast<size_t>(2 * inner));
    for (int64_t o = 0; o < outer; ++o)
      var_cols(y + o * inner, x + o * n * inner, n, inner, inner, denom, root, scratch.data(),
               scratch.data() + inner);
    return;
  }
  // threads over outer, or over column ranges when outer is smaller than the team (as max)
  const int64_t cols = outer >= nt ? 1 : nt;
  const int64_t items = outer * cols;
#pragma omp parallel num_threads(nt)
  {
    std::vector<double> scratch(static_cast<size_t>(2 * inner));
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t o = it / cols, c = it % cols;
      const int64_t j0 = inner * c / cols, j1 = inner * (c + 1) / cols;
      var_cols(y + o * inner + j0, x + o * n * inner + j0, n, inner, j1 - j0, denom, root,
               scratch.data(), scratch.data() + inner);
    }
  }
}

template void var_dim<float>(float*, const float*, int64_t, int64_t, int64_t, double, bool);
template void var_dim<double>(double*, const double*, int64_t, int64_t, int64_t, double, bool);

// ---- cumulative sum / product --------------------------------------------------------------
// x (outer, n, inner) -> y (same): y[o, i, :] = acc[i] rounded to T, acc[i] = acc[i - 1] +
// x[o, i, :] from acc[-1] = 0 (Prod: acc[i - 1] * x[o, i, :] from 1; reverse: from the end), one
// operation after another in double, as PyTorch's CPU scans (at::acc_type: float32 accumulates
// in double, and a leading -0 sums to +0). inner > 1 vectorises over inner (the running values
// in a double buffer); for inner == 1 (the last dim) kRows rows run side by side, hiding the
// operation's latency. Each row is one chain, so every thread count gives the same bits.
namespace {

constexpr int64_t kRows = 8;

template <bool Prod>
inline double step_acc(double acc, double v) {
  return Prod ? acc * v : acc + v;
}

template <bool Prod, typename T>
EMBER_SIMD void scan_inner(T* y, const T* x, double* acc, int64_t n, int64_t inner, bool reverse) {
  const int64_t first = reverse ? n - 1 : 0, step = reverse ? -inner : inner;
  T* yp = y + first * inner;
  const T* xp = x + first * inner;
  for (int64_t j = 0; j < inner; ++j) acc[j] = Prod ? 1 : 0;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < inner; ++j)
      yp[j] = static_cast<T>(acc[j] = step_acc<Prod>(acc[j], xp[j]));
    yp += step;
    xp += step;
  }
}

// rows (< = kRows) rows of length n, each scanned on its own; the rows advance together.
template <bool Prod, typename T>
EMBER_SIMD void scan_rows(T* y, const T* x, int64_t rows, int64_t n, bool reverse) {
  double acc[kRows];
  for (int64_t r = 0; r < kRows; ++r) acc[r] = Prod ? 1 : 0;
  const int64_t first = reverse ? n - 1 : 0, step = reverse ? -1 : 1;
  int64_t i = first;
  if (rows == kRows) {  // a full group: the row loop unrolled, the running values in registers
    for (int64_t c = 0; c < n; ++c, i += step)
#pragma GCC unroll 8
      for (int64_t r = 0; r < kRows; ++r)
        y[r * n + i] = static_cast<T>(acc[r] = step_acc<Prod>(acc[r], x[r * n + i]));
    return;
  }
  if (rows == 1) {  // one chain, its value in a register (through acc[] the float32 product
                    // ran ~4x slower: a store and reload on every step)
    double a = Prod ? 1 : 0;
    for (int64_t c = 0; c < n; ++c, i += step) y[i] = static_cast<T>(a = step_acc<Prod>(a, x[i]));
    return;
  }
  for (int64_t c = 0; c < n; ++c, i += step)
    for (int64_t r = 0; r < rows; ++r)
      y[r * n + i] = static_cast<T>(acc[r] = step_acc<Prod>(acc[r], x[r * n + i]));
}

// rows of a short length n (<= kShortScan) one after another, in memory order: the grouped
// rows' strided stores cost more than such a row's short dependency chain (a float64 cumsum
// over 2-4 values ran ~1.3-1.8x torch's time). The same sums in the same order.
constexpr int64_t kShortScan = 8;

template <bool Prod, int N, typename T>
void scan_rows_of(T* y, const T* x, int64_t rows, bool reverse) {  // (N known: unrolled)
  for (int64_t r = 0; r < rows; ++r, x += N, y += N) {
    double acc = Prod ? 1 : 0;
    if (reverse) {
#pragma GCC unroll 8
      for (int i = N - 1; i >= 0; --i) y[i] = static_cast<T>(acc = step_acc<Prod>(acc, x[i]));
    } else {
#pragma GCC unroll 8
      for (int i = 0; i < N; ++i) y[i] = static_cast<T>(acc = step_acc<Prod>(acc, x[i]));
    }
  }
}

template <bool Prod, typename T>
void scan_short_rows(T* y, const T* x, int64_t rows, int64_t n, bool reverse) {
  switch (n) {
    case 1:
      return scan_rows_of<Prod, 1>(y, x, rows, reverse);
    case 2:
      return scan_rows_of<Prod, 2>(y, x, rows, reverse);
    case 3:
      return scan_rows_of<Prod, 3>(y, x, rows, reverse);
    case 4:
      return scan_rows_of<Prod, 4>(y, x, rows, reverse);
    case 5:
      return scan_rows_of<Prod, 5>(y, x, rows, reverse);
    case 6:
      return scan_rows_of<Prod, 6>(y, x, rows, reverse);
    case 7:
      return scan_rows_of<Prod, 7>(y, x, rows, reverse);
    default:
      return scan_rows_of<Prod, 8>(y, x, rows, reverse);  // (n == kShortScan)
  }
}

template <bool Prod, typename T>
void scan_impl(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  if (n == 0 || outer == 0 || inner == 0) return;
  if (inner == 1 && n <= kShortScan) {
    const int nt = static_cast<int>(std::min<int64_t>(threads_for(outer * n), outer));
    if (nt == 1) {
      scan_short_rows<Prod>(y, x, outer, n, reverse);
      return;
    }
#pragma omp parallel num_threads(nt)
    {  // (each thread a contiguous block of rows)
      const int t = omp_get_thread_num(), k = omp_get_num_threads();
      const int64_t r0 = outer * t / k, r1 = outer * (t + 1) / k;
      scan_short_rows<Prod>(y + r0 * n, x + r0 * n, r1 - r0, n, reverse);
    }
    return;
  }
  if (inner == 1) {
    const int64_t groups = (outer + kRows - 1) / kRows;
    const int nt = static_cast<int>(std::min<int64_t>(threads_for(outer * n), groups));
    if (nt == 1) {  // (no team, as the sums)
      for (int64_t gi = 0; gi < groups; ++gi) {
        const int64_t r0 = gi * kRows;
        scan_rows<Prod>(y + r0 * n, x + r0 * n, std::min(kRows, outer - r0), n, reverse);
      }
      return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t gi = 0; gi < groups; ++gi) {
      const int64_t r0 = gi * kRows;
      scan_rows<Prod>(y + r0 * n, x + r0 * n, std::min(kRows, outer - r0), n, reverse);
    }
    return;
  }
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(outer * n * inner), outer));
  if (nt == 1) {  // (no team, as above)
    std::vector<double> acc(static_cast<size_t>(inner));
    for (int64_t o = 0; o < outer; ++o)
      scan_inner<Prod>(y + o * n * inner, x + o * n * inner, acc.data(), n, inner, reverse);
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    std::vector<double> acc(static_cast<size_t>(inner));
#pragma omp for schedule(static)
    for (int64_t o = 0; o < outer; ++o)
      scan_inner<Prod>(y + o * n * inner, x + o * n * inner, acc.data(), n, inner, reverse);
  }
}

}  // namespace

template <typename T>
void cumsum(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  scan_impl<false>(y, x, outer, n, inner, reverse);
}

template <typename T>
void cumprod(T* y, const T* x, int64_t outer, int64_t n, int64_t inner) {
  scan_impl<true>(y, x, outer, n, inner, false);
}

template void cumsum<float>(float*, const float*, int64_t, int64_t, int64_t, bool);
template void cumsum<double>(double*, const double*, int64_t, int64_t, int64_t, bool);
template void cumprod<float>(float*, const float*, int64_t, int64_t, int64_t);
template void cumprod<double>(double*, const double*, int64_t, int64_t, int64_t);

// x (outer, n, inner) integers (int32, int64, or bool as uint8) -> y (same) int64: the running
// sums along n, wrapping as torch's int64 cumsum (in uint64: signed overflow is undefined).
// inner > 1 adds row to row (vectorised across inner); threads split outer.
namespace {
// one row: a chain of additions, unrolled by hand outside the multiversioned function (the
// plain loop inside it ran ~1.8x torch's time on (1000, 1000))
template <typename T>
void icumsum_row(uint64_t* __restrict y, const T* __restrict x, int64_t n) {
  uint64_t acc = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const uint64_t a = acc + static_cast<uint64_t>(x[i]);
    const uint64_t b = a + static_cast<uint64_t>(x[i + 1]);
    const uint64_t c = b + static_cast<uint64_t>(x[i + 2]);
    acc = c + static_cast<uint64_t>(x[i + 3]);
    y[i] = a, y[i + 1] = b, y[i + 2] = c, y[i + 3] = acc;
  }
  for (; i < n; ++i) y[i] = acc += static_cast<uint64_t>(x[i]);
}

template <typename T>
EMBER_SIMD void icumsum_slice(uint64_t* __restrict y, const T* __restrict x, int64_t n,
                              int64_t inner) {
  for (int64_t j = 0; j < inner; ++j) y[j] = static_cast<uint64_t>(x[j]);
  for (int64_t i = 1; i < n; ++i) {
    const uint64_t* p = y + (i - 1) * inner;
    uint64_t* q = y + i * inner;
    const T* xi = x + i * inner;
    for (int64_t j = 0; j < inner; ++j) q[j] = p[j] + static_cast<uint64_t>(xi[j]);
  }
}
}  // namespace

template <typename T>
void icumsum(int64_t* y, const T* x, int64_t outer, int64_t n, int64_t inner) {
  if (outer * n * inner == 0) return;  // (an empty dim: the slices' first row does not exist)
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(outer * n * inner), outer));
  uint64_t* u = reinterpret_cast<uint64_t*>(y);
  parallel_for(nt, outer, [&](int64_t o) {
    if (inner == 1)
      icumsum_row(u + o * n, x + o * n, n);
    else
      icumsum_slice(u + o * n * inner, x + o * n * inner, n, inner);
  });
}

template void icumsum<uint8_t>(int64_t*, const uint8_t*, int64_t, int64_t, int64_t);
template void icumsum<int32_t>(int64_t*, const int32_t*, int64_t, int64_t, int64_t);
template void icumsum<int64_t>(int64_t*, const int64_t*, int64_t, int64_t, int64_t);

// ---- running extreme (cummax / cummin) -------------------------------------------------------
// x (outer, n, inner) -> v, idx (same): v[o, i, :] the running max (Max) or min of x[o, :i+1, :]
// and idx the position it was last taken at, as PyTorch's cummax_cummin_helper: x[i] replaces
// the running value r when x[i] is NaN or (r is not NaN and x[i] >= r; <= for the min), so a tie
// moves the index on and a NaN sticks (a later NaN takes the index). inner > 1 vectorises over
// inner; each lane is one chain, so every thread count gives the same result.
namespace {

template <bool Max, typename T>
EMBER_SIMD void cumext_block(T* v, int64_t* idx, const T* x, int64_t n, int64_t inner) {
  for (int64_t j = 0; j < inner; ++j) {
    v[j] = x[j];
    idx[j] = 0;
  }
  for (int64_t i = 1; i < n; ++i) {
    const T* xi = x + i * inner;
    const T* vp = v + (i - 1) * inner;
    const int64_t* ip = idx + (i - 1) * inner;
    T* vi = v + i * inner;
    int64_t* ii = idx + i * inner;
    for (int64_t j = 0; j < inner; ++j) {
      const T a = xi[j], r = vp[j];
      const bool take = (a != a) | ((r == r) & (Max ? a >= r : a <= r));
      vi[j] = take ? a : r;
      ii[j] = take ? i : ip[j];
    }
  }
}

// inner == 1 (the last dim): row by row, the running value and position in registers, with a
// branch (as PyTorch's loop): the running extreme rarely changes, so the branch predicts well
// and no compare-and-select chain links one step to the next (~2x faster than branch-free).
template <bool Max, typename T>
void cumext_row(T* v, int64_t* idx, const T* x, int64_t n) {
  T r = x[0];
  int64_t ri = 0;
  for (int64_t i = 0; i < n; ++i) {
    const T a = x[i];
    if (a != a || (r == r && (Max ? a >= r : a <= r))) {
      r = a;
      ri = i;
    }
    v[i] = r;
    idx[i] = ri;
  }
}

template <bool Max, typename T>
void cumext_impl(T* v, int64_t* idx, const T* x, int64_t outer, int64_t n, int64_t inner) {
  if (n == 0 || outer == 0 || inner == 0) return;
  if (inner == 1) {
    const int nt = static_cast<int>(std::min<int64_t>(threads_for(outer * n), outer));
    if (nt == 1) {
      for (int64_t o = 0; o < outer; ++o) cumext_row<Max>(v + o * n, idx + o * n, x + o * n, n);
      return;
    }
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t o = 0; o < outer; ++o) cumext_row<Max>(v + o * n, idx + o * n, x + o * n, n);
    return;
  }
  const int64_t block = n * inner;
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(outer * block), outer));
  if (nt == 1) {  // (no team for a small scan)
    for (int64_t o = 0; o < outer; ++o)
      cumext_block<Max>(v + o * block, idx + o * block, x + o * block, n, inner);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t o = 0; o < outer; ++o)
    cumext_block<Max>(v + o * block, idx + o * block, x + o * block, n, inner);
}

}  // namespace

template <typename T>
void cumextreme(T* v, int64_t* idx, const T* x, int64_t outer, int64_t n, int64_t inner,
                bool use_max) {
  if (use_max)
    cumext_impl<true>(v, idx, x, outer, n, inner);
  else
    cumext_impl<false>(v, idx, x, outer, n, inner);
}

template void cumextreme<float>(float*, int64_t*, const float*, int64_t, int64_t, int64_t, bool);
template void cumextreme<double>(double*, int64_t*, const double*, int64_t, int64_t, int64_t, bool);
template void cumextreme<int64_t>(int64_t*, int64_t*, const int64_t*, int64_t, int64_t, int64_t,
                                  bool);

// ---- product ----------------------------------------------------------------------------------
// x (outer, n, inner) -> y (outer, inner): the product over n, 1 for an empty n. Rows (inner ==
// 1) shorter than the lanes: in order, in T; longer: each chunk of kPChunk elements multiplied in
// kAcc * kW lanes of double (float rows too, see prod_lanes; element i to lane
// i % (kAcc * kW)), the chunks' lanes multiplied together in chunk order, the lanes folded
// pairwise: the order depends on n only, so every thread count gives the same bits (a long
// single row is split by chunks). Columns: row after row, vectorised across inner (NumPy's
// order). Zeros, infs and NaNs propagate as any order of IEEE products does: 0 * inf is NaN, the
// sign is the product of the signs.
namespace {

constexpr int64_t kPChunk = 16 * kBlock;

// lanes (kAcc * kW values) := the lane products of x[0..n), n <= kPChunk. The last partial
// block is copied into a block padded with ones and multiplied as a whole one (element i still
// to lane i % (kAcc * kW)). The accumulator loops are unrolled: as loops GCC kept the
// accumulators in memory, a load and a store around every multiply (float32 1000x1000 ran 2.3x
// torch's time).
template <typename T>
EMBER_SIMD void prod_lanes(T* lanes, const T* x, int64_t n) {
  constexpr int64_t W = kW<T>, S = kAcc * W;
  Vec<T> a[kAcc];
#pragma GCC unroll 16
  for (int64_t k = 0; k < kAcc; ++k)
    for (int64_t j = 0; j < W; ++j) a[k][j] = T(1);
  const auto block = [&](const T* p) {
#pragma GCC unroll 16
    for (int64_t k = 0; k < kAcc; ++k) {
      Vec<T> v;
      load(v, p + k * W);
      a[k] *= v;
    }
  };
  int64_t i = 0;
  for (; i + S <= n; i += S) block(x + i);
  if (i < n) {  // (a select, not memcpy: its call spilled the accumulators, ~30 ns a row)
    T pad[S];
    const int64_t r = n - i;
    for (int64_t k = 0; k < S; ++k) pad[k] = k < r ? x[i + k] : T(1);
    block(pad);
  }
#pragma GCC unroll 16
  for (int64_t k = 0; k < kAcc; ++k) store(lanes + k * W, a[k]);
}

// float: the same kAcc * kW<float> lanes, each multiplying in double (float lanes lost 4e-3
// relative over 1e6 factors near 1, 4e-2 over 1e7: the products' dropped low bits are biased
// while a lane stays near 1; torch's float prod 9e-4 / 3e-3; in double < 1e-9). The row's
// product is rounded to float once.
EMBER_SIMD void prod_lanes(double* lanes, const float* x, int64_t n) {
  constexpr int64_t S = kAcc * kW<float>, W = kW<double>, A = S / W;
  Vec<double> a[A];
#pragma GCC unroll 16
  for (int64_t k = 0; k < A; ++k)
    for (int64_t j = 0; j < W; ++j) a[k][j] = 1.0;
  const auto block = [&](const float* p) {
#pragma GCC unroll 16
    for (int64_t k = 0; k < A; ++k) {
      Vec<double> v;
      for (int64_t j = 0; j < W; ++j) v[j] = p[k * W + j];
      a[k] *= v;
    }
  };
  int64_t i = 0;
  for (; i + S <= n; i += S) block(x + i);
  if (i < n) {  // (as above)
    float pad[S];
    const int64_t r = n - i;
    for (int64_t k = 0; k < S; ++k) pad[k] = k < r ? x[i + k] : 1.0f;
    block(pad);
  }
#pragma GCC unroll 16
  for (int64_t k = 0; k < A; ++k) store(lanes + k * W, a[k]);
}

// lanes: float's and double's products in double (see above)
template <typename T>
constexpr int64_t kPLanes = kAcc * kW<T>;

// (unrolled: as a loop of loops GCC ran each level with run-time trip checks, ~20 ns a row)
template <int64_t S>
inline double fold_prod(double* lanes) {
  if constexpr (S > 1) {
#pragma GCC unroll 64
    for (int64_t k = 0; k < S / 2; ++k) lanes[k] *= lanes[k + S / 2];
    return fold_prod<S / 2>(lanes);
  }
  return lanes[0];
}

// the product of a row from its chunks' lanes part(c, lanes)
template <typename T, typename Part>
inline T chunks_prod(int64_t n, const Part& part) {
  constexpr int64_t S = kPLanes<T>;
  double acc[S], cur[S];
  const int64_t chunks = (n + kPChunk - 1) / kPChunk;
  part(acc, int64_t(0));
  for (int64_t c = 1; c < chunks; ++c) {
    part(cur, c);
    for (int64_t j = 0; j < S; ++j) acc[j] *= cur[j];
  }
  return static_cast<T>(fold_prod<S>(acc));
}

// (a row shorter than the lanes one element after another, as NumPy's and torch's short
// products: an intermediate overflow such as 1e200 * 1e200 * 1e-300 stays inf there)
template <typename T>
EMBER_SIMD void prod_rows(T* y, const T* x, int64_t rows, int64_t n) {
  int64_t r = 0;
  // four short rows side by side: four chains hide the latency (one after another, 100000x16
  // float64 ran ~3x torch's time)
  if (n < kAcc * kW<T>) {
    for (; r + 4 <= rows; r += 4) {
      const T* row = x + r * n;
      T p0 = 1, p1 = 1, p2 = 1, p3 = 1;
      for (int64_t i = 0; i < n; ++i)
        p0 *= row[i], p1 *= row[n + i], p2 *= row[2 * n + i], p3 *= row[3 * n + i];
      y[r] = p0, y[r + 1] = p1, y[r + 2] = p2, y[r + 3] = p3;
    }
  }
  for (; r < rows; ++r) {
    const T* row = x + r * n;
    if (n < kAcc * kW<T>) {
      T p = 1;
      for (int64_t i = 0; i < n; ++i) p *= row[i];
      y[r] = p;
      continue;
    }
    y[r] = chunks_prod<T>(n, [&](double* out, int64_t c) {
      prod_lanes(out, row + c * kPChunk, std::min(kPChunk, n - c * kPChunk));
    });
  }
}

// n rows of inner values ld apart: y[j] = the product of column j, row after row
template <typename T>
EMBER_SIMD void prod_cols(T* y, const T* x, int64_t n, int64_t ld, int64_t inner) {
  for (int64_t j = 0; j < inner; ++j) y[j] = T(1);
  for (int64_t r = 0; r < n; ++r) {
    const T* row = x + r * ld;
    for (int64_t j = 0; j < inner; ++j) y[j] *= row[j];
  }
}

}  // namespace

template <typename T>
void prod_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner) {
  if (outer == 0 || inner == 0) return;
  constexpr int64_t S = kAcc * kW<T>;
  const int nt = threads_for(outer * n * inner, int64_t(1) << 16);
  if (inner == 1) {
    const int64_t chunks = (n + kPChunk - 1) / kPChunk;
    if (nt == 1) {  // (no team, as the sums)
      prod_rows(y, x, outer, n);
    } else if (outer >= nt || chunks < 2 * nt) {
#pragma omp parallel num_threads(nt)
      {
        const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
        const int64_t r0 = outer * t / parts, r1 = outer * (t + 1) / parts;
        prod_rows(y + r0, x + r0 * n, r1 - r0, n);
      }
    } else {  // a few long rows: the chunks in parallel, combined in chunk order as prod_rows
      std::vector<double> part(static_cast<size_t>(chunks * S));
      for (int64_t r = 0; r < outer; ++r) {
        const T* row = x + r * n;
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int64_t c = 0; c < chunks; ++c)
          prod_lanes(part.data() + c * S, row + c * kPChunk, std::min(kPChunk, n - c * kPChunk));
        y[r] = chunks_prod<T>(n, [&](double* out, int64_t c) {
          std::copy(part.data() + c * S, part.data() + (c + 1) * S, out);
        });
      }
    }
    return;
  }
  if (nt == 1) {  // (no team, as the sums)
    for (int64_t o = 0; o < outer; ++o)
      prod_cols(y + o * inner, x + o * n * inner, n, inner, inner);
    return;
  }
  // threads over outer, or over column ranges when outer is smaller than the team (as max)
  const int64_t cols = outer >= nt ? 1 : nt;
  const int64_t items = outer * cols;
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t it = 0; it < items; ++it) {
    const int64_t o = it / cols, c = it % cols;
    const int64_t j0 = inner * c / cols, j1 = inner * (c + 1) / cols;
    prod_cols(y + o * inner + j0, x + o * n * inner + j0, n, inner, j1 - j0);
  }
}

template void prod_dim<float>(float*, const float*, int64_t, int64_t, int64_t);
template void prod_dim<double>(double*, const double*, int64_t, int64_t, int64_t);

// ---- logsumexp -------------------------------------------------------------------------------
// log(sum exp(x - m)) + m with m the largest value (0 when it is not finite, as ops.LogSumExp:
// a line of -inf gives -inf, one holding +inf gives +inf, a NaN gives NaN). exp is vecmath's,
// the sums in T, blocks of them merged by a Cascade (a pairwise tree, as sum's: a running float
// sum of 1e7 exps lost 3e-6 relative, torch's cascade 1e-9); the order depends on n only.
namespace {

constexpr int64_t kLseW = 16;

template <typename T>
inline T finite_or_zero(T m) {
  return std::isfinite(m) ? m : T(0);
}

// y[r] = logsumexp of x's row r (rows of n). The max and the sums in kLseW lanes (element i to
// lane i % kLseW): plain loops that vectorise; each block of kBuf elements' lanes pushed into a
// cascade (a row of one block: its lanes exactly).
template <typename T>
EMBER_SIMD void lse_rows(T* y, const T* x, int64_t rows, int64_t n) {
  constexpr int64_t kBuf = 256;
  constexpr T kNegInf = -std::numeric_limits<T>::infinity();
  if (n <= kBuf) {  // a row of one block: the steps below without the cascade (its one push
    // is the lanes themselves), the tail padded to whole lanes, which add +0 (the same bits;
    // rows of 16: ~2x, of 5: ~4x)
    for (int64_t r = 0; r < rows; ++r) {
      const T* row = x + r * n;
      const int64_t full = n / kLseW * kLseW;
      T ml[kLseW], lanes[kLseW], tail[kLseW];
      for (int64_t k = 0; k < kLseW; ++k) tail[k] = kNegInf;
      std::memcpy(tail, row + full, static_cast<size_t>(n - full) * sizeof(T));
      for (int64_t k = 0; k < kLseW; ++k) ml[k] = kNegInf;
      for (int64_t i = 0; i < full; i += kLseW)
        for (int64_t k = 0; k < kLseW; ++k) ml[k] = row[i + k] > ml[k] ? row[i + k] : ml[k];
      for (int64_t k = 0; k < kLseW; ++k) ml[k] = tail[k] > ml[k] ? tail[k] : ml[k];
      T mx = ml[0];
      for (int64_t k = 1; k < kLseW; ++k) mx = ml[k] > mx ? ml[k] : mx;
      const T m = finite_or_zero(mx);
      for (int64_t k = 0; k < kLseW; ++k) lanes[k] = T(0);
      for (int64_t i = 0; i < full; i += kLseW)
        for (int64_t k = 0; k < kLseW; ++k) lanes[k] += vexp(row[i + k] - m);
      if (full < n)  // (the padding's exp taken of 0, not -inf: an underflow to 0 is slow)
        for (int64_t k = 0; k < kLseW; ++k) {
          const bool in = full + k < n;
          const T e = vexp(in ? tail[k] - m : T(0));
          lanes[k] += in ? e : T(0);
        }
      for (int64_t w = kLseW / 2; w > 0; w /= 2)
        for (int64_t k = 0; k < w; ++k) lanes[k] += lanes[k + w];
      y[r] = std::log(lanes[0]) + m;
    }
    return;
  }
  T levels[kLevels * kLseW];
  for (int64_t r = 0; r < rows; ++r) {
    const T* row = x + r * n;
    T ml[kLseW];
    for (int64_t k = 0; k < kLseW; ++k) ml[k] = -std::numeric_limits<T>::infinity();
    int64_t i = 0;
    for (; i + kLseW <= n; i += kLseW)
      for (int64_t k = 0; k < kLseW; ++k) ml[k] = row[i + k] > ml[k] ? row[i + k] : ml[k];
    for (int64_t k = 0; i + k < n; ++k) ml[k] = row[i + k] > ml[k] ? row[i + k] : ml[k];
    T mx = ml[0];  // (a NaN is skipped here: the sum's NaN)
    for (int64_t k = 1; k < kLseW; ++k) mx = ml[k] > mx ? ml[k] : mx;
    const T m = finite_or_zero(mx);
    T lanes[kLseW] = {};
    Cascade<T> c(levels, kLseW);
    for (int64_t b = 0; b < n; b += kBuf) {
      const int64_t len = std::min(kBuf, n - b);
      const T* blk = row + b;
      for (int64_t k = 0; k < kLseW; ++k) lanes[k] = T(0);
      int64_t j = 0;
      for (; j + kLseW <= len; j += kLseW)
        for (int64_t k = 0; k < kLseW; ++k) lanes[k] += vexp(blk[j + k] - m);
      for (int64_t k = 0; j + k < len; ++k) lanes[k] += vexp(blk[j + k] - m);
      c.push(lanes);
    }
    if (n > 0) c.total(lanes, nullptr);
    for (int64_t w = kLseW / 2; w > 0; w /= 2)
      for (int64_t k = 0; k < w; ++k) lanes[k] += lanes[k + w];
    y[r] = std::log(lanes[0]) + m;
  }
}

// n rows of w values ld apart -> y[j], j < w: logsumexp of column j, row after row, blocks of
// kRowBlock rows merged by a cascade (m and the block sums in caller storage of 2 w values, the
// cascade's in storage of cascade_levels(blocks) * w)
template <typename T>
EMBER_SIMD void lse_cols(T* y, const T* x, int64_t n, int64_t ld, int64_t w, T* m, T* sum,
                         T* storage) {
  for (int64_t j = 0; j < w; ++j) m[j] = -std::numeric_limits<T>::infinity();
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < w; ++j) m[j] = x[r * ld + j] > m[j] ? x[r * ld + j] : m[j];
  for (int64_t j = 0; j < w; ++j) m[j] = finite_or_zero(m[j]);
  Cascade<T> c(storage, w);
  for (int64_t r0 = 0; r0 < n; r0 += kRowBlock) {
    for (int64_t j = 0; j < w; ++j) sum[j] = T(0);
    for (int64_t r = r0; r < std::min(n, r0 + kRowBlock); ++r)
      for (int64_t j = 0; j < w; ++j) sum[j] += vexp(x[r * ld + j] - m[j]);
    c.push(sum);
  }
  c.total(sum, nullptr);
  for (int64_t j = 0; j < w; ++j) y[j] = std::log(sum[j]) + m[j];
}

}  // namespace

// x (outer, n, inner) -> y (outer, inner): the logsumexp over n (n >= 1). Threads over rows, or
// over (outer, column block) items; each result computed by one thread in a fixed order.
template <typename T>
void logsumexp_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner) {
  if (outer == 0 || inner == 0) return;
  const int nt = threads_for(outer * n * inner, int64_t(1) << 14);
  if (inner == 1) {
    if (nt == 1) return lse_rows(y, x, outer, n);
#pragma omp parallel num_threads(nt)
    {
      const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
      const int64_t r0 = outer * t / parts, r1 = outer * (t + 1) / parts;
      lse_rows(y + r0, x + r0 * n, r1 - r0, n);
    }
    return;
  }
  constexpr int64_t kCols = 256;  // columns per item: their m and sums stay in L1
  const int64_t blocks = (inner + kCols - 1) / kCols, items = outer * blocks;
  const int64_t levels = cascade_levels((n + kRowBlock - 1) / kRowBlock);
  if (nt == 1) {  // (no team, as the rows)
    T m[kCols], sum[kCols];
    std::vector<T> storage(levels * kCols);
    for (int64_t it = 0; it < items; ++it) {
      const int64_t o = it / blocks, j0 = (it % blocks) * kCols;
      lse_cols(y + o * inner + j0, x + o * n * inner + j0, n, inner, std::min(kCols, inner - j0), m,
               sum, storage.data());
    }
    return;
  }
#pragma omp parallel num_threads(nt)
  {
    T m[kCols], sum[kCols];
    std::vector<T> storage(levels * kCols);
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; ++it) {
      const int64_t o = it / blocks, j0 = (it % blocks) * kCols;
      lse_cols(y + o * inner + j0, x + o * n * inner + j0, n, inner, std::min(kCols, inner - j0), m,
               sum, storage.data());
    }
  }
}

template void logsumexp_dim<float>(float*, const float*, int64_t, int64_t, int64_t);
template void logsumexp_dim<double>(double*, const double*, int64_t, int64_t, int64_t);

// ---- fill -----------------------------------------------------------------------------------
// y (n) = value: a full sum's gradient; fill_rows: one value per row. Compiled per ISA, so the
// stores are full-width vectors (NumPy's fill is built for the baseline: ~2x slower on a 1 MiB
// array).
namespace {

template <typename T>
EMBER_SIMD void fill_span(T* y, int64_t n, T value) {
  for (int64_t i = 0; i < n; ++i) y[i] = value;
}

}  // namespace

template <typename T>
void fill(T* y, int64_t n, T value) {
  const int nt = threads_for(n, int64_t(1) << 18);
  if (nt == 1) return fill_span(y, n, value);  // (no team: ~0.3 us of a small sum's backward)
#pragma omp parallel num_threads(nt)
  {
    const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t i0 = n * t / parts, i1 = n * (t + 1) / parts;
    fill_span(y + i0, i1 - i0, value);
  }
}

// y (rows, n): y[r, :] = v[r] (a trailing-dims sum's gradient, expanded). Threads over rows.
template <typename T>
void fill_rows(T* y, const T* v, int64_t rows, int64_t n) {
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(rows * n, int64_t(1) << 18), rows));
  if (nt <= 1) {  // (no team, as fill)
    for (int64_t r = 0; r < rows; ++r) fill_span(y + r * n, n, v[r]);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) fill_span(y + r * n, n, v[r]);
}

template void fill<float>(float*, int64_t, float);
template void fill<double>(double*, int64_t, double);
template void fill<int64_t>(int64_t*, int64_t, int64_t);  // (Tensor.fill_, speed28)
template void fill_rows<float>(float*, const float*, int64_t, int64_t);
template void fill_rows<double>(double*, const double*, int64_t, int64_t);

// x (n) -> counts (bins): torch.histc's bins over [lo, hi] (the caller's range, lo < hi), as
// PyTorch's CPU kernel computes them in x's dtype: an entry outside [lo, hi] (or NaN) is skipped,
// else its bin is int64((x - lo) * bins / (hi - lo)), the last edge falling in the last bin.
// Threads count into histograms of their own, added in thread order (integers: exact); more
// bins than entries count on one thread (no per-thread copies of a huge histogram).
template <typename T>
void histc_counts(int64_t* counts, const T* x, int64_t n, int64_t bins, T lo, T hi) {
  const int nt = bins > n ? 1 : threads_for(n, int64_t(1) << 16);
  std::vector<int64_t> part(static_cast<size_t>(nt) * static_cast<size_t>(bins), 0);
  const T width = hi - lo;
  const T nb = static_cast<T>(bins);  // (int64 * float converts the integer, as torch's)
  auto run = [&](int t, int parts) {
    int64_t* h = part.data() + static_cast<int64_t>(t) * bins;
    const int64_t i0 = n * t / parts, i1 = n * (t + 1) / parts;
    for (int64_t i = i0; i < i1; ++i) {
      const T v = x[i];
      if (!(v >= lo && v <= hi)) continue;
      int64_t pos = static_cast<int64_t>((v - lo) * nb / width);
      if (pos >= bins) pos = bins - 1;  // (hi itself; rounding cannot pass it further)
      ++h[pos];
    }
  };
  parallel_region(nt, run);
  for (int64_t b = 0; b < bins; ++b) counts[b] = 0;
  for (int t = 0; t < nt; ++t)
    for (int64_t b = 0; b < bins; ++b) counts[b] += part[static_cast<size_t>(t) * bins + b];
}

template void histc_counts<float>(int64_t*, const float*, int64_t, int64_t, float, float);
template void histc_counts<double>(int64_t*, const double*, int64_t, int64_t, double, double);

}  // namespace ember
