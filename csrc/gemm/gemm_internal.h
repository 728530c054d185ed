// Internals of the blocked GEMM shared by gemm.cpp, pack.cpp and the micro-kernel files.
// Layers (BLIS): gemm.cpp splits C among threads and runs the NC / KC / MC loops, packs op(A)
// into MR-row panels and op(B) into NR-column panels (pack.cpp, zero-padded edges), and the
// macro-kernel calls one MR x NR micro-kernel per tile (microkernel_<isa>.cpp).
//
// ODR rule for the ISA files: microkernel_avx512.cpp / microkernel_avx2.cpp are compiled with
// their own -m flags, so they must not emit any function with external (vague) linkage that
// another file could also instantiate (inline functions, std:: templates): the linker could keep
// the AVX-512 copy and baseline code would crash on older CPUs. Everything there lives in an
// anonymous namespace except the one table getter, which is called only after the CPU check.
#pragma once

#include <cstdint>

namespace ember {
namespace gemm_detail {

// C (the first mr x nr of an MR x NR tile, row stride ldc) := beta * C + alpha * op(A) @ op(B)
// over p < kc (kc >= 1); the whole tile is computed from full (zero-padded) panels, so an edge
// tile gets exactly the arithmetic of a whole one,
// where op(B)(p, j) is b[p * ldb + j] (a packed NR-column panel: ldb = NR) and op(A)(i, p) is
//   a[p * lda + i] for a p-major panel (panel_a: lda = MR when packed; lda = the leading
//   dimension of a transposed A read in place), or
//   a[i * lda + p] for MR rows of stride lda (rows_a: packed row-major A, ld = kc).
// beta == 0 never reads C. Packed buffers are 64-byte aligned.
template <typename T>
using MicroKernel = void (*)(int64_t kc, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
                             T beta, T* c, int64_t ldc, int mr, int nr);

// Packs the (w_len x kc) block whose element (w, p) is src[w * rs + p] (contiguous along p: op(B)
// of a transposed B) into ceil(w_len / W) p-major panels of width W, zero-padding w >= w_len:
// the layout of pack_panels, through in-register transposes.
template <typename T>
using PackTransposed = void (*)(T* dst, const T* src, int64_t rs, int64_t w_len, int64_t kc, int W);

// One micro-kernel pair with the blocking it was tuned for: MC is a multiple of MR, NC of NR.
// The *_half pair computes MR x NR/2 tiles: the last B panel is packed NR/2 wide when N leaves
// at most NR/2 columns there, halving the wasted lanes of narrow outputs (N = 10 classifiers).
// pack_t (may be null: pack_panels then) packs transposed B panels of width NR or NR / 2.
// The *_short kernels (when ms > 0) compute only the first ms < MR rows of a tile (reading the
// same panels: a packed panel keeps its p-stride MR) for row panels of at most ms rows (the last
// one, or the two a short tail is split into),
// with the arithmetic of the MR-row kernel of the same width, element for element.
// C (M x [j0, j1)) := beta * C + alpha * A @ W^T, A (M x K) and W (N x K) row-major: a few rows
// of A against W read in place (dot_rows in microkernel_simd.h).
template <typename T>
using DotRows = void (*)(int64_t M, int64_t j0, int64_t j1, int64_t K, T alpha, const T* A,
                         int64_t lda, const T* W, int64_t ldw, T beta, T* C, int64_t ldc);

// C (MR x NR, row-major) := [C +] sum over p < kc of A(i, p) * b[p * NR + j] (C added when
// accumulate), A read in place through offsets: A(i, p) = xb[i][koff[p]] (a direct convolution:
// xb[i] the input corner of output position i, koff[p] where tap p reads from it; b a packed,
// 64-byte aligned NR-column panel of the weights).
template <typename T>
using GatherKernel = void (*)(int64_t kc, const T* const* xb, const int64_t* koff, const T* b, T* c,
                              bool accumulate);

template <typename T>
struct Kernel {
  MicroKernel<T> panel_a, rows_a;
  MicroKernel<T> panel_a_half, rows_a_half;
  int mr, nr;
  int64_t kc, mc, nc;
  PackTransposed<T> pack_t = nullptr;
  int ms = 0;
  MicroKernel<T> panel_a_short = nullptr, rows_a_short = nullptr;
  MicroKernel<T> panel_a_short_half = nullptr, rows_a_short_half = nullptr;
  DotRows<T> dot_rows = nullptr;     // (null: the blocked path serves small M too)
  GatherKernel<T> gather = nullptr;  // MR x NR, the same MR and NR
  // A transposed A meeting at most this many B panels per column block is read in place (its
  // MR-column panels at stride lda) instead of packed (0: always packed). Its pack is a pass of
  // its own (read from L3 / memory, written, read back), where in-place loads overlap the FMAs.
  int64_t ta_direct_panels = 0;
};

struct Isa {
  const char* name;
  Kernel<float> f32;
  Kernel<double> f64;
};

// Tables of each family. isa_avx512() / isa_avx2() may execute their ISA's instructions: call
// them only once the CPU (and the OS) is known to support it.
Isa isa_avx512();
Isa isa_avx2();
Isa isa_generic();

// Packs the (w_len x kc) block of an operand whose element (w, p) is src[w * rs + p * cs] into
// ceil(w_len / W) panels of kc x W (panel-major, then p, then w), zero-padding w >= w_len.
// op(A) rows: W = MR; op(B) columns: W = NR.
template <typename T>
void pack_panels(T* dst, const T* src, int64_t rs, int64_t cs, int64_t w_len, int64_t kc, int W);

// Packs the same block row by row instead: dst[w * kc + p] for w < w_len rounded up to a
// multiple of W (the extra rows zero). For op(A) of a row-major A this is a plain copy.
template <typename T>
void pack_rows(T* dst, const T* src, int64_t rs, int64_t cs, int64_t w_len, int64_t kc, int W);

}  // namespace gemm_detail
}  // namespace ember
