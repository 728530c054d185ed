// Flash-style scaled dot-product attention (FlashAttention-2 on the CPU).
//
// Forward: one task per (batch*head, query tile of kBq rows). The task walks the key tiles
// (kBk keys), computes the logits tile S = scale * Q_i K_j^T with the GEMM core, masks it, and
// folds it into an online softmax (running row max m and sum l, the output accumulator
// rescaled when the max grows), accumulating P V straight into its own rows of `out`. Only the
// row logsumexp (Lq numbers per head) is kept for backward: nothing is Lq x Lk.
//
// Backward recomputes P = exp(S - lse) tile by tile. dK_j, dV_j belong to the task that owns
// key tile j; dQ_i gathers from every key tile, so either one task owns a whole head (dQ
// accumulated in place: many heads), or a second pass over query tiles recomputes what dQ needs
// (few heads, long sequences). Either way no two threads write the same memory and nothing
// depends on scheduling: results depend only on the inputs and the tile sizes.
//
// Dropout regenerates its keep-mask from a counter-based hash of (seed, bh, i, j), so backward
// sees exactly the forward's mask without storing it.
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <vector>

#include "common.h"
#include "gemm/gemm.h"
#include "vecmath.h"

namespace ember {

namespace {

// The per-tile row loops (max, exp, rescaling) are compiled for AVX-512 and AVX2+FMA too and
// picked at load time (GCC function multiversioning), as in softmax.cpp.
#define EMBER_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))

constexpr int64_t kBq = 128;     // query rows per tile
constexpr int64_t kBk = 256;     // keys per tile
constexpr int kLanes = 16;       // partial accumulators of a row reduction
constexpr int64_t kFewRows = 4;  // forward: query tiles this short compute S^T (see the loop)

// splitmix64's output function of (seed + idx): a counter-based stream, one word per (i, j).
inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// keep if the top 24 bits, as u in [0, 2^24), are >= p * 2^24.
inline uint32_t drop_threshold(double p) {
  const double t = std::ceil(p * 16777216.0);
  return t >= 16777216.0 ? 16777216u : static_cast<uint32_t>(t);
}

// Keep-mask of one tile: rows i0.., columns j0.. of head bh, row stride nk.
void keep_tile(uint8_t* keep, int64_t nq, int64_t nk, int64_t bh, int64_t i0, int64_t j0,
               int64_t Lq, int64_t Lk, uint64_t seed, uint32_t thr) {
  for (int64_t r = 0; r < nq; ++r) {
    const uint64_t base = (static_cast<uint64_t>(bh) * Lq + (i0 + r)) * Lk + j0;
    uint8_t* kr = keep + r * nk;
    for (int64_t c = 0; c < nk; ++c)
      kr[c] = static_cast<uint32_t>(mix64(seed + base + c) >> 40) >= thr;
  }
}

// Inlined into the multiversioned callers, so they run at the callers' ISA.
#define EMBER_INLINE inline __attribute__((always_inline))

// Running maxima in two 32-byte GCC vectors (each clone's registers): written lane by lane, the
// select was left scalar (maxss), a fifth of the forward's softmax time. NaN scores are passed
// over as before (x > acc is false); they reach l through the exponentials.
template <typename T>
EMBER_INLINE T row_max(const T* x, int64_t n) {
  typedef T V __attribute__((vector_size(32)));
  constexpr int W = 32 / sizeof(T);
  const T ninf = -std::numeric_limits<T>::infinity();
  V a0 = V{} + ninf, a1 = a0;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    V v0, v1;
    std::memcpy(&v0, x + i, sizeof(V));
    std::memcpy(&v1, x + i + W, sizeof(V));
    a0 = v0 > a0 ? v0 : a0;
    a1 = v1 > a1 ? v1 : a1;
  }
  a0 = a1 > a0 ? a1 : a0;
  T m = ninf;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  for (int j = 0; j < W; ++j) m = a0[j] > m ? a0[j] : m;
  return m;
}

// x := exp(x - m) in place (x <= m); returns the sum.
template <typename T>
EMBER_INLINE T exp_sum_inplace(T* x, int64_t n, T m) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const T e = vm::exp_nonpos(x[i + j] - m);
      x[i + j] = e;
      acc[j] += e;
    }
  T s = 0;
  for (; i < n; ++i) {
    const T e = vm::exp_nonpos(x[i] - m);
    x[i] = e;
    s += e;
  }
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

