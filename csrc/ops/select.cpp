// Selection along the last axis of a (rows, n) array: topk, sort, kthvalue and mode indices,
// float32, float64 and int64. Ties are broken exactly as PyTorch's CPU kernels break them, which is
// the order their std:: algorithms (and kthvalue's Sedgewick quickselect) leave equal keys in, so
// these run the same algorithms with the same comparators. NaN ranks above every number.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <utility>
#include <vector>

#include "common.h"
#include "vecmath.h"  // EMBER_SIMD

namespace ember {

namespace {

template <typename T>
bool is_nan(T v) {
  if constexpr (std::is_floating_point_v<T>)
    return std::isnan(v);
  else
    return false;
}

// a > b with NaN largest (kthvalue's order and topk's for largest=True).
template <typename T>
bool gt_or_nan(T a, T b) {
  return a > b || (is_nan(a) && !is_nan(b));  // the common case decides with one compare
}

template <typename T>
using Entry = std::pair<T, int64_t>;

// topk's order on (value, index): first comes first.
template <typename T, bool largest>
struct Before {
  bool operator()(const Entry<T>& a, const Entry<T>& b) const {
    if constexpr (largest)
      return gt_or_nan(a.first, b.first);
    else
      return gt_or_nan(b.first, a.first);
  }
};

// The first block of 16 from j on (j + 16 <= n) holding an entry that comes before a heap top
// of value t, t not NaN (a NaN x does for largest), else where the whole blocks end: a
// branch-free count per block (GCC unrolls it; a test and branch per entry ran twice as slow).
template <typename T, bool largest>
EMBER_SIMD int64_t skip_blocks(const T* x, int64_t j, int64_t n, T t) {
  for (; j + 16 <= n; j += 16) {
    int count = 0;
    for (int i = 0; i < 16; ++i) count += largest ? !(x[j + i] <= t) : x[j + i] < t;
    if (count != 0) break;
  }
  return j;
}

// std::partial_sort(q, q + k, q + n, before) on q[j] = (x[j], j), step for step as libstdc++
// (and so PyTorch's topk) runs it: make_heap of the first k; each later entry that comes before
// the heap top replaces it (pop_heap over q[0, k] with the entry in q[k] is libstdc++'s
// __pop_heap(first, middle, i)); sort_heap. Entries that do not beat the top change nothing, so
// blocks of 16 without one are skipped by one test instead of being copied into q and compared
// one by one (64x4096 rows, k = 10: 0.33 -> 0.11 ms). q holds k + 1 entries.
template <typename T, bool largest>
void heap_select_row(Entry<T>* q, const T* x, int64_t n, int64_t k) {
  const Before<T, largest> before;
  for (int64_t j = 0; j < k; ++j) q[j] = {x[j], j};
  std::make_heap(q, q + k, before);
  int64_t j = k;
  while (j < n) {
    if (is_nan(q[0].first)) {
      if (largest) break;  // k NaNs held: nothing comes before them
    } else {
      j = skip_blocks<T, largest>(x, j, n, q[0].first);
    }
    for (const int64_t end = std::min(n, j + 16); j < end; ++j) {
      if (!before({x[j], j}, q[0])) continue;
      q[k] = {x[j], j};
      std::pop_heap(q, q + k + 1, before);
    }
  }
  std::sort_heap(q, q + k, before);
}

// out[b] = the best of the group x[b], x[b + nblk], ..., x[b + 15 nblk] for b < nblk, NaN when
// the group holds one. Strided groups, not 16 neighbours: the bests are 16 elementwise passes
// that vectorise (a block of neighbours' best is a horizontal reduction, ~2x slower on 1e6).
template <typename T, bool largest>
EMBER_SIMD void group_bests(T* out, const T* x, int64_t nblk) {
  for (int64_t b = 0; b < nblk; ++b) out[b] = x[b];
  for (int i = 1; i < 16; ++i) {
    const T* xi = x + i * nblk;
    for (int64_t b = 0; b < nblk; ++b) {
      const T v = xi[b], m = out[b];
      out[b] = (largest ? v > m : v < m) || v != v ? v : m;  // a NaN, once taken, stays
    }
  }
}

// heap_select_row's result by a cheaper route, when it is the only possible one. The k-th best
// of the 16-entry groups' bests is at most as good as the k-th best entry (k groups each hold one
// at least as good), so the entries at least as good as it are the only candidates (a few more
// than k on most rows), and they lie in the groups whose best is: only those groups (and the
// tail past the last whole group) are read again. The candidates are sorted best first into q.
// When the k best values are distinct, no other entry ties the k-th and the row has no NaN, the
// set and its order are unique and any correct selection returns exactly what partial_sort
// does; otherwise (ties decide by the heap's steps) this returns false and the caller runs the
// heap. vals: n values of scratch (the bests, and a copy for nth_element). Random rows of 1024
// floats, k = 10: ~2x faster than the heap.
template <typename T, bool largest>
bool sorted_select_row(Entry<T>* q, T* vals, const T* x, int64_t n, int64_t k) {
  auto better = [](T a, T b) { return largest ? a > b : a < b; };
  const int64_t nblk = n / 16;  // >= 4k (k * 64 <= n)
  T* bests = vals;
  T* sel = vals + nblk;  // (2 nblk <= n)
  group_bests<T, largest>(bests, x, nblk);
  for (int64_t b = 0; b < nblk; ++b)
    if (is_nan(bests[b])) return false;  // NaN: the heap's order (and no order for nth_element)
  std::copy(bests, bests + nblk, sel);
  std::nth_element(sel, sel + k - 1, sel + nblk, better);
  const T t = sel[k - 1];
  int64_t c = 0;
  auto take = [&](int64_t j0, int64_t j1, int64_t step) {
    for (int64_t j = j0; j < j1; j += step) {
      if (better(t, x[j])) continue;
      if (c == nblk) return false;  // (many ties with t: the heap)
      q[c++] = {x[j], j};
    }
    return true;
  };
  for (int64_t b = 0; b < nblk; ++b)
    if (!better(t, bests[b]) && !take(b, 16 * nblk, nblk)) return false;
  if (!take(16 * nblk, n, 1)) return false;
  std::partial_sort(q, q + k, q + c,
                    [&](const Entry<T>& a, const Entry<T>& b) { return better(a.first, b.first); });
  for (int64_t i = 1; i < k; ++i)
    if (!better(q[i - 1].first, q[i].first)) return false;  // a tie inside the k best
  // (every entry at least as good as the k-th is a candidate: a tie with it is among them)
  const T kth = q[k - 1].first;
  for (int64_t i = k; i < c; ++i)
    if (!better(kth, q[i].first)) return false;
  return true;
}

// Returns false when the row tried sorted_select_row (try_select) and it failed.
template <typename T, bool largest>
bool topk_row(int64_t* idx, const T* x, int64_t n, int64_t k, bool sorted, Entry<T>* q, T* vals,
              bool try_select) {
  const Before<T, largest> before;
  bool ok = true;
  if (k * 64 <= n) {  // small k: a heap select, always sorted (also for sorted=False)
    ok = try_select && sorted_select_row<T, largest>(q, vals, x, n, k);
    if (!ok) heap_select_row<T, largest>(q, x, n, k);
    ok = ok || !try_select;
  } else {
    for (int64_t j = 0; j < n; ++j) q[j] = {x[j], j};
    std::nth_element(q, q + k - 1, q + n, before);
    if (sorted) std::sort(q, q + k - 1, before);  // q[k-1] is in place already
  }
  for (int64_t j = 0; j < k; ++j) idx[j] = q[j].second;
  return ok;
}

// Sedgewick's quickselect (median-of-three pivot) leaving the k-th smallest (0-based) at v[k].
template <typename T>
void quickselect(T* v, int64_t* ix, int64_t n, int64_t k) {
  auto swap = [&](int64_t a, int64_t b) {
    std::swap(v[a], v[b]);
    std::swap(ix[a], ix[b]);
  };
  int64_t lo = 0, hi = n - 1;
  while (hi > lo) {
    if (hi == lo + 1) {
      if (gt_or_nan(v[lo], v[hi])) swap(lo, hi);
      return;
    }
    swap((lo + hi) >> 1, lo + 1);
    if (gt_or_nan(v[lo + 1], v[hi])) swap(lo + 1, hi);
    if (gt_or_nan(v[lo], v[hi])) swap(lo, hi);
    if (gt_or_nan(v[lo + 1], v[lo])) swap(lo + 1, lo);
    // v[lo + 1] <= v[lo] = pivot <= v[hi]: both scans stop inside [lo + 1, hi].
    int64_t i = lo + 1, j = hi;
    const T pivot = v[lo];
    for (;;) {
      do ++i;
      while (gt_or_nan(pivot, v[i]));
      do --j;
      while (gt_or_nan(v[j], pivot));
      if (j < i) break;
      swap(i, j);
    }
    swap(lo, j);
    if (j <= k) lo = i;
    if (j >= k) hi = j - 1;
  }
}

// Scratch a for_rows body asks for (a mask): n (value, position) pairs, values, positions.
enum : int { kPairs = 1, kValues = 2, kPositions = 4 };

// Grows v to at least n entries (kept per thread between calls: allocating and zero-filling
// n-sized scratch on each call, with its page faults, was ~2/3 of a 1e6 topk with small k).
template <typename V>
typename V::value_type* scratch(V& v, int64_t n) {
  if (v.size() < static_cast<size_t>(n)) v.resize(static_cast<size_t>(n));
  return v.data();
}

// Rows are independent; a row costs about n log n comparisons. Each thread runs rows [r0, r1)
// with scratch of its own (null where needs leaves it out); one thread runs them without a
// team (~1 us less per small call).
template <typename T, typename F>
void for_rows(int64_t rows, int64_t n, int needs, F body) {
  auto run = [&](int64_t r0, int64_t r1) {
    thread_local std::vector<Entry<T>> work;
    thread_local std::vector<T> vals;
    thread_local std::vector<int64_t> ix;
    Entry<T>* w = needs & kPairs ? scratch(work, n) : nullptr;
    T* v = needs & kValues ? scratch(vals, n) : nullptr;
    int64_t* p = needs & kPositions ? scratch(ix, n) : nullptr;
    for (int64_t r = r0; r < r1; ++r) body(r, w, v, p);
  };
  const int nt = threads_for(rows * n * 8);
  if (nt == 1) return run(0, rows);
#pragma omp parallel num_threads(nt)
  {
    const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
    run(rows * t / parts, rows * (t + 1) / parts);
  }
}

}  // namespace

// x (rows, n) -> idx (rows, k): the k largest (smallest) entries' positions, best first when
// sorted, else in the order the selection leaves them (as torch.topk(sorted=False)).
template <typename T>
void topk_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, int64_t k, bool largest,
                  bool sorted) {
  if (k == 0) return;
  // (scratch as topk_row needs it: for a selection, n / 16 candidates and 2 n / 16 bests)
  const bool select = k * 64 <= n;
  const int64_t nq = select ? std::max(k + 1, n / 16) : n, nvals = select ? 2 * (n / 16) : 0;
  auto run = [&](int64_t r0, int64_t r1) {
    thread_local std::vector<Entry<T>> q;
    thread_local std::vector<T> vals;
    Entry<T>* qp = scratch(q, nq);
    T* vp = scratch(vals, nvals);
    // Rows with ties among their k best (integers of a small range) fail the sorted select
    // after most of its work, then run the heap: once half of 8 or more tries failed, the
    // heap alone (the same result either way; int32 (1000, 1000) k = 10 ~2x faster)
    int64_t tries = 0, fails = 0;
    for (int64_t r = r0; r < r1; ++r) {
      const bool try_select = tries < 8 || 2 * fails < tries;
      const bool ok =
          largest ? topk_row<T, true>(idx + r * k, x + r * n, n, k, sorted, qp, vp, try_select)
                  : topk_row<T, false>(idx + r * k, x + r * n, n, k, sorted, qp, vp, try_select);
      tries += try_select;
      fails += !ok;
    }
  };
  const int nt = threads_for(rows * n * 8);
  if (nt == 1) return run(0, rows);
#pragma omp parallel num_threads(nt)
  {
    const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
    run(rows * t / parts, rows * (t + 1) / parts);
  }
}

