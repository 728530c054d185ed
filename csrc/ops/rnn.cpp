// Recurrent layers: LSTM, GRU and Elman RNN over a whole sequence, one layer and one direction
// (the Python layer stacks layers and directions; cells are the T = 1 case). PyTorch's
// formulations and gate order: LSTM (i, f, g, o), GRU (r, z, n) with r applied to W_hn h + b_hn.
//
// Layout: x (T, N, I) time-major, states (N, H), W_ih (G*H, I), W_hh (G*H, H), biases (G*H) or
// null, G = 4 (LSTM), 3 (GRU), 1 (RNN). Every kernel is a big GEMM for the input projection of
// many steps (all T; the LSTM and GRU forward a chunk of ~256 rows at a time, InputProjection),
// then per step one GEMM for the hidden projection (W_hh packed once per call:
// PackedB) and ONE fused pointwise pass (an EMBER_SIMD row worker). On several threads the LSTM
// and GRU forward and backward split the batch (each thread runs that loop on its own
// sequences, whole MR row blocks of the GEMM: no barrier, no state crossing cores); with too few
// sequences for that, each step is split by hidden units instead (its GEMM columns and pointwise
// pass, one barrier a step). Every path gives the same bits. Backward stores
// the pre-activation gradients of every step (T, N, G*H), runs the per-step GEMM dh_{t-1} +=
// dgates_t @ W_hh, and after the loop makes dx, dW_ih and dW_hh with one big GEMM each (dW_hh: one
// GEMM over the shifted outputs plus one over h0; the plain LSTM's loop split by sequences makes
// dx_t = dgates_t @ W_ih inside the loop instead, right after the step's dh product). Memory is
// linear in T. Gradients nobody wants are not made: dx null skips its GEMM; want_dh0 false skips
// the last step's dh GEMM (dh0 is then garbage), a third of a cell's backward products (torch's
// unfused cell skips them too); null weight and bias gradients (frozen weights) skip theirs, about
// half of a layer's backward products (x is then not read, nor what only dW_hh / dW_hr read: the
// LSTM's y, h0 and hid, the RNN's h0).
//
// reverse: steps run t = T-1 .. 0. lengths (N) int64 in [1, T] or null (all T): steps
// t >= lengths[n] leave sequence n's state unchanged and output zeros (pack_padded_sequence
// semantics: h_n is the state after each sequence's own last step; in reverse each sequence
// starts at its own last step lengths[n] - 1 from h0). Padded steps get zero gradients, dy at
// padded positions is ignored, saved gates / cells there are zero.
//
// LSTM with projections (PyTorch's proj_size P, w_hr (P, H) non-null): the state h and the
// output are (N, P), h_t = (o * tanh(c_t)) @ W_hr^T, W_hh is (4H, P). A separate time loop (one
// more GEMM a step), so the plain LSTM's path is unchanged.
//
// Saved for backward (explicit outputs of forward):
//   LSTM: gates (T, N, 4H) activated (i, f, g, o); cells (T, N, H) = c_t; with projections also
//         hid (T, N, H) = o * tanh(c_t), the unprojected output (dW_hr is one GEMM with it).
//   GRU:  gates (T, N, 3H) activated (r, z, n); hn (T, N, H) = W_hn h_{t-1} + b_hn.
//   RNN:  nothing beyond y (the activation's derivative is a function of y).
// Null gates / cells (LSTM) or gates / hn (GRU) save nothing (no gradient wanted: no_grad,
// inference): kept workspaces stand in, the same bits of y and the final state.
//
// Where the time goes (LSTM T50 N32 I128 H256 float32, 1 thread, thread CPU clock, Zen 4 whose
// FMA loop peaks at ~58 GFMA/s): forward 12.6 ms = input projection ~4.2 (210M multiply-adds)
// + time loop ~8.4 (419M, pointwise passes included); backward 26.3 ms = time loop 9.1 (419M,
// pointwise ~0.7) + dx 4.5 (210M) + dW_ih, dW_hh 12.75 (629M). Every phase runs its GEMM at ~50
// GFMA/s (ember's 1024^3 GEMM: ~48), and all but ~1.3 ms of the 39 ms of both is those GEMMs;
// the nn.LSTM module adds ~0.3 ms. Torch runs one fused mkldnn kernel per direction (13.8 ms
// forward, ~28.6 backward). So a wider margin needs faster GEMM micro-kernels, not less pointwise
// or allocation work: a backward that interleaves each MR block's pointwise pass with its GEMM rows
// (as the forward does), and the forward in blocks of 2 or 4 MR rows, measured within noise (+-1%).
// Also within noise: the forward as ONE product a step, [x_t | h_{t-1}] @ [W_ih | W_hh]^T (K =
// I + H, packed once in unit groups of 32-128 units x 4 gates, the micro-kernels called directly,
// the pointwise pass on each MR x 4U tile in L1; no input projection written and read back): its
// products took 11.3 ms against 11.5 for the two GEMMs here, the whole forward 12.3-12.6 ms either
// way (saving the gates from the tiles ~1.5 ms slower). The pointwise pass alone, gates in L1, is
// ~0.9 ms and compute-bound (five exp-based activations, ~125 vector ops per 16 units), so the
// forward's floor is ~629M / 57.5 GFMA/s + 0.9 = ~11.9 ms, ~1.09x torch: wider margins need fewer
// multiply-adds. On 2 threads the loops spend the 1-thread CPU time (process CPU time, passive
// waits: forward 12.5, backward 26.5 ms against 12.5 and 26.0 on 1 thread).
// Round 37 (same shape, 1 thread, loaded machine): torch took 12.8-13.4 ms forward and 39.4-41.5
// both, so 1.15x needs ~11.3 ms and ~35 ms: the 629M / 1887M multiply-adds alone take 10.9 /
// 32.8 ms at the micro-kernel's ~57.5 GFMA/s (the FMA peak), i.e. out of reach without fewer
// products. In place the backward spent loop 9.0, dx 4.05, dW_ih 4.65, dW_hh 8.85 ms (the dW
// products ~47-49 GFMA/s). Level (within +-2%): dgates rows padded a cache line (ld 4H + 16);
// KC 512 / 1024 for the packed W_hh; and the forward with its activations removed altogether
// ran only ~0.4 ms faster, so cheaper activation math cannot move the ratio much either.
// The backward loop's step products run at ~56 GFMA/s (7.35 ms); its pointwise pass takes ~1.1-1.45
// ms with the saved gates / cells from L3 against ~0.4 ms run again hot, but prefetching the next
// step's inputs between column pieces of the step's product (2, 4 or 8 pieces) only moved that
// time into the product (pass -0.1-0.3 ms, product +0.2-0.4 ms).
// Round 39: dW_ih and dW_hh as ONE product dg^T [x_t | h_{t-1}] (GH, I + H, h0 rows included)
// ran 12.0 ms against 12.6 for the two products alone, but building the concatenated operand
// (2.4 MB) and splitting the result took the difference back: the backward without dx 21.6 ms
// against 21.5 (best of 5 alternating runs), so not kept.
// Round 43 (1 thread, thread time, load ~9 on 2 cores; a 256^3 GEMM, packing included, ran 56.3
// GFMA/s): forward 12.5 ms (50.3 GFMA/s with the pointwise passes), backward 25.4 = loop 9.0
// (46.4 with its pointwise pass) + dx 3.7 (56.8) + dW_ih, dW_hh 12.0 (52.4); every product is at
// 90%+ of that, and dW^T = x^T @ dgates (then transposed) ran ~8% slower than dgates^T @ x. The
// NumPy reference spends the same multiply-adds in BLAS (~25 / ~56 ms): ~2.3x is the ceiling.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "common.h"
#include "gemm/gemm.h"
#include "vecmath.h"

