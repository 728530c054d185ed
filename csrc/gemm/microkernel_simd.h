// The register-blocked micro-kernel shared by the AVX2 and AVX-512 files, written over a traits
// struct S (vector type V of S::L lanes of S::T with load / set1 / fmadd / mul / store). Include
// it only from a micro-kernel file whose traits live in an anonymous namespace: each
// instantiation is then local to that file and its compile flags (see gemm_internal.h).
#pragma once

#include <cstdint>

namespace ember {
namespace gemm_detail {

// C (MR x NV*L, row stride ldc) := beta * C + alpha * A @ B over packed panels (see MicroKernel).
// Per p: NV vector loads of B, MR broadcasts of A, MR * NV FMAs into MR * NV accumulators.
template <class S, int MR, int NV>
void simd_kernel(int64_t kc, typename S::T alpha, const typename S::T* a, const typename S::T* b,
                 typename S::T beta, typename S::T* c, int64_t ldc) {
  using V = typename S::V;
  constexpr int L = S::L;
  constexpr int NR = NV * L;
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
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * L);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i) {
      const V ai = S::set1(a[i]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = S::fmadd(ai, bv[v], acc[i][v]);
    }
    a += MR;
    b += NR;
  }
  const V va = S::set1(alpha);
  if (beta == typename S::T(0)) {
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) S::storeu(c + i * ldc + v * L, S::mul(va, acc[i][v]));
  } else {
    const V vb = S::set1(beta);
#pragma GCC unroll 32
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        typename S::T* ci = c + i * ldc + v * L;
        S::storeu(ci, S::fmadd(vb, S::loadu(ci), S::mul(va, acc[i][v])));
      }
  }
}

}  // namespace gemm_detail
}  // namespace ember
