// The blocked GEMM (BLIS layers): threads split C into rectangles; each thread runs the
// NC / KC / MC loops on its own rectangle with its own packing buffers, and the macro-kernel
// sweeps MR x NR tiles of the ISA's micro-kernel. Every element of C is computed by one thread,
// in a fixed K order, by the same micro-kernel arithmetic whether its tile is whole or an edge,
// so results do not depend on the thread count.
//
// Measured on Zen 4 (32 KiB L1d, 1 MiB L2), 1 thread, thread time, interleaved medians: the
// issues' products (conv 64 x 576 @ 576 x 1024 and 128 x 1152 @ 1152 x 784, DCGAN 128 x 1024 @
// 1024 x 256, 512^3) run at 51-55 GMAC/s against the micro-kernel's ~57; all ten of the issues'
// forward and gradient products measured 1.04-1.37x torch.mm. What is left: packing B
// (memory-bound, ~82 GB/s read + write from L3: 58 of ~760 us for the conv); for tiny K (the
// stem's 27) the per-tile prologue / epilogue (47 GMAC/s even with everything in L2); the
// transposing pack of a B^T with long rows from L3 (conv dW's 64 x 1024 @ (576 x 1024)^T: ~140 of
// ~800 us, 17 GB/s read, bound by the latency of 16 rows' 1 KiB chunks; from L2 it packs at ~88
// GB/s; no prefetch distance or loop order helped). Tried and no better: packing B inside the
// first row tile's micro-kernel (its column panel reads one 4 KiB page per row: 2-9% slower,
// level with a 64-row prefetch); AVX-512 copies in the B pack (level: bandwidth-, not
// instruction-bound); float KC 128 (2-4% slower, though the 32 KiB B panel of KC 256 fills this
// L1); A packed instead of read in place (level); no C prefetch in the micro-kernel for kc < 64
// (6-9% faster on an L2-warm C, 7-30% slower on a C from memory, where small K is bound by C's
// write + read-for-ownership bandwidth: 256 x 16 @ 16 x 1024 at ~15 GB/s); also prefetching the
// next tile's C (level). Later (Zen 4, 1 thread): the 8 x 32 micro-kernel alone runs ~57.5 GMAC/s
// on L1 / L2 panels (a bare FMA loop ~58), so its schedule has nothing left to give: k unrolled
// by 8, B prefetch 4 / 8 / 16 rows ahead and prefetchw of C were level; KC 384 / 512 mixed (+-5%
// by shape, within noise); B read in place for M up to 4-8 MR panels mixed (+6% at 64 x 256 @
// 256 x 784, -20% at 32 x 512 @ 512 x 2048). The blocked 1024^3 runs ~50: ~4% is C rows 4 KiB
// apart (a 32-column strip runs 54.7 at ldc 1024, 56-57 at ldc 1040 or 32), ~6% packing.
// Also level (round 37, interleaved medians, 1 thread): for several KC blocks and one column block,
// op(B) packed whole and each MC block running all its KC blocks so its C block stays in L2
// (dW_hh = dgates^T @ y, 1024 x 256 @ K 1568, and 1024^3: 0.98-1.01x); software prefetch of the
// next 8 source rows in the transposed-A pack (level to 2-4% slower). The drop from one KC block
// (1024 x 256 @ K 224 ~56 GMAC/s) to several (~52) is not C's read-modify-write (beta 1 over a
// 1 MiB C cost ~1%); a sampling profile put ~6% of the product in the A^T pack.
#include "gemm/gemm.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#include "common.h"
#include "gemm/gemm_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define EMBER_X86 1
#endif