template <typename T>
EMBER_INLINE T row_dot(const T* a, const T* b, int64_t n) {
  T acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += a[i + j] * b[i + j];
  T s = 0;
  for (; i < n; ++i) s += a[i] * b[i];
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

// S (nq x nk) := scale * Q K^T for a few rows of Q (nq x D) and rows of K (nk x D).
template <typename T>
EMBER_CLONES void scores_few_rows(T* S, const T* Q, const T* K, int64_t nq, int64_t nk, int64_t D,
                                  T scale) {
  for (int64_t c = 0; c < nk; ++c)
    for (int64_t r = 0; r < nq; ++r) S[r * nk + c] = scale * row_dot(Q + r * D, K + c * D, D);
}

// O (nq x Dv) += P V for a few rows of P (nq x nk) and V (nk x Dv), key by key: each key's V
// row is read once for all the rows (each output still sums its keys in order).
template <typename T>
EMBER_CLONES void pv_few_rows(T* O, const T* P, const T* V, int64_t nq, int64_t nk, int64_t Dv) {
  for (int64_t c = 0; c < nk; ++c) {
    const T* vc = V + c * Dv;
    for (int64_t r = 0; r < nq; ++r) {
      T* __restrict o = O + r * Dv;
      const T pc = P[r * nk + c];
      for (int64_t d = 0; d < Dv; ++d) o[d] += pc * vc[d];
    }
  }
}

// Masks the logits tile S (nq x nk, row stride nk) of head bh at rows i0.., keys j0..
template <typename T>
void mask_tile(T* S, int64_t nq, int64_t nk, int64_t bh, int64_t i0, int64_t j0,
               const SdpaOptions& o) {
  const T ninf = -std::numeric_limits<T>::infinity();
  const int64_t sr = o.mask_sr, sc = o.mask_sc;
  if (o.bool_mask) {
    const uint8_t* base = o.bool_mask + o.mask_off[bh] + i0 * sr + j0 * sc;
    for (int64_t r = 0; r < nq; ++r) {
      const uint8_t* mr = base + r * sr;
      T* s = S + r * nk;
      if (sc == 1)
        for (int64_t c = 0; c < nk; ++c) s[c] = mr[c] ? s[c] : ninf;
      else
        for (int64_t c = 0; c < nk; ++c) s[c] = mr[c * sc] ? s[c] : ninf;
    }
  } else if (o.float_mask) {
    const T* base = static_cast<const T*>(o.float_mask) + o.mask_off[bh] + i0 * sr + j0 * sc;
    for (int64_t r = 0; r < nq; ++r) {
      const T* mr = base + r * sr;
      T* s = S + r * nk;
      if (sc == 1)
        for (int64_t c = 0; c < nk; ++c) s[c] += mr[c];
      else
        for (int64_t c = 0; c < nk; ++c) s[c] += mr[c * sc];
    }
  }
  if (o.causal && j0 + nk - 1 > i0)
    for (int64_t r = 0; r < nq; ++r) {
      const int64_t c0 = std::max<int64_t>(i0 + r + 1 - j0, 0);  // first key after row i0 + r
      T* s = S + r * nk;
      for (int64_t c = c0; c < nk; ++c) s[c] = ninf;
    }
}

// One key tile folded into the online softmax of nq query rows: S (nq x nk) holds the masked
// logits and becomes exp(S - m_new) (dropped by kb when given); the running max m, sum l and
// the output rows Oi (nq x Dv) are rescaled by exp(m_old - m_new).
template <typename T>
EMBER_CLONES void online_softmax_tile(T* S, T* Oi, T* m, T* l, const uint8_t* kb, int64_t nq,
                                      int64_t nk, int64_t Dv, T inv_keep) {
  const T ninf = -std::numeric_limits<T>::infinity();
  for (int64_t r = 0; r < nq; ++r) {
    T* s = S + r * nk;
    const T mold = m[r];
    const T mnew = std::max(mold, row_max(s, nk));
    const T ms = mnew == ninf ? T(0) : mnew;  // all masked so far: exp(-inf) = 0
    const T sum = exp_sum_inplace(s, nk, ms);
    const T alpha = vexp(mold - ms);
    l[r] = l[r] * alpha + sum;
    m[r] = mnew;
    if (alpha != T(1)) {
      T* o = Oi + r * Dv;
      for (int64_t c = 0; c < Dv; ++c) o[c] *= alpha;
    }
    if (kb) {
      const uint8_t* kr = kb + r * nk;
      for (int64_t c = 0; c < nk; ++c) s[c] = kr[c] ? s[c] * inv_keep : T(0);
    }
  }
}

// S := exp(S - lse) row by row (0 for a fully masked row, whose lse is -inf).
template <typename T>
EMBER_CLONES void exp_rows(T* S, const T* lse, int64_t nq, int64_t nk) {
  for (int64_t r = 0; r < nq; ++r) {
    T* s = S + r * nk;
    const T l = lse[r];
    if (l == -std::numeric_limits<T>::infinity()) {
      std::fill(s, s + nk, T(0));
      continue;
    }
    for (int64_t c = 0; c < nk; ++c) s[c] = vexp(s[c] - l);
  }
}

// dS = P * (dP * Z / (1-p) - Delta) in place of dP (kb null: no dropout).
template <typename T>
EMBER_CLONES void dscore_rows(T* dP, const T* P, const uint8_t* kb, const T* delta, int64_t nq,
                              int64_t nk, T inv_keep) {
  for (int64_t r = 0; r < nq; ++r) {
    T* d = dP + r * nk;
    const T* p = P + r * nk;
    const T dl = delta[r];
    if (kb) {
      const uint8_t* kr = kb + r * nk;
      for (int64_t c = 0; c < nk; ++c) d[c] = p[c] * ((kr[c] ? d[c] * inv_keep : T(0)) - dl);
    } else {
      for (int64_t c = 0; c < nk; ++c) d[c] = p[c] * (d[c] - dl);
    }
  }
}

// Everything one tile of backward shares: S -> P (in place) from the saved lse; dP -> dS (in
// place) with Delta; the dropout keep-mask. Returns the pointer to P as seen by V (P * Z / (1-p)
// with dropout, written to Pd; P itself without).
template <typename T>
struct BwdTile {
  const T *q, *k, *v, *dout, *lse, *delta;
  int64_t Lq, Lk, D, Dv, g;  // g: query heads per key/value head
  const SdpaOptions* o;
  T scale, inv_keep;
  uint32_t thr;
  bool dropout;

  // S := P for rows i0.. (nq) and keys j0.. (nk) of head bh; keep-mask into kb when dropout.
  void probs(T* S, uint8_t* kb, int64_t bh, int64_t i0, int64_t nq, int64_t j0, int64_t nk) const {
    const T* Qi = q + (bh * Lq + i0) * D;
    const T* Kj = k + (bh / g * Lk + j0) * D;
    gemm<T>(false, true, nq, nk, D, scale, Qi, std::max<int64_t>(D, 1), Kj, std::max<int64_t>(D, 1),
            T(0), S, nk, 1);
    mask_tile(S, nq, nk, bh, i0, j0, *o);
    exp_rows(S, lse + bh * Lq + i0, nq, nk);
    if (dropout) keep_tile(kb, nq, nk, bh, i0, j0, Lq, Lk, o->seed, thr);
  }

  // dP := dO_i V_j^T, then dS = P * (dP * Z / (1-p) - Delta), in place.
  void dscores(T* dP, const T* P, const uint8_t* kb, int64_t bh, int64_t i0, int64_t nq, int64_t j0,
               int64_t nk) const {
    const T* dOi = dout + (bh * Lq + i0) * Dv;
    const T* Vj = v + (bh / g * Lk + j0) * Dv;
    gemm<T>(false, true, nq, nk, Dv, T(1), dOi, std::max<int64_t>(Dv, 1), Vj,
            std::max<int64_t>(Dv, 1), T(0), dP, nk, 1);
    dscore_rows(dP, P, dropout ? kb : nullptr, delta + bh * Lq + i0, nq, nk, inv_keep);
  }

  // P as V sees it: P * Z / (1 - p) into Pd with dropout, else P itself.
  const T* dropped(T* Pd, const T* P, const uint8_t* kb, int64_t nq, int64_t nk) const {
    if (!dropout) return P;
    for (int64_t x = 0; x < nq * nk; ++x) Pd[x] = kb[x] ? P[x] * inv_keep : T(0);
    return Pd;
  }
};

void check_sizes(const char* op, int64_t BH, int64_t Lq, int64_t Lk, int64_t D, int64_t Dv,
                 const SdpaOptions& o) {
  EMBER_CHECK(BH >= 0 && Lq >= 0 && Lk >= 0 && D >= 0 && Dv >= 0, op, ": negative size (BH ", BH,
              ", Lq ", Lq, ", Lk ", Lk, ", D ", D, ", Dv ", Dv, ")");
  EMBER_CHECK(!(o.bool_mask && o.float_mask), op, ": give a bool mask or a float mask, not both");
  EMBER_CHECK(!(o.bool_mask || o.float_mask) || o.mask_off, op, ": a mask needs its offsets");
  EMBER_CHECK(o.mask_sr >= 0 && o.mask_sc >= 0, op, ": mask strides must be >= 0");
  EMBER_CHECK(o.dropout_p >= 0.0 && o.dropout_p <= 1.0, op, ": dropout_p must be in [0, 1], got ",
              o.dropout_p);
  EMBER_CHECK(o.kv_group >= 1 && BH % o.kv_group == 0, op, ": kv_group ", o.kv_group,
              " must be >= 1 and divide the ", BH, " query heads");
  mul_checked(mul_checked(BH, Lq, op), std::max(D, Dv), op);
  mul_checked(mul_checked(BH, Lk, op), std::max(D, Dv), op);
}

}  // namespace