namespace {

// x's place in torch's sort order as an unsigned key: negative floats count down (flip them
// all), positive ones above them, -0 as +0, every NaN one key above +inf; descending flips the
// keys, so NaN comes first as torch.sort(descending=True) puts it.
inline uint32_t float_order_key(float x, bool descending) {
  const uint32_t b = vm::as_bits(x + 0.0f);  // -0 + 0 is +0
  uint32_t key = x != x ? 0xffffffffu : (b >> 31) ? ~b : b | 0x80000000u;
  return descending ? ~key : key;
}

// buf[0, n) sorted by bits 32..63 (stable): LSD radix, a byte a pass. The four bytes' counts
// come from one read (four independent chains: a row's values often share their top bytes, so
// a single count chain waits on each store), and passes where every value shares the byte are
// skipped. tmp: n values of scratch.
void radix_sort_high(uint64_t* buf, uint64_t* tmp, int64_t n) {
  int64_t start[4][257] = {};
  for (int64_t j = 0; j < n; ++j)
    for (int p = 0; p < 4; ++p) ++start[p][((buf[j] >> (32 + 8 * p)) & 0xff) + 1];
  uint64_t* src = buf;
  for (int p = 0; p < 4; ++p) {
    int64_t* s = start[p];
    if (std::find(s + 1, s + 257, n) != s + 257) continue;  // one bucket: in order already
    for (int d = 1; d < 257; ++d) s[d] += s[d - 1];
    const int shift = 32 + 8 * p;
    for (int64_t j = 0; j < n; ++j) tmp[s[(src[j] >> shift) & 0xff]++] = src[j];
    std::swap(src, tmp);
  }
  if (src != buf) std::copy(src, src + n, buf);
}

// The order of a short row of distinct keys by ranks: a key's rank is the count of smaller
// keys, n^2 branch-free compares that vectorise (std::sort's mispredicted branches cost ~8 ns a
// value on random rows of 32). All the counts advance together, the row's keys in the vector
// lanes and one key against them per step: no horizontal sum per key (counting each key's
// smaller ones in turn was ~2x slower). Distinct keys have the ranks 0..n-1; false (idx then
// unspecified) when two ranks collide, which is when two keys are equal. K: int32_t (float
// keys) or int64_t (double keys), the rank of K's width so the counts share the keys' lanes.
// float32 rows up to 192 (rows of 100: ~3.5x faster than std::sort of the keys), float64 rows
// up to 112 (~2x the pair sort's speed), where n^2 compares still cost less than a sort.
constexpr int64_t kRankMaxDouble = 112, kRankMaxFloat = 192;
template <typename K>
EMBER_SIMD bool rank_order(int64_t* idx, const K* key, int64_t n) {
  K rank[kRankMaxFloat];
  for (int64_t j = 0; j < n; ++j) rank[j] = 0;
  for (int64_t i = 0; i < n; ++i) {
    const K ki = key[i];
    for (int64_t j = 0; j < n; ++j) rank[j] += ki < key[j];
  }
  for (int64_t j = 0; j < n; ++j) idx[j] = -1;
  for (int64_t j = 0; j < n; ++j) {
    if (idx[rank[j]] >= 0) return false;
    idx[rank[j]] = j;
  }
  return true;
}

// A row of distinct numbers has one sorted order, whatever the algorithm, so a float32 row
// sorts by its values' order keys: by ranks (short rows), else as 64-bit integers (key above
// position) by a radix sort, ~5x faster than the pair sort with
// PyTorch's NaN-aware comparator. Returns false (idx then unspecified) for a row with a NaN or
// a tie (-0 ties +0, as in PyTorch): the caller then runs the pair sort, whose order among
// equal values is PyTorch's. buf, tmp: n values of scratch.
bool sort_distinct_row(int64_t* idx, uint64_t* buf, uint64_t* tmp, const float* x, int64_t n,
                       bool descending) {
  if (n > int64_t(UINT32_MAX)) return false;
  int32_t ranked[kRankMaxFloat];
  for (int64_t j = 0; j < n; ++j) {
    if (x[j] != x[j]) return false;
    const uint32_t key = float_order_key(x[j], descending);
    if (n <= kRankMaxFloat)
      ranked[j] = static_cast<int32_t>(key ^ 0x80000000u);  // signed compares keep the order
    else
      buf[j] = (uint64_t(key) << 32) | uint64_t(j);
  }
  if (n <= kRankMaxFloat) return rank_order(idx, ranked, n);
  radix_sort_high(buf, tmp, n);
  for (int64_t j = 1; j < n; ++j)
    if ((buf[j] >> 32) == (buf[j - 1] >> 32)) return false;
  for (int64_t j = 0; j < n; ++j) idx[j] = int64_t(buf[j] & 0xffffffffu);
  return true;
}

// A long row with a tie: is one likely? Then the radix attempt above (which would fail) is
// skipped. Ties among the first keys prove one (exact); none proves nothing. Worth it from
// rows of 16 samples (on shorter ones the sample's sort costs what the attempt does). The
// sample grows with the row (n / 16, radix-sorted in buf and tmp): by the birthday bound a
// sample of 1024 finds none of the ~10^4 ties of 1e6 randn float32 values, n / 16 finds dozens,
// sparing the failed attempt (~20% of that sort) for ~5% more on rows of distinct values.
constexpr int64_t kTieSample = 1024;
bool has_early_tie(const float* x, int64_t n, uint64_t* buf, uint64_t* tmp) {
  const int64_t m = std::min(n, std::max(kTieSample, n / 16));
  for (int64_t j = 0; j < m; ++j)  // (NaN: one key)
    buf[j] = uint64_t(float_order_key(x[j], false)) << 32;
  radix_sort_high(buf, tmp, m);
  return std::adjacent_find(buf, buf + m) != buf + m;
}

// libstdc++'s std::sort, step for step (the same permutation, ties included: the outputs of
// torch.sort(stable=False) are pinned to it), ~1.6x faster on random rows: its Hoare partition
// branches on every compare (~50% mispredicted); here the partition finds its swap candidates
// branch-free a block at a time (BlockQuicksort). The k-th swap pairs the k-th left element
// not less than the pivot with the k-th right one not greater, so the swaps are Hoare's as long
// as both blocks lie between the scans; the last few (under two blocks) run Hoare's loop from
// the state after the block swaps. Median-of-3 pivot, depth limit, heap fallback and the
// threshold of 16 as libstdc++ (GCC 12); its final insertion sort is a stable sort, as below.
template <typename T, typename Less>
T* block_hoare_partition(T* first, T* last, const T& pivot, Less less) {
  constexpr int64_t kBlock = 64;
  int32_t off_l[kBlock], off_r[kBlock];
  T *lo = first, *hi = last;  // not yet scanned: [lo, hi)
  T *i = first, *j = last;    // Hoare's scans: from i up, from j - 1 down
  T *base_l = lo, *base_r = hi;
  int64_t nl = 0, nr = 0, sl = 0, sr = 0;  // candidates left in the blocks, from sl and sr
  while (hi - lo >= (nl == 0 ? kBlock : 0) + (nr == 0 ? kBlock : 0)) {
    if (nl == 0) {
      sl = 0, base_l = lo;
      for (int64_t k = 0; k < kBlock; ++k) {
        off_l[nl] = int32_t(k);
        nl += !less(lo[k], pivot);
      }
      lo += kBlock;
    }
    if (nr == 0) {
      sr = 0, base_r = hi;
      for (int64_t k = 0; k < kBlock; ++k) {
        off_r[nr] = int32_t(k);
        nr += !less(pivot, hi[-1 - k]);
      }
      hi -= kBlock;
    }
    const int64_t m = std::min(nl, nr);
    if (m == 0) continue;
    for (int64_t t = 0; t < m; ++t)
      std::iter_swap(base_l + off_l[sl + t], base_r - 1 - off_r[sr + t]);
    i = base_l + off_l[sl + m - 1] + 1;
    j = base_r - 1 - off_r[sr + m - 1];
    nl -= m, nr -= m, sl += m, sr += m;
  }
  while (true) {  // libstdc++'s __unguarded_partition
    while (less(*i, pivot)) ++i;
    --j;
    while (less(pivot, *j)) --j;
    if (!(i < j)) return i;
    std::iter_swap(i, j);
    ++i;
  }
}

template <typename T, typename Less>
void std_sort_steps(T* first, T* last, int64_t depth, Less less) {
  while (last - first > 16) {
    if (depth == 0) {  // (as std::__partial_sort(first, last, last))
      std::make_heap(first, last, less);
      std::sort_heap(first, last, less);
      return;
    }
    --depth;
    T *a = first + 1, *b = first + (last - first) / 2, *c = last - 1;  // median of 3 to first
    if (less(*a, *b))
      std::iter_swap(first, less(*b, *c) ? b : less(*a, *c) ? c : a);
    else
      std::iter_swap(first, less(*a, *c) ? a : less(*b, *c) ? c : b);
    T* cut = block_hoare_partition(first + 1, last, *first, less);
    std_sort_steps(cut, last, depth, less);
    last = cut;
  }
}

template <typename T, typename Less>
void std_sort(T* first, T* last, Less less) {
  const int64_t n = last - first;
  if (n < 2) return;
  std_sort_steps(first, last, 2 * int64_t(63 - __builtin_clzll(uint64_t(n))), less);
  for (T* p = first + 1; p < last; ++p) {  // stable insertion sort
    T v = std::move(*p);
    T* q = p;
    for (; q > first && less(v, q[-1]); --q) *q = std::move(q[-1]);
    *q = std::move(v);
  }
}

// The permutation pair_sort_row leaves a float32 row in (n <= UINT32_MAX), faster: std::sort
// on 64-bit words (order key above position) comparing only the keys. Keys compare as torch's
// comparator compares the values (every NaN one key, -0 equal to +0), and std::sort's steps
// follow from its comparisons alone, so the permutation is the same; a word compares and moves
// more cheaply than a (float, position) pair with the NaN test (~1.3x on rows with ties).
void key_sort_row(int64_t* idx, uint64_t* buf, const float* x, int64_t n, bool descending) {
  for (int64_t j = 0; j < n; ++j)
    buf[j] = (uint64_t(float_order_key(x[j], descending)) << 32) | uint64_t(j);
  std_sort(buf, buf + n, [](uint64_t a, uint64_t b) { return (a >> 32) < (b >> 32); });
  for (int64_t j = 0; j < n; ++j) idx[j] = int64_t(buf[j] & 0xffffffffu);
}

}  // namespace