namespace ember {

namespace {

using gemm_detail::Isa;
using gemm_detail::Kernel;

// ---------------------------------------------------------------- ISA detection and dispatch

#ifdef EMBER_X86
// The OS must save the vector state on context switches (XCR0 bits), not only the CPU have it.
bool os_saves(uint64_t mask) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return false;
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  const uint64_t xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  return (xcr0 & mask) == mask;
}
bool cpu_avx2() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && os_saves(0x6);
}
bool cpu_avx512() {
  __builtin_cpu_init();
  // The AVX-512 file is compiled with F, DQ, VL and BW: the compiler may use any of them.
  return cpu_avx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") && os_saves(0xE6);
}
#else
bool cpu_avx2() { return false; }
bool cpu_avx512() { return false; }
#endif

// Each table is built once, and only after the CPU check (its getter may use the ISA).
const Isa* table(const std::string& name) {
  if (name == "avx512") {
    static const Isa t = gemm_detail::isa_avx512();
    return &t;
  }
  if (name == "avx2") {
    static const Isa t = gemm_detail::isa_avx2();
    return &t;
  }
  static const Isa t = gemm_detail::isa_generic();
  return &t;
}

bool known(const std::string& name) {
  return name == "avx512" || name == "avx2" || name == "generic";
}

bool supported(const std::string& name) {
  if (name == "avx512") return cpu_avx512();
  if (name == "avx2") return cpu_avx2();
  return name == "generic";
}

std::atomic<const Isa*> g_isa{nullptr};
std::once_flag g_isa_once;

// Best ISA the CPU runs, unless EMBER_ISA names a valid one (an invalid EMBER_ISA is reported
// at import by the binding, which calls gemm_set_isa with it).
const Isa* current_isa() {
  std::call_once(g_isa_once, [] {
    std::string name = cpu_avx512() ? "avx512" : cpu_avx2() ? "avx2" : "generic";
    if (const char* env = std::getenv("EMBER_ISA"); env && known(env) && supported(env)) name = env;
    g_isa.store(table(name));
  });
  return g_isa.load();
}

// ---------------------------------------------------------------- packing buffers

// One growing, 64-byte aligned buffer per thread and role, reused across calls.
struct AlignedBuffer {
  void* p = nullptr;
  size_t bytes = 0;
  ~AlignedBuffer() { std::free(p); }
  template <typename T>
  T* get(int64_t count) {
    const size_t need = (static_cast<size_t>(count) * sizeof(T) + 63) / 64 * 64;
    if (need > bytes) {
      std::free(p);
      p = std::aligned_alloc(64, need);
      bytes = p ? need : 0;
      if (!p) throw std::bad_alloc();
    }
    return static_cast<T*>(p);
  }
};
thread_local AlignedBuffer t_pack_a, t_pack_b;

// ---------------------------------------------------------------- blocking loops

// Blocks of at most max_blk (a multiple of unit) splitting total as evenly as the unit allows.
int64_t even_block(int64_t total, int64_t max_blk, int64_t unit) {
  const int64_t nblk = (total + max_blk - 1) / max_blk;
  const int64_t blk = (total + nblk - 1) / nblk;
  return (blk + unit - 1) / unit * unit;
}

// Width of the last B panel of an nc-wide block: NR, or NR / 2 when that is enough.
template <typename T>
int last_panel_width(const Kernel<T>& kern, int64_t nc) {
  const int64_t rem = nc % kern.nr;
  return rem != 0 && 2 * rem <= kern.nr ? kern.nr / 2 : kern.nr;
}

// The first row of mc rows' last MR + rem rows (0 < rem < MR) when those fit two short tiles
// (2 * ms >= MR + rem: AVX2's 6-row kernel with rem 1 or 2 rows), else -1. Two 4-row tiles over
// the last 8 rows compute 32 rows as 32 instead of 36 (the RNN's per-step products at batch 32),
// in as many calls, with the same arithmetic element for element (the short kernels' contract).
// Rows layouts only: panels of a p-major A are MR wide.
template <typename T>
int64_t short_tail(const Kernel<T>& kern, int64_t mc) {
  const int64_t rem = mc % kern.mr;
  return rem > 0 && mc > kern.mr && kern.mr + rem <= 2 * kern.ms ? mc - rem - kern.mr : -1;
}