template <typename T>
void sdpa_forward(T* out, T* lse, const T* q, const T* k, const T* v, int64_t BH, int64_t Lq,
                  int64_t Lk, int64_t D, int64_t Dv, const SdpaOptions& opt) {
  check_sizes("sdpa_forward", BH, Lq, Lk, D, Dv, opt);
  if (BH == 0 || Lq == 0) return;
  if (Dv == 0) {  // an empty output (and no gradient to q, k: backward needs no lse), whatever
    // Lk: the O(Lq Lk) walk of scores that feed nothing is skipped
    std::fill(lse, lse + BH * Lq, std::numeric_limits<T>::quiet_NaN());
    return;
  }
  if (opt.kv_group > 1 && Lq * opt.kv_group <= kFewRows && !opt.bool_mask && !opt.float_mask &&
      !opt.causal && opt.dropout_p == 0.0) {
    // grouped-query decoding: a key/value head's g query heads (consecutive, so their rows are
    // one (g Lq, D) block of q, out and lse) run as one task's rows, so that each K and V tile
    // is read once per group, not once per query head. Each row's arithmetic is unchanged.
    SdpaOptions one = opt;
    one.kv_group = 1;
    sdpa_forward(out, lse, q, k, v, BH / opt.kv_group, Lq * opt.kv_group, Lk, D, Dv, one);
    return;
  }
  const T scale = static_cast<T>(opt.scale);
  const bool dropout = opt.dropout_p > 0.0;
  const uint32_t thr = drop_threshold(opt.dropout_p);
  const T inv_keep = opt.dropout_p < 1.0 ? static_cast<T>(1.0 / (1.0 - opt.dropout_p)) : T(0);
  // Tiles of kBq query rows x kBk keys (key tiles of 512 to 2048 measured no faster). With more
  // than one query tile per head, K_j^T and V_j of every key tile are packed once per head for
  // the GEMM core (PackedB; the same bits as gemm): packing them for every query tile cost a
  // tenth of the forward at L 1024. A thread keeps the packing of the head it last worked on;
  // tasks are handed out in order, so each thread packs each head at most once (a key/value
  // head, with grouped-query attention: its query heads are consecutive tasks).
  const int64_t bk = kBk, bq = kBq;
  const int64_t nqt = (Lq + bq - 1) / bq;
  const bool prepack = nqt > 1;
  const int64_t nkt = prepack ? (Lk + bk - 1) / bk : 0;
  const int64_t ntask = BH * nqt;
  const int64_t flops = mul_checked(mul_checked(BH * Lq, Lk, "sdpa_forward"), D + Dv, "sdpa");
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(flops, 1 << 20), ntask));
  const T ninf = -std::numeric_limits<T>::infinity();
  const int64_t ldd = std::max<int64_t>(D, 1);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    // (no larger than the problem: zeroing a whole tile's buffers cost short sequences ~10 us)
    const int64_t tsz = std::min(bq, Lq) * std::min(bk, Lk);
    std::vector<T> S(tsz), m(bq), l(bq);
    std::vector<uint8_t> kb(dropout ? tsz : 0);
    std::vector<std::unique_ptr<PackedB<T>>> pk(nkt), pv(nkt);  // K_j^T, V_j of head pkv
    int64_t pkv = -1;                                           // the key/value head packed
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < ntask; ++t) {
      const int64_t bh = t / nqt, i0 = (t % nqt) * bq, nq = std::min(bq, Lq - i0);
      const int64_t kvh = bh / opt.kv_group;
      if (prepack && kvh != pkv) {
        for (int64_t jt = 0; jt < nkt; ++jt) {
          const int64_t j0 = jt * bk, nk = std::min(bk, Lk - j0);
          pk[jt] = std::make_unique<PackedB<T>>(true, D, nk, k + (kvh * Lk + j0) * D, ldd);
          pv[jt] = std::make_unique<PackedB<T>>(false, nk, Dv, v + (kvh * Lk + j0) * Dv, Dv);
        }
        pkv = kvh;
      }
      const T* Qi = q + (bh * Lq + i0) * D;
      T* Oi = out + (bh * Lq + i0) * Dv;
      std::fill(Oi, Oi + nq * Dv, T(0));
      std::fill(m.begin(), m.end(), ninf);
      std::fill(l.begin(), l.end(), T(0));
      const int64_t kend = opt.causal ? std::min(Lk, i0 + nq) : Lk;
      for (int64_t j0 = 0; j0 < kend; j0 += bk) {
        const int64_t nk = std::min(bk, kend - j0), jt = j0 / bk;
        const bool whole = prepack && nk == pk[jt]->N;  // else a causal diagonal's part tile
        const T* Kj = k + (kvh * Lk + j0) * D;
        if (whole) {
          gemm_packed_cols<T>(nq, scale, Qi, ldd, *pk[jt], 0, nk, T(0), S.data(), nk);
        } else if (nq <= kFewRows) {
          // a dot product per (row, key): a GEMM would pack all of K_j for a product with a few
          // rows (a decoding step's one query: 0.66x -> 0.9x PyTorch's time)
          scores_few_rows(S.data(), Qi, Kj, nq, nk, D, scale);
        } else {
          gemm<T>(false, true, nq, nk, D, scale, Qi, ldd, Kj, ldd, T(0), S.data(), nk, 1);
        }
        mask_tile(S.data(), nq, nk, bh, i0, j0, opt);
        if (dropout) keep_tile(kb.data(), nq, nk, bh, i0, j0, Lq, Lk, opt.seed, thr);
        online_softmax_tile(S.data(), Oi, m.data(), l.data(), dropout ? kb.data() : nullptr, nq, nk,
                            Dv, inv_keep);
        const T* Vj = v + (kvh * Lk + j0) * Dv;
        if (whole)
          gemm_packed_cols<T>(nq, T(1), S.data(), nk, *pv[jt], 0, Dv, T(1), Oi, Dv);
        else if (nq <= kFewRows)
          pv_few_rows(Oi, S.data(), Vj, nq, nk, Dv);
        else
          gemm<T>(false, false, nq, Dv, nk, T(1), S.data(), nk, Vj, Dv, T(1), Oi, Dv, 1);
      }
      T* li = lse + bh * Lq + i0;
      for (int64_t r = 0; r < nq; ++r) {
        const T inv = l[r] > T(0) ? T(1) / l[r] : T(0);  // fully masked row: 0, as PyTorch
        T* o = Oi + r * Dv;
        for (int64_t c = 0; c < Dv; ++c) o[c] *= inv;
        // fully masked: -inf (backward's P = 0); a NaN score made l NaN: keep it, so that
        // backward's P and gradients are NaN there as PyTorch's, not those of a masked row
        li[r] = l[r] > T(0) ? m[r] + std::log(l[r]) : l[r] == T(0) ? ninf : l[r];
      }
    }
  }
}

