// The register-blocked micro-kernel and the transposing pack shared by the AVX2 and AVX-512 files,
// struct S (vector type V of S::L lanes of S::T with load / set1 / fmadd / mul / store). Include
// it only from a micro-kernel file whose traits live in an anonymous namespace: each
// instantiation is then local to that file and its compile flags (see gemm_internal.h).
#pragma once

#include <cstdint>

namespace ember {
namespace gemm_detail {

// C (mr x nr of an MR x NV*L tile, row stride ldc) := beta * C + alpha * op(A) @ op(B) over a
// kc-long panel (the whole tile is computed; only mr x nr of C is read and written):
// B row p is b + p * ldb (NV vector loads); A is either a packed p-major panel
// (A_ROWS = false: a[p * lda + i], lda = MR when packed) or MR rows of stride lda (A_ROWS = true:
// a[i * lda + p]), MR broadcasts per p. MR * NV FMAs per p into MR * NV register accumulators.
template <class S, int MR, int NV, bool A_ROWS>
void simd_kernel(int64_t kc, typename S::T alpha, const typename S::T* a, int64_t lda,
                 const typename S::T* b, int64_t ldb, typename S::T beta, typename S::T* c,
                 int64_t ldc, int mr, int nr) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int L = S::L;
  constexpr int NR = NV * L;
  constexpr int NB = (MR + 3) / 4;
  // A rows as 4-row groups: row 4k + r is base[k] + r * lda, which x86 addresses as
  // [base + index * scale] with index in {0, lda, 2 lda, 3 lda}: NB + 3 registers in all.
  const T* base[NB];
#pragma GCC unroll 8
  for (int k = 0; k < NB; ++k) base[k] = a + (A_ROWS ? 4 * k * lda : 0);
  const int64_t off[4] = {0, lda, 2 * lda, 3 * lda};
  // The loops over i and v are unrolled completely so acc stays in registers.
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    S::prefetch(c + i * ldc);
    S::prefetch(c + i * ldc + NR - 1);
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; ++p) {
    V bv[NV];
#ifdef PFB
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) S::prefetch(b + PFB * ldb + v * L);
#endif
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = S::loadu(b + v * L);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const V ai = S::set1(A_ROWS ? base[i / 4][off[i % 4]] : a[i]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fmadd(ai, bv[v], acc[i][v]);
    }
    if (A_ROWS) {
#pragma GCC unroll 8
      for (int k = 0; k < NB; ++k) ++base[k];
    } else {
      a += lda;
    }
    b += ldb;
  }
  const V va = S::set1(alpha);
  const V vb = S::set1(beta);
  // Every load of C comes before the first store: rows ldc apart with ldc a multiple of 4 KiB
  // (an LSTM's gates, 4H = 1024 floats) alias in the low 12 address bits, and a load issued after
  // a store to such an address waits for it (32 x 1024 x 128 with beta = 1, ldc = 1024: ~2% more
  // GFLOP/s on Zen 4). The same arithmetic, only the order of the memory accesses changes.
  // alpha == 1 (nearly every caller) skips the multiply: x * 1 is x, the same bits.
  if (mr == MR && nr == NR) {
    if (alpha != T(1)) {
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[i][v] = S::mul(va, acc[i][v]);
    }
    if (beta != T(0)) {
#pragma GCC unroll 32
      for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
          acc[i][v] = S::fmadd(vb, S::loadu(c + i * ldc + v * L), acc[i][v]);
    }
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) S::storeu(c + i * ldc + v * L, acc[i][v]);
    return;
  }
  // Edge tile: the same arithmetic, through masked loads and stores of the first mr x nr.
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    if (i >= mr) break;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const int n = nr - v * L < L ? nr - v * L : L;
      if (n <= 0) break;
      const V r = S::mul(va, acc[i][v]);
      acc[i][v] = beta != T(0) ? S::fmadd(vb, S::maskloadu(c + i * ldc + v * L, n), r) : r;
    }
  }
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) {
    if (i >= mr) break;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const int n = nr - v * L < L ? nr - v * L : L;
      if (n <= 0) break;
      S::maskstoreu(c + i * ldc + v * L, n, acc[i][v]);
    }
  }
}

// gather_kernel: the GatherKernel of gemm_internal.h, MR broadcasts from MR input corners at one
// offset per p (no packed A: a direct convolution reads its input in place).
template <class S, int MR, int NV>
void gather_kernel(int64_t kc, const typename S::T* const* xb, const int64_t* koff,
                   const typename S::T* b, typename S::T* c, bool accumulate) {
  using V = typename S::V;
  constexpr int L = S::L;
  const typename S::T* base[MR];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i) base[i] = xb[i];
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v)
      acc[i][v] = accumulate ? S::loadu(c + (i * NV + v) * L) : S::zero();
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; ++p) {
    const int64_t o = koff[p];
    V bv[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + p * NV * L + v * L);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const V ai = S::set1(base[i][o]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fmadd(ai, bv[v], acc[i][v]);
    }
  }
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) S::storeu(c + (i * NV + v) * L, acc[i][v]);
}