// Where the macro-kernel finds its panels. A panel at row ir: a + ir * a_step, rows of stride
// a_ld (a_rows) or a p-major panel with p-stride a_ld; B panel at column jr: b + jr * b_step, rows
// of stride b_ld (b_ld = 0: packed, the panel's own width). Unpacked operands (small problems) read
// A / B in place and take their last, partial panel from the packed edge copies a_edge / b_edge.
template <typename T>
struct Panels {
  const T* a;
  int64_t a_step, a_ld;
  bool a_rows;
  const T* a_edge;  // the rows from a_edge_row on packed (p-stride a_edge_ld), or nullptr
  int64_t a_edge_ld, a_edge_row;
  const T* b;
  int64_t b_step, b_ld;
  const T* b_edge;  // kc rows of the last panel's width, or nullptr
};

// C (mc x nc) := beta * C + alpha * op(A) @ op(B) over one kc block, tile by tile.
template <typename T>
void macro_kernel(const Kernel<T>& kern, const Panels<T>& pn, int64_t mc, int64_t nc, int64_t kc,
                  T alpha, T beta, T* C, int64_t ldc) {
  const int MR = kern.mr, NR = kern.nr;
  const int last_w = last_panel_width(kern, nc);
  const int64_t tail = pn.a_rows ? short_tail(kern, mc) : -1;
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t nr = std::min<int64_t>(NR, nc - jr);
    const bool half = nr < NR && last_w < NR;
    const int W = half ? last_w : NR;
    const gemm_detail::MicroKernel<T> fn = half ? (pn.a_rows ? kern.rows_a_half : kern.panel_a_half)
                                                : (pn.a_rows ? kern.rows_a : kern.panel_a);
    const gemm_detail::MicroKernel<T> fn_short =
        half ? (pn.a_rows ? kern.rows_a_short_half : kern.panel_a_short_half)
             : (pn.a_rows ? kern.rows_a_short : kern.panel_a_short);
    const bool b_edge = nr < NR && pn.b_edge;
    const T* bp = b_edge ? pn.b_edge : pn.b + jr * pn.b_step;
    const int64_t ldb = b_edge || pn.b_ld == 0 ? W : pn.b_ld;
    for (int64_t ir = 0; ir < mc;) {
      const int64_t mr = ir == tail ? kern.ms : std::min<int64_t>(MR, mc - ir);
      const bool a_edge = pn.a_edge && ir >= pn.a_edge_row;  // (rows layout when ir > edge row)
      const T* ap =
          a_edge ? pn.a_edge + (ir - pn.a_edge_row) * pn.a_edge_ld : pn.a + ir * pn.a_step;
      const int64_t lda = a_edge ? pn.a_edge_ld : pn.a_ld;
      (mr <= kern.ms ? fn_short : fn)(kc, alpha, ap, lda, bp, ldb, beta, C + ir * ldc + jr, ldc,
                                      static_cast<int>(mr), static_cast<int>(nr));
      ir += mr;
    }
  }
}

// Up to this many multiply-adds (one KC block), a row-major op(A) is read in place: packing costs
// more than it saves when every A panel meets only a few B panels.
constexpr int64_t kDirectWork = int64_t(1) << 21;

// A row-major op(A) meeting at most this many B panels per column block is read in place.
constexpr int64_t kDirectPanelsB = 16;

// A transposed A (p-major MR-column panels, stride lda) meeting at most Kernel::ta_direct_panels
// B panels per column block is read in place too (see gemm_internal.h), from K = this on: below
// it the packed block is cheap and sits in L1 / L2, where panel rows 4 KiB apart share L1 sets
// (AVX-512 float, 1024 x 256 @ K 32: in place ~4% slower; K 64 level).
constexpr int64_t kDirectTransAMinK = 64;