namespace ember {

namespace {

// Activations from vecmath.h: branch-free, so the pointwise passes auto-vectorise (the file is
// built with -fno-trapping-math, see CMakeLists.txt).
template <typename T>
inline T sigmoid(T a) {
  return vsigmoid(a);
}
// tanh. float: tanh(|x|) = E / (E + 2) with E = expm1(2|x|) = 2^n (1 + p) - 1 (vtanh's reduction
// and polynomial p; 2^n - 1 exact): one form for all x, where vtanh computes a small-|x|
// polynomial too and blends the two. Within ~2.5 ulp (vtanh ~1.05: the LSTM's values stay within
// float32 tolerance of torch's), and the LSTM forward's pointwise pass ~15% faster. |x| clamped at
// 10 by std::min, which keeps a NaN (tanh rounds to 1 from 9.01 on).
template <typename T>
inline T tanh_(T x) {
  if constexpr (sizeof(T) == 4) {
    using vm::kRoundF;
    const float t2 = 2.0f * std::min(std::fabs(x), 10.0f);
    const float k = t2 * vm::consts<float>::log2e + kRoundF;  // n in k's low mantissa bits
    const float n = k - kRoundF;
    float r = t2 - n * vm::consts<float>::ln2_hi;  // exact (Cody-Waite)
    r = r - n * vm::consts<float>::ln2_lo;
    const float p2 = vm::from_bits((vm::as_bits(k) + 127u) << 23);
    const float e = p2 * vm::expm1_fit_float(r) + (p2 - 1.0f);
    return std::copysign(e / (e + 2.0f), x);
  } else {
    return vtanh(x);
  }
}

// Pointwise passes: f(n, j0, j1) over row n, columns [j0, j1) of the (N, H) state, in blocks so
// that both large N and large H spread over threads. cost ~ arithmetic per element.
template <typename F>
void for_each_block(int64_t N, int64_t H, int64_t cost, const F& f) {
  constexpr int64_t JB = 256;
  const int64_t nb = (H + JB - 1) / JB;
  const int64_t total = N * nb;
  const int nt = threads_for(N * H * cost);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t b = 0; b < total; ++b) {
    const int64_t n = b / nb, j0 = (b % nb) * JB;
    f(n, j0, std::min(H, j0 + JB));
  }
}

// Step order and the validity of (t, n) under lengths.
struct Steps {
  int64_t T;
  bool reverse;
  const int64_t* lengths;  // null: all T
  int64_t t_of(int64_t s) const { return reverse ? T - 1 - s : s; }
  int64_t len(int64_t n) const { return lengths ? lengths[n] : T; }
  bool valid(int64_t t, int64_t n) const { return t < len(n); }
  // First step sequence n processes (its previous state is h0 / c0).
  bool first(int64_t t, int64_t n) const { return reverse ? t == len(n) - 1 : t == 0; }
  // The step processed just before t (only meaningful when !first(t, n)).
  int64_t prev(int64_t t) const { return reverse ? t + 1 : t - 1; }
  // The rows of the per-step GEMMs at step t: when the sequences still running are the first
  // ones (lengths that do not increase along the batch: a PackedSequence's sorted order, which
  // the recurrent layers keep), only those; the finished ones' rows of the product are never
  // read (forward) or are zero (backward), so skipping them changes no value. Else N.
  int64_t rows(int64_t t, int64_t N) const {
    if (!lengths) return N;
    int64_t r = 0;
    while (r < N && lengths[r] > t) ++r;
    for (int64_t n = r; n < N; ++n)
      if (lengths[n] > t) return N;  // not a prefix
    return r;
  }
};

// out (C) = sum over R rows of a (R, C); threads over column blocks, each column summed in row
// order: deterministic for any thread count.
template <typename T>
void column_sum(T* out, const T* a, int64_t R, int64_t C) {
  constexpr int64_t CB = 64;
  const int64_t nb = (C + CB - 1) / CB;
  const int nt = std::min<int64_t>(threads_for(R * C), nb);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t c0 = b * CB, c1 = std::min(C, c0 + CB);
    T acc[CB];
    for (int64_t c = c0; c < c1; ++c) acc[c - c0] = T(0);
    for (int64_t r = 0; r < R; ++r) {
      const T* row = a + r * C;
      for (int64_t c = c0; c < c1; ++c) acc[c - c0] += row[c];
    }
    for (int64_t c = c0; c < c1; ++c) out[c] = acc[c - c0];
  }
}

// ---- Products with few rows --------------------------------------------------------------------
// A cell (one step, T = 1) over a small batch multiplies each weight matrix by a few rows only:
// packing the matrix for the GEMM (W_hh, 4H x H: 1 MiB at H = 256; W_ih the same way inside
// gemm) costs several times the product there, so up to kFewRows rows the weights are read in
// place (LSTMCell, I 128, H 256, batch 1: the kernel went from 140 to ~25 us a call).
constexpr int64_t kFewRows = 4;

// One 512-bit vector of partial sums (GCC vector extensions: every EMBER_SIMD clone lowers it
// to its own registers) and its lanes added in a fixed tree, halves first: s[l] + s[l + h] for
// h = L/2 .. 1, in registers.
// (the attribute needs a concrete type: one struct per dtype)
template <typename T>
struct Vec512;
template <>
struct Vec512<float> {
  typedef float V __attribute__((vector_size(64)));
  typedef float V32 __attribute__((vector_size(32)));
  typedef float V16 __attribute__((vector_size(16)));
  static float sum(const V& v) {
    const V32 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                  __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    const V16 b =
        __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
  }
};
template <>
struct Vec512<double> {
  typedef double V __attribute__((vector_size(64)));
  typedef double V32 __attribute__((vector_size(32)));
  typedef double V16 __attribute__((vector_size(16)));
  static double sum(const V& v) {
    const V32 a =
        __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
    const V16 b = __builtin_shufflevector(a, a, 0, 1) + __builtin_shufflevector(a, a, 2, 3);
    return b[0] + b[1];
  }
};

// c (M, N) = a (M, K) @ W^T (+ c if acc), W (N, K) row-major: dot products along W's rows j for
// the output columns j in [j0, j1), four rows of W at a time (four independent chains sharing
// the loads of a). Partial sums in the L lanes of one vector, added in a fixed tree: the same
// bits on any number of threads. The accumulators are vector values, never arrays: as arrays
// (s[L] with a loop over l) GCC kept them in memory across the k loop, a store-to-load chain on
// every FMA (LSTMCell batch 1, I 128, H 256, 1 thread: the kernel ~36 -> ~27 us a call). float
// kept its bits; double's products were not contracted then (mul + add) and are FMAs now, as
// float's (differences of ~1 ulp of the sums; tests/test_rnnspeed24.py checks torch).
template <typename T>
EMBER_SIMD void few_rows_wt(T* __restrict c, int64_t ldc, const T* __restrict a, int64_t lda,
                            const T* __restrict w, int64_t K, int64_t M, int64_t j0, int64_t j1,
                            bool acc) {
  using V = typename Vec512<T>::V;
  constexpr int L = 64 / static_cast<int>(sizeof(T));
  // the first n lanes from p, the rest zero (vectors never pass by value: -Wpsabi in the
  // baseline clone)
  const auto load = [](V& v, const T* p, int64_t n) {
    v = V{};
    std::memcpy(&v, p, static_cast<size_t>(n) * sizeof(T));
  };
  for (int64_t j = j0; j < j1; j += 4) {
    const int64_t nj = std::min<int64_t>(4, j1 - j);
    // Short blocks repeat a row (the extra sums are dropped).
    const T* w0 = w + j * K;
    const T* w1 = w0 + (nj > 1 ? K : 0);
    const T* w2 = w0 + (nj > 2 ? 2 * K : 0);
    const T* w3 = w0 + (nj > 3 ? 3 * K : 0);
    for (int64_t m = 0; m < M; ++m) {  // the four rows of W stay in L1 for every row of a
      const T* ar = a + m * lda;
      T* cr = c + m * ldc;
      V s0 = {}, s1 = {}, s2 = {}, s3 = {};
      const auto step = [&](int64_t k, int64_t n) {
        V x, u0, u1, u2, u3;
        load(x, ar + k, n);
        load(u0, w0 + k, n);
        load(u1, w1 + k, n);
        load(u2, w2 + k, n);
        load(u3, w3 + k, n);
        s0 += x * u0;
        s1 += x * u1;
        s2 += x * u2;
        s3 += x * u3;
      };
      int64_t k = 0;
      for (; k + L <= K; k += L) step(k, L);
      // the tail: its zero lanes add 0 * 0 = +0 (a lane's sum is never -0 short of underflow)
      if (k < K) step(k, K - k);
      const T r[4] = {Vec512<T>::sum(s0), Vec512<T>::sum(s1), Vec512<T>::sum(s2),
                      Vec512<T>::sum(s3)};
      for (int64_t q = 0; q < nj; ++q)  // not acc: c is never read (it may hold garbage)
        cr[j + q] = acc ? cr[j + q] + r[q] : r[q];
    }
  }
}

// c (M, N) = a (M, K) @ W (+ c if acc), W (K, N) row-major: the rows of W scaled by a's entries
// and added in order k = 0 .. K-1, output columns [j0, j1).
template <typename T>
EMBER_SIMD void few_rows_w(T* __restrict c, int64_t ldc, const T* __restrict a, int64_t lda,
                           const T* __restrict w, int64_t K, int64_t N, int64_t M, int64_t j0,
                           int64_t j1, bool acc) {
  for (int64_t m = 0; m < M; ++m) {
    T* cr = c + m * ldc;
    if (!acc)
      for (int64_t j = j0; j < j1; ++j) cr[j] = T(0);
    for (int64_t k = 0; k < K; ++k) {
      const T s = a[m * lda + k];
      const T* wr = w + k * N;
      for (int64_t j = j0; j < j1; ++j) cr[j] += s * wr[j];
    }
  }
}

// c (M, N) = a (M, K) @ op(W) + beta c with beta 0 or 1: op(W) = W^T for trans_w (W (N, K)),
// else W (W (K, N)). The GEMM, or for at most kFewRows rows the weights in place; threads split
// the output columns (every element gets the same arithmetic on any number of threads).
template <typename T>
void weight_product(bool trans_w, int64_t M, int64_t N, int64_t K, const T* a, int64_t lda,
                    const T* w, T beta, T* c, int64_t ldc) {
  if (M > kFewRows) {
    gemm<T>(false, trans_w, M, N, K, T(1), a, lda, w, trans_w ? K : N, beta, c, ldc);
    return;
  }
  if (M <= 0 || N <= 0) return;
  constexpr int64_t JB = 64;
  const int64_t nb = (N + JB - 1) / JB;
  // (2^16 multiply-adds a thread, ~5 us: an LSTMCell step of batch 1 at H = 256 splits its
  // 128K and 256K products over 2 threads, as torch's; 2^18 kept them on one)
  const int nt = static_cast<int>(std::min<int64_t>(threads_for(M * N * K, int64_t(1) << 16), nb));
  const bool acc = beta != T(0);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t b = 0; b < nb; ++b) {
    const int64_t j0 = b * JB, j1 = std::min(N, j0 + JB);
    if (trans_w)
      few_rows_wt(c, ldc, a, lda, w, K, M, j0, j1, acc);
    else
      few_rows_w(c, ldc, a, lda, w, K, N, M, j0, j1, acc);
  }
}