template <typename T>
void sdpa_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                   const T* out, const T* lse, int64_t BH, int64_t Lq, int64_t Lk, int64_t D,
                   int64_t Dv, const SdpaOptions& opt) {
  check_sizes("sdpa_backward", BH, Lq, Lk, D, Dv, opt);
  if (BH == 0) return;
  const int64_t g = opt.kv_group, BHk = BH / g;
  if (Lq == 0 || Lk == 0 || Dv == 0) {  // no pairs, or no output to depend on q, k: zeros
    std::fill(dq, dq + BH * Lq * D, T(0));
    std::fill(dk, dk + BHk * Lk * D, T(0));
    std::fill(dv, dv + BHk * Lk * Dv, T(0));
    return;
  }
  const int64_t flops = mul_checked(mul_checked(BH * Lq, Lk, "sdpa_backward"), D + Dv, "sdpa");
  const int nt_all = threads_for(flops, 1 << 20);

  // Delta = rowsum(dout * out), one number per query row.
  std::vector<T> delta(BH * Lq);
  {
    const int nt = threads_for(BH * Lq * Dv, 1 << 15);
    parallel_for(nt, BH * Lq,
                 [&](int64_t r) { delta[r] = row_dot(dout + r * Dv, out + r * Dv, Dv); });
  }

  BwdTile<T> tile;
  tile.q = q;
  tile.k = k;
  tile.v = v;
  tile.dout = dout;
  tile.lse = lse;
  tile.delta = delta.data();
  tile.Lq = Lq;
  tile.Lk = Lk;
  tile.D = D;
  tile.Dv = Dv;
  tile.g = g;
  tile.o = &opt;
  tile.scale = static_cast<T>(opt.scale);
  tile.dropout = opt.dropout_p > 0.0;
  tile.thr = drop_threshold(opt.dropout_p);
  tile.inv_keep = opt.dropout_p < 1.0 ? static_cast<T>(1.0 / (1.0 - opt.dropout_p)) : T(0);
  const T scale = tile.scale;
  const int64_t ldd = std::max<int64_t>(D, 1);
  const int64_t nkt = (Lk + kBk - 1) / kBk, nqt = (Lq + kBq - 1) / kBq;

  // Key tile j of key/value head h: dK_j, dV_j summed over its query heads h g .. h g + g - 1
  // in order (and dQ += when with_dq: the task owns the whole group of heads).
  auto kv_task = [&](int64_t h, int64_t j0, bool with_dq, T* S, T* dP, T* Pd, uint8_t* kb) {
    const int64_t nk = std::min(kBk, Lk - j0);
    const T* Kj = k + (h * Lk + j0) * D;
    T* dKj = dk + (h * Lk + j0) * D;
    T* dVj = dv + (h * Lk + j0) * Dv;
    std::fill(dKj, dKj + nk * D, T(0));
    std::fill(dVj, dVj + nk * Dv, T(0));
    for (int64_t bh = h * g; bh < (h + 1) * g; ++bh)
      for (int64_t i0 = opt.causal ? j0 : 0; i0 < Lq; i0 += kBq) {
        const int64_t nq = std::min(kBq, Lq - i0);
        const T* Qi = q + (bh * Lq + i0) * D;
        const T* dOi = dout + (bh * Lq + i0) * Dv;
        tile.probs(S, kb, bh, i0, nq, j0, nk);
        const T* PV = tile.dropped(Pd, S, kb, nq, nk);
        if (Dv > 0) gemm<T>(true, false, nk, Dv, nq, T(1), PV, nk, dOi, Dv, T(1), dVj, Dv, 1);
        tile.dscores(dP, S, kb, bh, i0, nq, j0, nk);
        if (D > 0) {
          gemm<T>(true, false, nk, D, nq, scale, dP, nk, Qi, D, T(1), dKj, D, 1);
          if (with_dq)
            gemm<T>(false, false, nq, D, nk, scale, dP, nk, Kj, D, T(1), dq + (bh * Lq + i0) * D, D,
                    1);
        }
      }
  };
  // Query tile i of head bh: dQ_i alone (the split schedule's second pass).
  auto q_task = [&](int64_t bh, int64_t i0, T* S, T* dP, uint8_t* kb) {
    const int64_t nq = std::min(kBq, Lq - i0);
    T* dQi = dq + (bh * Lq + i0) * D;
    std::fill(dQi, dQi + nq * D, T(0));
    const int64_t kend = opt.causal ? std::min(Lk, i0 + nq) : Lk;
    for (int64_t j0 = 0; j0 < kend; j0 += kBk) {
      const int64_t nk = std::min(kBk, kend - j0);
      tile.probs(S, kb, bh, i0, nq, j0, nk);
      tile.dscores(dP, S, kb, bh, i0, nq, j0, nk);
      if (D > 0)
        gemm<T>(false, false, nq, D, nk, scale, dP, nk, k + (bh / g * Lk + j0) * D, ldd, T(1), dQi,
                D, 1);
    }
  };

  const bool per_head = nt_all <= 1 || BHk >= 2 * nt_all;
  const int64_t tsz = kBq * kBk;
#pragma omp parallel num_threads(nt_all) if (nt_all > 1)
  {
    std::vector<T> S(tsz), dP(tsz), Pd(tile.dropout ? tsz : 0);
    std::vector<uint8_t> kb(tile.dropout ? tsz : 0);
    if (per_head) {
#pragma omp for schedule(dynamic, 1)
      for (int64_t h = 0; h < BHk; ++h) {
        std::fill(dq + h * g * Lq * D, dq + (h + 1) * g * Lq * D, T(0));
        for (int64_t jt = 0; jt < nkt; ++jt)
          kv_task(h, jt * kBk, true, S.data(), dP.data(), Pd.data(), kb.data());
      }
    } else {
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < BHk * nkt; ++t)
        kv_task(t / nkt, (t % nkt) * kBk, false, S.data(), dP.data(), Pd.data(), kb.data());
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < BH * nqt; ++t)
        q_task(t / nqt, (t % nqt) * kBq, S.data(), dP.data(), kb.data());
    }
  }
}