namespace {

// idx[0, n) = the permutation std::sort leaves the pairs (x[j], j) in, by torch's comparator on
// the values (NaN largest). q: n pairs of scratch; P the position type.
template <typename T, typename P>
void pair_sort_row(int64_t* idx, std::pair<T, P>* q, const T* x, int64_t n, bool descending) {
  using Q = std::pair<T, P>;
  for (int64_t j = 0; j < n; ++j) q[j] = {x[j], static_cast<P>(j)};
  if (descending)
    std_sort(q, q + n, [](const Q& a, const Q& b) { return gt_or_nan(a.first, b.first); });
  else
    std_sort(q, q + n, [](const Q& a, const Q& b) { return gt_or_nan(b.first, a.first); });
  for (int64_t j = 0; j < n; ++j) idx[j] = static_cast<int64_t>(q[j].second);
}

}  // namespace

namespace {

// An order key of v as an unsigned integer: keys compare as torch's stable sort compares the
// values (ascending, NaN last, every NaN equal; -0 equal to +0); descending flips the numbers'
// keys and puts NaN first, as torch.sort(descending=True).
template <typename T>
uint64_t order_key(T v, bool descending) {
  uint64_t key;
  if constexpr (std::is_same_v<T, int64_t>) {
    key = static_cast<uint64_t>(v) ^ (uint64_t(1) << 63);  // scalar math: signed -> unsigned order
  } else {
    if (v != v) return descending ? 0 : ~uint64_t(0);
    using U = std::conditional_t<std::is_same_v<T, float>, uint32_t, uint64_t>;
    constexpr int top = 8 * sizeof(U) - 1;
    const U b = vm::as_bits(v + T(0));  // -0 + 0 is +0
    // scalar math: negative floats count down (flip them all), positive ones above them
    key = static_cast<uint64_t>((b >> top) ? U(~b) : U(b | (U(1) << top)));
  }
  // (numbers' keys stay clear of 0 and ~0, which NaN takes: a float key fits 32 or 64 bits
  // but its extremes are NaN bit patterns; an int64 key may be 0 or ~0, and has no NaN)
  return descending ? ~key : key;
}

struct KeyPos {
  uint64_t key;
  int64_t pos;
};

// buf[0, n) sorted by key, stably: LSD radix a byte a pass (the counts of all eight bytes from
// one read; passes where every key shares the byte are skipped, so small integers take one or
// two). tmp: n entries of scratch.
void radix_sort_stable(KeyPos* buf, KeyPos* tmp, int64_t n) {
  std::vector<int64_t> start(8 * 257, 0);
  for (int64_t j = 0; j < n; ++j)
    for (int p = 0; p < 8; ++p) ++start[p * 257 + ((buf[j].key >> (8 * p)) & 0xff) + 1];
  KeyPos* src = buf;
  for (int p = 0; p < 8; ++p) {
    int64_t* s = start.data() + p * 257;
    if (std::find(s + 1, s + 257, n) != s + 257) continue;  // one bucket: in order already
    for (int d = 1; d < 257; ++d) s[d] += s[d - 1];
    const int shift = 8 * p;
    for (int64_t j = 0; j < n; ++j) tmp[s[(src[j].key >> shift) & 0xff]++] = src[j];
    std::swap(src, tmp);
  }
  if (src != buf) std::copy(src, src + n, buf);
}

// As has_early_tie, for a float64 row: its first max(1024, n / 16) order keys, radix-sorted.
bool has_early_tie(const double* x, int64_t n) {
  const int64_t m = std::min(n, std::max(kTieSample, n / 16));
  thread_local std::vector<KeyPos> s;
  s.resize(2 * static_cast<size_t>(m));
  for (int64_t j = 0; j < m; ++j) s[j] = {order_key(x[j], false), j};
  radix_sort_stable(s.data(), s.data() + m, m);
  for (int64_t j = 1; j < m; ++j)
    if (s[j].key == s[j - 1].key) return true;
  return false;
}

// A float64 row with no tie (every key distinct: at most one NaN, no -0 beside +0) has one
// sorted order, whatever the algorithm: by a radix sort of its order keys, ~5x faster than the
// pair sort on 1e6 randn values. false (idx then unspecified) on a tie: the caller then runs
// the pair sort, whose order among equal values is PyTorch's. buf: 2n entries of scratch.
bool sort_distinct_double(int64_t* idx, KeyPos* buf, const double* x, int64_t n, bool descending) {
  for (int64_t j = 0; j < n; ++j) buf[j] = {order_key(x[j], descending), j};
  radix_sort_stable(buf, buf + n, n);
  for (int64_t j = 1; j < n; ++j)
    if (buf[j].key == buf[j - 1].key) return false;
  for (int64_t j = 0; j < n; ++j) idx[j] = buf[j].pos;
  return true;
}

}  // namespace