// W_hh for the time loop: packed once for all the steps (PackedB), or, for a single step (a cell),
// used through weight_product: in place for a few rows, else by gemm, whose packing goes into a
// kept per-thread buffer (PackedB's fresh allocation cost LSTMCell batch 32 ~10% a call).
// mul: c (M, N) = a @ op(W) + beta c (op as PackedB's trans_b).
template <typename T>
class StepWeight {
 public:
  StepWeight(bool trans, int64_t K, int64_t N, const T* w, int64_t steps)
      : trans_(trans), K_(K), N_(N), w_(w) {
    if (steps > 1) packed_.emplace(trans, K, N, w, trans ? K : N);
  }
  bool direct() const { return !packed_; }
  const PackedB<T>& packed() const { return *packed_; }
  void mul(int64_t M, const T* a, int64_t lda, T beta, T* c, int64_t ldc) const {
    if (packed_)
      gemm_packed<T>(M, T(1), a, lda, *packed_, beta, c, ldc);
    else
      weight_product(trans_, M, N_, K_, a, lda, w_, beta, c, ldc);
  }

 private:
  bool trans_;
  int64_t K_, N_;
  const T* w_;
  std::optional<PackedB<T>> packed_;
};

// dw_hh (GH, H) = sum_t dgh_t^T h_{t-1}: one GEMM pairing each step with the previous step's
// output y (rows whose previous step is padding pair with y = 0), plus one GEMM for the rows
// whose previous state is h0 (gathered per sequence: its first step).
template <typename T>
void hidden_weight_grad(T* dw_hh, const T* dgh, const T* y, const T* h0, const Steps& st, int64_t N,
                        int64_t H, int64_t GH) {
  const int64_t T_ = st.T;
  if (T_ > 1) {
    // forward: rows t = 1..T-1 with y[t-1]; reverse: rows t = 0..T-2 with y[t+1].
    const T* A = st.reverse ? dgh : dgh + N * GH;
    const T* B = st.reverse ? y + N * H : y;
    gemm<T>(true, false, GH, H, (T_ - 1) * N, T(1), A, GH, B, H, T(0), dw_hh, H);
  }
  // (one step, a cell: every sequence's first step is step 0, the rows are dgh as it is)
  std::vector<T> g0(static_cast<size_t>(T_ > 1 ? N * GH : 0));
  for (int64_t n = 0; n < N && T_ > 1; ++n) {
    const int64_t t = st.reverse ? st.len(n) - 1 : 0;
    std::memcpy(g0.data() + n * GH, dgh + (t * N + n) * GH, sizeof(T) * GH);
  }
  gemm<T>(true, false, GH, H, N, T(1), T_ > 1 ? g0.data() : dgh, GH, h0, H, T_ > 1 ? T(1) : T(0),
          dw_hh, H);
}

// After the time loop: dx = dgi @ W_ih, dW_ih = dgi^T x, dW_hh, biases; each null one is not
// wanted and skipped (frozen weights: x, y and h0 are then not read). db (dgh == dgi only): the
// bias gradient already summed by the caller, or null.
template <typename T>
void finish_backward(T* dx, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const T* dgi, const T* dgh,
                     const T* x, const T* y, const T* h0, const T* w_ih, const Steps& st, int64_t N,
                     int64_t I, int64_t H, int64_t GH, const T* db = nullptr) {
  const int64_t TN = st.T * N;
  if (dx) weight_product(false, TN, I, GH, dgi, GH, w_ih, T(0), dx, I);
  if (dw_ih) gemm<T>(true, false, GH, I, TN, T(1), dgi, GH, x, I, T(0), dw_ih, I);
  if (dw_hh) hidden_weight_grad(dw_hh, dgh, y, h0, st, N, H, GH);
  if (db) {
    if (db_ih) std::memcpy(db_ih, db, sizeof(T) * GH);
    if (db_hh) std::memcpy(db_hh, db, sizeof(T) * GH);
    return;
  }
  if (db_ih) column_sum(db_ih, dgi, TN, GH);
  if (db_hh) {
    if (dgh == dgi && db_ih)
      std::memcpy(db_hh, db_ih, sizeof(T) * GH);
    else
      column_sum(db_hh, dgh, TN, GH);
  }
}

// Sum of the two optional biases (GH); zeros when there are none (x + 0 == x).
template <typename T>
std::vector<T> sum_bias(const T* b_ih, const T* b_hh, int64_t GH) {
  std::vector<T> b(static_cast<size_t>(GH), T(0));
  if (b_ih && b_hh)
    for (int64_t k = 0; k < GH; ++k) b[k] = b_ih[k] + b_hh[k];
  else if (b_ih || b_hh)
    std::memcpy(b.data(), b_ih ? b_ih : b_hh, sizeof(T) * GH);
  return b;
}

// p, or a zero row of n when p is null (optional biases and gradients).
template <typename T>
const T* or_zeros(const T* p, std::vector<T>& zeros, int64_t n) {
  if (p) return p;
  zeros.assign(static_cast<size_t>(n), T(0));
  return zeros.data();
}

// An uninitialised buffer (every element is written before it is read: no memset). Up to 64 MiB
// it is a per-thread block kept between calls: a fresh multi-megabyte allocation is fresh pages
// from the OS, and their first-touch faults cost ~1 ms per backward of the benchmark's LSTM.
// 64-byte aligned: rows of G*H values then start on a cache line, and no vector of the pointwise
// passes splits one (the LSTM forward without saves: 3% less time than at malloc's 16 bytes).
template <typename T>
class Workspace {
 public:
  explicit Workspace(int64_t n) {
    const size_t bytes = static_cast<size_t>(n) * sizeof(T);
    Cache& c = cache();
    if (bytes <= (size_t(64) << 20) && !c.busy) {
      if (c.bytes < bytes) {
        c.p.reset();
        c.p.reset(new unsigned char[bytes + 64]);
        c.bytes = bytes;
      }
      c.busy = true;
      cached_ = true;
      p_ = aligned(c.p.get());
    } else {
      own_.reset(new unsigned char[bytes + 64]);
      p_ = aligned(own_.get());
    }
  }
  ~Workspace() {
    if (cached_) cache().busy = false;
  }
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  T* data() const { return p_; }

 private:
  struct Cache {
    std::unique_ptr<unsigned char[]> p;
    size_t bytes = 0;
    bool busy = false;
  };
  static Cache& cache() {
    thread_local Cache c;
    return c;
  }
  static T* aligned(unsigned char* p) {
    const uintptr_t a = reinterpret_cast<uintptr_t>(p);
    return reinterpret_cast<T*>(p + (64 - a % 64) % 64);
  }
  std::unique_ptr<unsigned char[]> own_;
  T* p_ = nullptr;
  bool cached_ = false;
};

// The input projection x_t @ W_ih^T of a time loop, made a chunk of steps at a time just before
// the steps use it (was: one GEMM over all T steps first). Without saves its gates live in a
// workspace of one chunk (memory no longer linear in T: the benchmark's LSTM at T = 1000 made a
// 131 MB buffer every call, past the kept workspace, 0.85x torch), and with them a chunk's gates
// are still in cache when its steps read them. W_ih is packed once (PackedB); every element gets
// the arithmetic of the one big GEMM (gemm_packed's, rows and column panels split anywhere).
// One step (a cell) or at most kFewRows rows in all: the whole projection up front as before
// (weights in place for few rows, no packing for a cell).
// Chunk c holds steps t in [c k, c k + k); at(t) is step t's (N, ld) gates.
template <typename T>
class InputProjection {
 public:
  InputProjection(const T* x, const T* w_ih, T* saved, int64_t T_, int64_t N, int64_t I, int64_t GH,
                  int64_t ld)
      : x_(x), T_(T_), N_(N), I_(I), ld_(ld) {
    whole_ = T_ == 1 || T_ * N <= kFewRows;
    // ~256 rows a chunk: a GEMM that still reuses each packed panel of W_ih well
    k_ = whole_ ? T_ : std::min<int64_t>(T_, std::max<int64_t>(1, 256 / std::max<int64_t>(N, 1)));
    if (saved) {
      g_ = saved;
    } else {
      ws_.emplace(k_ * N * ld);
      g_ = ws_->data();
    }
    saved_ = saved != nullptr;
    if (whole_)
      weight_product(true, T_ * N, GH, I, x, I, w_ih, T(0), g_, ld);
    else
      wih_.emplace(true, I, GH, w_ih, I);
  }
  T* at(int64_t t) const { return g_ + (saved_ ? t : t % k_) * N_ * ld_; }
  // Called before step s (in st's order) runs; when s starts a chunk, makes that chunk's rows
  // [n0, n1) and gate columns [j0, j1) (multiples of the packed panel width). On the calling
  // thread; threads (rows and columns whole, outside a parallel region): on ember's threads.
  void before(const Steps& st, int64_t s, int64_t n0, int64_t n1, int64_t j0, int64_t j1,
              bool threads = false) const {
    if (whole_ || n1 <= n0) return;
    const int64_t t = st.t_of(s), c = t / k_;
    const bool starts = st.reverse ? (t == T_ - 1 || t % k_ == k_ - 1) : t % k_ == 0;
    if (!starts) return;
    const int64_t t0 = c * k_, t1 = std::min(T_, t0 + k_);
    if (n0 == 0 && n1 == N_) {  // whole rows: one product over the chunk
      if (threads)
        gemm_packed<T>((t1 - t0) * N_, T(1), x_ + t0 * N_ * I_, I_, *wih_, T(0), at(t0), ld_);
      else
        gemm_packed_cols<T>((t1 - t0) * N_, T(1), x_ + t0 * N_ * I_, I_, *wih_, j0, j1, T(0),
                            at(t0), ld_);
      return;
    }
    for (int64_t u = t0; u < t1; ++u)
      gemm_packed_cols<T>(n1 - n0, T(1), x_ + (u * N_ + n0) * I_, I_, *wih_, j0, j1, T(0),
                          at(u) + n0 * ld_, ld_);
  }