// One thread's rectangle: C (M x N) := alpha * op(A) @ op(B) + beta * C, with K >= 1.
// bpre: op(B) already packed (PackedB's layout, ncol_pad columns per row of a KC block) and this
// rectangle's first column is column j_off of it (a multiple of NR); B / ldb / trans_b unused.
template <typename T>
void gemm_blocked(const Kernel<T>& kern, bool trans_a, bool trans_b, int64_t M, int64_t N,
                  int64_t K, T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta,
                  T* C, int64_t ldc, const T* bpre = nullptr, int64_t ncol_pad = 0,
                  int64_t j_off = 0) {
  const int MR = kern.mr, NR = kern.nr;
  const int64_t kc_blk = even_block(K, kern.kc, 1);
  const int64_t mc_blk = even_block(M, kern.mc, MR);
  const int64_t nc_blk = even_block(N, kern.nc, NR);
  const bool small = K <= kc_blk && M <= mc_blk && N <= nc_blk && M * N * K <= kDirectWork;
  // A in place: MR-row slices of a row-major op(A), or MR-column slices of a transposed A
  // (p-major panels of stride lda). Also whenever a row-major A is one KC block with rows of
  // exactly K: packing would copy it into the same layout (W @ h^T, K = 256: 95 -> 75 us). And a
  // row-major A whose panels each meet at most kDirectPanelsB B panels: the copy (its rows from
  // L3 / memory) cost more than the packed rows save (1 thread, Zen 4, thread time, DCGAN
  // 256 x 2048 @ 2048 x 64 ~47 -> ~53 GMAC/s, Inception 1x7 192 x 1344 @ 1344 x 289 ~46 -> ~49,
  // the LSTM's dx = dgates @ W_ih 1600 x 1024 @ 1024 x 128 ~41 -> ~50; at 16 panels level; at 32,
  // 1024^3 and 64 x 576 @ 576 x 1024, level or slower in place). The same micro-kernel on the
  // same values: the same bits.
  const bool a_direct = small || (!trans_a && K <= kc_blk && lda == K) ||
                        (!trans_a && nc_blk <= kDirectPanelsB * NR) ||
                        (trans_a && nc_blk <= kern.ta_direct_panels * NR && K >= kDirectTransAMinK);
  // B in place while all of it stays in L1 (its rows are reused by every A panel), or when at
  // most two A panels read it (packing would cost more than it saves).
  const bool b_direct =
      !bpre && small && !trans_b && (K * N * int64_t(sizeof(T)) <= 32768 || M <= 2 * MR);
  T* apack = t_pack_a.get<T>(a_direct ? 2 * MR * K : mc_blk * kc_blk);  // (2: short_tail)
  T* bpack = bpre ? nullptr : t_pack_b.get<T>(b_direct ? NR * K : nc_blk * kc_blk);
  // op(A)(i, p) = A[i * rs_a + p * cs_a]; op(B)(p, j) = B[j * rs_b + p * cs_b].
  const int64_t rs_a = trans_a ? 1 : lda, cs_a = trans_a ? lda : 1;
  const int64_t rs_b = trans_b ? ldb : 1, cs_b = trans_b ? 1 : ldb;
  Panels<T> pn{};
  // Whichever packed layout of A is a plain copy: rows for a row-major op(A), else panels.
  pn.a_rows = !trans_a;
  for (int64_t jc = 0; jc < N; jc += nc_blk) {
    const int64_t nc = std::min(nc_blk, N - jc);
    for (int64_t pc = 0; pc < K; pc += kc_blk) {
      const int64_t kc = std::min(kc_blk, K - pc);
      const T beta_k = pc == 0 ? beta : T(1);
      const T* b = bpre ? nullptr : B + jc * rs_b + pc * cs_b;
      const int last_w = last_panel_width(kern, nc);
      const int64_t nc_full = nc / NR * NR;
      if (bpre) {
        pn.b = bpre + pc * ncol_pad + (j_off + jc) * kc, pn.b_step = kc, pn.b_ld = 0;
        pn.b_edge = nullptr;
      } else if (b_direct) {
        pn.b = b, pn.b_step = 1, pn.b_ld = ldb;
        pn.b_edge = nc_full < nc ? bpack : nullptr;
        if (nc_full < nc)
          gemm_detail::pack_panels(bpack, b + nc_full, 1, ldb, nc - nc_full, kc, last_w);
      } else {
        pn.b = bpack, pn.b_step = kc, pn.b_ld = 0, pn.b_edge = nullptr;
        const int64_t nc_packed = last_w == NR ? nc : nc_full;
        // A transposed B is contiguous along p: the ISA's transposing pack, when it has one.
        auto pack_b = [&](T* dst, const T* src, int64_t w_len, int W) {
          if (trans_b && kern.pack_t)
            kern.pack_t(dst, src, rs_b, w_len, kc, W);
          else
            gemm_detail::pack_panels(dst, src, rs_b, cs_b, w_len, kc, W);
        };
        pack_b(bpack, b, nc_packed, NR);
        if (nc_packed < nc)
          pack_b(bpack + nc_packed * kc, b + nc_packed * rs_b, nc - nc_packed, last_w);
      }
      for (int64_t ic = 0; ic < M; ic += mc_blk) {
        const int64_t mc = std::min(mc_blk, M - ic);
        const T* a = A + ic * rs_a + pc * cs_a;
        if (a_direct) {
          const int64_t tail = pn.a_rows ? short_tail(kern, mc) : -1;
          const int64_t mc_full = tail >= 0 ? tail : mc / MR * MR;  // where the edge copy starts
          pn.a = a, pn.a_step = rs_a, pn.a_ld = pn.a_rows ? rs_a : cs_a;
          pn.a_edge = mc_full < mc ? apack : nullptr;
          pn.a_edge_ld = pn.a_rows ? kc : MR;
          pn.a_edge_row = mc_full;
          if (mc_full < mc && pn.a_rows)
            gemm_detail::pack_rows(apack, a + mc_full * rs_a, rs_a, cs_a, mc - mc_full, kc, MR);
          else if (mc_full < mc)
            gemm_detail::pack_panels(apack, a + mc_full * rs_a, rs_a, cs_a, mc - mc_full, kc, MR);
        } else {
          pn.a = apack, pn.a_step = kc, pn.a_ld = pn.a_rows ? kc : MR, pn.a_edge = nullptr;
          if (pn.a_rows)
            gemm_detail::pack_rows(apack, a, rs_a, cs_a, mc, kc, MR);
          else
            gemm_detail::pack_panels(apack, a, rs_a, cs_a, mc, kc, MR);
        }
        macro_kernel(kern, pn, mc, nc, kc, alpha, beta_k, C + ic * ldc + jc, ldc);
      }
    }
  }
}