// pack_t: a transposed B packed through register transposes (Transpose: L vectors in place):
// blocks of L rows x L values of p, loaded (masked at the edges, zero rows past w_len),
// transposed and stored as L rows of the panel. (The generic pack_panels moves one scalar at a
// time: a transposed B (x @ W^T, q @ k^T) spent a fifth of the product packing.)
template <class S, void (*Transpose)(typename S::V*)>
void pack_t(typename S::T* dst, const typename S::T* src, int64_t rs, int64_t w_len, int64_t kc,
            int W) {
  constexpr int L = S::L;
  using V = typename S::V;
  for (int64_t w0 = 0; w0 < w_len; w0 += W, dst += kc * W) {
    for (int c = 0; c < W; c += L) {
      const int64_t left = w_len - w0 - c;
      const int rows = left < 0 ? 0 : left > L ? L : static_cast<int>(left);
      const typename S::T* s = src + (w0 + c) * rs;
      for (int64_t p = 0; p < kc; p += L) {
        const int np = kc - p < L ? static_cast<int>(kc - p) : L;
        V r[L];
        if (rows == L && np == L) {
#pragma GCC unroll 16
          for (int i = 0; i < L; ++i) r[i] = S::loadu(s + i * rs + p);
        } else {
#pragma GCC unroll 16
          for (int i = 0; i < L; ++i)
            r[i] = i < rows ? S::maskloadu(s + i * rs + p, np) : S::zero();
        }
        Transpose(r);
        for (int q = 0; q < np; ++q) S::storeu(dst + (p + q) * W + c, r[q]);
      }
    }
  }
}

// dot_rows: C (M x [j0, j1)) := beta * C + alpha * A @ W^T for a few rows of A (M x K, row-major,
// lda) and W (N x K, row-major, ldw: x @ W^T of a Linear layer at batch 1-4). Each W row is
// read once from memory and dotted with every A row (in L1): the blocked path would first pack
// all of W, reading and writing it once more (Linear 1024 -> 1024 at batch 1, 1 thread: 321 ->
// 72 us, torch 85, NumPy 57). (rnn.cpp's few_rows_wt is its twin for the recurrent cells, with
// their own thread split.) Four W rows at a time give four independent FMA chains; each dot's
// lanes are summed in a fixed order, so a C element's bits depend on K and the ISA alone (not on
// M, the column range or the thread count).
template <class S>
typename S::T lane_sum(typename S::V v) {
  typename S::T t[S::L], r = 0;
  S::storeu(t, v);
  for (int l = 0; l < S::L; ++l) r += t[l];
  return r;
}

template <class S>
void dot_rows(int64_t M, int64_t j0, int64_t j1, int64_t K, typename S::T alpha,
              const typename S::T* A, int64_t lda, const typename S::T* W, int64_t ldw,
              typename S::T beta, typename S::T* C, int64_t ldc) {
  using T = typename S::T;
  using V = typename S::V;
  constexpr int L = S::L;
  const int64_t kv = K / L * L;
  const int tail = static_cast<int>(K - kv);
  const auto finish = [&](T* c, T dot) {
    *c = beta == T(0) ? alpha * dot : alpha * dot + beta * *c;
  };
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4) {
    const T *w0 = W + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
    for (int64_t i = 0; i < M; ++i) {
      const T* a = A + i * lda;
      V s0 = S::zero(), s1 = S::zero(), s2 = S::zero(), s3 = S::zero();
      for (int64_t p = 0; p < kv; p += L) {
        const V x = S::loadu(a + p);
        s0 = S::fmadd(x, S::loadu(w0 + p), s0);
        s1 = S::fmadd(x, S::loadu(w1 + p), s1);
        s2 = S::fmadd(x, S::loadu(w2 + p), s2);
        s3 = S::fmadd(x, S::loadu(w3 + p), s3);
      }
      if (tail) {
        const V x = S::maskloadu(a + kv, tail);
        s0 = S::fmadd(x, S::maskloadu(w0 + kv, tail), s0);
        s1 = S::fmadd(x, S::maskloadu(w1 + kv, tail), s1);
        s2 = S::fmadd(x, S::maskloadu(w2 + kv, tail), s2);
        s3 = S::fmadd(x, S::maskloadu(w3 + kv, tail), s3);
      }
      T* c = C + i * ldc + j;
      finish(c, lane_sum<S>(s0));
      finish(c + 1, lane_sum<S>(s1));
      finish(c + 2, lane_sum<S>(s2));
      finish(c + 3, lane_sum<S>(s3));
    }
  }
  for (; j < j1; ++j) {  // (the same arithmetic per element as above)
    const T* w = W + j * ldw;
    for (int64_t i = 0; i < M; ++i) {
      const T* a = A + i * lda;
      V s0 = S::zero();
      for (int64_t p = 0; p < kv; p += L) s0 = S::fmadd(S::loadu(a + p), S::loadu(w + p), s0);
      if (tail) s0 = S::fmadd(S::maskloadu(a + kv, tail), S::maskloadu(w + kv, tail), s0);
      finish(C + i * ldc + j, lane_sum<S>(s0));
    }
  }
}

}  // namespace gemm_detail
}  // namespace ember