// x (rows, n) -> idx (rows, n): each row's ascending (descending) order by an unstable
// introsort, as torch.sort(stable=False); NaN last ascending, first descending. Rows of
// distinct values (the usual float data) by radix sorts, which give the same (only) order.
// Scratch per thread, not for_rows' three n-sized vectors (their zero fill and page faults
// were ~5% of a 1e6 sort).
template <typename T>
void sort_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, bool descending) {
  const auto row = [&](int64_t r) {
    int64_t* ir = idx + r * n;
    const T* xr = x + r * n;
    if constexpr (std::is_same_v<T, float>) {
      thread_local std::vector<uint64_t> buf;
      buf.resize(2 * static_cast<size_t>(n));
      if (n <= int64_t(UINT32_MAX)) {
        const bool tie = n >= 16 * kTieSample && has_early_tie(xr, n, buf.data(), buf.data() + n);
        if (!tie && sort_distinct_row(ir, buf.data(), buf.data() + n, xr, n, descending)) return;
        key_sort_row(ir, buf.data(), xr, n, descending);
        return;
      }
    }
    if constexpr (std::is_same_v<T, double>) {
      if (n <= kRankMaxDouble) {  // short rows of distinct values (at most one NaN) by ranks
        int64_t ranked[kRankMaxDouble];
        for (int64_t j = 0; j < n; ++j)  // signed compares keep the order
          ranked[j] = static_cast<int64_t>(order_key(xr[j], descending) ^ (uint64_t(1) << 63));
        if (rank_order(ir, ranked, n)) return;
      }
      // longer rows by the radix sort, ~2-4x the pair sort from 128 on (a sample with a tie
      // spares the failed attempt on long rows)
      if (n > kRankMaxDouble && !(n >= 16 * kTieSample && has_early_tie(xr, n))) {
        thread_local std::vector<KeyPos> kb;
        kb.resize(2 * static_cast<size_t>(n));
        if (sort_distinct_double(ir, kb.data(), xr, n, descending)) return;
      }
    }
    if (n <= INT32_MAX) {
      // std::sort's steps depend only on the comparisons, which read the values alone, so
      // 32-bit positions give the same permutation with fewer bytes moved (float: 8 a pair,
      // not 16; ~1.3x faster on long rows)
      thread_local std::vector<std::pair<T, int32_t>> q32;
      q32.resize(static_cast<size_t>(n));
      pair_sort_row(ir, q32.data(), xr, n, descending);
      return;
    }
    std::vector<Entry<T>> q(static_cast<size_t>(n));
    pair_sort_row(ir, q.data(), xr, n, descending);
  };
  const int nt = threads_for(rows * n * 8);
  if (nt == 1 || rows == 1) {
    for (int64_t r = 0; r < rows; ++r) row(r);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) row(r);
}