// op(B)'s kc rows from row pc, all N columns, as gemm_blocked packs them: NR-wide panels, the last
// one last_panel_width(kern, N) wide (every column block of gemm_blocked is a multiple of NR, so
// its last panel gets the same width), panel p at dst + p * NR * kc.
template <typename T>
void pack_b_block(const Kernel<T>& kern, T* dst, bool trans_b, const T* B, int64_t ldb, int64_t N,
                  int64_t pc, int64_t kc) {
  const int NR = kern.nr;
  const int64_t rs_b = trans_b ? ldb : 1, cs_b = trans_b ? 1 : ldb;
  const T* b = B + pc * cs_b;
  const int last_w = last_panel_width(kern, N);
  const int64_t n_full = N / NR * NR;
  const int64_t n_packed = last_w == NR ? N : n_full;
  auto pack = [&](T* d, const T* src, int64_t w_len, int W) {
    if (trans_b && kern.pack_t)
      kern.pack_t(d, src, rs_b, w_len, kc, W);
    else
      gemm_detail::pack_panels(d, src, rs_b, cs_b, w_len, kc, W);
  };
  pack(dst, b, n_packed, NR);
  if (n_packed < N) pack(dst + n_packed * kc, b + n_packed * rs_b, N - n_packed, last_w);
}