void sdpa_dropout_mask(uint8_t* keep, int64_t BH, int64_t Lq, int64_t Lk, double p, uint64_t seed) {
  EMBER_CHECK(BH >= 0 && Lq >= 0 && Lk >= 0, "sdpa_dropout_mask: negative size");
  EMBER_CHECK(p >= 0.0 && p <= 1.0, "sdpa_dropout_mask: p must be in [0, 1], got ", p);
  const uint32_t thr = drop_threshold(p);
  for (int64_t bh = 0; bh < BH; ++bh)
    keep_tile(keep + bh * Lq * Lk, Lq, Lk, bh, 0, 0, Lq, Lk, seed, thr);
}

template void sdpa_forward<float>(float*, float*, const float*, const float*, const float*, int64_t,
                                  int64_t, int64_t, int64_t, int64_t, const SdpaOptions&);
template void sdpa_forward<double>(double*, double*, const double*, const double*, const double*,
                                   int64_t, int64_t, int64_t, int64_t, int64_t, const SdpaOptions&);
template void sdpa_backward<float>(float*, float*, float*, const float*, const float*, const float*,
                                   const float*, const float*, const float*, int64_t, int64_t,
                                   int64_t, int64_t, int64_t, const SdpaOptions&);
template void sdpa_backward<double>(double*, double*, double*, const double*, const double*,
                                    const double*, const double*, const double*, const double*,
                                    int64_t, int64_t, int64_t, int64_t, int64_t,
                                    const SdpaOptions&);

}  // namespace ember