namespace {

// stable_sort_indices' row when its order keys span under 2^32 (every float32 row; int64 rows
// of a narrow range, as labels and counts): the keys less their least, above the positions in
// 64-bit words, sorted on the high halves by radix_sort_high (stable). Half the bytes to count
// and move of the 16-byte (key, position) entries: ~2x faster. false (nothing done) when the
// keys span more or the row is too long. words: scratch, resized here.
template <typename T>
bool stable_sort_narrow(int64_t* idx, const T* x, int64_t n, bool descending,
                        std::vector<uint64_t>& words) {
  if (std::is_same_v<T, double> || n > int64_t(UINT32_MAX)) return false;
  uint64_t least = 0;
  if constexpr (std::is_same_v<T, int64_t>) {
    uint64_t lo = ~uint64_t(0), hi = 0;
    for (int64_t j = 0; j < n; ++j) {
      const uint64_t key = order_key(x[j], descending);
      lo = std::min(lo, key);
      hi = std::max(hi, key);
    }
    if (hi - lo > UINT32_MAX) return false;
    least = lo;
  }
  words.resize(2 * static_cast<size_t>(n));
  uint64_t* w = words.data();
  // (a float32 key's low 32 bits keep its order: the high ones are all 0, or all 1 descending,
  // and NaN's ~0 or 0 truncates to the extreme it takes)
  for (int64_t j = 0; j < n; ++j)
    w[j] = (uint64_t(uint32_t(order_key(x[j], descending) - least)) << 32) | uint64_t(j);
  if (n < 128)
    std::stable_sort(w, w + n, [](uint64_t a, uint64_t b) { return (a >> 32) < (b >> 32); });
  else
    radix_sort_high(w, w + n, n);
  for (int64_t j = 0; j < n; ++j) idx[j] = int64_t(w[j] & 0xffffffffu);
  return true;
}

}  // namespace