// C := beta * C (K == 0 or alpha == 0); beta == 0 writes zeros without reading C.
template <typename T>
void scale_c(int64_t M, int64_t N, T beta, T* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0))
      std::fill(c, c + N, T(0));
    else if (beta != T(1))
      for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  }
}

// Below this many multiply-adds per thread, waking (and waiting for) another thread costs more
// than it saves: 64^3 runs serially, 96^3 on two threads.
constexpr int64_t kMinWorkPerThread = int64_t(1) << 18;

// Up to this many rows of A, x @ W^T reads W in place (Kernel::dot_rows) instead of packing it.
constexpr int64_t kDotRowsMax = 4;

// Threads as a tm x tn grid over C's MR / NR panels: the split with the least per-thread work
// (computed tiles plus a share for packing) wins.
void choose_grid(int nt, int64_t mp, int64_t np, int MR, int NR, int64_t K, int* tm, int* tn) {
  double best = -1;
  *tm = *tn = 1;
  for (int a = 1; a <= nt; ++a) {
    const int b = nt / a;
    if (a > mp || b > np) continue;
    const double rows = double((mp + a - 1) / a) * MR, cols = double((np + b - 1) / b) * NR;
    const double cost = rows * cols * K + 8.0 * (rows + cols) * K;
    if (best < 0 || cost < best) best = cost, *tm = a, *tn = b;
  }
}

template <typename T>
const Kernel<T>& current_kernel() {
  const Isa* isa = current_isa();
  if constexpr (sizeof(T) == 4)
    return isa->f32;
  else
    return isa->f64;
}

// pre: op(B) packed for kern (gemm_packed), or null.
template <typename T>
void gemm_impl(const Kernel<T>& kern, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
               T alpha, const T* A, int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc,
               int threads, const T* pre = nullptr) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == T(0)) return scale_c(M, N, beta, C, ldc);
  int nt = threads == 1 ? 1 : num_threads();
  if (threads > 1) nt = std::min(nt, threads);
  const double work = double(M) * double(N) * double(K);
  nt = static_cast<int>(std::min<double>(nt, std::max(1.0, work / kMinWorkPerThread)));
  if (!pre && kern.dot_rows && !trans_a && trans_b && M <= kDotRowsMax) {
    // column ranges of whole 4-row groups of W, one per thread: the same bits for any split
    const int64_t groups = (N + 3) / 4;
    nt = static_cast<int>(std::min<int64_t>(nt, groups));
#pragma omp parallel for num_threads(nt) if (nt > 1)
    for (int t = 0; t < nt; ++t) {
      const int64_t j0 = std::min(N, groups * t / nt * 4),
                    j1 = std::min(N, groups * (t + 1) / nt * 4);
      kern.dot_rows(M, j0, j1, K, alpha, A, lda, B, ldb, beta, C, ldc);
    }
    return;
  }
  const int64_t mp = (M + kern.mr - 1) / kern.mr, np = (N + kern.nr - 1) / kern.nr;
  int tm = 1, tn = 1;
  if (nt > 1) choose_grid(nt, mp, np, kern.mr, kern.nr, K, &tm, &tn);
  const int parts = tm * tn;
  const int64_t ncol_pad = np * kern.nr;
  if (parts == 1) {
    gemm_blocked(kern, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, pre,
                 ncol_pad, 0);
    return;
  }
  std::atomic<bool> failed{false};