 private:
  const T* x_;
  int64_t T_, N_, I_, ld_, k_ = 1;
  bool whole_ = true, saved_ = false;
  T* g_ = nullptr;
  std::optional<Workspace<T>> ws_;
  std::optional<PackedB<T>> wih_;
};

// Threads for a time loop split by hidden units (whole NR-column panels of the packed W_hh, so
// H must be a multiple of NR): 1 means the plain loop (one GEMM and one pointwise pass a step).
inline int unit_threads(int64_t N, int64_t GH, int64_t H, int nr) {
  if (H % nr != 0) return 1;
  return static_cast<int>(std::min<int64_t>(threads_for(N * GH * H, int64_t(1) << 18), H / nr));
}

// Threads for a time loop split by sequences (whole MR row blocks of the per-step GEMM, so every
// row gets the single-thread arithmetic): 1 means another split.
inline int batch_threads(int64_t N, int64_t GH, int64_t H, int mr) {
  return static_cast<int>(
      std::min<int64_t>(threads_for(N * GH * H, int64_t(1) << 18), (N + mr - 1) / mr));
}

template <typename T>
void copy_or_zero(T* dst, const T* src, int64_t n) {
  if (src)
    std::memcpy(dst, src, sizeof(T) * n);
  else
    std::fill(dst, dst + n, T(0));
}

// ---- Pointwise workers ----------------------------------------------------------------------
// One row n, columns [j0, j1), of one step: raw __restrict pointers (each names a disjoint
// range), no branches in the j-loop, compiled per ISA (EMBER_SIMD, see vecmath.h) so vsigmoid /
// vtanh vectorise. Absent biases / dy are passed as zero rows by the callers (x + 0 == x).

// LSTM forward: a = g (input + hidden projections) + b; activated gates back into g; c and h
// into both the running state (cs, hs) and the saved outputs (cr, yr).
template <typename T>
EMBER_SIMD void lstm_fwd_row(T* __restrict gi, T* __restrict gf, T* __restrict gg, T* __restrict go,
                             T* __restrict cr, T* __restrict cs, T* __restrict yr, T* __restrict hs,
                             const T* __restrict bi, const T* __restrict bf, const T* __restrict bg,
                             const T* __restrict bo, int64_t j0, int64_t j1) {
  // Two loops: tanh(c) waits on all four gates, a dependency chain that one long loop body
  // leaves exposed; split, each loop's iterations are independent (5-10% less time in the pass).
  for (int64_t j = j0; j < j1; ++j) {
    const T i = sigmoid(gi[j] + bi[j]), f = sigmoid(gf[j] + bf[j]);
    const T gv = tanh_(gg[j] + bg[j]), o = sigmoid(go[j] + bo[j]);
    const T c = f * cs[j] + i * gv;
    gi[j] = i;
    gf[j] = f;
    gg[j] = gv;
    go[j] = o;
    cr[j] = c;
    cs[j] = c;
  }
  for (int64_t j = j0; j < j1; ++j) {
    const T h = go[j] * tanh_(cr[j]);
    yr[j] = h;
    hs[j] = h;
  }
}

// LSTM backward: dh = carried dh + dy; gate pre-activation gradients into dgi..dgo; carried dc
// becomes dc * f, carried dh is cleared (the step's GEMM adds dgates @ W_hh).
template <typename T>
EMBER_SIMD void lstm_bwd_row(T* __restrict dgi, T* __restrict dgf, T* __restrict dgg,
                             T* __restrict dgo, T* __restrict dhr, T* __restrict dcr,
                             const T* __restrict gi, const T* __restrict gf, const T* __restrict gg,
                             const T* __restrict go, const T* __restrict cr,
                             const T* __restrict cpr, const T* __restrict dyr, int64_t j0,
                             int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    const T dh = dhr[j] + dyr[j];
    const T i = gi[j], f = gf[j], gv = gg[j], o = go[j];
    const T tc = tanh_(cr[j]);
    const T dc = dcr[j] + dh * o * (T(1) - tc * tc);
    dgi[j] = dc * gv * i * (T(1) - i);
    dgf[j] = dc * cpr[j] * f * (T(1) - f);
    dgg[j] = dc * i * (T(1) - gv * gv);
    dgo[j] = dh * tc * o * (T(1) - o);
    dcr[j] = dc * f;
    dhr[j] = T(0);
  }
}

// GRU forward: gr/gz/gn hold the input projection (activated gates written back), hr/hz/hn_ the
// hidden projection of this step, bi*/bh* the two biases; the new state goes to yr and hs, from
// the previous one hp (a separate buffer: the callers double-buffer the state).
template <typename T>
EMBER_SIMD void gru_fwd_row(T* __restrict gr, T* __restrict gz, T* __restrict gn, T* __restrict hnr,
                            T* __restrict yr, T* __restrict hs, const T* __restrict hp,
                            const T* __restrict hr, const T* __restrict hz, const T* __restrict hn_,
                            const T* __restrict bir, const T* __restrict biz,
                            const T* __restrict bin, const T* __restrict bhr,
                            const T* __restrict bhz, const T* __restrict bhn, int64_t j0,
                            int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    const T ar = gr[j] + hr[j] + bir[j] + bhr[j];
    const T az = gz[j] + hz[j] + biz[j] + bhz[j];
    const T ain = gn[j] + bin[j];
    const T ahn = hn_[j] + bhn[j];
    const T r = sigmoid(ar), z = sigmoid(az);
    const T nv = tanh_(ain + r * ahn);
    const T h = (T(1) - z) * nv + z * hp[j];
    gr[j] = r;
    gz[j] = z;
    gn[j] = nv;
    hnr[j] = ahn;
    yr[j] = h;
    hs[j] = h;
  }
}

// GRU backward: di* the input-projection gradients, dh* the hidden-projection ones.
template <typename T>
EMBER_SIMD void gru_bwd_row(T* __restrict dir, T* __restrict diz, T* __restrict din,
                            T* __restrict dhr_, T* __restrict dhz, T* __restrict dhn,
                            T* __restrict dhs, const T* __restrict gr, const T* __restrict gz,
                            const T* __restrict gn, const T* __restrict hnr, const T* __restrict hp,
                            const T* __restrict dyr, int64_t j0, int64_t j1) {
  for (int64_t j = j0; j < j1; ++j) {
    const T dh = dhs[j] + dyr[j];
    const T r = gr[j], z = gz[j], nv = gn[j];
    const T dan = dh * (T(1) - z) * (T(1) - nv * nv);
    const T dar = dan * hnr[j] * r * (T(1) - r);
    const T daz = dh * (hp[j] - nv) * z * (T(1) - z);
    dir[j] = dar;
    dhr_[j] = dar;
    diz[j] = daz;
    dhz[j] = daz;
    din[j] = dan;
    dhn[j] = dan * r;
    dhs[j] = dh * z;
  }
}

// Elman forward: a = yr (projections) + b; h = act(a) into yr and the running state.
template <typename T>
EMBER_SIMD void rnn_fwd_row(T* __restrict yr, T* __restrict hs, const T* __restrict b, bool relu,
                            int64_t j0, int64_t j1) {
  if (relu) {
    for (int64_t j = j0; j < j1; ++j) {
      const T a = yr[j] + b[j];
      const T h = (a > T(0) || a != a) ? a : T(0);  // NaN passes, as torch's relu
      yr[j] = h;
      hs[j] = h;
    }
  } else {
    for (int64_t j = j0; j < j1; ++j) {
      const T h = tanh_(yr[j] + b[j]);
      yr[j] = h;
      hs[j] = h;
    }
  }
}

// Elman backward: dgr = act'(y) * (carried dh + dy); carried dh cleared.
template <typename T>
EMBER_SIMD void rnn_bwd_row(T* __restrict dgr, T* __restrict dhr, const T* __restrict yr,
                            const T* __restrict dyr, bool relu, int64_t j0, int64_t j1) {
  if (relu) {
    for (int64_t j = j0; j < j1; ++j) {
      const T dh = dhr[j] + dyr[j];
      dgr[j] = yr[j] <= T(0) ? T(0) : dh;  // through a NaN too, as torch's threshold_backward
      dhr[j] = T(0);
    }
  } else {
    for (int64_t j = j0; j < j1; ++j) {
      const T dh = dhr[j] + dyr[j];
      const T h = yr[j];
      dgr[j] = dh * (T(1) - h * h);
      dhr[j] = T(0);
    }
  }
}

template <typename T>
void zero_range(T* p, int64_t j0, int64_t j1) {
  std::fill(p + j0, p + j1, T(0));
}