// x (rows, n) -> idx (rows, n): each row's stable ascending (descending) order, as
// torch.sort(stable=True) (and torch's radix sort of long 1-D integer tensors): NaN last
// ascending, first descending, equal values in their order. The stable order is unique, so any
// stable algorithm gives it: a radix sort of order keys (std::stable_sort on short rows).
template <typename T>
void stable_sort_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, bool descending) {
  const int nt = threads_for(rows * n * 8);
  auto run = [&](int64_t r0, int64_t r1) {
    std::vector<KeyPos> buf;
    std::vector<uint64_t> words;
    for (int64_t r = r0; r < r1; ++r) {
      if (stable_sort_narrow(idx + r * n, x + r * n, n, descending, words)) continue;
      buf.resize(2 * static_cast<size_t>(n));
      KeyPos* b = buf.data();
      for (int64_t j = 0; j < n; ++j) b[j] = {order_key(x[r * n + j], descending), j};
      if (n < 128)
        std::stable_sort(b, b + n, [](const KeyPos& a, const KeyPos& c) { return a.key < c.key; });
      else
        radix_sort_stable(b, b + n, n);
      for (int64_t j = 0; j < n; ++j) idx[r * n + j] = b[j].pos;
    }
  };
  if (nt == 1 || rows == 1) return run(0, rows);
#pragma omp parallel num_threads(nt)
  {
    const int64_t parts = omp_get_num_threads(), t = omp_get_thread_num();
    run(rows * t / parts, rows * (t + 1) / parts);
  }
}