#pragma omp parallel num_threads(parts)
  {
    const int team = omp_get_num_threads();
    for (int part = omp_get_thread_num(); part < parts; part += team) {
      const int r = part / tn, s = part % tn;
      const int64_t i0 = std::min(M, mp * r / tm * kern.mr);
      const int64_t i1 = std::min(M, mp * (r + 1) / tm * kern.mr);
      const int64_t j0 = std::min(N, np * s / tn * kern.nr);
      const int64_t j1 = std::min(N, np * (s + 1) / tn * kern.nr);
      if (i1 <= i0 || j1 <= j0) continue;
      const T* a = A + (trans_a ? i0 : i0 * lda);
      const T* b = pre ? nullptr : B + (trans_b ? j0 * ldb : j0);
      try {
        gemm_blocked(kern, trans_a, trans_b, i1 - i0, j1 - j0, K, alpha, a, lda, b, ldb, beta,
                     C + i0 * ldc + j0, ldc, pre, ncol_pad, j0);
      } catch (...) {  // only std::bad_alloc of a packing buffer
        failed.store(true);
      }
    }
  }
  if (failed.load()) throw std::bad_alloc();
}

// C := alpha * op(A) @ op(A)^T (beta = 0: q @ q^T, Gram matrices, as NumPy's syrk path): C is
// symmetric, and the micro-kernel computes C[i][j] and C[j][i] with the same arithmetic (each
// product is exact inside its FMA, and the K order and blocking depend on K alone), so only the
// row blocks' columns up to the diagonal are computed and the rest is copied across it, bit for
// bit what the full product gives, for a bit over half the work. op(A)^T is packed once for all
// the blocks. Returns false (nothing done) when C is too small for blocks to pay.
template <typename T>
bool gemm_gram(const Kernel<T>& kern, bool trans_a, int64_t M, int64_t K, T alpha, const T* A,
               int64_t lda, T* C, int64_t ldc, int threads) {
  // Row blocks of whole NR panels (so every column range but the last is whole panels of the
  // packing), at least two MR panels tall and about an eighth of M: a bit over half the work,
  // and each block's B panels still meet a few A panels.
  const int64_t bs = (std::max<int64_t>(2 * kern.mr, M / 8) + kern.nr - 1) / kern.nr * kern.nr;
  if (M < 2 * bs) return false;
  const PackedB<T> packed(!trans_a, K, M, A, lda);
  const int64_t ncol_pad = (M + kern.nr - 1) / kern.nr * kern.nr;
  const int64_t nblk = (M + bs - 1) / bs;
  int nt = threads == 1 ? 1 : num_threads();
  if (threads > 1) nt = std::min(nt, threads);
  const double work = 0.5 * double(M) * double(M) * double(K);
  nt = static_cast<int>(
      std::min<double>({double(nt), double(nblk), std::max(1.0, work / kMinWorkPerThread)}));
  std::atomic<bool> failed{false};
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1) if (nt > 1)
  for (int64_t blk = nblk - 1; blk >= 0; --blk) {  // the widest blocks first
    const int64_t i0 = blk * bs, i1 = std::min(M, i0 + bs);
    try {
      gemm_blocked(kern, trans_a, false, i1 - i0, i1, K, alpha, A + (trans_a ? i0 : i0 * lda), lda,
                   static_cast<const T*>(nullptr), 0, T(0), C + i0 * ldc, ldc, packed.data,
                   ncol_pad, 0);
    } catch (...) {  // only std::bad_alloc of a packing buffer
      failed.store(true);
    }
  }
  if (failed.load()) throw std::bad_alloc();
  // Above the computed blocks: C[r][c] = C[c][r], c >= the end of r's block.
  for (int64_t r = 0; r < M; ++r) {
    T* cr = C + r * ldc;
    for (int64_t c = std::min(M, (r / bs + 1) * bs); c < M; ++c) cr[c] = C[c * ldc + r];
  }
  return true;
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads) {
  const Kernel<T>& kern = current_kernel<T>();
  // op(B) = op(A)^T, the same memory: C is symmetric.
  if (A == B && lda == ldb && trans_a != trans_b && M == N && K > 0 && alpha != T(0) &&
      beta == T(0) && gemm_gram(kern, trans_a, M, K, alpha, A, lda, C, ldc, threads))
    return;
  gemm_impl(kern, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
}

template <typename T>
PackedB<T>::PackedB(bool trans_b, int64_t K_, int64_t N_, const T* B, int64_t ldb) : K(K_), N(N_) {
  const Kernel<T>& k = current_kernel<T>();
  kern = &k;
  nr = k.nr;
  mr = k.mr;
  if (K <= 0 || N <= 0) return;
  const int64_t ncol_pad = (N + k.nr - 1) / k.nr * k.nr;
  const size_t bytes = (static_cast<size_t>(K * ncol_pad) * sizeof(T) + 63) / 64 * 64;
  data = static_cast<T*>(std::aligned_alloc(64, bytes));
  if (!data) throw std::bad_alloc();
  // The KC blocks gemm_blocked makes of K (the same for every rectangle of C).
  const int64_t kc_blk = even_block(K, k.kc, 1);
  for (int64_t pc = 0; pc < K; pc += kc_blk)
    pack_b_block(k, data + pc * ncol_pad, trans_b, B, ldb, N, pc, std::min(kc_blk, K - pc));
}

template <typename T>
PackedB<T>::~PackedB() {
  std::free(data);
}

template <typename T>
void gemm_packed(int64_t M, T alpha, const T* A, int64_t lda, const PackedB<T>& B, T beta, T* C,
                 int64_t ldc, int threads) {
  gemm_impl(*static_cast<const Kernel<T>*>(B.kern), false, false, M, B.N, B.K, alpha, A, lda,
            static_cast<const T*>(nullptr), 0, beta, C, ldc, threads, B.data);
}

template <typename T>
void gemm_packed_cols(int64_t M, T alpha, const T* A, int64_t lda, const PackedB<T>& B, int64_t j0,
                      int64_t j1, T beta, T* C, int64_t ldc) {
  const Kernel<T>& k = *static_cast<const Kernel<T>*>(B.kern);
  if (M <= 0 || j1 <= j0) return;
  if (B.K <= 0 || alpha == T(0)) return scale_c(M, j1 - j0, beta, C + j0, ldc);
  const int64_t ncol_pad = (B.N + k.nr - 1) / k.nr * k.nr;
  gemm_blocked(k, false, false, M, j1 - j0, B.K, alpha, A, lda, static_cast<const T*>(nullptr), 0,
               beta, C + j0, ldc, B.data, ncol_pad, j0);
}

template class PackedB<float>;
template class PackedB<double>;
template void gemm_packed<float>(int64_t, float, const float*, int64_t, const PackedB<float>&,
                                 float, float*, int64_t, int);
template void gemm_packed_cols<float>(int64_t, float, const float*, int64_t, const PackedB<float>&,
                                      int64_t, int64_t, float, float*, int64_t);
template void gemm_packed_cols<double>(int64_t, double, const double*, int64_t,
                                       const PackedB<double>&, int64_t, int64_t, double, double*,
                                       int64_t);
template void gemm_packed<double>(int64_t, double, const double*, int64_t, const PackedB<double>&,
                                  double, double*, int64_t, int);

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t, int);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t, int);

const char* gemm_isa() { return current_isa()->name; }

void gemm_set_isa(const char* name) {
  const std::string n = name ? name : "";
  EMBER_CHECK(known(n), "gemm_set_isa: unknown ISA '", n, "' (expected avx512, avx2 or generic)");
  EMBER_CHECK(supported(n), "gemm_set_isa: this CPU (or OS) cannot run ", n);
  current_isa();  // settle the one-time default first, so it cannot overwrite this choice
  g_isa.store(table(n));
}

}  // namespace ember