// The last h into h_n, hidden units [u0, u1) of each of the N rows (a thread's share of the split
// by units), unless the time loop already left it there.
template <typename T>
void copy_units(T* h_n, const T* h, int64_t N, int64_t H, int64_t u0, int64_t u1) {
  if (h == h_n) return;
  for (int64_t n = 0; n < N; ++n) std::copy(h + n * H + u0, h + n * H + u1, h_n + n * H + u0);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// LSTM with projections (lstm_forward's serial loop runs their forward)
// Differentiates lstm_forward with w_hr (P,H), called by lstm_backward. dy (T,N,P), dh_n (N,P),
// dc_n (N,H) each may be null -> dx, dh0 (N,P), dc0 (N,H), dw_ih, dw_hh (4H,P), dw_hr (P,H), db_ih,
// db_hh or null.
//   dh_t (total: carried + dy_t) -> dhp (T,N,P), kept for dw_hr = sum_t dh_t^T m_t (one GEMM
//   after the loop); dm_t = dh_t @ W_hr feeds the plain LSTM's pointwise pass; the carried dh
//   of the previous step is dgates_t @ W_hh (padded rows: dh_t = 0, carried dh / dc unchanged).
template <typename T>
void lstm_proj_backward(T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* dw_hr, T* db_ih, T* db_hh,
                        const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* h0,
                        const T* c0, const T* w_ih, const T* w_hh, const T* w_hr, const T* y,
                        const T* gates, const T* cells, const T* hid, const Steps& st, int64_t N,
                        int64_t I, int64_t H, int64_t P, int64_t dy_st, int64_t dy_sn) {
  const int64_t GH = 4 * H, T_ = st.T;
  const Workspace<T> ws(T_ * N * GH + T_ * N * P + N * H);
  T* const dgates = ws.data();
  T* const dhp = dgates + T_ * N * GH;
  T* const dm = dhp + T_ * N * P;
  // Zero rows for lstm_bwd_row's dy (dm carries all of dh) and for a null dy.
  const std::vector<T> zeros(static_cast<size_t>(std::max(H, P)), T(0));
  copy_or_zero(dh0, dh_n, N * P);
  copy_or_zero(dc0, dc_n, N * H);
  const PackedB<T> whh(false, GH, P, w_hh, P);
  const PackedB<T> whr(false, P, H, w_hr, H);
  for (int64_t s = T_ - 1; s >= 0; --s) {
    const int64_t t = st.t_of(s);
    T* dht = dhp + t * N * P;
    for (int64_t n = 0; n < N; ++n) {
      T* d = dht + n * P;
      T* carry = dh0 + n * P;
      if (!st.valid(t, n)) {
        std::fill(d, d + P, T(0));
        continue;
      }
      const T* dyr = dy ? dy + t * dy_st + n * dy_sn : zeros.data();
      for (int64_t j = 0; j < P; ++j) d[j] = carry[j] + dyr[j];
      std::fill(carry, carry + P, T(0));
    }
    gemm_packed<T>(N, T(1), dht, P, whr, T(0), dm, H);
    T* dg = dgates + t * N * GH;
    for_each_block(N, H, 10, [&](int64_t n, int64_t j0, int64_t j1) {
      const int64_t r = t * N + n;
      T* dgi = dg + n * GH;
      if (!st.valid(t, n)) {
        for (int64_t k = 0; k < 4; ++k) zero_range(dgi + k * H, j0, j1);
        return;
      }
      const T* gi = gates + r * GH;
      const T* cpr = st.first(t, n) ? c0 + n * H : cells + (st.prev(t) * N + n) * H;
      lstm_bwd_row(dgi, dgi + H, dgi + 2 * H, dgi + 3 * H, dm + n * H, dc0 + n * H, gi, gi + H,
                   gi + 2 * H, gi + 3 * H, cells + r * H, cpr, zeros.data(), j0, j1);
    });
    gemm_packed<T>(N, T(1), dg, GH, whh, T(1), dh0, P);
  }
  if (dw_hr) gemm<T>(true, false, P, H, T_ * N, T(1), dhp, P, hid, H, T(0), dw_hr, H);
  finish_backward(dx, dw_ih, dw_hh, db_ih, db_hh, dgates, dgates, x, y, h0, w_ih, st, N, I, P, GH);
}

// ---------------------------------------------------------------------------------------------
// LSTM
// x (T,N,I), h0 (N,H), c0 (N,H), w_ih (4H,I), w_hh (4H,H), b_ih/b_hh (4H) or null,
// lengths (N) or null -> y (T,N,H), h_n (N,H), c_n (N,H), gates (T,N,4H) activated (i,f,g,o),
// cells (T,N,H).
//   i,f,g,o = sigma, sigma, tanh, sigma (W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
//   c_t = f * c_{t-1} + i * g,  h_t = o * tanh(c_t)
// With projections (w_hr (P,H) non-null; null: hid unused, P == H): h0, h_n (N,P), w_hh (4H,P),
// y (T,N,P), hid (T,N,H) = m_t = o * tanh(c_t), h_t = m_t @ W_hr^T (padded rows: m = 0, y = 0,
// h kept).
template <typename T>
void lstm_forward(T* y, T* h_n, T* c_n, T* gates, T* cells, T* hid, const T* x, const T* h0,
                  const T* c0, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                  const T* w_hr, const int64_t* lengths, int64_t T_, int64_t N, int64_t I,
                  int64_t H, int64_t P, bool reverse) {
  const int64_t GH = 4 * H;
  const Steps st{T_, reverse, lengths};
  const std::vector<T> bias = sum_bias(b_ih, b_hh, GH);
  const T* b = bias.data();
  // Nothing saved (gates / cells null: no gradient wanted): the gates live in a workspace of
  // one chunk (InputProjection) and each step's cells in one (N, H) scratch.
  // Their rows are then a cache line longer than 4H: at H = 256 rows of 4 KiB put a GEMM tile's
  // rows of C in one L1 set, and the per-step products (beta = 1) ran ~2% slower.
  const int64_t ldg = gates ? GH : GH + 64 / static_cast<int64_t>(sizeof(T));
  std::vector<T> cell_scratch(cells ? 0 : static_cast<size_t>(N * H));
  auto cells_at = [&](int64_t t) { return cells ? cells + t * N * H : cell_scratch.data(); };
  // The input projection, a chunk of steps at a time into gates (or a workspace).
  const InputProjection<T> proj(x, w_ih, gates, T_, N, I, GH, ldg);
  // h_n / c_n carry the running state.
  std::memcpy(h_n, h0, sizeof(T) * N * P);
  std::memcpy(c_n, c0, sizeof(T) * N * H);
  const StepWeight<T> whh(true, P, GH, w_hh, T_);  // packed once for all the steps
  const int nt_b = w_hr || whh.direct() ? 1 : batch_threads(N, GH, H, whh.packed().mr);
  if (!w_hr && !whh.direct() && (nt_b > 1 || num_threads() == 1)) {
    // Each thread runs the plain loop on its own sequences [n0, n1): their state never leaves
    // the thread, so the steps need no barrier and no h crosses cores (the benchmark's LSTM
    // forward at 2 threads went from level with torch under the split by units below to ~1.15x
    // torch). Each reads all of the packed W_hh a step (1 MiB at H = 256): it stays in L2.
    // One thread runs this loop too, on all N rows.
#pragma omp parallel num_threads(nt_b) if (nt_b > 1)
    {
      const int64_t mr = whh.packed().mr, nb = (N + mr - 1) / mr;
      const int64_t k = omp_get_thread_num(), team = omp_get_num_threads();
      const int64_t n0 = std::min(N, nb * k / team * mr),
                    n1 = std::min(N, nb * (k + 1) / team * mr);
      for (int64_t s = 0; s < T_ && n1 > n0; ++s) {
        const int64_t t = st.t_of(s);
        proj.before(st, s, n0, n1, 0, GH);
        T* g = proj.at(t);
        T* yt = y + t * N * H;
        T* ct = cells_at(t);
        const int64_t rows = st.rows(t, N);
        // One MR row block at a time: its GEMM rows, then its pointwise pass while its gates
        // (MR x 4H) are still in L1, and the core overlaps that pass with the next block's
        // FMAs (the benchmark's LSTM forward at 1 thread: ~2.5% less time than the GEMM over
        // all rows first). Each tile gets the arithmetic of the whole GEMM: the same bits.
        // (A last block of under MR / 2 rows joins the one before: AVX2's 6-row GEMM then
        // runs those 7 or 8 rows as two 4-row tiles, not 6 + a 4-row tile for 1 or 2.)
        for (int64_t b0 = n0, b1; b0 < n1; b0 = b1) {
          b1 = n1 - b0 < mr + mr / 2 ? n1 : b0 + mr;
          const int64_t m1 = std::min(b1, rows);
          if (m1 > b0)
            gemm_packed_cols<T>(m1 - b0, T(1), h_n + b0 * H, H, whh.packed(), 0, GH, T(1),
                                g + b0 * ldg, ldg);
          for (int64_t n = b0; n < b1; ++n) {
            T* gi = g + n * ldg;
            if (!st.valid(t, n)) {
              for (int64_t q = 0; q < 4; ++q) zero_range(gi + q * H, int64_t(0), H);
              zero_range(yt + n * H, int64_t(0), H);
              zero_range(ct + n * H, int64_t(0), H);
              continue;
            }
            lstm_fwd_row(gi, gi + H, gi + 2 * H, gi + 3 * H, ct + n * H, c_n + n * H, yt + n * H,
                         h_n + n * H, b, b + H, b + 2 * H, b + 3 * H, int64_t(0), H);
          }
        }
      }
    }
    return;
  }
  if (const int nt = w_hr || whh.direct() ? 1 : unit_threads(N, GH, H, whh.packed().nr); nt > 1) {
    // Each thread owns the hidden units [u0, u1) (whole NR panels) in all four gates: a step is
    // its GEMM columns for those units, their pointwise pass, and one barrier. h is double-
    // buffered (the GEMM reads all of it); c is only ever touched by its owner.
    const Workspace<T> hbuf(N * H);
#pragma omp parallel num_threads(nt)
    {
      const int64_t nr = whh.packed().nr, np = H / nr;
      const int64_t k = omp_get_thread_num(), team = omp_get_num_threads();
      const int64_t u0 = np * k / team * nr, u1 = np * (k + 1) / team * nr;
      T* cur = h_n;
      T* nxt = hbuf.data();
      for (int64_t s = 0; s < T_; ++s) {
        const int64_t t = st.t_of(s);
        for (int64_t q = 0; q < 4; ++q) proj.before(st, s, 0, N, q * H + u0, q * H + u1);
        T* g = proj.at(t);
        T* yt = y + t * N * H;
        T* ct = cells_at(t);
        const int64_t m = st.rows(t, N);
        for (int64_t q = 0; q < 4; ++q)
          gemm_packed_cols<T>(m, T(1), cur, H, whh.packed(), q * H + u0, q * H + u1, T(1), g, ldg);
        for (int64_t n = 0; n < N; ++n) {
          T* gi = g + n * ldg;
          if (!st.valid(t, n)) {
            for (int64_t q = 0; q < 4; ++q) zero_range(gi + q * H, u0, u1);
            zero_range(yt + n * H, u0, u1);
            zero_range(ct + n * H, u0, u1);
            std::copy(cur + n * H + u0, cur + n * H + u1, nxt + n * H + u0);
            continue;
          }
          lstm_fwd_row(gi, gi + H, gi + 2 * H, gi + 3 * H, ct + n * H, c_n + n * H, yt + n * H,
                       nxt + n * H, b, b + H, b + 2 * H, b + 3 * H, u0, u1);
        }
#pragma omp barrier
        std::swap(cur, nxt);
      }
      copy_units(h_n, cur, N, H, u0, u1);
    }
    return;
  }
  // With projections the pointwise pass writes m_t = o * tanh(c_t) into hid (its running h
  // goes to an unused scratch) and h_t = m_t @ W_hr^T follows: one more GEMM a step.
  const std::unique_ptr<PackedB<T>> whr(w_hr ? new PackedB<T>(true, H, P, w_hr, H) : nullptr);
  std::vector<T> scratch(w_hr ? static_cast<size_t>(N * H) : 0);
  for (int64_t s = 0; s < T_; ++s) {
    const int64_t t = st.t_of(s);
    proj.before(st, s, 0, N, 0, GH, true);
    T* g = proj.at(t);
    whh.mul(st.rows(t, N), h_n, P, T(1), g, ldg);
    T* yt = y + t * N * P;
    T* ht = w_hr ? hid + t * N * H : yt;  // this step's o * tanh(c)
    T* hs = w_hr ? scratch.data() : h_n;  // and the pass's running copy of it
    T* ct = cells_at(t);
    for_each_block(N, H, 10, [&](int64_t n, int64_t j0, int64_t j1) {
      T* gi = g + n * ldg;
      T* hr = ht + n * H;
      T* cr = ct + n * H;
      if (!st.valid(t, n)) {
        for (int64_t k = 0; k < 4; ++k) zero_range(gi + k * H, j0, j1);
        zero_range(hr, j0, j1);
        zero_range(cr, j0, j1);
        return;
      }
      lstm_fwd_row(gi, gi + H, gi + 2 * H, gi + 3 * H, cr, c_n + n * H, hr, hs + n * H, b, b + H,
                   b + 2 * H, b + 3 * H, j0, j1);
    });
    if (!w_hr) continue;
    gemm_packed<T>(N, T(1), ht, H, *whr, T(0), yt, P);
    for (int64_t n = 0; n < N; ++n) {  // padded rows: y = 0, h kept
      if (st.valid(t, n))
        std::memcpy(h_n + n * P, yt + n * P, sizeof(T) * P);
      else
        std::fill(yt + n * P, yt + (n + 1) * P, T(0));
    }
  }
}

// Differentiates lstm_forward. dy (T,N,H), dh_n, dc_n (N,H) each may be null (zeros); the rest
// as saved by forward -> dx (T,N,I), dh0, dc0 (N,H), dw_ih (4H,I), dw_hh (4H,H), db_ih, db_hh
// (4H) or null. dgates (T,N,4H) is a workspace. With projections (w_hr non-null) also
// dw_hr (P,H) (see lstm_proj_backward); null: dw_hr and hid unused. dy's row (t, n) is at
// dy + t dy_st + n dy_sn (as the GRU's and RNN's): a direction's slice of the joined output's
// gradient is read in place, not copied (bidirectional T50 N32 H256 backward ~0.3 ms).
template <typename T>
void lstm_backward(T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* dw_hr, T* db_ih, T* db_hh,
                   const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* h0, const T* c0,
                   const T* w_ih, const T* w_hh, const T* w_hr, const T* y, const T* gates,
                   const T* cells, const T* hid, const int64_t* lengths, int64_t T_, int64_t N,
                   int64_t I, int64_t H, int64_t P, bool reverse, bool want_dh0, int64_t dy_st,
                   int64_t dy_sn) {
  const int64_t GH = 4 * H;
  const Steps st{T_, reverse, lengths};
  if (w_hr) {
    lstm_proj_backward(dx, dh0, dc0, dw_ih, dw_hh, dw_hr, db_ih, db_hh, dy, dh_n, dc_n, x, h0, c0,
                       w_ih, w_hh, w_hr, y, gates, cells, hid, st, N, I, H, P, dy_st, dy_sn);
    return;
  }
  const Workspace<T> dgates(T_ * N * GH);
  const std::vector<T> zeros(dy ? 0 : static_cast<size_t>(H), T(0));  // dy == null
  // dh0 / dc0 carry the running gradient of the state, backwards through the steps.
  copy_or_zero(dh0, dh_n, N * H);
  copy_or_zero(dc0, dc_n, N * H);
  const StepWeight<T> whh(false, GH, H, w_hh, T_);
  // The bias gradient, summed step by step while dgates_t is in cache (column_sum after the
  // loop would read all of dgates again): one partial sum per block of rb rows (the GEMM's MR
  // row blocks, which the split by sequences keeps whole; one block on the other paths), each
  // in the order s = T-1 .. 0, n ascending, then the blocks in order: the same bits on any
  // number of threads. Row n, gate columns q H + [j0, j1) of step s:
  const int64_t rb = whh.direct() ? std::max<int64_t>(N, 1) : whh.packed().mr;
  const int64_t nblk = (N + rb - 1) / rb;
  const bool want_db = db_ih || db_hh;
  std::vector<T> dbp(want_db ? static_cast<size_t>(std::max<int64_t>(nblk, 1) * GH) : 0, T(0));
  auto add_db = [&](int64_t s, int64_t n, int64_t j0, int64_t j1) {
    const T* dg = dgates.data() + (st.t_of(s) * N + n) * GH;
    T* d = dbp.data() + (n / rb) * GH;
    for (int64_t q = 0; q < 4; ++q)
      for (int64_t j = q * H + j0; j < q * H + j1; ++j) d[j] += dg[j];
  };
  // Row n, units [j0, j1) of step s's pointwise pass.
  auto pointwise = [&](int64_t s, int64_t n, int64_t j0, int64_t j1) {
    const int64_t t = st.t_of(s), r = t * N + n;
    T* dgi = dgates.data() + r * GH;
    if (!st.valid(t, n)) {
      for (int64_t k = 0; k < 4; ++k) zero_range(dgi + k * H, j0, j1);
      return;
    }
    const T* gi = gates + r * GH;
    // The previous step's cells, or c0 at the sequence's first step.
    const T* cpr = st.first(t, n) ? c0 + n * H : cells + (st.prev(t) * N + n) * H;
    const T* dyr = dy ? dy + t * dy_st + n * dy_sn : zeros.data();
    lstm_bwd_row(dgi, dgi + H, dgi + 2 * H, dgi + 3 * H, dh0 + n * H, dc0 + n * H, gi, gi + H,
                 gi + 2 * H, gi + 3 * H, cells + r * H, cpr, dyr, j0, j1);
  };
  // Padded rows have zero dgates, so their carried dh passes through the GEMM unchanged.
  if (!whh.direct() && (nblk > 1 || num_threads() == 1)) {
    // Split by sequences as in lstm_forward (one thread: the same loop over all rows): a row's
    // dh_{t-1} needs only its own dgates_t, so a thread runs the whole time loop on its whole
    // MR row blocks [n0, n1) with no barrier (T50 N32 H256 at 2 threads: the split by units
    // below spent a barrier and a full repack of dgates_t per thread every step).
    const int nt = batch_threads(N, GH, H, whh.packed().mr);
    // dx_t = dgates_t @ W_ih right after the step's dh product, dgates_t still in cache (W_ih
    // packed once), not one GEMM over all of dgates after the loop (T50 N32 I128 H256, 1 thread:
    // backward 26.3 -> 25.9 ms, best of 5 alternating runs; 2 threads 25.8 -> 25.6 ms CPU).
    const std::unique_ptr<PackedB<T>> wih(dx ? new PackedB<T>(false, GH, I, w_ih, I) : nullptr);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      const int64_t k = omp_get_thread_num(), team = omp_get_num_threads();
      const int64_t n0 = std::min(N, nblk * k / team * rb),
                    n1 = std::min(N, nblk * (k + 1) / team * rb);
      for (int64_t s = T_ - 1; s >= 0 && n1 > n0; --s) {
        const int64_t t = st.t_of(s);
        for (int64_t n = n0; n < n1; ++n) {
          pointwise(s, n, 0, H);
          if (want_db) add_db(s, n, 0, H);
        }
        const int64_t m1 = std::min(n1, st.rows(t, N));
        const T* dg = dgates.data() + (t * N + n0) * GH;
        if (m1 > n0 && (s > 0 || want_dh0))
          gemm_packed_cols<T>(m1 - n0, T(1), dg, GH, whh.packed(), 0, H, T(1), dh0 + n0 * H, H);
        if (wih)
          gemm_packed_cols<T>(n1 - n0, T(1), dg, GH, *wih, 0, I, T(0), dx + (t * N + n0) * I, I);
      }
    }
    dx = nullptr;  // made (or not wanted)
  } else if (const int nt = whh.direct() ? 1 : unit_threads(N, GH, H, whh.packed().nr); nt > 1) {
    // One row block on several threads: split by hidden units as in lstm_forward. A thread's
    // pointwise pass reads and writes only its units of dh / dc; the barrier makes the whole
    // dgates_t ready for every thread's GEMM columns (its units of dh).
#pragma omp parallel num_threads(nt)
    {
      const int64_t nr = whh.packed().nr, np = H / nr;
      const int64_t k = omp_get_thread_num(), team = omp_get_num_threads();
      const int64_t u0 = np * k / team * nr, u1 = np * (k + 1) / team * nr;
      for (int64_t s = T_ - 1; s >= 0; --s) {
        for (int64_t n = 0; n < N; ++n) pointwise(s, n, u0, u1);
        if (want_db)
          for (int64_t n = 0; n < N; ++n) add_db(s, n, u0, u1);
#pragma omp barrier
        const T* dg = dgates.data() + st.t_of(s) * N * GH;
        if (s > 0 || want_dh0)
          gemm_packed_cols<T>(st.rows(st.t_of(s), N), T(1), dg, GH, whh.packed(), u0, u1, T(1), dh0,
                              H);
      }
    }
  } else {
    for (int64_t s = T_ - 1; s >= 0; --s) {
      for_each_block(N, H, 10, [&](int64_t n, int64_t j0, int64_t j1) { pointwise(s, n, j0, j1); });
      if (want_db)
        for (int64_t n = 0; n < N; ++n) add_db(s, n, 0, H);
      if (s > 0 || want_dh0)
        whh.mul(st.rows(st.t_of(s), N), dgates.data() + st.t_of(s) * N * GH, GH, T(1), dh0, H);
    }
  }
  // The blocks' partial bias gradients, added in block order.
  for (int64_t b = 1; b < nblk && want_db; ++b)
    for (int64_t j = 0; j < GH; ++j) dbp[j] += dbp[b * GH + j];
  finish_backward(dx, dw_ih, dw_hh, db_ih, db_hh, dgates.data(), dgates.data(), x, y, h0, w_ih, st,
                  N, I, H, GH, want_db ? dbp.data() : nullptr);
}