// x (rows, n) -> idx (rows,): the position of the k-th smallest (0-based k) entry of each row.
template <typename T>
void kthvalue_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, int64_t k) {
  for_rows<T>(rows, n, kValues | kPositions, [&](int64_t r, Entry<T>*, T* v, int64_t* ix) {
    std::copy(x + r * n, x + (r + 1) * n, v);
    for (int64_t j = 0; j < n; ++j) ix[j] = j;
    quickselect(v, ix, n, k);
    idx[r] = ix[k];
  });
}

namespace {

// The position at q[k] after std::nth_element on q[j] = (x[j], j) ordered by (value, position),
// NaN last when nan (nanmedian's comparator: PyTorch's, on the positions).
template <typename T, typename P>
int64_t median_select(std::pair<T, P>* q, const T* x, int64_t n, int64_t k, bool nan) {
  using Q = std::pair<T, P>;
  for (int64_t j = 0; j < n; ++j) q[j] = {x[j], static_cast<P>(j)};
  if (!nan) {
    std::nth_element(q, q + k, q + n, [](const Q& a, const Q& b) {
      return a.first < b.first || (a.first == b.first && a.second < b.second);
    });
  } else {
    std::nth_element(q, q + k, q + n, [](const Q& a, const Q& b) {
      return a.first < b.first || (a.first == b.first && a.second < b.second) ||
             (is_nan(b.first) && !is_nan(a.first));
    });
  }
  return static_cast<int64_t>(q[k].second);
}

}  // namespace

// x (rows, n) -> idx (rows,): the position of each row's lower median, as torch.median (ignore_nan
// false: the first NaN when the row holds one) and torch.nanmedian (the median of the non-NaN
// entries). PyTorch runs std::nth_element on the positions with the order (value, position),
// NaN last for nanmedian; the same nth_element on (value, position) pairs compares the same
// pairs in the same steps, so it leaves the same entry at the middle (also among all-NaN rows,
// where every pair is equivalent), without the indirect loads.
template <typename T>
void median_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, bool ignore_nan) {
  const int needs = n <= INT32_MAX ? 0 : kPairs;  // (32-bit positions below: their own)
  for_rows<T>(rows, n, needs, [&](int64_t r, Entry<T>* q, T*, int64_t*) {
    const T* xr = x + r * n;
    int64_t nan_count = 0, first_nan = -1;
    for (int64_t j = 0; j < n; ++j) {
      if (is_nan(xr[j])) {
        if (first_nan < 0) first_nan = j;
        ++nan_count;
      }
    }
    if (!ignore_nan && first_nan >= 0) {
      idx[r] = first_nan;
      return;
    }
    // C++ division truncates: an all-NaN row takes position 0, as PyTorch's
    const int64_t k = (n - nan_count - 1) / 2;
    if (n <= INT32_MAX) {  // (32-bit positions compare as 64-bit ones: the same steps)
      thread_local std::vector<std::pair<T, int32_t>> q32;
      q32.resize(static_cast<size_t>(n));
      idx[r] = median_select(q32.data(), xr, n, k, nan_count > 0);
    } else {
      idx[r] = median_select(q, xr, n, k, nan_count > 0);
    }
  });
}

// x (rows, n) -> idx (rows,): a position of each row's most frequent value (the smallest such
// value; the last of its run after an unstable sort by value). NaNs never equal each other.
template <typename T>
void mode_indices(int64_t* idx, const T* x, int64_t rows, int64_t n) {
  for_rows<T>(rows, n, kPairs, [&](int64_t r, Entry<T>* q, T*, int64_t*) {
    for (int64_t j = 0; j < n; ++j) q[j] = {x[r * n + j], j};
    std::sort(q, q + n, [](const Entry<T>& a, const Entry<T>& b) { return a.first < b.first; });
    int64_t best = 0, best_count = 0, count = 0;
    for (int64_t j = 0; j < n; ++j) {
      ++count;
      if (j == n - 1 || q[j].first != q[j + 1].first) {
        if (count > best_count) best = q[j].second, best_count = count;
        count = 0;
      }
    }
    idx[r] = best;
  });
}

// x (rows, n), idx (rows, cols) of positions in [0, n) -> y (rows, cols) = x's entries there
// (sort's and topk's values, read while the rows are still in cache). Threads over rows.
template <typename T>
void take_rows(T* y, const T* x, const int64_t* idx, int64_t rows, int64_t n, int64_t cols) {
  auto row = [&](int64_t r) {
    for (int64_t j = 0; j < cols; ++j) y[r * cols + j] = x[r * n + idx[r * cols + j]];
  };
  const int nt = threads_for(rows * cols, int64_t(1) << 16);
  if (nt == 1) {  // (no team: an inactive parallel region costs ~0.3 us of a small sort)
    for (int64_t r = 0; r < rows; ++r) row(r);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t r = 0; r < rows; ++r) row(r);
}

template void take_rows<float>(float*, const float*, const int64_t*, int64_t, int64_t, int64_t);
template void take_rows<double>(double*, const double*, const int64_t*, int64_t, int64_t, int64_t);
template void take_rows<int64_t>(int64_t*, const int64_t*, const int64_t*, int64_t, int64_t,
                                 int64_t);
template void topk_indices<float>(int64_t*, const float*, int64_t, int64_t, int64_t, bool, bool);
template void kthvalue_indices<float>(int64_t*, const float*, int64_t, int64_t, int64_t);
template void mode_indices<float>(int64_t*, const float*, int64_t, int64_t);
template void median_indices<float>(int64_t*, const float*, int64_t, int64_t, bool);
template void sort_indices<float>(int64_t*, const float*, int64_t, int64_t, bool);
template void stable_sort_indices<float>(int64_t*, const float*, int64_t, int64_t, bool);
template void topk_indices<double>(int64_t*, const double*, int64_t, int64_t, int64_t, bool, bool);
template void kthvalue_indices<double>(int64_t*, const double*, int64_t, int64_t, int64_t);
template void mode_indices<double>(int64_t*, const double*, int64_t, int64_t);
template void median_indices<double>(int64_t*, const double*, int64_t, int64_t, bool);
template void sort_indices<double>(int64_t*, const double*, int64_t, int64_t, bool);
template void stable_sort_indices<double>(int64_t*, const double*, int64_t, int64_t, bool);
template void topk_indices<int64_t>(int64_t*, const int64_t*, int64_t, int64_t, int64_t, bool,
                                    bool);
template void kthvalue_indices<int64_t>(int64_t*, const int64_t*, int64_t, int64_t, int64_t);
template void mode_indices<int64_t>(int64_t*, const int64_t*, int64_t, int64_t);
template void median_indices<int64_t>(int64_t*, const int64_t*, int64_t, int64_t, bool);
template void sort_indices<int64_t>(int64_t*, const int64_t*, int64_t, int64_t, bool);
template void stable_sort_indices<int64_t>(int64_t*, const int64_t*, int64_t, int64_t, bool);

}  // namespace ember