// ---------------------------------------------------------------------------------------------
// GRU
// x (T,N,I), h0 (N,H), w_ih (3H,I), w_hh (3H,H), b_ih/b_hh (3H) or null, lengths (N) or null
// -> y (T,N,H), h_n (N,H), gates (T,N,3H) activated (r,z,n), hn (T,N,H). hh (N,3H) workspace.
//   r = sigma(W_ir x + b_ir + W_hr h + b_hr),  z = sigma(W_iz x + b_iz + W_hz h + b_hz)
//   hn = W_hn h + b_hn,  n = tanh(W_in x + b_in + r * hn),  h' = (1 - z) * n + z * h
template <typename T>
void gru_forward(T* y, T* h_n, T* gates, T* hn, const T* x, const T* h0, const T* w_ih,
                 const T* w_hh, const T* b_ih, const T* b_hh, const int64_t* lengths, int64_t T_,
                 int64_t N, int64_t I, int64_t H, bool reverse) {
  const int64_t GH = 3 * H;
  const Steps st{T_, reverse, lengths};
  std::vector<T> hh(static_cast<size_t>(N * GH));
  std::vector<T> zi, zh;
  const T* bi = or_zeros(b_ih, zi, GH);
  const T* bh = or_zeros(b_hh, zh, GH);
  // The input projection a chunk of steps at a time, as in lstm_forward (gates null: nothing
  // saved, a workspace of one chunk).
  const InputProjection<T> proj(x, w_ih, gates, T_, N, I, GH, GH);
  std::vector<T> hn_scratch(hn ? 0 : static_cast<size_t>(N * H));
  std::memcpy(h_n, h0, sizeof(T) * N * H);
  const StepWeight<T> whh(true, H, GH, w_hh, T_);
  // The state is double-buffered (every unit's GEMM reads all of it): step s reads cur, writes
  // nxt. Row n, units [j0, j1) of step s's pointwise pass:
  const Workspace<T> hbuf(N * H);
  auto pointwise = [&](int64_t s, const T* cur, T* nxt, int64_t n, int64_t j0, int64_t j1) {
    const int64_t t = st.t_of(s);
    T* gr = proj.at(t) + n * GH;
    T* yr = y + (t * N + n) * H;
    T* hnr = hn ? hn + (t * N + n) * H : hn_scratch.data() + n * H;
    if (!st.valid(t, n)) {
      for (int64_t k = 0; k < 3; ++k) zero_range(gr + k * H, j0, j1);
      zero_range(yr, j0, j1);
      zero_range(hnr, j0, j1);
      std::copy(cur + n * H + j0, cur + n * H + j1, nxt + n * H + j0);
      return;
    }
    const T* hhr = hh.data() + n * GH;
    gru_fwd_row(gr, gr + H, gr + 2 * H, hnr, yr, nxt + n * H, cur + n * H, hhr, hhr + H,
                hhr + 2 * H, bi, bi + H, bi + 2 * H, bh, bh + H, bh + 2 * H, j0, j1);
  };
  T* cur = h_n;
  T* nxt = hbuf.data();
  if (const int nt = whh.direct() ? 1 : batch_threads(N, GH, H, whh.packed().mr); nt > 1) {
    // Split by sequences as in lstm_forward: the plain loop on rows [n0, n1), no barrier.
#pragma omp parallel num_threads(nt) firstprivate(cur, nxt)
    {
      const int64_t mr = whh.packed().mr, nb = (N + mr - 1) / mr;
      const int64_t k = omp_get_thread_num(), team = omp_get_num_threads();
      const int64_t n0 = std::min(N, nb * k / team * mr),
                    n1 = std::min(N, nb * (k + 1) / team * mr);
      for (int64_t s = 0; s < T_ && n1 > n0; ++s) {
        proj.before(st, s, n0, n1, 0, GH);
        const int64_t m1 = std::min(n1, st.rows(st.t_of(s), N));
        if (m1 > n0)
          gemm_packed_cols<T>(m1 - n0, T(1), cur + n0 * H, H, whh.packed(), 0, GH, T(0),
                              hh.data() + n0 * GH, GH);
        for (int64_t n = n0; n < n1; ++n) pointwise(s, cur, nxt, n, 0, H);
        std::swap(cur, nxt);
      }
      if (cur != h_n) std::copy(cur + n0 * H, cur + n1 * H, h_n + n0 * H);
    }
    return;
  }
  if (const int nt = whh.direct() ? 1 : unit_threads(N, GH, H, whh.packed().nr); nt > 1) {
    // Split by hidden units as in lstm_forward: a thread's GEMM columns (its units of r, z and
    // n), its pointwise pass, one barrier a step.
#pragma omp parallel num_threads(nt) firstprivate(cur, nxt)
    {
      const int64_t nr = whh.packed().nr, np = H / nr;
      const int64_t k = omp_get_thread_num(), team = omp_get_num_threads();
      const int64_t u0 = np * k / team * nr, u1 = np * (k + 1) / team * nr;
      for (int64_t s = 0; s < T_; ++s) {
        for (int64_t q = 0; q < 3; ++q) proj.before(st, s, 0, N, q * H + u0, q * H + u1);
        const int64_t m = st.rows(st.t_of(s), N);
        for (int64_t q = 0; q < 3; ++q)
          gemm_packed_cols<T>(m, T(1), cur, H, whh.packed(), q * H + u0, q * H + u1, T(0),
                              hh.data(), GH);
        for (int64_t n = 0; n < N; ++n) pointwise(s, cur, nxt, n, u0, u1);
#pragma omp barrier
        std::swap(cur, nxt);
      }
      copy_units(h_n, cur, N, H, u0, u1);
    }
    return;
  }
  for (int64_t s = 0; s < T_; ++s) {
    proj.before(st, s, 0, N, 0, GH, true);
    whh.mul(st.rows(st.t_of(s), N), cur, H, T(0), hh.data(), GH);
    for_each_block(N, H, 10,
                   [&](int64_t n, int64_t j0, int64_t j1) { pointwise(s, cur, nxt, n, j0, j1); });
    std::swap(cur, nxt);
  }
  if (cur != h_n) std::memcpy(h_n, cur, sizeof(T) * N * H);
}

// Differentiates gru_forward. dy (T,N,H), dh_n (N,H) may be null (zeros) -> dx (T,N,I), dh0 (N,H),
// dw_ih (3H,I), dw_hh (3H,H), db_ih, db_hh (3H) or null. Workspaces: dgi (T,N,3H) (gradient of
// the input projection: dar, daz, dan) and dgh (T,N,3H) (of the hidden one: dar, daz, dan * r).
template <typename T>
void gru_backward(T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const T* dy, const T* dh_n,
                  const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* y, const T* gates,
                  const T* hn, const int64_t* lengths, int64_t T_, int64_t N, int64_t I, int64_t H,
                  bool reverse, bool want_dh0, int64_t dy_st, int64_t dy_sn) {
  const int64_t GH = 3 * H;
  const Steps st{T_, reverse, lengths};
  const Workspace<T> dgs(2 * T_ * N * GH);  // dgi, then dgh
  T* const dgi = dgs.data();
  T* const dgh = dgi + T_ * N * GH;
  const std::vector<T> zeros(dy ? 0 : static_cast<size_t>(H), T(0));  // dy == null
  copy_or_zero(dh0, dh_n, N * H);
  const StepWeight<T> whh(false, GH, H, w_hh, T_);
  // Row n, units [j0, j1) of step s's pointwise pass.
  auto pointwise = [&](int64_t s, int64_t n, int64_t j0, int64_t j1) {
    const int64_t t = st.t_of(s), r = t * N + n;
    T* dir = dgi + r * GH;
    T* dhr_ = dgh + r * GH;
    if (!st.valid(t, n)) {
      for (int64_t k = 0; k < 3; ++k) {
        zero_range(dir + k * H, j0, j1);
        zero_range(dhr_ + k * H, j0, j1);
      }
      return;
    }
    const T* gr = gates + r * GH;
    // The previous step's output, or h0 at the sequence's first step.
    const T* hp = st.first(t, n) ? h0 + n * H : y + (st.prev(t) * N + n) * H;
    const T* dyr = dy ? dy + t * dy_st + n * dy_sn : zeros.data();
    gru_bwd_row(dir, dir + H, dir + 2 * H, dhr_, dhr_ + H, dhr_ + 2 * H, dh0 + n * H, gr, gr + H,
                gr + 2 * H, hn + r * H, hp, dyr, j0, j1);
  };
  if (const int nt = whh.direct() ? 1 : batch_threads(N, GH, H, whh.packed().mr); nt > 1) {
    // Split by sequences as in lstm_backward: a thread runs the whole time loop on its whole MR
    // row blocks [n0, n1), no barrier (was a pointwise pass and a GEMM, two parallel regions, a
    // step). Padded rows have zero gradients, so their carried dh passes through unchanged.
#pragma omp parallel num_threads(nt)
    {
      const int64_t mr = whh.packed().mr, nb = (N + mr - 1) / mr;
      const int64_t k = omp_get_thread_num(), team = omp_get_num_threads();
      const int64_t n0 = std::min(N, nb * k / team * mr),
                    n1 = std::min(N, nb * (k + 1) / team * mr);
      for (int64_t s = T_ - 1; s >= 0 && n1 > n0; --s) {
        const int64_t t = st.t_of(s);
        for (int64_t n = n0; n < n1; ++n) pointwise(s, n, 0, H);
        const int64_t m1 = std::min(n1, st.rows(t, N));
        if (m1 > n0 && (s > 0 || want_dh0))
          gemm_packed_cols<T>(m1 - n0, T(1), dgh + (t * N + n0) * GH, GH, whh.packed(), 0, H, T(1),
                              dh0 + n0 * H, H);
      }
    }
  } else {
    for (int64_t s = T_ - 1; s >= 0; --s) {
      for_each_block(N, H, 8, [&](int64_t n, int64_t j0, int64_t j1) { pointwise(s, n, j0, j1); });
      const int64_t t = st.t_of(s);
      if (s > 0 || want_dh0) whh.mul(st.rows(t, N), dgh + t * N * GH, GH, T(1), dh0, H);
    }
  }
  finish_backward(dx, dw_ih, dw_hh, db_ih, db_hh, dgi, dgh, x, y, h0, w_ih, st, N, I, H, GH);
}

// ---------------------------------------------------------------------------------------------
// Elman RNN
// x (T,N,I), h0 (N,H), w_ih (H,I), w_hh (H,H), b_ih/b_hh (H) or null, lengths (N) or null
// -> y (T,N,H), h_n (N,H).   h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act tanh or relu.
template <typename T>
void rnn_forward(T* y, T* h_n, const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, const int64_t* lengths, int64_t T_, int64_t N, int64_t I, int64_t H,
                 bool reverse, bool relu) {
  const Steps st{T_, reverse, lengths};
  const std::vector<T> bias = sum_bias(b_ih, b_hh, H);
  const T* b = bias.data();
  // The input projection goes straight into y; each step overwrites its slice with h_t.
  weight_product(true, T_ * N, H, I, x, I, w_ih, T(0), y, H);
  std::memcpy(h_n, h0, sizeof(T) * N * H);
  const StepWeight<T> whh(true, H, H, w_hh, T_);
  for (int64_t s = 0; s < T_; ++s) {
    const int64_t t = st.t_of(s);
    T* yt = y + t * N * H;
    whh.mul(st.rows(t, N), h_n, H, T(1), yt, H);
    for_each_block(N, H, relu ? 1 : 5, [&](int64_t n, int64_t j0, int64_t j1) {
      T* yr = yt + n * H;
      if (!st.valid(t, n)) {
        zero_range(yr, j0, j1);
        return;
      }
      rnn_fwd_row(yr, h_n + n * H, b, relu, j0, j1);
    });
  }
}

// Differentiates rnn_forward (act' from y: 1 - y^2 for tanh, y > 0 for relu). dy (T,N,H),
// dh_n (N,H) may be null -> dx (T,N,I), dh0 (N,H), dw_ih (H,I), dw_hh (H,H), db_ih, db_hh (H) or
// null. dgates (T,N,H) workspace.
template <typename T>
void rnn_backward(T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const T* dy, const T* dh_n,
                  const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* y,
                  const int64_t* lengths, int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse,
                  bool relu, bool want_dh0, int64_t dy_st, int64_t dy_sn) {
  const Steps st{T_, reverse, lengths};
  const Workspace<T> dgates(T_ * N * H);
  const std::vector<T> zeros(dy ? 0 : static_cast<size_t>(H), T(0));  // dy == null
  copy_or_zero(dh0, dh_n, N * H);
  const StepWeight<T> whh(false, H, H, w_hh, T_);
  for (int64_t s = T_ - 1; s >= 0; --s) {
    const int64_t t = st.t_of(s);
    const T* yt = y + t * N * H;
    T* dg = dgates.data() + t * N * H;
    const T* dyt = dy ? dy + t * dy_st : nullptr;
    for_each_block(N, H, 1, [&](int64_t n, int64_t j0, int64_t j1) {
      T* dgr = dg + n * H;
      if (!st.valid(t, n)) {
        zero_range(dgr, j0, j1);
        return;
      }
      const T* dyr = dyt ? dyt + n * dy_sn : zeros.data();
      rnn_bwd_row(dgr, dh0 + n * H, yt + n * H, dyr, relu, j0, j1);
    });
    if (s > 0 || want_dh0) whh.mul(st.rows(t, N), dg, H, T(1), dh0, H);
  }
  finish_backward(dx, dw_ih, dw_hh, db_ih, db_hh, dgates.data(), dgates.data(), x, y, h0, w_ih, st,
                  N, I, H, H);
}

// Explicit instantiations: float32 and float64.
template void lstm_forward(float*, float*, float*, float*, float*, float*, const float*,
                           const float*, const float*, const float*, const float*, const float*,
                           const float*, const float*, const int64_t*, int64_t, int64_t, int64_t,
                           int64_t, int64_t, bool);
template void lstm_forward(double*, double*, double*, double*, double*, double*, const double*,
                           const double*, const double*, const double*, const double*,
                           const double*, const double*, const double*, const int64_t*, int64_t,
                           int64_t, int64_t, int64_t, int64_t, bool);
template void lstm_backward(float*, float*, float*, float*, float*, float*, float*, float*,
                            const float*, const float*, const float*, const float*, const float*,
                            const float*, const float*, const float*, const float*, const float*,
                            const float*, const float*, const float*, const int64_t*, int64_t,
                            int64_t, int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t);
template void lstm_backward(double*, double*, double*, double*, double*, double*, double*, double*,
                            const double*, const double*, const double*, const double*,
                            const double*, const double*, const double*, const double*,
                            const double*, const double*, const double*, const double*,
                            const double*, const int64_t*, int64_t, int64_t, int64_t, int64_t,
                            int64_t, bool, bool, int64_t, int64_t);
template void gru_forward(float*, float*, float*, float*, const float*, const float*, const float*,
                          const float*, const float*, const float*, const int64_t*, int64_t,
                          int64_t, int64_t, int64_t, bool);
template void gru_forward(double*, double*, double*, double*, const double*, const double*,
                          const double*, const double*, const double*, const double*,
                          const int64_t*, int64_t, int64_t, int64_t, int64_t, bool);
template void gru_backward(float*, float*, float*, float*, float*, float*, const float*,
                           const float*, const float*, const float*, const float*, const float*,
                           const float*, const float*, const float*, const int64_t*, int64_t,
                           int64_t, int64_t, int64_t, bool, bool, int64_t, int64_t);
template void gru_backward(double*, double*, double*, double*, double*, double*, const double*,
                           const double*, const double*, const double*, const double*,
                           const double*, const double*, const double*, const double*,
                           const int64_t*, int64_t, int64_t, int64_t, int64_t, bool, bool, int64_t,
                           int64_t);
template void rnn_forward(float*, float*, const float*, const float*, const float*, const float*,
                          const float*, const float*, const int64_t*, int64_t, int64_t, int64_t,
                          int64_t, bool, bool);
template void rnn_forward(double*, double*, const double*, const double*, const double*,
                          const double*, const double*, const double*, const int64_t*, int64_t,
                          int64_t, int64_t, int64_t, bool, bool);
template void rnn_backward(float*, float*, float*, float*, float*, float*, const float*,
                           const float*, const float*, const float*, const float*, const float*,
                           const float*, const int64_t*, int64_t, int64_t, int64_t, int64_t, bool,
                           bool, bool, int64_t, int64_t);
template void rnn_backward(double*, double*, double*, double*, double*, double*, const double*,
                           const double*, const double*, const double*, const double*,
                           const double*, const double*, const int64_t*, int64_t, int64_t, int64_t,
                           int64_t, bool, bool, bool, int64_t, int64_t);

}  // namespace ember
