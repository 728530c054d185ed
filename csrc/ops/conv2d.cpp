// conv2d forward and backward on the GEMM core, NCHW, float32 and float64.
//
// Per image n and group g the convolution is one GEMM:
//   y[n, g] (Og, P) = w[g] (Og, K) @ col (K, P),  K = Cg*KH*KW, P = OH*OW,
// where col is im2col of x[n, g] (rows (c, kh, kw), columns (oh, ow)). The ways to run it:
// - shift engine (stride 1, >= 16 channels on the GEMM depth, planes wide enough that its junk
//   columns stay under a quarter; the forward only below 25 taps): no im2col at all; KH*KW GEMMs on
//   the zero-padded planes, which the micro-kernel reads in place (forward), and dx accumulated
//   into shifted views of a padded plane (no col2im). See "shift engine" below. On smaller planes
//   (8x8) the forward runs the fused engine, and dx the fused forward engine on dy with the flipped
//   weights.
// - fused engine (every other non-1x1 case, and the weight gradient): the col matrix is never
//   formed whole; each thread builds one cache-sized block of it directly in the layout the
//   GEMM micro-kernel reads (gemm/gemm_internal.h: the same micro-kernels and ISA as ember's
//   GEMM), and runs the micro-kernel over it. dw^T += col @ dy^T per block; for dx, col2im
//   adds dcol rows into dx's stride phases as contiguous runs (col2im_phase_add).
// - Winograd engine (3x3, stride 1, one group, >= 16-48 channels by plane size; dx and dw too):
//   F(2x2, 3x3), 16 GEMMs on transformed tiles; only on finite operands (its transforms would
//   turn an inf into NaN). See "Winograd engine" below.
// - depthwise engines (groups == C): direct sums of shifted planes, no GEMM; outputs at most 15
//   wide of an input exactly stride times their size (stride 1 'same', or stride 2 halving)
//   gather x (or its stride phases) with masked taps (see "phase-plane-sized depthwise").
// - batch engine (one group, output planes of at most 16 positions; and the weight gradient
//   alone of planes of at most 64, batch_dw_ok): a block of images' im2col side by side, one
//   GEMM. See "batch engine" below.
// - grouped direct engine (G > 1 with at most 16 output channels per group; strided ones read
//   stride phases of the padded planes; dx alike, strided dx per dx stride phase): register
//   blocks of 8 channels x 2 vectors over every (channel, tap). dw from the same phase planes
//   against dy transposed (blocks of 8 input channels x 16 output channels).
// - dilation split (stride 1, one group, dilated, sizes and padding multiples of the dilation):
//   the N*dh*dw dilation-phase images convolved undilated, where that reaches Winograd.
//   Phases under 8x8 instead tiled into one plane per image (dilation mosaic; its gradients
//   too where they reach Winograd).
// - 1x1 convolutions with stride 1 and no padding call gemm() on x[n, g] (Cg, H*W) directly;
//   one image with more threads than (image, group) tasks runs the older tiled path
//   (im2col/col2im parallel inside, the GEMM's own threads).
//
// Threads: OpenMP over (image, group[, column block]) tasks, each thread with its own packing
// buffers carved from one workspace kept per calling thread; below kMinWorkPerThread
// multiply-adds per thread a convolution runs serially. Weight gradients go through per-thread
// partial buffers reduced in thread order: no atomics, deterministic for a given thread count.
#include <omp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

#include "common.h"
#include "gemm/gemm.h"
#include "gemm/gemm_internal.h"
#include "vecmath.h"

namespace ember {

namespace {

constexpr int64_t kColBudget = int64_t(256) << 20;  // bytes of col workspace, all threads
constexpr size_t kKeepBytes = size_t(64) << 20;     // larger workspaces are freed after a call
constexpr int64_t kNcForward = 512;                 // output positions per forward column block
// Bytes of forward im2col panels per thread, at most (forward_engine: the depth of a block).
constexpr int64_t kFwdPanelBytes = int64_t(2) << 20;
// Multiply-adds per thread below which a convolution runs serially (~25 us of arithmetic, a
// few parallel-region wake-ups). Measured on a quiet 2-core machine: at 2^22 the LeNet and
// stride-2 convolutions stayed serial and ran at 0.5x PyTorch's 2 threads; at 2^20 0.8-1.1x.
// (On an oversubscribed machine small parallel regions cost more; OMP_WAIT_POLICY=passive helps.)
constexpr int64_t kMinWorkPerThread = int64_t(1) << 20;

using gemm_detail::Kernel;

int64_t add_checked(int64_t a, int64_t b, const char* what) {
  EMBER_CHECK(a >= 0 && b >= 0 && a <= std::numeric_limits<int64_t>::max() - b, what,
              ": size overflows int64 (", a, " + ", b, ")");
  return a + b;
}

// A reusable, uninitialised buffer per calling thread (ember is called from many Python threads).
// Tag: a second buffer of its own for a kernel that calls another using the first (the mosaic).
template <int Tag>
class ThreadBuffer {
 public:
  static char* get(size_t bytes) {
    State& s = state();
    if (bytes > s.cap) {
      s.buf.reset();
      s.buf.reset(new char[bytes]);
      s.cap = bytes;
    }
    return s.buf.get();
  }
  // Called when the kernel is done: a very large buffer is not worth keeping.
  static void trim() {
    State& s = state();
    if (s.cap > kKeepBytes) {
      s.buf.reset();
      s.cap = 0;
    }
  }

 private:
  struct State {
    std::unique_ptr<char[]> buf;
    size_t cap = 0;
  };
  static State& state() {
    thread_local State s;
    return s;
  }
};
using Workspace = ThreadBuffer<0>;

struct TrimOnExit {
  ~TrimOnExit() { Workspace::trim(); }
};

struct Geom {
  int64_t N, C, H, W, O, KH, KW, sh, sw, pt, pb, pl, pr, dh, dw, G;
  int64_t Cg, Og, OH, OW, P, K;
  bool direct;  // 1x1, stride 1, no padding: no im2col
};

int64_t ceil_div_pos(int64_t a, int64_t b) { return a <= 0 ? -((-a) / b) : (a + b - 1) / b; }

}  // namespace

// Validates every size and parameter of a convolution and returns its output size. Throws
// std::invalid_argument (ValueError) naming the shapes.
void conv2d_output_size(int64_t* OH, int64_t* OW, int64_t N, int64_t C, int64_t H, int64_t W,
                        int64_t O, int64_t wC, int64_t KH, int64_t KW, int64_t sh, int64_t sw,
                        int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                        int64_t groups) {
  // (the shapes formatted only when a check fails: two string streams cost ~1 us per call)
  const auto xs = [&] { return shape_str({N, C, H, W}); };
  const auto ws = [&] { return shape_str({O, wC, KH, KW}); };
  EMBER_CHECK(N >= 0 && C >= 0 && H >= 0 && W >= 0 && O >= 0 && wC >= 0 && KH >= 0 && KW >= 0,
              "conv2d: negative size in input ", xs(), " or weight ", ws());
  EMBER_CHECK(groups >= 1, "conv2d: groups must be >= 1, got ", groups);
  EMBER_CHECK(sh >= 1 && sw >= 1, "conv2d: stride must be >= 1, got (", sh, ", ", sw, ")");
  EMBER_CHECK(dh >= 1 && dw >= 1, "conv2d: dilation must be >= 1, got (", dh, ", ", dw, ")");
  EMBER_CHECK(pt >= 0 && pb >= 0 && pl >= 0 && pr >= 0,
              "conv2d: padding must be non-negative, got (top, bottom, left, right) = (", pt, ", ",
              pb, ", ", pl, ", ", pr, ")");
  EMBER_CHECK(KH >= 1 && KW >= 1, "conv2d: kernel size must be >= 1, got weight ", ws());
  EMBER_CHECK(wC >= 1, "conv2d: weight ", ws(), " has no input channels");
  EMBER_CHECK(mul_checked(wC, groups, "conv2d") == C, "conv2d: input ", xs(), " has ", C,
              " channels but weight ", ws(), " with groups=", groups, " expects ", wC * groups);
  EMBER_CHECK(O % groups == 0, "conv2d: out_channels ", O, " (weight ", ws(),
              ") is not divisible by groups=", groups);
  const int64_t Hp = add_checked(add_checked(H, pt, "conv2d"), pb, "conv2d");
  const int64_t Wp = add_checked(add_checked(W, pl, "conv2d"), pr, "conv2d");
  const int64_t eh = add_checked(mul_checked(dh, KH - 1, "conv2d"), 1, "conv2d");
  const int64_t ew = add_checked(mul_checked(dw, KW - 1, "conv2d"), 1, "conv2d");
  EMBER_CHECK(Hp >= eh && Wp >= ew, "conv2d: input ", xs(), " padded to (", Hp, ", ", Wp,
              ") is smaller than the dilated kernel (", eh, ", ", ew, ") of weight ", ws());
  *OH = (Hp - eh) / sh + 1;
  *OW = (Wp - ew) / sw + 1;
  numel_checked({N, O, *OH, *OW}, "conv2d");
  numel_checked({C, KH, KW, *OH, *OW}, "conv2d");
}

namespace {

Geom make_geom(int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW,
               int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
               int64_t dw, int64_t G) {
  Geom g{N, C, H, W, O, KH, KW, sh, sw, pt, pb, pl, pr, dh, dw, G, 0, 0, 0, 0, 0, 0, false};
  EMBER_CHECK(G >= 1, "conv2d: groups must be >= 1, got ", G);
  conv2d_output_size(&g.OH, &g.OW, N, C, H, W, O, C / G, KH, KW, sh, sw, pt, pb, pl, pr, dh, dw, G);
  g.Cg = C / G;
  g.Og = O / G;
  g.P = g.OH * g.OW;
  g.K = g.Cg * KH * KW;
  g.direct = KH == 1 && KW == 1 && sh == 1 && sw == 1 && pt == 0 && pb == 0 && pl == 0 && pr == 0;
  return g;
}

// Valid output columns [lo, hi) of kernel column kw: 0 <= ow*sw + kw*dw - pl < W.
inline void valid_cols(const Geom& g, int64_t kw, int64_t* lo, int64_t* hi) {
  const int64_t off = kw * g.dw - g.pl;
  int64_t a = ceil_div_pos(-off, g.sw);
  int64_t b = ceil_div_pos(g.W - off, g.sw);
  a = std::clamp<int64_t>(a, 0, g.OW);
  b = std::clamp<int64_t>(b, a, g.OW);
  *lo = a;
  *hi = b;
}

// dst[0 .. p1-p0) = row (kh, kw) of im2col for one channel plane xc (H, W), output positions
// [p0, p1); lo/hi from valid_cols(kw).
template <typename T>
inline void col_row(T* dst, const T* xc, const Geom& g, int64_t kh, int64_t kw, int64_t lo,
                    int64_t hi, int64_t p0, int64_t p1) {
  const int64_t ihoff = kh * g.dh - g.pt, iwoff = kw * g.dw - g.pl;
  int64_t oh = p0 / g.OW, ow0 = p0 - oh * g.OW;
  for (int64_t p = p0; p < p1; ++oh, ow0 = 0) {
    const int64_t ow1 = std::min(g.OW, ow0 + (p1 - p));
    T* d = dst + (p - p0) - ow0;  // d[ow]
    const int64_t ih = oh * g.sh + ihoff;
    if (ih < 0 || ih >= g.H) {
      for (int64_t ow = ow0; ow < ow1; ++ow) d[ow] = T(0);
    } else {
      const T* src = xc + ih * g.W;
      const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
      for (int64_t ow = ow0; ow < a; ++ow) d[ow] = T(0);
      if (g.sw == 1) {
        const T* s = src + iwoff;
        for (int64_t ow = a; ow < b; ++ow) d[ow] = s[ow];
      } else if (g.sw == 2) {  // a constant stride vectorises (permutes, not a scalar loop)
        const T* s = src + iwoff;
        for (int64_t ow = a; ow < b; ++ow) d[ow] = s[2 * ow];
      } else {
        for (int64_t ow = a; ow < b; ++ow) d[ow] = src[ow * g.sw + iwoff];
      }
      for (int64_t ow = b; ow < ow1; ++ow) d[ow] = T(0);
    }
    p += ow1 - ow0;
  }
}

// col (K, p1-p0) = im2col of one group's channels x (Cg, H, W), output positions [p0, p1).
template <typename T>
EMBER_SIMD void im2col_rows(T* __restrict col, const T* __restrict x, const Geom& g, int64_t p0,
                            int64_t p1, int64_t k_begin, int64_t k_end) {
  const int64_t L = p1 - p0, KK = g.KH * g.KW;
  for (int64_t k = k_begin; k < k_end; ++k) {
    const int64_t c = k / KK, kh = (k / g.KW) % g.KH, kw = k % g.KW;
    int64_t lo, hi;
    valid_cols(g, kw, &lo, &hi);
    col_row(col + k * L, x + c * g.H * g.W, g, kh, kw, lo, hi, p0, p1);
  }
}

template <typename T>
void im2col(T* col, const T* x, const Geom& g, int64_t p0, int64_t p1, int nt) {
  if (nt <= 1) return im2col_rows(col, x, g, p0, p1, 0, g.K);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t k = 0; k < g.K; ++k) im2col_rows(col, x, g, p0, p1, k, k + 1);
}

// dx (Cg, H, W) += col2im of col (K, p1-p0; row stride L) for channels [c_begin, c_end): the
// adjoint of im2col.
template <typename T>
EMBER_SIMD void col2im_channels(T* __restrict dx, const T* __restrict col, int64_t L, const Geom& g,
                                int64_t p0, int64_t p1, int64_t c_begin, int64_t c_end) {
  const int64_t KK = g.KH * g.KW;
  for (int64_t c = c_begin; c < c_end; ++c) {
    T* xc = dx + c * g.H * g.W;
    for (int64_t kk = 0; kk < KK; ++kk) {
      const int64_t kh = kk / g.KW, kw = kk % g.KW;
      const T* row = col + (c * KK + kk) * L - p0;
      const int64_t ihoff = kh * g.dh - g.pt, iwoff = kw * g.dw - g.pl;
      int64_t lo, hi;
      valid_cols(g, kw, &lo, &hi);
      int64_t oh = p0 / g.OW, ow0 = p0 - oh * g.OW;
      for (int64_t p = p0; p < p1; ++oh, ow0 = 0) {
        const int64_t ow1 = std::min(g.OW, ow0 + (p1 - p));
        const int64_t ih = oh * g.sh + ihoff;
        if (ih >= 0 && ih < g.H) {
          const T* s = row + oh * g.OW;
          T* d = xc + ih * g.W;
          const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
          if (g.sw == 1) {
            T* dd = d + iwoff;
            for (int64_t ow = a; ow < b; ++ow) dd[ow] += s[ow];
          } else {
            for (int64_t ow = a; ow < b; ++ow) d[ow * g.sw + iwoff] += s[ow];
          }
        }
        p += ow1 - ow0;
      }
    }
  }
}

// Parallel over channels, which own disjoint planes of dx.
template <typename T>
void col2im_add(T* dx, const T* col, const Geom& g, int64_t p0, int64_t p1, int nt) {
  if (nt <= 1) return col2im_channels(dx, col, p1 - p0, g, p0, p1, 0, g.Cg);
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t c = 0; c < g.Cg; ++c) col2im_channels(dx, col, p1 - p0, g, p0, p1, c, c + 1);
}

struct Plan {
  int nt;        // threads
  bool outer;    // threads over (image, group) tasks with serial GEMMs
  int64_t tile;  // output positions per col tile
};

Plan make_plan(const Geom& g, size_t elem) {
  const int64_t tasks = g.N * g.G;
  const double flops = double(g.N) * double(g.O) * double(g.P) * double(std::max<int64_t>(g.K, 1));
  const int64_t work = flops > 9e18 ? std::numeric_limits<int64_t>::max() : int64_t(flops);
  Plan pl{threads_for(work, kMinWorkPerThread), false, std::max<int64_t>(g.P, 1)};
  const double per_task = flops / double(std::max<int64_t>(tasks, 1));
  pl.outer = pl.nt > 1 && tasks >= pl.nt &&
             (tasks % pl.nt == 0 || tasks >= 4 * pl.nt || per_task < double(1 << 22));
  if (!g.direct && g.K > 0) {
    const int64_t users = pl.outer ? pl.nt : 1;
    const int64_t per_user = kColBudget / int64_t(elem) / users;
    pl.tile = std::clamp<int64_t>(per_user / g.K, 1, std::max<int64_t>(g.P, 1));
  }
  return pl;
}

template <typename T>
T* col_workspace(const Geom& g, const Plan& pl) {
  if (g.direct) return nullptr;
  const size_t per = size_t(std::max<int64_t>(g.K, 1)) * size_t(pl.tile);
  return reinterpret_cast<T*>(Workspace::get(per * sizeof(T) * (pl.outer ? pl.nt : 1)));
}

// y[o][0 .. L) += b[o] for rows o < rows of y (row stride ld).
template <typename T>
EMBER_SIMD void add_bias(T* __restrict y, int64_t ld, int64_t rows, int64_t L,
                         const T* __restrict b) {
  for (int64_t o = 0; o < rows; ++o) {
    T* __restrict r = y + o * ld;
    const T bo = b[o];
    for (int64_t j = 0; j < L; ++j) r[j] += bo;
  }
}

// y for one (image, group) task.
template <typename T>
void forward_task(T* y, const T* x, const T* w, const T* b, const Geom& g, int64_t n, int64_t gi,
                  T* col, int64_t tile, int it, int gt) {
  const T* xg = x + (n * g.C + gi * g.Cg) * g.H * g.W;
  const T* wg = w + gi * g.Og * g.K;
  T* yg = y + (n * g.O + gi * g.Og) * g.P;
  const int64_t ldw = std::max<int64_t>(g.K, 1), P = std::max<int64_t>(g.P, 1);
  if (g.direct) {
    // With a bias: GEMMs over column blocks of y (~64 KiB, at least 256 columns), each block's
    // bias added while it is in cache (add_bias, vectorised). Filling y with the bias first for
    // a beta = 1 GEMM (a scalar pass through memory) was a fifth of a 32 -> 64 1x1 convolution
    // of 4096 positions. One block where the GEMM may thread itself (gt != 1; 0: all threads):
    // small blocks would each fork, or run serially.
    const int64_t blk =
        b && gt == 1 ? std::max<int64_t>((int64_t(64) << 10) / int64_t(sizeof(T)) / g.Og, 256) : P;
    for (int64_t p0 = 0; p0 < g.P; p0 += blk) {
      const int64_t L = std::min(blk, g.P - p0);
      gemm<T>(false, false, g.Og, L, g.Cg, T(1), wg, ldw, xg + p0, P, T(0), yg + p0, P, gt);
      if (b) add_bias(yg + p0, g.P, g.Og, L, b + gi * g.Og);
    }
    return;
  }
  T beta = T(0);
  if (b) {
    for (int64_t o = 0; o < g.Og; ++o)
      std::fill(yg + o * g.P, yg + (o + 1) * g.P, b[gi * g.Og + o]);
    beta = T(1);
  }
  for (int64_t p0 = 0; p0 < g.P; p0 += tile) {
    const int64_t p1 = std::min(g.P, p0 + tile), L = p1 - p0;
    im2col(col, xg, g, p0, p1, it);
    gemm<T>(false, false, g.Og, L, g.K, T(1), wg, ldw, col, L, beta, yg + p0, P, gt);
  }
}

// dx and/or dw (accumulated into dwacc, the group's slice is used) for one task.
template <typename T>
void backward_task(T* dx, T* dwacc, const T* dy, const T* x, const T* w, const Geom& g, int64_t n,
                   int64_t gi, T* col, int64_t tile, int it, int gt) {
  const T* xg = x + (n * g.C + gi * g.Cg) * g.H * g.W;
  const T* wg = w + gi * g.Og * g.K;
  const T* dyg = dy + (n * g.O + gi * g.Og) * g.P;
  T* dxg = dx ? dx + (n * g.C + gi * g.Cg) * g.H * g.W : nullptr;
  T* dwg = dwacc ? dwacc + gi * g.Og * g.K : nullptr;
  const int64_t ldw = std::max<int64_t>(g.K, 1), P = std::max<int64_t>(g.P, 1);
  if (g.direct) {
    // dw (Og, Cg) += dy (Og, P) @ x^T;  dx (Cg, P) = w^T @ dy.
    if (dwg) gemm<T>(false, true, g.Og, g.Cg, g.P, T(1), dyg, P, xg, P, T(1), dwg, ldw, gt);
    if (dxg) gemm<T>(true, false, g.Cg, g.P, g.Og, T(1), wg, ldw, dyg, P, T(0), dxg, P, gt);
    return;
  }
  if (dxg) std::fill(dxg, dxg + g.Cg * g.H * g.W, T(0));
  for (int64_t p0 = 0; p0 < g.P; p0 += tile) {
    const int64_t p1 = std::min(g.P, p0 + tile), L = p1 - p0;
    if (dwg) {
      im2col(col, xg, g, p0, p1, it);
      gemm<T>(false, true, g.Og, g.K, L, T(1), dyg + p0, P, col, L, T(1), dwg, ldw, gt);
    }
    if (dxg) {
      gemm<T>(true, false, g.K, L, g.Og, T(1), wg, ldw, dyg + p0, P, T(0), col, L, gt);
      col2im_add(dxg, col, g, p0, p1, it);
    }
  }
}

// ---------------------------------------------------------------- fused engine
// The im2col matrix is never formed whole: each thread builds one cache-sized block of it
// directly in the layout the GEMM micro-kernel reads (kc x NR column panels for the forward, MR
// rows for the weight gradient), so im2col and the GEMM's packing are a single pass over L2.

template <typename T>
Kernel<T> micro_kernel() {
  const char* name = gemm_isa();
  const gemm_detail::Isa isa = std::strcmp(name, "avx512") == 0 ? gemm_detail::isa_avx512()
                               : std::strcmp(name, "avx2") == 0 ? gemm_detail::isa_avx2()
                                                                : gemm_detail::isa_generic();
  if constexpr (sizeof(T) == 4)
    return isa.f32;
  else
    return isa.f64;
}

inline int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

// Blocks of at most max_blk (rounded up to unit) splitting total as evenly as the unit allows.
inline int64_t even_block(int64_t total, int64_t max_blk, int64_t unit) {
  const int64_t nblk = std::max<int64_t>((total + max_blk - 1) / max_blk, 1);
  return round_up((total + nblk - 1) / nblk, unit);
}

// 64-byte aligned slices of one workspace.
template <typename T>
T* carve(char** cursor, int64_t count) {
  char* p = *cursor;
  *cursor += (size_t(count) * sizeof(T) + 63) / 64 * 64;
  return reinterpret_cast<T*>(p);
}
inline char* align64(char* p) {
  return reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

// d[0 .. n) = s[0 .. n) as whole blocks of B values: it reads and writes up to B - 1 values past
// n (callers leave that slack and rewrite what lies there afterwards). A fixed-size block is a
// couple of vector moves; a loop of n would become a call to memcpy.
template <typename T>
inline void copy_blocks(T* __restrict d, const T* __restrict s, int64_t n) {
  constexpr int64_t B = 64 / sizeof(T);
  for (int64_t i = 0; i < n; i += B)
    for (int64_t u = 0; u < B; ++u) d[i + u] = s[i + u];
}
constexpr int64_t kSlack = 64;  // values past the end of buffers copy_blocks touches

// Phase planes: one group's input zero-padded and split by stride phase, so that every im2col
// row is a run of plain copies (no bounds checks, no strided gathers). Phase (a, b) of channel c
// holds xs[i][j] = x_pad[c][a + sh*i][b + sw*j] (Hs x width, row stride Ws); tap (kh, kw) at
// output (oh, ow) reads x_pad[oh*sh + kh*dh][ow*sw + kw*dw], which is phase (kh*dh % sh,
// kw*dw % sw) at (oh + kh*dh / sh, ow + kw*dw / sw): output row oh is OW consecutive values of
// one phase row. Only the phases some tap reads are filled (a 1x1 stride-2 kernel reads one of
// four). The buffer is zeroed once per thread and call; each image then writes only the
// interior, the same positions every time, so the zero border stays. The interior of a row is
// written in whole copy_blocks blocks: the row stride leaves room for what lands past it (junk
// columns no run reads).
constexpr double kPhaseBytes = double(8 << 20);  // per thread; larger inputs use col_row
constexpr int kMaxNR = 64;                       // widest micro-kernel panel the phase path takes

struct Phases {
  int64_t Hs = 0, width = 0, Ws = 0,
          chan = 0;           // one phase's rows, columns, row stride; per channel
  std::vector<char> used_h;   // used_h[a]: some kh*dh % sh == a
  std::vector<int64_t> cols;  // per phase b some kw*dw % sw == b reads: b, jlo, jhi (interior)
  std::vector<int64_t> koff;  // koff[k]: where im2col row k's output (0, 0) reads
  // Values of one group's buffer, with kSlack for copy_blocks' reads past a run.
  int64_t buffer(const Geom& g) const { return Hs > 0 ? g.Cg * chan + kSlack : 0; }
};

// Phase planes for g, or Hs == 0 when one group's planes would exceed kPhaseBytes.
inline Phases make_phases(const Geom& g, size_t elem) {
  Phases ph;
  const int64_t B = 64 / int64_t(elem);  // copy_blocks' block
  const int64_t Hs = ceil_div_pos(g.H + g.pt + g.pb, g.sh);
  const int64_t width = ceil_div_pos(g.W + g.pl + g.pr, g.sw);
  if (double(g.Cg) * double(g.sh) * double(g.sw) * double(Hs) * double(width + B) * double(elem) >
      kPhaseBytes)
    return ph;
  std::vector<char> used_w(size_t(g.sw), 0);
  for (int64_t kw = 0; kw < g.KW; ++kw) used_w[size_t(kw * g.dw % g.sw)] = 1;
  int64_t Ws = width;
  for (int64_t b = 0; b < g.sw; ++b) {
    if (!used_w[size_t(b)]) continue;
    // columns j whose input column b + sw*j - pl lies in [0, W)
    const int64_t jlo = std::clamp<int64_t>(ceil_div_pos(g.pl - b, g.sw), 0, width);
    const int64_t jhi = std::clamp<int64_t>(ceil_div_pos(g.pl + g.W - b, g.sw), jlo, width);
    ph.cols.insert(ph.cols.end(), {b, jlo, jhi});
    Ws = std::max(Ws, jlo + round_up(jhi - jlo, B));
  }
  ph.Hs = Hs;
  ph.width = width;
  ph.Ws = Ws;
  ph.chan = g.sh * g.sw * Hs * Ws;
  ph.used_h.assign(size_t(g.sh), 0);
  for (int64_t kh = 0; kh < g.KH; ++kh) ph.used_h[size_t(kh * g.dh % g.sh)] = 1;
  ph.koff.resize(size_t(g.K));
  for (int64_t k = 0; k < g.K; ++k) {
    const int64_t c = k / (g.KH * g.KW), rh = (k / g.KW) % g.KH * g.dh, rw = k % g.KW * g.dw;
    ph.koff[size_t(k)] =
        c * ph.chan + ((rh % g.sh) * g.sw + rw % g.sw) * Hs * Ws + (rh / g.sh) * Ws + rw / g.sw;
  }
  return ph;
}

// xs (Cg * chan) = the used phase planes of one group's input x (Cg, H, W); fresh: xs has not
// been filled in this call yet (zero it all first). Whole blocks read past a row of x where that
// stays before x_end (the end of the caller's array).
template <typename T>
EMBER_SIMD void fill_phases(T* __restrict xs, const T* __restrict x, const T* x_end, const Geom& g,
                            const Phases& ph, bool fresh) {
  constexpr int64_t B = 64 / sizeof(T);
  if (fresh) std::fill(xs, xs + ph.buffer(g), T(0));
  // Channel by channel: a plane's phases are all cut while it is in L1 (phase by phase, each
  // pass over the whole group's input went back to L2 or L3).
  for (int64_t c = 0; c < g.Cg; ++c)
    for (int64_t a = 0; a < g.sh; ++a) {
      if (!ph.used_h[size_t(a)]) continue;
      // rows i whose input row a + sh*i - pt lies in [0, H)
      const int64_t ilo = std::clamp<int64_t>(ceil_div_pos(g.pt - a, g.sh), 0, ph.Hs);
      const int64_t ihi = std::clamp<int64_t>(ceil_div_pos(g.pt + g.H - a, g.sh), ilo, ph.Hs);
      for (size_t u = 0; u < ph.cols.size(); u += 3) {
        const int64_t b = ph.cols[u], jlo = ph.cols[u + 1], jhi = ph.cols[u + 2];
        // row i, column j of the phase from dr[j - jlo] = sr[sw * (j - jlo)]: n values, written
        // as m (whole blocks), the right border [n, zn) then rezeroed
        const int64_t n = jhi - jlo, m = round_up(n, B), zn = std::min(jlo + m, ph.width) - jlo;
        for (int64_t i = ilo; i < ihi; ++i) {
          T* dr = xs + c * ph.chan + (a * g.sw + b) * ph.Hs * ph.Ws + i * ph.Ws + jlo;
          const T* sr = x + (c * g.H + a + g.sh * i - g.pt) * g.W + b - g.pl + g.sw * jlo;
          if (g.sw == 2 && n == 8) {  // exactly: one line in, one permute (16x16 inputs, stride 2)
            for (int j = 0; j < 8; ++j) dr[j] = sr[2 * j];  // whole blocks read two rows of x
            continue;  // (dr's border [n, zn) is still zero: nothing was written past n)
          }
          if (x_end - sr < g.sw * m) {
            for (int64_t j = 0; j < n; ++j) dr[j] = sr[g.sw * j];
            continue;
          }
          if (g.sw == 1) {
            for (int64_t j = 0; j < m; j += B)
              for (int64_t v = 0; v < B; ++v) dr[j + v] = sr[j + v];
          } else if (g.sw == 2) {  // a constant stride vectorises (permutes)
            for (int64_t j = 0; j < m; ++j) dr[j] = sr[2 * j];
          } else {
            for (int64_t j = 0; j < m; ++j) dr[j] = sr[g.sw * j];
          }
          for (int64_t j = n; j < zn; ++j) dr[j] = T(0);  // right border
        }
      }
    }
}

// The phase planes of group input xg, filled into buf once per (image, group) (*of remembers
// which one buf holds, -1: none yet), or null when there are none.
template <typename T>
const T* phases_of(T* buf, int64_t* of, int64_t ng, const T* xg, const T* x_end, const Geom& g,
                   const Phases& ph) {
  if (ph.Hs == 0) return nullptr;
  if (*of != ng) fill_phases(buf, xg, x_end, g, ph, *of < 0);
  *of = ng;
  return buf;
}

// dst[0 .. p1-p0) = im2col row k over output positions [p0, p1), copied from the phase planes;
// writes up to kSlack values past the row (the next row's, or the caller's slack).
template <typename T>
inline void phase_row(T* __restrict dst, const T* __restrict xs, const Geom& g, const Phases& ph,
                      int64_t k, int64_t p0, int64_t p1) {
  const T* src = xs + ph.koff[size_t(k)];  // src[oh * Ws + ow]
  int64_t oh = p0 / g.OW, ow0 = p0 - oh * g.OW;
  for (int64_t p = p0; p < p1; ++oh, ow0 = 0) {
    const int64_t n = std::min(g.OW - ow0, p1 - p);
    const T* s = src + oh * ph.Ws + ow0;
    copy_blocks(dst + (p - p0), s, n);
    p += n;
  }
}

// col (K, p1-p0) = im2col of one group: from its phase planes xs when given (col needs kSlack
// values of room after it), else from x.
template <typename T>
EMBER_SIMD void im2col_block(T* __restrict col, const T* xs, const T* x, const Geom& g,
                             const Phases& ph, int64_t p0, int64_t p1) {
  if (!xs) return im2col_rows(col, x, g, p0, p1, 0, g.K);
  for (int64_t k = 0; k < g.K; ++k) phase_row(col + k * (p1 - p0), xs, g, ph, k, p0, p1);
}

// col2im through phase planes, the adjoint of phase_row: dcol row k over output positions [p0,
// p1) is added to the phase planes xs (zeroed first by the caller) as runs of OW contiguous
// values; then unphase copies the planes' interior into dx. The strided col2im scatter
// (d[ow * sw + iwoff] += s[ow], runs of 4 at a 4x4 output) was a third of the stride-2 input
// gradient. Each dx value still gets its contributions in the order of col2im_channels (column
// block, then k): the same bits.
template <typename T>
inline void add_run(T* __restrict d, const T* __restrict s, int64_t n) {
  if (n == 4) {  // a fixed count is one vector add; a loop of n would stay scalar
    for (int u = 0; u < 4; ++u) d[u] += s[u];
  } else if (n == 8) {
    for (int u = 0; u < 8; ++u) d[u] += s[u];
  } else {
    for (int64_t u = 0; u < n; ++u) d[u] += s[u];
  }
}

template <typename T>
EMBER_SIMD void col2im_phase_add(T* __restrict xs, const T* __restrict col, int64_t L,
                                 const Geom& g, const Phases& ph, int64_t p0, int64_t p1) {
  for (int64_t k = 0; k < g.K; ++k) {
    T* dst = xs + ph.koff[size_t(k)];
    const T* row = col + k * L - p0;  // row[p]
    int64_t oh = p0 / g.OW, ow0 = p0 - oh * g.OW;
    for (int64_t p = p0; p < p1; ++oh, ow0 = 0) {
      const int64_t n = std::min(g.OW - ow0, p1 - p);
      add_run(dst + oh * ph.Ws + ow0, row + p, n);
      p += n;
    }
  }
}

// dx (Cg, H, W) = the interior of phase planes xs (zero where no tap reaches: unused phases).
template <typename T>
EMBER_SIMD void unphase(T* __restrict dx, const T* __restrict xs, const Geom& g, const Phases& ph) {
  for (int64_t c = 0; c < g.Cg; ++c)
    for (int64_t ih = 0; ih < g.H; ++ih) {
      T* d = dx + (c * g.H + ih) * g.W;
      const int64_t a = (ih + g.pt) % g.sh, i = (ih + g.pt) / g.sh;
      if (!ph.used_h[size_t(a)] || ph.cols.size() < 3 * size_t(g.sw)) std::fill(d, d + g.W, T(0));
      if (!ph.used_h[size_t(a)]) continue;
      for (size_t u = 0; u < ph.cols.size(); u += 3) {
        const int64_t b = ph.cols[u];
        const T* s = xs + c * ph.chan + (a * g.sw + b) * ph.Hs * ph.Ws + i * ph.Ws;
        // columns iw = sw*j + b - pl, j in [jlo, jhi) (the phase's interior)
        const int64_t jlo = ph.cols[u + 1], jhi = ph.cols[u + 2];
        T* dd = d + b - g.pl;
        if (g.sw == 1) {
          for (int64_t j = jlo; j < jhi; ++j) dd[j] = s[j];
        } else if (g.sw == 2) {  // a constant stride vectorises (permutes)
          for (int64_t j = jlo; j < jhi; ++j) dd[2 * j] = s[j];
        } else {
          for (int64_t j = jlo; j < jhi; ++j) dd[g.sw * j] = s[j];
        }
      }
    }
}

// Rows [k0, kend) of one kc x NR panel from phase planes xs: row k is the blocks of Bytes
// bytes at columns blk_j from xs + koff[k] + blk_src, zero from column width on.
template <int64_t Bytes, typename T>
EMBER_SIMD void panel_rows(T* __restrict panel, const T* __restrict xs, const int64_t* koff,
                           int64_t k0, int64_t kend, const int64_t* blk_j, const int64_t* blk_src,
                           int nblk, int64_t width, int NR) {
  constexpr int64_t B = Bytes / int64_t(sizeof(T));
  for (int64_t k = k0; k < kend; ++k) {
    T* d = panel + (k - k0) * NR;
    const T* src = xs + koff[k];
    for (int r = 0; r < nblk; ++r)
      for (int64_t u = 0; u < B; ++u) d[blk_j[r] + u] = src[blk_src[r] + u];
    for (int64_t j = width; j < NR; ++j) d[j] = T(0);
  }
}

// bp = rows [k0, k0+kc) x columns [j0, j1) of im2col(x[n, g]) as ceil((j1-j0)/NR) panels of
// kc x NR (panel, then row, then column), the columns past j1 zero; row K (past im2col's last)
// is the bias row of ones. From the group's phase
// planes xs: each row is cut at output-row and panel boundaries into runs of plain copies.
// Without (xs null): each row is built whole from x in row (j1-j0 + NR values, in L1) and then
// cut into the panels.
template <typename T>
EMBER_SIMD void im2col_panels(T* __restrict bp, T* __restrict row, const T* xg, const T* xs,
                              const Geom& g, const Phases& ph, int64_t k0, int64_t kc, int64_t j0,
                              int64_t j1, int NR) {
  const int64_t KK = g.KH * g.KW, len = j1 - j0, full = len / NR * NR;
  if (xs) {
    // The copies of one panel are the same for every row k: runs cut at output-row ends, as
    // whole blocks (column, offset oh*Ws + ow from the block's first output row). Panels are
    // written in order and the blocks of a row left to right, so what a block writes past its
    // run is rewritten later (by the next run, row or panel; bp has kSlack values of room after
    // the last).
    // Blocks as narrow as the output rows allow: a narrow run copied as a 64-byte block
    // would mostly write what the next run rewrites (and split cache lines).
    const int64_t bytes = g.OW * int64_t(sizeof(T)) <= 16   ? 16
                          : g.OW * int64_t(sizeof(T)) <= 32 ? 32
                                                            : 64;
    const int64_t B = bytes / int64_t(sizeof(T));
    const int64_t oh0 = j0 / g.OW, kend = std::min(k0 + kc, g.K);
    int64_t blk_j[2 * kMaxNR + 1], blk_src[2 * kMaxNR + 1];
    for (int64_t q0 = 0; q0 < len; q0 += NR) {
      const int64_t width = std::min<int64_t>(NR, len - q0);
      int nblk = 0;
      for (int64_t j = 0; j < width;) {
        const int64_t p = j0 + q0 + j, oh = p / g.OW, ow = p - oh * g.OW;
        const int64_t n = std::min(g.OW - ow, width - j);
        for (int64_t i = 0; i < n; i += B, ++nblk) {
          blk_j[nblk] = j + i;
          blk_src[nblk] = (oh - oh0) * ph.Ws + ow + i;
        }
        j += n;
      }
      T* panel = bp + q0 * kc;
      const auto rows = bytes == 16   ? panel_rows<16, T>
                        : bytes == 32 ? panel_rows<32, T>
                                      : panel_rows<64, T>;
      rows(panel, xs + oh0 * ph.Ws, ph.koff.data(), k0, kend, blk_j, blk_src, nblk, width, NR);
      if (kend < k0 + kc)  // the bias row
        for (int64_t j = 0; j < NR; ++j) panel[(kend - k0) * NR + j] = T(1);
    }
    return;
  }
  for (int64_t j = len; j < round_up(len, NR); ++j) row[j] = T(0);
  for (int64_t k = k0; k < k0 + kc; ++k) {
    const int64_t c = k / KK, kh = (k / g.KW) % g.KH, kw = k % g.KW;
    int64_t lo, hi;
    valid_cols(g, kw, &lo, &hi);
    if (k == g.K)  // the bias row
      std::fill(row, row + len, T(1));
    else
      col_row(row, xg + c * g.H * g.W, g, kh, kw, lo, hi, j0, j1);
    T* dst = bp + (k - k0) * NR;
    for (int64_t j = 0; j < full; j += NR, dst += kc * NR)
      std::memcpy(dst, row + j, NR * sizeof(T));
    if (full < len) std::memcpy(dst, row + full, NR * sizeof(T));
  }
}

// wp[gi][i][k][r] = w[gi][i*MR + r][k]: the weights as the micro-kernel's p-major MR-row panels,
// rows past Og zero; with a bias, depth Kb = K + 1 and wp[gi][i][K][r] = b[gi][i*MR + r].
template <typename T>
void pack_weights(T* wp, const T* w, const T* b, const Geom& g, int MR) {
  const int64_t Ogp = round_up(g.Og, MR), Kb = g.K + (b ? 1 : 0);
  for (int64_t gi = 0; gi < g.G; ++gi)
    for (int64_t i0 = 0; i0 < Ogp; i0 += MR) {
      T* d = wp + (gi * Ogp + i0) * Kb;
      for (int r = 0; r < MR; ++r) {
        const int64_t o = gi * g.Og + i0 + r;
        const bool live = i0 + r < g.Og;
        for (int64_t k = 0; k < g.K; ++k) d[k * MR + r] = live ? w[o * g.K + k] : T(0);
        if (b) d[g.K * MR + r] = live ? b[o] : T(0);
      }
    }
}

// Forward: y[n, g, :, j0:j1] for the tasks (image, group, column block), threads over tasks.
// A bias is one more row of the product (weights column b, im2col row of ones): no pass to
// initialise y, and the micro-kernel never reads it.
template <typename T>
void forward_engine(T* y, const T* x, const T* w, const T* b, const Geom& g, int nt) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const int64_t Ogp = round_up(g.Og, MR);
  const int64_t Kb = g.K + (b ? 1 : 0);
  const int64_t nc_blk = even_block(g.P, kNcForward, NR);
  // The whole depth in one block where its panels stay within kFwdPanelBytes: each output is
  // then one chain of FMAs, y is written once (no beta = 1 passes re-reading it) and im2col runs
  // once per column block. B streams from L2 at the micro-kernel's pace, so a panel larger than
  // L1 costs nothing. DCGAN's 4x4 stride-2 layers (K = 1025 / 2049 with the bias, N = 32):
  // 21.3 -> 20.9 / 21.3 -> 20.5 ms, Inception's 1x7 at 17x17 (128 -> 128, N = 32): 22.2 ->
  // 21.7 ms (AVX-512, 1 thread, CPU time; AVX2 alike, ~2%). Other micro-kernel shapes (6 x 64,
  // 12 x 32, 14 x 32) were level.
  const int64_t kc_cap = std::max<int64_t>(kern.kc, kFwdPanelBytes / int64_t(sizeof(T)) / nc_blk);
  const int64_t kc_blk = even_block(Kb, kc_cap, 1);
  const int64_t nblk = (g.P + nc_blk - 1) / nc_blk, tasks = g.N * g.G * nblk;
  nt = int(std::min<int64_t>(nt, tasks));
  const Phases ph = NR <= kMaxNR ? make_phases(g, sizeof(T)) : Phases{};
  const T* x_end = x + g.N * g.C * g.H * g.W;
  const int64_t wp_n = g.G * Ogp * Kb, bp_n = kc_blk * nc_blk + kSlack, row_n = nc_blk + NR;
  const int64_t xs_n = ph.buffer(g);
  const size_t per_thread = size_t(bp_n + row_n + xs_n) * sizeof(T) + 3 * 64;
  char* cur = align64(Workspace::get(size_t(wp_n) * sizeof(T) + size_t(nt) * per_thread + 128));
  T* wp = carve<T>(&cur, wp_n);
  char* thread_base = cur;
  pack_weights(wp, w, b, g, MR);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
    T* bp = carve<T>(&tc, bp_n);
    T* row = carve<T>(&tc, row_n);
    T* xs_buf = carve<T>(&tc, xs_n);
    int64_t xs_of = -1;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t jb = t % nblk, ng = t / nblk, n = ng / g.G, gi = ng % g.G;
      const int64_t j0 = jb * nc_blk, j1 = std::min(g.P, j0 + nc_blk);
      const T* xg = x + (n * g.C + gi * g.Cg) * g.H * g.W;
      const T* xs = phases_of(xs_buf, &xs_of, ng, xg, x_end, g, ph);
      const T* wg = wp + gi * Ogp * Kb;
      T* yg = y + (n * g.O + gi * g.Og) * g.P;
      for (int64_t k0 = 0; k0 < Kb; k0 += kc_blk) {
        const int64_t kc = std::min(kc_blk, Kb - k0);
        const T beta = k0 > 0 ? T(1) : T(0);
        im2col_panels(bp, row, xg, xs, g, ph, k0, kc, j0, j1, NR);
        for (int64_t jr = j0; jr < j1; jr += NR) {
          const int nr = int(std::min<int64_t>(NR, j1 - jr));
          // A last panel of at most NR/2 live columns (17x17: 289 = 9*32 + 1) through the
          // half-width kernel, reading the first NR/2 columns of its NR-wide rows: half the
          // multiply-adds of that panel, each output the same sum (Inception's 1x7 at 17x17,
          // N=32, 128 -> 128: 26.2 -> 24.5 ms; AVX-512, 1 thread, CPU time).
          const auto fn = 2 * nr <= NR ? kern.panel_a_half : kern.panel_a;
          const T* bpanel = bp + (jr - j0) * kc;
          for (int64_t ir = 0; ir < g.Og; ir += MR) {
            const int mr = int(std::min<int64_t>(MR, g.Og - ir));
            fn(kc, T(1), wg + ir * Kb + k0 * MR, MR, bpanel, NR, beta, yg + ir * g.P + jr, g.P, mr,
               nr);
          }
        }
      }
    }
  }
}

// A panel of nq <= NR live columns is NR/2 wide when that is enough (the *_half kernels).
inline int panel_width(int64_t nq, int NR) { return 2 * nq <= NR ? NR / 2 : NR; }

// bp[q][p][j] = dy[q*NR + j][p0 + p] for p < L: dy^T's columns as L x NR panels (the last one
// panel_width wide), zero past Og. Through the ISA's in-register transposes when it has them
// (the scalar gather below was a sixth of the weight gradient at 64 channels).
template <typename T>
EMBER_SIMD void pack_dy_t(T* __restrict bp, const T* __restrict dy, int64_t P, int64_t p0,
                          int64_t L, int64_t Og, int NR, gemm_detail::PackTransposed<T> pack_t) {
  if (pack_t) {
    const int64_t full = Og / NR * NR, last = Og - full;
    if (full > 0) pack_t(bp, dy + p0, P, full, L, NR);
    if (last > 0) pack_t(bp + full * L, dy + full * P + p0, P, last, L, panel_width(last, NR));
    return;
  }
  for (int64_t q0 = 0; q0 < Og; q0 += NR) {
    const int64_t nq = std::min<int64_t>(NR, Og - q0), W = panel_width(nq, NR);
    T* d = bp + q0 * L;
    const T* s = dy + q0 * P + p0;
    for (int64_t p = 0; p < L; ++p) {
      for (int64_t j = 0; j < nq; ++j) d[p * W + j] = s[j * P + p];
      for (int64_t j = nq; j < W; ++j) d[p * W + j] = T(0);
    }
  }
}

// bp[q][o][j] = dy[o][p0 + q*NR + j]: dy's columns [p0, p0+L) as Og x NR panels, zero past L.
template <typename T>
EMBER_SIMD void pack_dy(T* __restrict bp, const T* __restrict dy, int64_t P, int64_t p0, int64_t L,
                        int64_t Og, int NR) {
  for (int64_t q0 = 0; q0 < L; q0 += NR) {
    const int64_t nr = std::min<int64_t>(NR, L - q0);
    T* d = bp + q0 * Og;
    for (int64_t o = 0; o < Og; ++o) {
      const T* s = dy + o * P + p0 + q0;
      for (int64_t j = 0; j < nr; ++j) d[o * NR + j] = s[j];
      for (int64_t j = nr; j < NR; ++j) d[o * NR + j] = T(0);
    }
  }
}

// Backward through the fused engine, threads over (image, group) tasks:
//   dw^T (K, Og) += col (K, L) @ dy^T (L, Og)   per column block of L <= kc output positions,
//       col built in MR-row layout (read in place by the micro-kernel), per-thread partials;
//   dcol (K, L) = w^T (K, Og) @ dy (Og, L), then dx += col2im(dcol), per column block.
template <typename T>
void backward_engine(T* dx, T* dw, const T* dy, const T* x, const T* w, const Geom& g, int nt) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const int64_t Kp = round_up(g.K, MR), Ogp = round_up(g.Og, NR);
  const int64_t L_blk = even_block(g.P, kern.kc, NR);
  const int64_t tasks = g.N * g.G;
  nt = int(std::min<int64_t>(nt, tasks));
  const int64_t wnumel = g.O * g.K;
  // Workspace: w^T packed as MR-row panels (dx), then per thread: col (Kp x L), dy panels
  // (max of L x Ogp for dw and Og x Lp for dx), dw^T partial (G x K x Og).
  const int64_t wt_n = dx ? g.G * Kp * g.Og : 0;
  const int64_t col_n = Kp * L_blk + kSlack,
                bp_n = std::max(L_blk * Ogp, g.Og * round_up(L_blk, NR));
  const int64_t part_n = dw ? wnumel : 0;
  const Phases ph = make_phases(g, sizeof(T));
  const int64_t xs_n = dw ? ph.buffer(g) : 0;
  const int64_t dxs_n = dx ? ph.buffer(g) : 0;  // dx's phase planes (col2im_phase_add)
  const T* x_end = x + g.N * g.C * g.H * g.W;
  const size_t per_thread = size_t(col_n + bp_n + part_n + xs_n + dxs_n) * sizeof(T) + 5 * 64;
  char* cur = align64(Workspace::get(size_t(wt_n) * sizeof(T) + size_t(nt) * per_thread + 128));
  T* wt = carve<T>(&cur, wt_n);
  char* thread_base = cur;
  auto thread_part = [&](int th) {
    char* tc = thread_base + per_thread * size_t(th);
    carve<T>(&tc, col_n);
    carve<T>(&tc, bp_n);
    return carve<T>(&tc, part_n);
  };
  std::vector<const T*> parts(static_cast<size_t>(nt));  // the dw partials, for the reduction
  for (int th = 0; th < nt; ++th) parts[size_t(th)] = thread_part(th);
  if (dx) {
    // wt[gi][panel i][o][r] = w[gi][o][i*MR + r] (zero for rows past K).
    for (int64_t gi = 0; gi < g.G; ++gi)
      for (int64_t i0 = 0; i0 < Kp; i0 += MR) {
        T* d = wt + gi * Kp * g.Og + i0 * g.Og;
        for (int64_t o = 0; o < g.Og; ++o)
          for (int r = 0; r < MR; ++r)
            d[o * MR + r] = i0 + r < g.K ? w[(gi * g.Og + o) * g.K + i0 + r] : T(0);
      }
  }
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num();
    char* tc = thread_base + per_thread * size_t(tid);
    T* col = carve<T>(&tc, col_n);
    T* bp = carve<T>(&tc, bp_n);
    T* part = thread_part(tid);
    carve<T>(&tc, part_n);
    T* xs_buf = carve<T>(&tc, xs_n);
    T* dxs = carve<T>(&tc, dxs_n);
    int64_t xs_of = -1;
    if (dw) std::fill(part, part + part_n, T(0));
    // Rows K..Kp of col are read by the kernel (their results are never stored): keep them zero.
    std::fill(col, col + col_n, T(0));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / g.G, gi = t % g.G;
      const T* xg = x + (n * g.C + gi * g.Cg) * g.H * g.W;
      const T* dyg = dy + (n * g.O + gi * g.Og) * g.P;
      T* dxg = dx ? dx + (n * g.C + gi * g.Cg) * g.H * g.W : nullptr;
      T* dwt = dw ? part + gi * g.K * g.Og : nullptr;
      if (dxg && dxs_n)
        std::fill(dxs, dxs + dxs_n, T(0));
      else if (dxg)
        std::fill(dxg, dxg + g.Cg * g.H * g.W, T(0));
      for (int64_t p0 = 0; p0 < g.P; p0 += L_blk) {
        const int64_t L = std::min(L_blk, g.P - p0);
        if (dwt) {
          // (K, L) row-major: MR rows of stride L
          im2col_block(col, phases_of(xs_buf, &xs_of, t, xg, x_end, g, ph), xg, g, ph, p0, p0 + L);
          pack_dy_t(bp, dyg, g.P, p0, L, g.Og, NR, kern.pack_t);
          for (int64_t q0 = 0; q0 < g.Og; q0 += NR) {
            const int nr = int(std::min<int64_t>(NR, g.Og - q0)), W = panel_width(nr, NR);
            const auto fn = W < NR ? kern.rows_a_half : kern.rows_a;
            for (int64_t ir = 0; ir < g.K; ir += MR) {
              const int mr = int(std::min<int64_t>(MR, g.K - ir));
              fn(L, T(1), col + ir * L, L, bp + q0 * L, W, T(1), dwt + ir * g.Og + q0, g.Og, mr,
                 nr);
            }
          }
        }
        if (dxg) {
          pack_dy(bp, dyg, g.P, p0, L, g.Og, NR);
          const T* wtg = wt + gi * Kp * g.Og;
          for (int64_t q0 = 0; q0 < L; q0 += NR) {
            const int nr = int(std::min<int64_t>(NR, L - q0));
            for (int64_t ir = 0; ir < g.K; ir += MR) {
              const int mr = int(std::min<int64_t>(MR, g.K - ir));
              kern.panel_a(g.Og, T(1), wtg + ir * g.Og, MR, bp + q0 * g.Og, NR, T(0),
                           col + ir * L + q0, L, mr, nr);
            }
          }
          if (dxs_n)
            col2im_phase_add(dxs, col, L, g, ph, p0, p0 + L);
          else
            col2im_add(dxg, col, g, p0, p0 + L, 1);
        }
      }
      if (dxg && dxs_n) unphase(dxg, dxs, g, ph);
    }
    if (dw) {
      // dw[gi][o][k] = sum over threads, in thread order, of part[gi][k][o], for blocks of a
      // cache line of o: row by row, each line of the partials was read once per o (K lines
      // Og apart: 512 -> 512 at 7x7, batch 1, half of a 10 ms weight gradient)
      constexpr int64_t B = 64 / int64_t(sizeof(T));
      const int64_t ob = (g.Og + B - 1) / B;
#pragma omp for schedule(static)
      for (int64_t task = 0; task < g.G * ob; ++task) {
        const int64_t gi = task / ob, o0 = task % ob * B, o1 = std::min(g.Og, o0 + B);
        for (int64_t k = 0; k < g.K; ++k) {
          const size_t at = size_t((gi * g.K + k) * g.Og);
          for (int64_t o = o0; o < o1; ++o) {
            T s = T(0);
            for (int th = 0; th < nt; ++th) s += parts[size_t(th)][at + size_t(o)];
            dw[(gi * g.Og + o) * g.K + k] = s;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------- shift engine (stride 1)
// With stride 1 no im2col is needed at all. Lay the zero-padded image out with row stride S and
// number output positions q = oh * S + ow, q < Q = (OH-1)*S + OW (the columns ow >= OW are junk
// and are dropped at the end): then for each kernel offset (kh, kw) the input a row of the
// weights meets is the padded plane itself, shifted by off = kh*dh*S + kw*dw, so
//   y_pad[o, q] = sum over (kh, kw), c of w[o, c, kh, kw] * x_pad[c, q + off],
// KH*KW GEMMs whose B operand the micro-kernel reads in place (rows = channels, stride = plane),
// accumulating into one output tile. The input gradient is the adjoint, GEMMs whose outputs
// are shifted views of a padded dx plane accumulated in place:
//   dx_pad[c, q + off] += sum over o of w[o, c, kh, kw] * dy_pad[o, q].
// A row's right padding and the next row's left padding share one gap of zeros,
// S = W + max(pl, pr) (at least OW): a padded column pw >= S (right padding) lands in the next
// row's gap, at pw - S < min(pl, pr). 28x28, padding 1: 811 columns a plane instead of 840.
// Each plane is followed by a slack of NR values so the junk columns of the last panel stay
// inside their own plane.
struct Shift {
  int64_t S, Hp, plane, Q, KK;
};

inline Shift make_shift(const Geom& g, int NR) {
  Shift s;
  s.S = std::max(g.W + std::max(g.pl, g.pr), g.OW);
  s.Hp = g.H + g.pt + g.pb;
  s.Q = (g.OH - 1) * s.S + g.OW;
  // Past the last value a tap reads, padded (Hp - 1, W + pl + pr - 1), and the last row's gap:
  // room for the NR-column panels past Q.
  s.plane = round_up(s.Hp * s.S + g.pl + g.pr + 2 * NR, 16);
  s.KK = g.KH * g.KW;
  return s;
}

inline int64_t shift_off(const Geom& g, const Shift& s, int64_t kk) {
  return (kk / g.KW) * g.dh * s.S + (kk % g.KW) * g.dw;
}

// Stride 1 and enough channels on the GEMM's depth (input channels for the forward, output
// channels for dx) that the KH*KW short-depth GEMMs run near the micro-kernel's peak.
inline bool shift_ok(const Geom& g, int64_t depth) { return g.sh == 1 && g.sw == 1 && depth >= 16; }

// Kernels of 25 taps or more (5x5) forward through the fused engine: its one GEMM of depth
// Cg*KH*KW ran 1.05-1.2x faster than 25 GEMMs of depth Cg re-reading the output tile (AVX-512,
// 1 thread, CPU clock: 16 -> 32, 32 -> 64 and 64 -> 64 channels at 32x32, 128 -> 128 at 16x16;
// 7x7 at 32 channels even).
inline bool shift_many_taps(const Geom& g) { return g.KH * g.KW >= 25; }

// Whether the shift engine's junk columns (the padding columns of each row, then rounding to whole
// NR panels) exceed num/den - 1 of the output (a quarter by default; 8x8, padding 1: 96 columns
// computed per 64 outputs): then the fused engine's im2col costs less. The forward takes it from
// 15%: Inception's 1x7 at 17x17 (22% junk), 128 -> 128 to 192 -> 192 channels, ran 5-7% faster
// fused (6.3 -> 5.9 ms at 128, torch 5.0; AVX-512, 1 thread, CPU time).
inline bool shift_wasteful(const Geom& g, int NR, int64_t num = 5, int64_t den = 4) {
  return den * round_up(make_shift(g, NR).Q, NR) > num * g.P;
}

// xp (Cg planes) = x[n, g] zero-padded with row stride S, slack zero.
template <typename T>
EMBER_SIMD void pad_planes(T* __restrict xp, const T* __restrict x, const Geom& g, const Shift& s,
                           int64_t channels) {
  for (int64_t c = 0; c < channels; ++c) {
    T* d = xp + c * s.plane;
    const T* src = x + c * g.H * g.W;
    std::fill(d, d + g.pt * s.S + g.pl, T(0));
    for (int64_t ih = 0; ih < g.H; ++ih) {
      T* row = d + (ih + g.pt) * s.S + g.pl;
      std::copy(src + ih * g.W, src + (ih + 1) * g.W, row);
      std::fill(row + g.W, row + s.S, T(0));  // right pad, next row's left pad
    }
    std::fill(d + (g.H + g.pt) * s.S, d + s.plane, T(0));  // bottom pad and slack
  }
}

// wk[kk][i][c][r] = w[i*MR + r][c][kk] (forward; rows past Og zero), one group.
template <typename T>
void pack_shift_weights_fwd(T* wk, const T* w, const Geom& g, int MR) {
  const int64_t Ogp = round_up(g.Og, MR), KK = g.KH * g.KW;
  for (int64_t kk = 0; kk < KK; ++kk)
    for (int64_t i0 = 0; i0 < Ogp; i0 += MR) {
      T* d = wk + (kk * Ogp + i0) * g.Cg;
      for (int64_t c = 0; c < g.Cg; ++c)
        for (int r = 0; r < MR; ++r)
          d[c * MR + r] = i0 + r < g.Og ? w[((i0 + r) * g.Cg + c) * KK + kk] : T(0);
    }
}

// wk[kk][i][o][r] = w[o][i*MR + r][kk] (input gradient; rows past Cg zero), one group.
template <typename T>
void pack_shift_weights_bwd(T* wk, const T* w, const Geom& g, int MR) {
  const int64_t Cgp = round_up(g.Cg, MR), KK = g.KH * g.KW;
  for (int64_t kk = 0; kk < KK; ++kk)
    for (int64_t i0 = 0; i0 < Cgp; i0 += MR) {
      T* d = wk + (kk * Cgp + i0) * g.Og;
      for (int64_t o = 0; o < g.Og; ++o)
        for (int r = 0; r < MR; ++r)
          d[o * MR + r] = i0 + r < g.Cg ? w[(o * g.Cg + i0 + r) * KK + kk] : T(0);
    }
}

// y[o][oh][ow] = yp[o][oh*S + ow] (+ b[o]).
template <typename T>
EMBER_SIMD void crop_planes(T* __restrict y, const T* __restrict yp, const T* b, int64_t rows,
                            int64_t OH, int64_t OW, int64_t S, int64_t ld, int64_t row0,
                            int64_t col0) {
  for (int64_t o = 0; o < rows; ++o) {
    const T bias = b ? b[o] : T(0);
    for (int64_t oh = 0; oh < OH; ++oh) {
      const T* s = yp + o * ld + (oh + row0) * S + col0;
      T* d = y + (o * OH + oh) * OW;
      for (int64_t ow = 0; ow < OW; ++ow) d[ow] = s[ow] + bias;
    }
  }
}

// bp[panel][o][j] = dy[o][oh][ow] for q = q0 + panel*NR + j = oh*S + ow with ow < OW, else 0.
// Walks the block row segment by row segment: no division per element.
template <typename T>
EMBER_SIMD void pack_dy_shift(T* __restrict bp, const T* __restrict dy, const Geom& g,
                              const Shift& s, int64_t q0, int64_t q1, int NR) {
  const int64_t len = round_up(q1 - q0, NR);
  for (int64_t p0 = 0; p0 < len; p0 += NR) {
    T* d = bp + p0 * g.Og;  // panel p0 / NR: Og rows of NR
    const int64_t qa = q0 + p0;
    int64_t oh = qa / s.S, ow = qa - oh * s.S;
    // segments of the panel: [j, j + run) maps to dy row oh from column ow
    for (int64_t j = 0; j < NR;) {
      const int64_t q = qa + j;
      const int64_t run = std::min<int64_t>(NR - j, s.S - ow);
      const bool live = q < q1;
      const int64_t valid = live ? std::clamp<int64_t>(std::min(g.OW - ow, q1 - q), 0, run) : 0;
      for (int64_t o = 0; o < g.Og; ++o) {
        T* dd = d + o * NR + j;
        const T* src = dy + o * g.P + oh * g.OW + ow;
        for (int64_t i = 0; i < valid; ++i) dd[i] = src[i];
        for (int64_t i = valid; i < run; ++i) dd[i] = T(0);
      }
      j += run;
      ++oh;
      ow = 0;
    }
  }
}

template <typename T>
void forward_shift(T* y, const T* x, const T* w, const T* b, const Geom& g, int nt) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const Shift s = make_shift(g, NR);
  const int64_t Ogp = round_up(g.Og, MR), Qp = round_up(s.Q, NR);
  const int64_t kc_blk = even_block(g.Cg, kern.kc, 1);
  const int64_t tasks = g.N * g.G;
  nt = int(std::min<int64_t>(nt, tasks));
  const int64_t wk_n = g.G * s.KK * Ogp * g.Cg, xp_n = g.Cg * s.plane, yp_n = g.Og * Qp;
  const size_t per_thread = size_t(xp_n + yp_n) * sizeof(T) + 2 * 64;
  char* cur = align64(Workspace::get(size_t(wk_n) * sizeof(T) + size_t(nt) * per_thread + 128));
  T* wk = carve<T>(&cur, wk_n);
  char* thread_base = cur;
  for (int64_t gi = 0; gi < g.G; ++gi)
    pack_shift_weights_fwd(wk + gi * s.KK * Ogp * g.Cg, w + gi * g.Og * g.K, g, MR);
  constexpr int64_t kPanels = 16;  // NR-column panels per block: its output tile stays in L1/L2
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
    T* xp = carve<T>(&tc, xp_n);
    T* yp = carve<T>(&tc, yp_n);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / g.G, gi = t % g.G;
      pad_planes(xp, x + (n * g.C + gi * g.Cg) * g.H * g.W, g, s, g.Cg);
      const T* wg = wk + gi * s.KK * Ogp * g.Cg;
      for (int64_t j0 = 0; j0 < s.Q; j0 += kPanels * NR) {
        const int64_t j1 = std::min(s.Q, j0 + kPanels * NR);
        for (int64_t kk = 0; kk < s.KK; ++kk) {
          const int64_t off = shift_off(g, s, kk);
          for (int64_t c0 = 0; c0 < g.Cg; c0 += kc_blk) {
            const int64_t kc = std::min(kc_blk, g.Cg - c0);
            const T beta = (kk == 0 && c0 == 0) ? T(0) : T(1);
            const T* a = wg + kk * Ogp * g.Cg + c0 * MR;
            for (int64_t jr = j0; jr < j1; jr += NR) {
              const int nr = int(std::min<int64_t>(NR, j1 - jr));
              const auto fn = 2 * nr <= NR ? kern.panel_a_half : kern.panel_a;
              const T* bq = xp + c0 * s.plane + off + jr;
              for (int64_t ir = 0; ir < g.Og; ir += MR) {
                const int mr = int(std::min<int64_t>(MR, g.Og - ir));
                fn(kc, T(1), a + ir * g.Cg, MR, bq, s.plane, beta, yp + ir * Qp + jr, Qp, mr, nr);
              }
            }
          }
        }
      }
      crop_planes(y + (n * g.O + gi * g.Og) * g.P, yp, b ? b + gi * g.Og : nullptr, g.Og, g.OH,
                  g.OW, s.S, Qp, 0, 0);
    }
  }
}

template <typename T>
void input_grad_shift(T* dx, const T* dy, const T* w, const Geom& g, int nt) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const Shift s = make_shift(g, NR);
  const int64_t Cgp = round_up(g.Cg, MR);
  const int64_t tasks = g.N * g.G;
  nt = int(std::min<int64_t>(nt, tasks));
  constexpr int64_t kPanels = 16;
  const int64_t wk_n = g.G * s.KK * Cgp * g.Og, dxp_n = g.Cg * s.plane, bp_n = g.Og * kPanels * NR;
  const size_t per_thread = size_t(dxp_n + bp_n) * sizeof(T) + 2 * 64;
  char* cur = align64(Workspace::get(size_t(wk_n) * sizeof(T) + size_t(nt) * per_thread + 128));
  T* wk = carve<T>(&cur, wk_n);
  char* thread_base = cur;
  for (int64_t gi = 0; gi < g.G; ++gi)
    pack_shift_weights_bwd(wk + gi * s.KK * Cgp * g.Og, w + gi * g.Og * g.K, g, MR);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
    T* dxp = carve<T>(&tc, dxp_n);
    T* bp = carve<T>(&tc, bp_n);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / g.G, gi = t % g.G;
      std::fill(dxp, dxp + dxp_n, T(0));
      const T* dyg = dy + (n * g.O + gi * g.Og) * g.P;
      const T* wg = wk + gi * s.KK * Cgp * g.Og;
      for (int64_t j0 = 0; j0 < s.Q; j0 += kPanels * NR) {
        const int64_t j1 = std::min(s.Q, j0 + kPanels * NR);
        pack_dy_shift(bp, dyg, g, s, j0, j1, NR);
        for (int64_t kk = 0; kk < s.KK; ++kk) {
          const int64_t off = shift_off(g, s, kk);
          const T* a = wg + kk * Cgp * g.Og;
          for (int64_t jr = j0; jr < j1; jr += NR) {
            const int nr = int(std::min<int64_t>(NR, j1 - jr));
            const auto fn = 2 * nr <= NR ? kern.panel_a_half : kern.panel_a;
            const T* bq = bp + (jr - j0) * g.Og;
            for (int64_t ir = 0; ir < g.Cg; ir += MR) {
              const int mr = int(std::min<int64_t>(MR, g.Cg - ir));
              fn(g.Og, T(1), a + ir * g.Og, MR, bq, NR, T(1), dxp + ir * s.plane + off + jr,
                 s.plane, mr, nr);
            }
          }
        }
      }
      crop_planes(dx + (n * g.C + gi * g.Cg) * g.H * g.W, dxp, static_cast<const T*>(nullptr), g.Cg,
                  g.H, g.W, s.S, s.plane, g.pt, g.pl);
    }
  }
}

// The input gradient of a stride-1 convolution is itself a stride-1 convolution, of dy with the
// weights transposed per group and flipped, padded by dh*(KH-1) - pt (top) etc.:
//   dx[c, ih, iw] = sum over o, kh, kw of w[o, c, kh, kw] * dy[o, ih + pt - kh*dh, iw + pl -
//   kw*dw].
// Small planes where the shift engine would waste columns (with 'same'-like padding, at most the
// kernel's reach) run it through the fused forward engine.
inline bool transposed_ok(const Geom& g) {
  const int64_t eh = g.dh * (g.KH - 1), ew = g.dw * (g.KW - 1);
  // Its products cover the whole input plane: with little padding (LeNet's 5x5 valid
  // convolution) that is twice dx's multiply-adds, mostly on dy's zero border.
  return g.sh == 1 && g.sw == 1 && g.Og >= 16 && g.Cg >= 16 && 4 * g.H * g.W <= 5 * g.P &&
         g.pt <= eh && g.pb <= eh && g.pl <= ew && g.pr <= ew;
}

// dx of a stride-1 convolution is the forward convolution of dy (O channels) with the weights
// transposed per group and flipped, padded dh*(KH-1) - pt etc.: that geometry and those weights.
inline Geom transposed_geom(const Geom& g) {
  const int64_t eh = g.dh * (g.KH - 1), ew = g.dw * (g.KW - 1);
  return make_geom(g.N, g.O, g.OH, g.OW, g.C, g.KH, g.KW, 1, 1, eh - g.pt, eh - g.pb, ew - g.pl,
                   ew - g.pr, g.dh, g.dw, g.G);
}

template <typename T>
std::unique_ptr<T[]> flipped_weights(const T* w, const Geom& g) {
  const int64_t KK = g.KH * g.KW;
  std::unique_ptr<T[]> wf(new T[size_t(g.O * g.K)]);  // (C, Og, KH, KW)
  for (int64_t gi = 0; gi < g.G; ++gi)
    for (int64_t c = 0; c < g.Cg; ++c)
      for (int64_t o = 0; o < g.Og; ++o) {
        const T* src = w + ((gi * g.Og + o) * g.Cg + c) * KK;
        T* d = wf.get() + ((gi * g.Cg + c) * g.Og + o) * KK;
        for (int64_t k = 0; k < KK; ++k) d[k] = src[KK - 1 - k];
      }
  return wf;
}

template <typename T>
void input_grad_forward(T* dx, const T* dy, const T* w, const Geom& g, int nt) {
  forward_engine(dx, dy, flipped_weights(w, g).get(), static_cast<const T*>(nullptr),
                 transposed_geom(g), nt);
}

// Whether every value of x (n) is finite (x * 0 is NaN exactly for inf and NaN), in per-lane
// sums the compiler vectorises; threads over chunks of a large array (a yes/no answer: the
// same on any thread count). Engines whose arithmetic touches values no output reads, or
// subtracts values (Winograd's transforms: inf - inf), give NaN where torch's direct
// convolution gives +-inf or a finite value; non-finite operands take a direct engine instead.
template <typename T>
EMBER_SIMD bool all_finite_serial(const T* x, int64_t n) {
  constexpr int64_t L = 64 / int64_t(sizeof(T));
  T acc[L] = {};
  int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int64_t j = 0; j < L; ++j) acc[j] += x[i + j] * T(0);
  T sum = 0;
  for (; i < n; ++i) sum += x[i] * T(0);
  for (int64_t j = 0; j < L; ++j) sum += acc[j];
  return sum == T(0);
}

template <typename T>
bool all_finite(const T* x, int64_t n) {
  constexpr int64_t kChunk = int64_t(1) << 16;
  const int nt = threads_for(n, kChunk);
  if (nt <= 1) return all_finite_serial(x, n);
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  bool ok = true;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(&& : ok)
  for (int64_t i = 0; i < chunks; ++i)
    ok = ok && all_finite_serial(x + i * kChunk, std::min(kChunk, n - i * kChunk));
  return ok;
}

// ---------------------------------------------------------------- Winograd engine (3x3, stride 1)
// Lavin & Gray 2015, "Fast Algorithms for Convolutional Neural Networks": F(2x2, 3x3) makes a
// 2x2 output tile from a 4x4 input tile d (stride 2) and a 3x3 filter g with 16 multiplications
// instead of 36:  Y = A^T [ (G g G^T) . (B^T d B) ] A  (. elementwise), where
//   B^T = [1  0 -1  0]    G = [ 1    0    0 ]    A^T = [1  1  1  0]
//         [0  1  1  0]        [1/2  1/2  1/2]          [0  1 -1 -1]
//         [0 -1  1  0]        [1/2 -1/2  1/2]
//         [0  1  0 -1]        [ 0    0    1 ]
// Summed over input channels the elementwise products become 16 GEMMs, one per element xi of
// the 4x4 tile:  M[xi] (O, tiles) = U[xi] (O, C) @ V[xi] (C, tiles),  U = G w G^T,  V = B^T d B,
// on the GEMM micro-kernel: 2.25x fewer multiply-adds than the direct convolution, the
// transforms being additions only. Tiles are numbered over (image, tile row, tile column) and
// run in blocks of kWinoTiles: a block's V is written straight into the micro-kernel's
// NR-column panels, its M into an (O, 16, tiles) buffer the output transform reads in rows.
// Each output depends only on its tile (never on the block or thread that computed it).

// 0: never, 1: where it wins (wino_wins), 2: wherever it applies (tests).
std::atomic<int> g_winograd{1};

constexpr int64_t kWinoTiles = 128;               // tiles per block (rounded to whole NR panels)
constexpr int64_t kWinoBytes = int64_t(4) << 20;  // at most, per thread, unless NR tiles need more

// Where F(2x2, 3x3) beats the shift and fused engines, measured on Zen 5 (1 thread, float32 and
// float64): the 16 GEMMs (depth C, height O) need enough channels to run near the
// micro-kernel's peak, the more the smaller the plane (the transforms cost per tile row and
// channel); the weight gradient also needs 256 tiles to pay for its per-call 16 x C x O
// partials. Forward (dx alike): 64 -> 64 channels at 32x32 1.5x, 128 -> 128 at 28x28 1.7x,
// 16 -> 16 at 32x32 1.2x, 32 -> 32 at 16x16 1.2x, 64 -> 64 at 8x8 1.2x, 256 -> 256 at 8x8
// 1.9x; but 16 -> 16 at 16x16 0.96x, 32 -> 32 at 12x12 0.93x and at 8x8 0.83x. Weight
// gradient: 1.5x at 64 -> 64, 32x32; 0.5x for 128 tiles of 128 -> 128.
// With AVX2 (a 6 x 16 micro-kernel) the forward and dx rule holds, but the weight gradient
// wins only from 64 channels (EPYC, 1 thread, Winograd vs direct dw against torch: 16 -> 16 at
// 32x32 0.76x vs 0.92x, 32 -> 64 at 16x16 0.8x vs 1.15x; 64 -> 64 at 32x32 1.48x vs 1.16x,
// 128 -> 128 at 28x28 1.7x vs 1.14x).
// On planes under 14x14 the weight gradient's tiles stay few per image (ResNet's last stage,
// 512 -> 512 at 7x7, batch 16 or 32: 256-512 tiles with a quarter of them padding): the direct
// engine won there at every size measured (AVX-512, 1 thread, Winograd / direct time: 512 at
// 7x7 batch 16 1.3, 256 at 7x7 batch 32 1.3, 64 at 8x8 batch 16 1.05, 64 at 12x12 batch 8 1.1),
// while 14x14 and 28x28 kept Winograd ahead (256 at 14x14 batch 16 0.94, 128 at 28x28 0.9).
inline bool wino_wins(const Geom& g, bool weight_grad) {
  const int64_t m = std::min(g.OH, g.OW), ch = std::min(g.C, g.O);
  const int64_t tiles = g.N * ((g.OH + 1) / 2) * ((g.OW + 1) / 2);
  const bool wins = (m >= 24 && ch >= 16) || (m >= 16 && ch >= 32) || (m >= 6 && ch >= 48);
  if (!weight_grad) return wins;
  const bool avx2 = std::strcmp(gemm_isa(), "avx2") == 0;
  return wins && m >= 14 && tiles >= 256 && (!avx2 || ch >= 64);
}

// 3x3, stride 1, no dilation, one group, and the mode allows it (for the forward and dx, or for
// dw). The transformed weights take 16 * O * C values: beyond 2^20 channel pairs (64 MiB in
// float) the direct engines run.
inline bool wino_ok(const Geom& g, bool weight_grad = false) {
  const int mode = g_winograd.load(std::memory_order_relaxed);
  if (mode == 0 || g.KH != 3 || g.KW != 3 || g.sh != 1 || g.sw != 1 || g.dh != 1 || g.dw != 1 ||
      g.G != 1 || g.N == 0 || g.O == 0 || g.C == 0 || g.O * g.C > (int64_t(1) << 20))
    return false;
  return mode == 2 || wino_wins(g, weight_grad);
}

struct Wino {
  int64_t TH, TW, tiles;  // tile rows and columns per image, tiles in all images
  explicit Wino(const Geom& g)
      : TH((g.OH + 1) / 2), TW((g.OW + 1) / 2), tiles(g.N * ((g.OH + 1) / 2) * ((g.OW + 1) / 2)) {}
};

// Calls f(n, th, tw0, tw1, j) for the runs of tiles [t0, t1) within one tile row, cut every
// `cut` tiles from t0 (the panels); j is the run's first tile relative to t0.
template <typename F>
inline void wino_runs(const Wino& wn, int64_t t0, int64_t t1, int64_t cut, F f) {
  for (int64_t t = t0; t < t1;) {
    const int64_t row = t / wn.TW, tw = t - row * wn.TW;
    const int64_t end = std::min({t1, (row + 1) * wn.TW, t0 + ((t - t0) / cut + 1) * cut});
    f(row / wn.TH, row % wn.TH, tw, tw + (end - t), t - t0);
    t = end;
  }
}

// up[xi][o / MR][c][o % MR] = (G w[o][c] G^T)[xi]: the 16 A operands as p-major MR-row panels,
// rows past O zero, U[xi] ux apart. One MR-row panel [o0, o0 + MR) of which mr rows are real,
// written from up (the panel's first value in U[0]):
// per channel the panel's 9 taps transposed to MR lanes, transformed as vectors, and stored as
// 16 runs of MR values (one per U[xi], each advancing with c). The transform was written one
// (o, c) pair at a time, 16 scattered values each: at 512 -> 512 it cost more than all of the
// batch-1 GEMMs. flip: w is (C, O, 3, 3) and tap j of (o, c) is w[c][o][8 - j] (dx's weights,
// input_grad_winograd: read in place, no flipped copy).
constexpr int kWinoMaxMR = 32;

// The transform of channels [0, C) of one panel, every row real (rows past mr read as zero
// when the panel is partial). MR a compile-time constant (MRV > 0; the micro-kernels' 4, 6 and
// 8) makes every loop fixed-size: the 9 x MR gather becomes whole vector moves and the panel
// transform ran ~2x faster (512 -> 512: it was ~2 of the 4.7 ms of a batch-1 forward).
// Returns the sum of the panel's weights times zero: 0 when they are all finite, else NaN (the
// finiteness check rides on the transform's one read of w instead of a pass of its own).
template <int MRV, typename T>
inline T wino_weights_rows(T* __restrict up, int64_t ux, const T* __restrict w, int64_t C,
                           int64_t O, int64_t o0, int64_t mr, int MRR, bool flip) {
  constexpr bool fixed = MRV > 0;
  const int64_t MR = fixed ? MRV : MRR;
  const T h = T(0.5);
  T nonfinite[fixed ? MRV : kWinoMaxMR] = {};
  for (int64_t c = 0; c < C; ++c) {
    T k[9][fixed ? MRV : kWinoMaxMR];
    if (fixed && flip) {
      const T* s = w + (c * O + o0) * 9;  // the panel's rows: 9 * MR values in a row
      for (int64_t r = 0; r < MR; ++r)
        for (int j = 0; j < 9; ++j) k[j][r] = s[r * 9 + 8 - j];
    } else if (fixed) {
      for (int64_t r = 0; r < MR; ++r)
        for (int j = 0; j < 9; ++j) k[j][r] = w[((o0 + r) * C + c) * 9 + j];
    } else {
      for (int64_t r = 0; r < MR; ++r)
        for (int j = 0; j < 9; ++j)
          k[j][r] = r >= mr ? T(0)
                    : flip  ? w[(c * O + o0 + r) * 9 + 8 - j]
                            : w[((o0 + r) * C + c) * 9 + j];
    }
    for (int j = 0; j < 9; ++j)
      for (int64_t r = 0; r < MR; ++r) nonfinite[r] += k[j][r] * T(0);
    T gg[4][3][fixed ? MRV : kWinoMaxMR];  // G g
    for (int j = 0; j < 3; ++j)
      for (int64_t r = 0; r < MR; ++r) {
        gg[0][j][r] = k[j][r];
        gg[1][j][r] = h * (k[j][r] + k[3 + j][r] + k[6 + j][r]);
        gg[2][j][r] = h * (k[j][r] - k[3 + j][r] + k[6 + j][r]);
        gg[3][j][r] = k[6 + j][r];
      }
    T* d = up + c * MR;
    for (int i = 0; i < 4; ++i)  // (G g) G^T
      for (int64_t r = 0; r < MR; ++r) {
        const T a = gg[i][0][r], b = gg[i][1][r], e = gg[i][2][r];
        d[(4 * i) * ux + r] = a;
        d[(4 * i + 1) * ux + r] = h * (a + b + e);
        d[(4 * i + 2) * ux + r] = h * (a - b + e);
        d[(4 * i + 3) * ux + r] = e;
      }
  }
  T sum = T(0);
  for (int64_t r = 0; r < MR; ++r) sum += nonfinite[r];
  return sum;
}

template <typename T>
EMBER_SIMD bool wino_weights_panel(T* __restrict up, int64_t ux, const T* __restrict w, int64_t C,
                                   int64_t O, int64_t o0, int64_t mr, int MR, bool flip) {
  T z;  // 0 when the panel's weights are finite
  if (mr == MR && MR == 8)
    z = wino_weights_rows<8>(up, ux, w, C, O, o0, mr, MR, flip);
  else if (mr == MR && MR == 6)
    z = wino_weights_rows<6>(up, ux, w, C, O, o0, mr, MR, flip);
  else if (mr == MR && MR == 4)
    z = wino_weights_rows<4>(up, ux, w, C, O, o0, mr, MR, flip);
  else
    z = wino_weights_rows<0>(up, ux, w, C, O, o0, mr, MR, flip);
  return z == T(0);
}

// Threads over the panels (each writes only its own). Returns whether every weight is finite.
template <typename T>
bool wino_weights(T* up, int64_t ux, const T* w, const Geom& g, int MR, int nt, bool flip) {
  EMBER_CHECK(MR <= kWinoMaxMR, "conv2d: micro-kernel MR ", MR, " above ", kWinoMaxMR);
  const int64_t panels = (g.O + MR - 1) / MR;
  nt = int(std::clamp<int64_t>(g.O * g.C / 4096, 1, std::min<int64_t>(nt, panels)));
  bool finite = true;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1) reduction(&& : finite)
  for (int64_t q = 0; q < panels; ++q)
    finite = wino_weights_panel(up + q * MR * g.C, ux, w, g.C, g.O, q * MR,
                                std::min<int64_t>(MR, g.O - q * MR), MR, flip) &&
             finite;
  return finite;
}

// d[0 .. n) = s[0 .. n) for n < 256 / sizeof(T) (two vectors of 128 bytes), as fixed-size
// copies of n's binary digits: a loop of n would become rep movs or a call to memcpy, slow for a
// few values.
template <int64_t B, typename T>
inline void copy_short_from(T* __restrict d, const T* __restrict s, int64_t n) {
  if (n & B) {
    for (int64_t u = 0; u < B; ++u) d[u] = s[u];
    d += B, s += B;
  }
  if constexpr (B > 1) copy_short_from<B / 2>(d, s, n);
}
template <typename T>
inline void copy_short(T* __restrict d, const T* __restrict s, int64_t n) {
  copy_short_from<128 / int64_t(sizeof(T))>(d, s, n);
}

// Row length of wino_input's scratch: the 2 * TW + 2 padded columns a tile row reads, and room
// for the chunk of L tiles that starts at its last tile.
inline int64_t wino_tn(const Wino& wn, size_t elem) { return 2 * (wn.TW + 64 / int64_t(elem)) + 2; }

// One tile row of a block: its tiles [u0, end), where the first lands (lane0 of panel0, tile k0
// of the row), and its 4 input rows (offsets of channel 0's, -1 for the padding).
struct WinoRow {
  int64_t u0, end, lane0, panel0, k0, in[4];
};

// vp[xi][panel][c][NR] = (B^T d B)[xi] of channel c for the tiles [t0, t1) (tile j = t - t0 in
// panel j / NR, lane j % NR), V[xi] vx apart. Whole tile rows at a time; t is scratch: 4 rows of
// wino_tn, zero where the caller left it (the padding columns are never written).
template <typename T>
EMBER_SIMD void wino_input(T* __restrict vp, int64_t vx, T* __restrict t, WinoRow* wr, const T* x,
                           const T* zero, const Geom& g, const Wino& wn, int64_t t0, int64_t t1,
                           int NR) {
  constexpr int64_t L = 64 / sizeof(T);
  const int64_t TW = wn.TW, tn = wino_tn(wn, sizeof(T)), plane = g.H * g.W;
  // the padded columns q whose input column q - pl is in [0, W)
  const int64_t lo = std::min(g.pl, tn), hi = std::clamp(g.pl + g.W, lo, tn);
  // The tile rows of the block, with the divisions done once
  const int64_t row0 = t0 / TW, rows = (t1 - 1) / TW - row0 + 1;
  for (int64_t ri = 0; ri < rows; ++ri) {
    const int64_t row = row0 + ri, n = row / wn.TH, th = row % wn.TH;
    const int64_t u0 = std::max(t0, row * TW);
    WinoRow& w = wr[ri];
    w.u0 = u0;
    w.end = std::min(t1, (row + 1) * TW);
    w.lane0 = (u0 - t0) % NR;
    w.panel0 = (u0 - t0) / NR;
    w.k0 = u0 - row * TW;
    for (int i = 0; i < 4; ++i) {
      const int64_t ih = 2 * th - g.pt + i;
      w.in[i] = ih >= 0 && ih < g.H ? (n * g.C * g.H + ih) * g.W : -1;
    }
  }
  for (int64_t ri = 0; ri < rows; ++ri)
    for (int64_t c = 0; c < g.C; ++c) {
      const WinoRow& w = wr[ri];
      const T* r[4];  // the tile row's input rows (or zeros), at padded column 0
      for (int i = 0; i < 4; ++i) r[i] = (w.in[i] >= 0 ? x + w.in[i] + c * plane : zero) - g.pl;
      // The next channel's rows, from L3 or memory: a block reads a few rows of each channel
      // plane, too short a run for the hardware prefetcher.
      if (c + 1 < g.C)
        for (int i = 0; i < 4; ++i)
          if (w.in[i] >= 0)
            for (int64_t q = 0; q < g.W; q += L) __builtin_prefetch(r[i] + g.pl + plane + q);
      // B^T d (rows combined): t[i][q] = row i of B^T d at padded column q (the padding
      // columns stay zero)
      {
        const T *a = r[0], *b = r[1], *cc = r[2], *d = r[3];
        T *s0 = t, *s1 = t + tn, *s2 = t + 2 * tn, *s3 = t + 3 * tn;
        for (int64_t q = lo; q < hi; ++q) {
          s0[q] = a[q] - cc[q];
          s1[q] = b[q] + cc[q];
          s2[q] = cc[q] - b[q];
          s3[q] = b[q] - d[q];
        }
      }
      // (B^T d) B: tile k reads columns 2k .. 2k+3; in chunks of L tiles (fixed-size loops:
      // whole vectors) stored into the panels, cut at their edges
      int64_t lane = w.lane0, panel = w.panel0;
      for (int64_t u = w.u0; u < w.end;) {
        const int64_t run = std::min({NR - lane, w.end - u, L});
        T vv[16][L];
        for (int i = 0; i < 4; ++i) {
          const T* si = t + i * tn + 2 * (w.k0 + u - w.u0);
          for (int64_t k = 0; k < L; ++k) {
            const T d0 = si[2 * k], d1 = si[2 * k + 1], d2 = si[2 * k + 2], d3 = si[2 * k + 3];
            vv[4 * i][k] = d0 - d2;
            vv[4 * i + 1][k] = d1 + d2;
            vv[4 * i + 2][k] = d2 - d1;
            vv[4 * i + 3][k] = d1 - d3;
          }
        }
        T* dst = vp + (panel * g.C + c) * NR + lane;
        for (int xi = 0; xi < 16; ++xi) copy_short(dst + xi * vx, vv[xi], run);
        u += run;
        lane += run;
        if (lane == NR) {
          lane = 0;
          ++panel;
        }
      }
    }
}

// y[o][2th + i][2tw + j] = (A^T M A)[i][j] + bias for the tiles tw0 + k < tw1 of tile row th,
// m[xi * ldm + k] = M[xi] of tile tw0 + k (readable up to a whole chunk of L past tw1),
// cropped to the output plane y (OH, OW).
template <typename T>
inline void wino_output(T* __restrict y, const T* __restrict m, int64_t ldm, T bias, const Geom& g,
                        int64_t th, int64_t tw0, int64_t tw1) {
  constexpr int64_t L = 64 / sizeof(T);
  const int64_t oh = 2 * th;
  const int64_t width = std::min(2 * (tw1 - tw0), g.OW - 2 * tw0);  // output columns
  for (int64_t k0 = 0; k0 < tw1 - tw0; k0 += L) {
    T r[4][L];  // output rows 0 and 1, columns 0 and 1 of tile k0 + k
    for (int64_t k = 0; k < L; ++k) {
      T u[2][4];  // A^T M
      for (int jj = 0; jj < 4; ++jj) {
        const T* mk = m + jj * ldm + k0 + k;
        u[0][jj] = mk[0] + mk[4 * ldm] + mk[8 * ldm];
        u[1][jj] = mk[4 * ldm] - mk[8 * ldm] - mk[12 * ldm];
      }
      for (int i = 0; i < 2; ++i) {
        r[2 * i][k] = u[i][0] + u[i][1] + u[i][2] + bias;
        r[2 * i + 1][k] = u[i][1] - u[i][2] - u[i][3] + bias;
      }
    }
    const int64_t n = std::min(2 * L, width - 2 * k0);  // columns of this chunk
    for (int i = 0; i < 2 && oh + i < g.OH; ++i) {
      T* yr = y + (oh + i) * g.OW + 2 * (tw0 + k0);
      T row[2 * L];
      for (int64_t k = 0; k < L; ++k) {
        row[2 * k] = r[2 * i][k];
        row[2 * k + 1] = r[2 * i + 1][k];
      }
      copy_short(yr, row, n);
    }
  }
}

// y[n][o] for the tiles [t0, t1) from mb[o][xi][t - t0] (nb tiles per xi), + b[o] when given.
template <typename T>
EMBER_SIMD void wino_outputs(T* y, const T* mb, int64_t nb, const T* b, const Geom& g,
                             const Wino& wn, int64_t t0, int64_t t1) {
  for (int64_t o = 0; o < g.O; ++o)
    wino_runs(wn, t0, t1, nb, [&](int64_t n, int64_t th, int64_t tw0, int64_t tw1, int64_t j) {
      wino_output(y + (n * g.O + o) * g.P, mb + o * 16 * nb + j, nb, b ? b[o] : T(0), g, th, tw0,
                  tw1);
    });
}

// Few tiles, many channels (ResNet's last stage, 512 -> 512 at 7x7, batch 1-8: 16-128 tiles):
// writing all of U (16 MiB) and reading it back cost more than the GEMMs (batch 1, 1 thread:
// ~6 of 7.5 ms), and a batch of one block left the second thread idle. Here U is never whole:
// V of every tile is made once (threads over panels of tiles), then tasks of R output channels
// each transform their own rows of U into a buffer that stays in L2 and run them over all the
// tiles, then write their outputs (threads over tasks). Which task or thread computes an output
// never changes its sums: the same bits on any thread count.
constexpr int64_t kWinoRowsBytes = int64_t(512) << 10;  // one task's rows of U, at most
constexpr int64_t kWinoRowsV = int64_t(16) << 20;       // V of all tiles, at most

// Where U outweighs V and M (as forward_winograd's one-block-per-thread rule), V not too large
// (every task re-reads it from L2 / L3). 512 -> 512 at 7x7, 1 thread, CPU time: batch 1 7.5 ->
// 3.9 ms (torch ~3), batch 8 17.5 -> 16 (torch ~15.8), batch 16 (256 tiles, 8 MiB of V) even.
inline bool wino_rows_ok(const Wino& wn, const Geom& g, int NR, size_t elem) {
  const int64_t tp = (wn.tiles + NR - 1) / NR * NR;
  return double(16) * double(g.C) * double(tp) * double(elem) <= double(kWinoRowsV) &&
         g.O * g.C >= (g.C + g.O) * wn.tiles;
}

// Returns false, y unspecified, when a weight is not finite (checked by the weight transform).
template <typename T>
bool forward_winograd_rows(T* y, const T* x, const T* w, const T* b, const Geom& g, int nt,
                           bool flip) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const Wino wn(g);
  const int64_t C = g.C, O = g.O, pad = 64 / int64_t(sizeof(T));
  const int64_t np = (wn.tiles + NR - 1) / NR, tp = np * NR;  // tile panels, tiles rounded up
  const int64_t kc_blk = even_block(C, kern.kc, 1);
  const int64_t R = std::clamp<int64_t>(kWinoRowsBytes / (16 * C * int64_t(sizeof(T))) / MR * MR,
                                        MR, round_up(O, MR));
  const int64_t tasks = (O + R - 1) / R;
  const int64_t vx = C * tp + pad, ux = R * C + pad, zero_n = g.W + 1;  // (see forward_winograd)
  const int64_t up_n = 16 * ux, mb_n = R * 16 * tp + pad, t_n = 4 * wino_tn(wn, sizeof(T));
  const int64_t wr_n = (NR + 2) * int64_t(sizeof(WinoRow) / sizeof(T)) + 1;  // rows of a panel
  const size_t per_thread = size_t(up_n + mb_n + t_n + wr_n) * sizeof(T) + 4 * 64;
  char* cur = align64(
      Workspace::get(size_t(16 * vx + zero_n) * sizeof(T) + size_t(nt) * per_thread + 3 * 64));
  T* vp = carve<T>(&cur, 16 * vx);  // vp[xi][panel][c][NR]
  T* zero = carve<T>(&cur, zero_n);
  char* thread_base = cur;
  std::fill(zero, zero + zero_n, T(0));
  bool finite = true;
#pragma omp parallel num_threads(nt) if (nt > 1) reduction(&& : finite)
  {
    char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
    T* up = carve<T>(&tc, up_n);  // up[xi][row panel][c][MR]: this task's rows of U
    T* mb = carve<T>(&tc, mb_n);  // mb[row][xi][tile]
    T* tmp = carve<T>(&tc, t_n);
    WinoRow* wr = reinterpret_cast<WinoRow*>(carve<T>(&tc, wr_n));
    std::fill(tmp, tmp + t_n, T(0));
#pragma omp for schedule(static)
    for (int64_t q = 0; q < np; ++q) {
      const int64_t t0 = q * NR, len = std::min<int64_t>(NR, wn.tiles - t0);
      wino_input(vp + q * C * NR, vx, tmp, wr, x, zero, g, wn, t0, t0 + len, NR);
      if (len < NR)  // the micro-kernel reads whole panels
        for (int64_t xi = 0; xi < 16; ++xi)
          for (int64_t c = 0; c < C; ++c) {
            T* v = vp + xi * vx + (q * C + c) * NR;
            std::fill(v + len, v + NR, T(0));
          }
    }
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t o0 = task * R, rows = std::min(R, O - o0);
      for (int64_t ir = 0; ir < rows; ir += MR)
        finite = wino_weights_panel(up + ir * C, ux, w, C, O, o0 + ir,
                                    std::min<int64_t>(MR, rows - ir), MR, flip) &&
                 finite;
      // M[xi] = U[xi] @ V[xi]: an MR-row panel of U[xi] stays in L1 over the tiles
      for (int64_t xi = 0; xi < 16; ++xi)
        for (int64_t c0 = 0; c0 < C; c0 += kc_blk) {
          const int64_t kc = std::min(kc_blk, C - c0);
          const T beta = c0 > 0 ? T(1) : T(0);
          for (int64_t ir = 0; ir < rows; ir += MR) {
            const int mr = int(std::min<int64_t>(MR, rows - ir));
            for (int64_t q = 0; q < np; ++q) {
              const int nr = int(std::min<int64_t>(NR, wn.tiles - q * NR));
              const auto fn = 2 * nr <= NR ? kern.panel_a_half : kern.panel_a;
              fn(kc, T(1), up + xi * ux + ir * C + c0 * MR, MR, vp + xi * vx + (q * C + c0) * NR,
                 NR, beta, mb + (ir * 16 + xi) * tp + q * NR, 16 * tp, mr, nr);
            }
          }
        }
      // Y = A^T M A (+ b) for these rows
      for (int64_t r = 0; r < rows; ++r)
        wino_runs(wn, 0, wn.tiles, tp,
                  [&](int64_t n, int64_t th, int64_t tw0, int64_t tw1, int64_t j) {
                    wino_output(y + (n * O + o0 + r) * g.P, mb + r * 16 * tp + j, tp,
                                b ? b[o0 + r] : T(0), g, th, tw0, tw1);
                  });
    }
  }
  return finite;
}

// y (N, O, OH, OW) = conv(x, w) + b through F(2x2, 3x3); threads over blocks of tiles. flip:
// w is (C, O, 3, 3), each filter flipped (wino_weights_panel). Returns false, y unspecified,
// when a weight is not finite.
template <typename T>
bool forward_winograd(T* y, const T* x, const T* w, const T* b, const Geom& g, int nt,
                      bool flip = false) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const Wino wn(g);
  if (wino_rows_ok(wn, g, NR, sizeof(T))) return forward_winograd_rows(y, x, w, b, g, nt, flip);
  const int64_t C = g.C, O = g.O, Op = round_up(O, MR);
  // Tiles per block: kWinoTiles, fewer when a block's V and M (16 * (C + O) values a tile)
  // would pass kWinoBytes (C or O in the thousands).
  const int64_t fit = kWinoBytes / (16 * (C + O) * int64_t(sizeof(T))) / NR * NR;
  int64_t nb = even_block(wn.tiles, std::clamp<int64_t>(fit, NR, kWinoTiles), NR);
  // Each block streams all of U through the cache: when U outweighs the V and M of every tile
  // (ResNet's last stage, 512 -> 512 at 7x7, batch 16: 16 MiB of U, 256 tiles), one block
  // per thread reads it the fewest times. Each tile's M is the same sum in any block.
  if (Op * C >= (C + O) * wn.tiles) nb = round_up((wn.tiles + nt - 1) / nt, NR);
  const int64_t blocks = (wn.tiles + nb - 1) / nb;
  const int64_t kc_blk = even_block(C, kern.kc, 1);
  nt = int(std::min<int64_t>(nt, blocks));
  // U[xi] (Op, C) 64 bytes apart: Op * C values is often a power of two, and the weight
  // transform's 16 streams would then fall into one set of L1's ways
  const int64_t ux = Op * C + 64 / int64_t(sizeof(T)), up_n = 16 * ux, zero_n = g.W + 1;
  // One V[xi] (C x nb) after another, 64 bytes apart: C * nb values is often a power of two,
  // and the input transform's 16 streams would then fall into one set of L1's ways.
  const int64_t vx = C * nb + 64 / int64_t(sizeof(T));
  const int64_t vp_n = 16 * vx, mb_n = O * 16 * nb + 64 / int64_t(sizeof(T)),
                t_n = 4 * wino_tn(wn, sizeof(T));
  const int64_t wr_n = (nb + 2) * int64_t(sizeof(WinoRow) / sizeof(T));  // tile rows of a block
  const size_t per_thread = size_t(vp_n + mb_n + t_n + wr_n) * sizeof(T) + 4 * 64;
  char* cur =
      align64(Workspace::get(size_t(up_n + zero_n) * sizeof(T) + size_t(nt) * per_thread + 3 * 64));
  T* up = carve<T>(&cur, up_n);
  T* zero = carve<T>(&cur, zero_n);
  char* thread_base = cur;
  std::fill(zero, zero + zero_n, T(0));
  if (!wino_weights(up, ux, w, g, MR, nt, flip)) return false;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
    T* vp = carve<T>(&tc, vp_n);  // vp[xi][panel][c][NR]
    T* mb = carve<T>(&tc, mb_n);  // mb[o][xi][tile]
    T* tmp = carve<T>(&tc, t_n);  // B^T d: zero in the padding columns
    WinoRow* wr = reinterpret_cast<WinoRow*>(carve<T>(&tc, wr_n));
    std::fill(tmp, tmp + t_n, T(0));
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t t0 = blk * nb, t1 = std::min(wn.tiles, t0 + nb), len = t1 - t0;
      const int64_t np = (len + NR - 1) / NR;  // panels
      // V, then zero columns past len in the last panel (the micro-kernel reads whole panels)
      wino_input(vp, vx, tmp, wr, x, zero, g, wn, t0, t1, NR);
      if (len % NR)
        for (int64_t xi = 0; xi < 16; ++xi)
          for (int64_t c = 0; c < C; ++c) {
            T* v = vp + xi * vx + (np - 1) * C * NR + c * NR;
            std::fill(v + len % NR, v + NR, T(0));
          }
      // M[xi] = U[xi] @ V[xi]
      for (int64_t xi = 0; xi < 16; ++xi)
        for (int64_t c0 = 0; c0 < C; c0 += kc_blk) {
          const int64_t kc = std::min(kc_blk, C - c0);
          const T beta = c0 > 0 ? T(1) : T(0);
          const T* a = up + xi * ux + c0 * MR;
          const auto tile = [&](int64_t q, int64_t ir) {
            const int nr = int(std::min<int64_t>(NR, len - q * NR));
            const auto fn = 2 * nr <= NR ? kern.panel_a_half : kern.panel_a;
            const T* bq = vp + xi * vx + q * C * NR + c0 * NR;
            const int mr = int(std::min<int64_t>(MR, O - ir));
            fn(kc, T(1), a + ir * C, MR, bq, NR, beta, mb + (ir * 16 + xi) * nb + q * NR, 16 * nb,
               mr, nr);
          };
          // U[xi]'s rows outermost when they outnumber the block's tiles: an MR-row panel of U
          // stays in L1 over the block's V panels (L2), instead of all of U[xi] streaming
          // through per panel of tiles (512 -> 512 at 7x7: 1.09x). The same products.
          if (Op > np * NR)
            for (int64_t ir = 0; ir < O; ir += MR)
              for (int64_t q = 0; q < np; ++q) tile(q, ir);
          else
            for (int64_t q = 0; q < np; ++q)
              for (int64_t ir = 0; ir < O; ir += MR) tile(q, ir);
        }
      // Y = A^T M A (+ b)
      wino_outputs(y, mb, nb, b, g, wn, t0, t1);
    }
  }
  return true;
}

// dx of a 3x3 stride-1 convolution with padding <= 2 is the 3x3 stride-1 convolution of dy with
// the weights transposed and flipped, padded 2 - p (input_grad_forward): through Winograd.
inline Geom wino_dx_geom(const Geom& g) {
  return make_geom(g.N, g.O, g.OH, g.OW, g.C, 3, 3, 1, 1, 2 - g.pt, 2 - g.pb, 2 - g.pl, 2 - g.pr, 1,
                   1, 1);
}
inline bool wino_dx_ok(const Geom& g) {
  return g.KH == 3 && g.KW == 3 && g.pt <= 2 && g.pb <= 2 && g.pl <= 2 && g.pr <= 2 && g.G == 1 &&
         g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && wino_ok(wino_dx_geom(g));
}

template <typename T>
void input_grad_winograd(T* dx, const T* dy, const T* w, const Geom& g, int nt) {
  // w (O, C, 3, 3) read as the flipped (C, O, 3, 3) by the weight transform itself; the caller
  // checked that w is finite
  forward_winograd(dx, dy, w, static_cast<const T*>(nullptr), wino_dx_geom(g), nt, true);
}

// Weight gradient. Forward is Y = A^T (U . V) A with U = G g G^T, so
//   dL/dU = (A dY A^T) . V,  dL/dg = G^T (dL/dU) G,
// summed over tiles and images: per xi, dU[xi] (O, C) = Z[xi] (O, tiles) @ V[xi]^T, with Z the
// 2x2 output-gradient tiles expanded to 4x4 by A. Computed as dU^T (C, O) = V @ Z^T on the
// micro-kernel (V rows read in place, Z packed transposed), per-thread partials reduced in
// thread order (deterministic for a given thread count).

// z[xi * ldz + o * nb + t - t0] = (A dY A^T)[xi] of dy[n][o] for the tiles [t0, t1), dY the 2x2
// output-gradient tile, zero past the plane's edge (zero: OW zeros). In chunks of L tiles
// (fixed-size loops: whole vectors).
template <typename T>
EMBER_SIMD void wino_dy(T* __restrict z, int64_t ldz, const T* dy, const T* zero, const Geom& g,
                        const Wino& wn, int64_t t0, int64_t t1, int64_t nb) {
  constexpr int64_t L = 64 / sizeof(T);
  for (int64_t o = 0; o < g.O; ++o)
    wino_runs(wn, t0, t1, nb, [&](int64_t n, int64_t th, int64_t tw0, int64_t tw1, int64_t j) {
      const T* ra = dy + ((n * g.O + o) * g.OH + 2 * th) * g.OW + 2 * tw0;  // dY row 0
      const T* rb = 2 * th + 1 < g.OH ? ra + g.OW : zero;                   // dY row 1
      const int64_t len = tw1 - tw0, full = std::min(tw1, g.OW / 2) - tw0;  // full: 2 columns
      for (int64_t k0 = 0; k0 < len; k0 += L) {
        const int64_t cnt = std::min(L, len - k0), pairs = std::clamp<int64_t>(full - k0, 0, cnt);
        T a0[L] = {}, a1[L] = {}, b0[L] = {}, b1[L] = {};
        for (int64_t k = 0; k < pairs; ++k) {
          a0[k] = ra[2 * (k0 + k)];
          a1[k] = ra[2 * (k0 + k) + 1];
          b0[k] = rb[2 * (k0 + k)];
          b1[k] = rb[2 * (k0 + k) + 1];
        }
        if (pairs < cnt) {  // the last tile of an odd-width row
          a0[pairs] = ra[2 * (k0 + pairs)];
          b0[pairs] = rb[2 * (k0 + pairs)];
        }
        T vv[16][L];
        for (int64_t k = 0; k < L; ++k) {
          const T r[4][2] = {{a0[k], a1[k]},  // A dY
                             {a0[k] + b0[k], a1[k] + b1[k]},
                             {a0[k] - b0[k], a1[k] - b1[k]},
                             {-b0[k], -b1[k]}};
          for (int i = 0; i < 4; ++i) {  // (A dY) A^T
            vv[4 * i][k] = r[i][0];
            vv[4 * i + 1][k] = r[i][0] + r[i][1];
            vv[4 * i + 2][k] = r[i][0] - r[i][1];
            vv[4 * i + 3][k] = -r[i][1];
          }
        }
        for (int xi = 0; xi < 16; ++xi) copy_short(z + xi * ldz + o * nb + j + k0, vv[xi], cnt);
      }
    });
}

template <typename T>
void weight_grad_winograd(T* dw, const T* dy, const T* x, const Geom& g, int nt) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const Wino wn(g);
  const int64_t C = g.C, O = g.O, Cp = round_up(C, MR), Op = round_up(O, NR);
  const int64_t fit = kWinoBytes / (16 * (C + O) * int64_t(sizeof(T))) / NR * NR;
  // tiles per block: the GEMM's depth, at most the micro-kernel's kc
  const int64_t nb =
      even_block(wn.tiles, std::clamp<int64_t>(fit, NR, std::min(kWinoTiles, kern.kc)), NR);
  const int64_t blocks = (wn.tiles + nb - 1) / nb;
  nt = int(std::min<int64_t>(nt, blocks));
  const int64_t zero_n = std::max(g.W, g.OW) + 1, du_n = 16 * C * O;
  // per thread: V[xi] (Cp, nb) row-major, vx apart (as in forward_winograd); Z (16, O, nb);
  // one xi's Z^T panels; the B^T d scratch; the block's tile rows; the dU^T partial
  const int64_t vx = Cp * nb + 64 / int64_t(sizeof(T));
  const int64_t zx = O * nb + 64 / int64_t(sizeof(T));  // Z[xi] (O, nb), 64 bytes apart
  const int64_t vp_n = 16 * vx, z_n = 16 * zx, bp_n = Op * nb, t_n = 4 * wino_tn(wn, sizeof(T));
  const int64_t wr_n = (nb + 2) * int64_t(sizeof(WinoRow) / sizeof(T));
  const size_t per_thread = size_t(vp_n + z_n + bp_n + t_n + wr_n + du_n) * sizeof(T) + 6 * 64;
  char* cur =
      align64(Workspace::get(size_t(zero_n + du_n) * sizeof(T) + size_t(nt) * per_thread + 3 * 64));
  T* zero = carve<T>(&cur, zero_n);
  T* du = carve<T>(&cur, du_n);  // dU[xi][c][o], summed over threads
  char* thread_base = cur;
  std::fill(zero, zero + zero_n, T(0));
  auto thread_part = [&](int th) {
    char* tc = thread_base + per_thread * size_t(th);
    return carve<T>(&tc, du_n);
  };
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num();
    T* part = thread_part(tid);
    char* tc = reinterpret_cast<char*>(part) + (size_t(du_n) * sizeof(T) + 63) / 64 * 64;
    T* vp = carve<T>(&tc, vp_n);  // rows C..Cp are read by the micro-kernel: zero
    T* z = carve<T>(&tc, z_n);
    T* bp = carve<T>(&tc, bp_n);
    T* tmp = carve<T>(&tc, t_n);
    WinoRow* wr = reinterpret_cast<WinoRow*>(carve<T>(&tc, wr_n));
    std::fill(part, part + du_n, T(0));
    std::fill(vp, vp + vp_n, T(0));
    std::fill(tmp, tmp + t_n, T(0));
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t t0 = blk * nb, t1 = std::min(wn.tiles, t0 + nb), len = t1 - t0;
      wino_input(vp, vx, tmp, wr, x, zero, g, wn, t0, t1, int(nb));  // one panel: rows of nb
      wino_dy(z, zx, dy, zero, g, wn, t0, t1, nb);
      for (int64_t xi = 0; xi < 16; ++xi) {
        pack_dy_t(bp, z + xi * zx, nb, 0, len, O, NR, kern.pack_t);
        for (int64_t q0 = 0; q0 < O; q0 += NR) {
          const int nr = int(std::min<int64_t>(NR, O - q0)), W = panel_width(nr, NR);
          const auto fn = W < NR ? kern.rows_a_half : kern.rows_a;
          for (int64_t ir = 0; ir < C; ir += MR) {
            const int mr = int(std::min<int64_t>(MR, C - ir));
            fn(len, T(1), vp + xi * vx + ir * nb, nb, bp + q0 * len, W, T(1),
               part + (xi * C + ir) * O + q0, O, mr, nr);
          }
        }
      }
    }
    // dU = the partials summed in thread order (after the implicit barrier)
#pragma omp for schedule(static)
    for (int64_t i = 0; i < du_n; ++i) {
      T s = T(0);
      for (int th = 0; th < nt; ++th) s += thread_part(th)[i];
      du[i] = s;
    }
  }
  // dw[o][c] = G^T dU[.][c][o] G
  const T h = T(0.5);
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c) {
      T u[4][4], p[3][4];
      for (int xi = 0; xi < 16; ++xi) u[xi / 4][xi % 4] = du[(xi * C + c) * O + o];
      for (int j = 0; j < 4; ++j) {  // G^T dU
        p[0][j] = u[0][j] + h * (u[1][j] + u[2][j]);
        p[1][j] = h * (u[1][j] - u[2][j]);
        p[2][j] = h * (u[1][j] + u[2][j]) + u[3][j];
      }
      T* d = dw + (o * C + c) * 9;
      for (int i = 0; i < 3; ++i) {  // (G^T dU) G
        d[3 * i] = p[i][0] + h * (p[i][1] + p[i][2]);
        d[3 * i + 1] = h * (p[i][1] - p[i][2]);
        d[3 * i + 2] = h * (p[i][1] + p[i][2]) + p[i][3];
      }
    }
}

// ---------------------------------------------------------------- depthwise engine
// groups == C > 1 (one input channel per group, MobileNet's depthwise layer, with any channel
// multiplier Og): as a GEMM each task would have Og output rows and a depth of KH*KW, wasting
// the micro-kernel. Instead
// each output plane is computed directly as a sum of shifted input planes: the input is zero-padded
// and split by stride phase (phase (a, b) holds x_pad[a + sh*i][b + sw*j], Hs x Ws), so tap (kh,
// kw) at output (oh, ow) reads phase (kh*dh % sh, kw*dw % sw) at (oh + kh*dh / sh, ow + kw*dw /
// sw): every output row is, per tap, a unit-stride run of one phase row, and the taps of an output
// element are summed in registers (tap_rows). The input gradient is the same gather on dy
// zero-padded, per phase of dx (the taps that reach it). Tasks are (image, channel) planes; the
// weight gradient is parallel over channels, each thread summing its channels' images in a fixed
// order: deterministic.

// One input channel per group, more than one channel. (One input channel and several outputs,
// a LeNet first layer, is an ordinary convolution: the GEMM engines are much faster there.)
bool depthwise_ok(const Geom& g) {
  return g.G == g.C && g.Cg == 1 && (g.Og == 1 || g.C > 1) && g.K > 0;
}

// Whether tap_rows_any unrolls n taps; otherwise a row is one axpy per tap, and short rows cost
// more than one flat run.
inline bool taps_unrolled(int64_t n) {
  return n == 9 || n == 7 || n == 5 || n == 4 || n == 3 || n == 2 || n == 1;
}

// Values in one 64-byte vector: the flat runs' unit, the weight gradient's partial-sum lanes.
template <typename T>
constexpr int64_t kDwLanes = 64 / int64_t(sizeof(T));

struct Depthwise {
  int64_t Hs, Ws, plane;     // one stride phase of the padded input; plane = Hs*Ws
  int64_t mh, mw, Hy, Wy;    // dy zero-padded by (mh, mw) rows/columns on top/left: (Hy, Wy)
  std::vector<int64_t> off;  // per tap: where phase planes xs + off hold its (0, 0) input
  std::vector<int64_t> w0;   // per column phase b: the first input column it holds
  int64_t a0, i0;            // input row 0 is row i0 of row phase a0
  explicit Depthwise(const Geom& g)
      : Hs(ceil_div_pos(g.H + g.pt + g.pb, g.sh)),
        Ws(ceil_div_pos(g.W + g.pl + g.pr, g.sw)),
        plane(mul_checked(Hs, Ws, "conv2d")),
        mh((g.KH - 1) * g.dh / g.sh),
        mw((g.KW - 1) * g.dw / g.sw),
        Hy(mh + Hs),
        Wy(mw + Ws),
        off(g.KH * g.KW),
        w0(g.sw),
        a0(g.pt % g.sh),
        i0(g.pt / g.sh) {
    for (int64_t b = 0; b < g.sw; ++b) w0[b] = ((b - g.pl) % g.sw + g.sw) % g.sw;
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t r = kh * g.dh, c = kw * g.dw;
        off[kh * g.KW + kw] = (r % g.sh * g.sw + c % g.sw) * plane + r / g.sh * Ws + c / g.sw;
      }
  }
  int64_t phases_size(const Geom& g) const { return mul_checked(plane, g.sh * g.sw, "conv2d"); }
  // The phase planes' buffer: the planes and L values of zero slack for the flat runs that read
  // past them.
  int64_t xs_size(const Geom& g, int64_t L) const {
    return add_checked(phases_size(g), L, "conv2d");
  }
  // Flat positions q = oh*Ws + ow covering the output, rounded up to whole vectors (<= plane +
  // L: the phase planes' buffer has L values of slack).
  int64_t flat_len(const Geom& g, int64_t L) const { return round_up((g.OH - 1) * Ws + g.OW, L); }
};

// out[r * lo + j] = bias + sum over taps t < n of wt[t] * src[r * ls + j + off[t]], for r < rows,
// j < cols: the taps summed in order in registers, a vector of outputs at a time. NT > 0: n ==
// NT, unrolled; NT = 0 the same sums, a vector's taps at a time (an axpy per tap over the row
// was jammed by GCC into a scalar loop).
template <int NT, typename T>
inline void tap_rows(T* __restrict out, int64_t lo, const T* __restrict src, int64_t ls,
                     int64_t rows, int64_t cols, const int64_t* off, const T* wt, int64_t n,
                     T bias) {
  constexpr int64_t L = kDwLanes<T>;
  if constexpr (NT > 0) {
    // Two vectors of outputs at a time, then one: a vector's chain of NT dependent FMAs alone
    // waits on their latency (the scalar loop GCC vectorised ran at a quarter of the FMA
    // throughput). Written out as separate arrays: GCC kept one array of both in memory.
    T wl[NT];
    int64_t ol[NT];
    for (int t = 0; t < NT; ++t) wl[t] = wt[t], ol[t] = off[t];
    const int64_t c2 = cols / (2 * L) * (2 * L), c1 = cols / L * L;
    for (int64_t r = 0; r < rows; ++r) {
      const T* s = src + r * ls;
      T* o = out + r * lo;
      for (int64_t j0 = 0; j0 < c2; j0 += 2 * L) {
        T a0[L], a1[L];
        for (int64_t j = 0; j < L; ++j) a0[j] = bias, a1[j] = bias;
        // Unrolled: GCC 12 left the tap loop rolled and the AVX2 clone scalar (4x slower than
        // the AVX-512 one, whose vector is one row of L).
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
          const T wv = wl[t];
          const T* st = s + ol[t] + j0;
          for (int64_t j = 0; j < L; ++j) a0[j] += wv * st[j], a1[j] += wv * st[L + j];
        }
        for (int64_t j = 0; j < L; ++j) o[j0 + j] = a0[j], o[j0 + L + j] = a1[j];
      }
      for (int64_t j0 = c2; j0 < c1; j0 += L) {
        T a0[L];
        for (int64_t j = 0; j < L; ++j) a0[j] = bias;
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
          const T wv = wl[t];
          const T* st = s + ol[t] + j0;
          for (int64_t j = 0; j < L; ++j) a0[j] += wv * st[j];
        }
        for (int64_t j = 0; j < L; ++j) o[j0 + j] = a0[j];
      }
      for (int64_t j = c1; j < cols; ++j) {
        T acc = bias;
        for (int t = 0; t < NT; ++t) acc += wl[t] * s[ol[t] + j];
        o[j] = acc;
      }
    }
  } else {  // a vector of outputs at a time, then the rest one by one
    const int64_t cv = cols / L * L;
    for (int64_t r = 0; r < rows; ++r) {
      const T* s = src + r * ls;
      T* o = out + r * lo;
      for (int64_t j0 = 0; j0 < cv; j0 += L) {
        T acc[L];
        for (int64_t j = 0; j < L; ++j) acc[j] = bias;
        for (int64_t t = 0; t < n; ++t) {
          const T wv = wt[t];
          const T* st = s + off[t] + j0;
          for (int64_t j = 0; j < L; ++j) acc[j] += wv * st[j];
        }
        for (int64_t j = 0; j < L; ++j) o[j0 + j] = acc[j];
      }
      for (int64_t j = cv; j < cols; ++j) {
        T acc = bias;
        for (int64_t t = 0; t < n; ++t) acc += wt[t] * s[off[t] + j];
        o[j] = acc;
      }
    }
  }
}

// tap_rows unrolled for the tap counts of 3x3 kernels (all 9 taps, or a stride-2 phase's 4, 2, 1)
// and of 1-D kernels 3, 5, 7: conv1d's depthwise layers, whose rows then skip the flat run
// through scratch (32x128x256 k7 pad 3, float32, 1 thread: forward 0.60 -> 0.44 ms, with the
// backward 3.8 -> 2.3 ms). (A second chain in tap_rows<0> for other counts ran 2.8x slower at
// 5x5: GCC kept both vectors in memory.)
template <typename T>
inline void tap_rows_any(T* out, int64_t lo, const T* src, int64_t ls, int64_t rows, int64_t cols,
                         const int64_t* off, const T* wt, int64_t n, T bias) {
  switch (n) {
    case 9:
      return tap_rows<9>(out, lo, src, ls, rows, cols, off, wt, n, bias);
    case 7:
      return tap_rows<7>(out, lo, src, ls, rows, cols, off, wt, n, bias);
    case 5:
      return tap_rows<5>(out, lo, src, ls, rows, cols, off, wt, n, bias);
    case 4:
      return tap_rows<4>(out, lo, src, ls, rows, cols, off, wt, n, bias);
    case 3:
      return tap_rows<3>(out, lo, src, ls, rows, cols, off, wt, n, bias);
    case 2:
      return tap_rows<2>(out, lo, src, ls, rows, cols, off, wt, n, bias);
    case 1:
      return tap_rows<1>(out, lo, src, ls, rows, cols, off, wt, n, bias);
    default:
      return tap_rows<0>(out, lo, src, ls, rows, cols, off, wt, n, bias);
  }
}

// rows x cols of src (row stride ls) into dst (row stride ld), in fixed-size blocks.
template <typename T>
inline void copy_plane(T* __restrict dst, int64_t ld, const T* __restrict src, int64_t ls,
                       int64_t rows, int64_t cols) {
  constexpr int64_t B = 128 / int64_t(sizeof(T));
  for (int64_t r = 0; r < rows; ++r) {
    T* d = dst + r * ld;
    const T* s = src + r * ls;
    int64_t j = 0;
    for (; j + B <= cols; j += B)
      for (int64_t u = 0; u < B; ++u) d[j + u] = s[j + u];
    copy_short(d + j, s + j, cols - j);
  }
}

// The interior of the phase planes xs = x (H, W), one channel; the border stays as the caller
// left it (zero). No division per row (the stride and padding are run-time values), and runs
// copied in fixed-size blocks (a loop would become a call to memcpy, slow for 8 values).
template <typename T>
inline void fill_dw_phases(T* __restrict xs, const T* __restrict x, const Geom& g,
                           const Depthwise& d) {
  constexpr int64_t B = 128 / int64_t(sizeof(T));
  int64_t a = d.a0, i = d.i0;  // padded row h + pt = a + sh * i
  for (int64_t h = 0; h < g.H; ++h) {
    const T* xr = x + h * g.W;
    T* ph = xs + a * g.sw * d.plane + i * d.Ws;
    if (g.sw == 1) {
      T* dst = ph + g.pl;
      int64_t j = 0;
      for (; j + B <= g.W; j += B)
        for (int64_t u = 0; u < B; ++u) dst[j + u] = xr[j + u];
      copy_short(dst + j, xr + j, g.W - j);
    } else if (g.sw == 2) {        // column pairs to both phases in one vectorised pass
      const int64_t e = g.pl % 2;  // the phase of input column 0
      T* pe = ph + e * d.plane + g.pl / 2;
      T* po = ph + (1 - e) * d.plane + (g.pl + 1) / 2;
      for (int64_t u = 0; u < g.W / 2; ++u) pe[u] = xr[2 * u], po[u] = xr[2 * u + 1];
      if (g.W % 2) pe[g.W / 2] = xr[g.W - 1];
    } else {
      for (int64_t b = 0; b < g.sw; ++b) {
        const int64_t w0 = d.w0[b];  // first column of phase b
        T* dst = ph + b * d.plane + (w0 + g.pl) / g.sw;
        for (int64_t j = 0; w0 + j * g.sw < g.W; ++j) dst[j] = xr[w0 + j * g.sw];
      }
    }
    if (++a == g.sh) a = 0, ++i;
  }
}

// y[n, c*Og + m] = b + depthwise conv of x[n, c] for the tasks [t0, t1) of (image, out channel);
// xs: this thread's phase planes, zero, *filled names the input plane they hold (-1: none).
// Output rows narrower than a vector, or taps tap_rows_any does not unroll (tmp given): one flat
// run of flat_len positions q = oh*Ws + ow into tmp, the columns between the rows dropped (whole
// vectors, one run per tap, instead of a short row and its remainder each).
template <typename T>
EMBER_SIMD void depthwise_fwd_tasks(T* y, const T* x, const T* w, const T* b, const Geom& g,
                                    const Depthwise& d, T* xs, T* tmp, int64_t* filled, int64_t t0,
                                    int64_t t1) {
  for (int64_t t = t0, o = t0 % g.O; t < t1; ++t, o = o + 1 == g.O ? 0 : o + 1) {
    const int64_t xi = g.Og == 1 ? t : (t - o) / g.Og + o / g.Og;  // n * C + o / Og
    if (*filled != xi) fill_dw_phases(xs, x + xi * g.H * g.W, g, d);
    *filled = xi;
    const T bias = b ? b[o] : T(0);
    if (!tmp) {
      tap_rows_any(y + t * g.P, g.OW, xs, d.Ws, g.OH, g.OW, d.off.data(), w + o * g.K, g.K, bias);
      continue;
    }
    tap_rows_any(tmp, 0, xs, 0, 1, d.flat_len(g, kDwLanes<T>), d.off.data(), w + o * g.K, g.K,
                 bias);
    copy_plane(y + t * g.P, g.OW, tmp, d.Ws, g.OH, g.OW);
  }
}

// One stride phase (a, b) of padded dx: rows a + sh*i for i in [i0, i1), columns b + sw*j for j
// in [j0, j1) (those inside dx), and the taps reaching it: tap t is weight ks[t] of output
// channel ms[t], reading dy padded at off[t] + i*Wy + j relative to (i0, j0).
struct DxPhase {
  int64_t a, b, i0, i1, j0, j1;
  std::vector<int64_t> off, ms, ks;
};

std::vector<DxPhase> dx_phases(const Geom& g, const Depthwise& d) {
  std::vector<DxPhase> out;
  for (int64_t a = 0; a < g.sh; ++a)
    for (int64_t b = 0; b < g.sw; ++b) {
      DxPhase p{a,
                b,
                ceil_div_pos(g.pt - a, g.sh),
                ceil_div_pos(g.pt + g.H - a, g.sh),
                ceil_div_pos(g.pl - b, g.sw),
                ceil_div_pos(g.pl + g.W - b, g.sw),
                {},
                {},
                {}};
      if (g.sw == 2) p.j0 = 0, p.j1 = d.Ws;  // whole padded rows, interleaved in one pass
      if (p.i1 <= p.i0 || p.j1 <= p.j0) continue;
      for (int64_t m = 0; m < g.Og; ++m)
        for (int64_t kh = 0; kh < g.KH; ++kh)
          for (int64_t kw = 0; kw < g.KW; ++kw) {
            const int64_t r = kh * g.dh, c = kw * g.dw;
            if (r % g.sh != a || c % g.sw != b) continue;
            p.off.push_back(m * d.Hy * d.Wy + (p.i0 - (r - a) / g.sh + d.mh) * d.Wy +
                            (p.j0 - (c - b) / g.sw + d.mw));
            p.ms.push_back(m);
            p.ks.push_back(kh * g.KW + kw);
          }
      out.push_back(std::move(p));
    }
  return out;
}

// dx[n, c] = the adjoint of the forward for the tasks [t0, t1) of (image, channel): per phase
// of padded dx, its taps gather dy zero-padded (dyp: this thread's, border zero, L values of
// slack). Column stride 1: straight into dx's rows, as one flat run through tmp when they are
// narrower than a vector; 2: both column phases of whole padded rows into tmp (2 planes), then
// interleaved into dx in one pass; larger: through tmp, a strided copy. wt: Og*K weights.
template <typename T>
EMBER_SIMD void depthwise_dx_tasks(T* dx, const T* dy, const T* w, const Geom& g,
                                   const Depthwise& d, const std::vector<DxPhase>& phases, T* dyp,
                                   T* tmp, T* wt, int64_t t0, int64_t t1) {
  constexpr int64_t L = kDwLanes<T>;
  for (int64_t t = t0, c = t0 % g.C; t < t1; ++t, c = c + 1 == g.C ? 0 : c + 1) {
    T* dxt = dx + t * g.H * g.W;
    for (int64_t m = 0; m < g.Og; ++m)
      copy_plane(dyp + m * d.Hy * d.Wy + d.mh * d.Wy + d.mw, d.Wy, dy + (t * g.Og + m) * g.P, g.OW,
                 g.OH, g.OW);
    for (const DxPhase& p : phases) {
      const int64_t n = int64_t(p.off.size()), rows = p.i1 - p.i0, cols = p.j1 - p.j0;
      for (int64_t u = 0; u < n; ++u) wt[u] = w[(c * g.Og + p.ms[u]) * g.K + p.ks[u]];
      const int64_t h0 = p.a + g.sh * p.i0 - g.pt;  // dx row of the phase's first
      if (g.sw == 2) {
        T* tb = tmp + p.b * rows * cols;
        tap_rows_any(tb, cols, dyp, d.Wy, rows, cols, p.off.data(), wt, n, T(0));
        if (p.b == 0) continue;
        const int64_t e = g.pl % 2;  // dx column 0's phase: columns 2u from phase e, 2u + 1 not
        for (int64_t i = 0; i < rows; ++i) {
          const T* te = tmp + e * rows * cols + i * cols + g.pl / 2;
          const T* to = tmp + (1 - e) * rows * cols + i * cols + (g.pl + 1) / 2;
          T* dr = dxt + (h0 + g.sh * i) * g.W;
          for (int64_t u = 0; u < g.W / 2; ++u) dr[2 * u] = te[u], dr[2 * u + 1] = to[u];
          if (g.W % 2) dr[g.W - 1] = te[g.W / 2];
        }
        continue;
      }
      T* row0 = dxt + h0 * g.W + (p.b + g.sw * p.j0 - g.pl);
      if (g.sw == 1 && cols >= L && taps_unrolled(n)) {
        tap_rows_any(row0, g.sh * g.W, dyp, d.Wy, rows, cols, p.off.data(), wt, n, T(0));
        continue;
      }
      if (g.sw == 1) {
        const int64_t q = round_up((rows - 1) * d.Wy + cols, L);
        tap_rows_any(tmp, 0, dyp, 0, 1, q, p.off.data(), wt, n, T(0));
        copy_plane(row0, g.sh * g.W, tmp, d.Wy, rows, cols);
        continue;
      }
      tap_rows_any(tmp, cols, dyp, d.Wy, rows, cols, p.off.data(), wt, n, T(0));
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) row0[i * g.sh * g.W + j * g.sw] = tmp[i * cols + j];
    }
  }
}

// acc[m][k][l] += the products dyf[q] * (tap k's input at q) for q = l mod L, with dyf = dy[n,
// c*Og + m] laid out with row stride Ws (q = oh*Ws + ow, zero between the rows and up to a whole
// vector past the last; xs has as much slack after it), for every image
// n in order: long unit-stride runs into L1-resident partial sums (a fixed order). Between the
// rows dyf is zero, so those products vanish (unless the input holds an infinity or NaN there).
template <typename T>
EMBER_SIMD void depthwise_dw_channel(T* __restrict acc, const T* dy, const T* x, const Geom& g,
                                     const Depthwise& d, T* xs, T* __restrict dyf, int64_t c) {
  constexpr int64_t L = kDwLanes<T>;
  const int64_t Qv = round_up((g.OH - 1) * d.Ws + g.OW, L);  // dyf is zero past the last row
  for (int64_t n = 0; n < g.N; ++n) {
    fill_dw_phases(xs, x + (n * g.C + c) * g.H * g.W, g, d);
    for (int64_t m = 0; m < g.Og; ++m) {
      copy_plane(dyf, d.Ws, dy + ((n * g.C + c) * g.Og + m) * g.P, g.OW, g.OH, g.OW);
      // Four taps at a time: four independent chains of FMAs (one chain waits on its latency);
      // written out, as GCC kept an array of four accumulators in memory.
      int64_t k = 0;
      for (; k + 4 <= g.K; k += 4) {
        T* __restrict ak = acc + (m * g.K + k) * L;
        const T *s0 = xs + d.off[k], *s1 = xs + d.off[k + 1], *s2 = xs + d.off[k + 2],
                *s3 = xs + d.off[k + 3];
        T a0[L], a1[L], a2[L], a3[L];
        for (int64_t j = 0; j < L; ++j)
          a0[j] = ak[j], a1[j] = ak[L + j], a2[j] = ak[2 * L + j], a3[j] = ak[3 * L + j];
        for (int64_t q = 0; q < Qv; q += L)
          for (int64_t j = 0; j < L; ++j) {
            const T dv = dyf[q + j];
            a0[j] += dv * s0[q + j];
            a1[j] += dv * s1[q + j];
            a2[j] += dv * s2[q + j];
            a3[j] += dv * s3[q + j];
          }
        for (int64_t j = 0; j < L; ++j)
          ak[j] = a0[j], ak[L + j] = a1[j], ak[2 * L + j] = a2[j], ak[3 * L + j] = a3[j];
      }
      for (; k < g.K; ++k) {  // the rest: even and odd vectors as two chains
        const T* s = xs + d.off[k];
        T* __restrict ak = acc + (m * g.K + k) * L;
        T a0[L], a1[L];
        for (int64_t j = 0; j < L; ++j) a0[j] = ak[j], a1[j] = T(0);
        int64_t q = 0;
        for (; q + 2 * L <= Qv; q += 2 * L)
          for (int64_t j = 0; j < L; ++j) {
            a0[j] += dyf[q + j] * s[q + j];
            a1[j] += dyf[q + L + j] * s[q + L + j];
          }
        for (; q < Qv; q += L)
          for (int64_t j = 0; j < L; ++j) a0[j] += dyf[q + j] * s[q + j];
        for (int64_t j = 0; j < L; ++j) ak[j] = a0[j] + a1[j];
      }
    }
  }
}

// Per-thread buffers, allocated (and zeroed) before the parallel region: a failed allocation
// inside one would end the process, outside it raises OutOfMemoryError.
template <typename T>
std::unique_ptr<T[]> depthwise_workspace(int64_t per, int nt) {
  const size_t total = size_t(mul_checked(per, nt, "conv2d"));
  std::unique_ptr<T[]> ws(new T[total]);
  std::fill(ws.get(), ws.get() + total, T(0));
  return ws;
}

template <typename T>
void depthwise_forward(T* y, const T* x, const T* w, const T* b, const Geom& g, int nt) {
  const Depthwise d(g);
  const bool flat = g.OW < kDwLanes<T> || !taps_unrolled(g.K);
  const int64_t xsn = d.xs_size(g, kDwLanes<T>), tasks = g.N * g.O;
  const int64_t per = add_checked(xsn, flat ? d.flat_len(g, kDwLanes<T>) : 0, "conv2d");
  const std::unique_ptr<T[]> ws = depthwise_workspace<T>(per, nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    const int64_t t0 = tasks * tid / nth, t1 = tasks * (tid + 1) / nth;
    T* xs = ws.get() + tid * per;
    int64_t filled = -1;
    depthwise_fwd_tasks(y, x, w, b, g, d, xs, flat ? xs + xsn : nullptr, &filled, t0, t1);
  }
}

template <typename T>
void depthwise_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const Geom& g, int nt) {
  const Depthwise d(g);
  if (dx) {
    const std::vector<DxPhase> phases = dx_phases(g, d);
    constexpr int64_t L = kDwLanes<T>;
    const int64_t hw = mul_checked(d.Hy, d.Wy, "conv2d");
    const int64_t dyp = add_checked(mul_checked(hw, g.Og, "conv2d"), L, "conv2d");
    const int64_t tmp = std::max(2 * d.plane, hw + L);  // 2 planes (stride 2) or a flat run
    const int64_t per = add_checked(dyp + tmp, g.Og * g.K, "conv2d");
    const int64_t tasks = g.N * g.C;
    const std::unique_ptr<T[]> ws = depthwise_workspace<T>(per, nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
      T* buf = ws.get() + tid * per;
      depthwise_dx_tasks(dx, dy, w, g, d, phases, buf, buf + dyp, buf + dyp + tmp,
                         tasks * tid / nth, tasks * (tid + 1) / nth);
    }
  }
  if (dw) {
    const int64_t accn = mul_checked(g.Og * g.K, kDwLanes<T>, "conv2d");
    const int64_t xsn = d.xs_size(g, kDwLanes<T>);
    const int64_t per = add_checked(xsn + d.plane + kDwLanes<T>, accn, "conv2d");
    const std::unique_ptr<T[]> ws = depthwise_workspace<T>(per, nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      T* xs = ws.get() + omp_get_thread_num() * per;
      T* dyf = xs + xsn;
      T* acc = dyf + d.plane + kDwLanes<T>;
#pragma omp for schedule(static)
      for (int64_t c = 0; c < g.C; ++c) {
        std::fill(acc, acc + accn, T(0));
        depthwise_dw_channel(acc, dy, x, g, d, xs, dyf, c);
        for (int64_t i = 0; i < g.Og * g.K; ++i) {
          T s = T(0);
          for (int64_t l = 0; l < kDwLanes<T>; ++l) s += acc[i * kDwLanes<T> + l];
          dw[c * g.Og * g.K + i] = s;
        }
      }
    }
  }
}

// ---------------------------------------------------------------- phase-plane-sized depthwise
// Small output planes of an input exactly stride times their size (H = sh * OH, W = sw * OW:
// stride 1 with 'same' padding, or stride 2 halving an even plane, as in MobileNet's late 3x3
// depthwise layers at 8x8 and 4x4): the depthwise engine's padded phase planes, junk columns and
// copies in and out per plane cost more than its taps. Here the input splits into sh * sw stride
// phases of exactly the output's size (phase (a, b) at i, j: x[sh*i + a][sw*j + b]; with stride 1
// that is x itself, read in place), and tap t of output p reads its phase at p + off[t], with a
// mask per tap and position where it falls in the padding (or would wrap to another row or phase):
//   acc = mask ? acc + w[t] * src[p + off[t]] : acc,
// the taps in the depthwise engine's order. The input gradient gathers dy the same way per phase
// of dx (the taps landing there, offsets negated); the weight gradient sums dy times the masked
// reads. A masked value is never multiplied: an infinite weight meets no padding and an inf or
// NaN no output reads never meets dy, as in torch's float32 convolution.
constexpr int64_t kSmallMaxOW = 15;                   // wider outputs: the depthwise engine
constexpr int64_t kSmallMaxMasks = int64_t(1) << 16;  // K * P masks at most (taller planes too)

bool depthwise_small_ok(const Geom& g) {
  return depthwise_ok(g) && g.Og == 1 && g.H == g.sh * g.OH && g.W == g.sw * g.OW &&
         g.OW <= kSmallMaxOW && g.K * g.P <= kSmallMaxMasks;
}

// Threads: a multiply-add here comes with a select and two loads (the GEMM's with a fraction of a
// load), so it counts 8 toward kMinWorkPerThread (32 x 256 channels of 4x4 from 8x8 ran serial,
// 0.4 ms, under the GEMM's rule).
inline int small_threads(const Geom& g) {
  return threads_for(mul_checked(g.N * g.C * g.P, g.K * 8, "conv2d"), kMinWorkPerThread);
}

template <typename T>
using MaskOf = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// The taps of the forward (phase < 0: every tap, reading the phase planes, phase-major, P values
// each) or of one phase a * sw + b of the input gradient (the taps landing there, reading dy):
// weight index ks[u], read offset off[u], mask[u][p] = -1 where the read is inside the plane.
template <typename T>
struct SmallTaps {
  std::vector<int64_t> off, ks;
  std::vector<MaskOf<T>> mask;
  int64_t lo = 0, hi = 0;  // reads reach [p + lo, p + hi]
  SmallTaps(const Geom& g, int64_t phase = -1) {
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const int64_t r = kh * g.dh - g.pt, c = kw * g.dw - g.pl;
        const int64_t dr = floor_div(r, g.sh), dc = floor_div(c, g.sw);
        const int64_t ph = (r - dr * g.sh) * g.sw + (c - dc * g.sw);
        if (phase >= 0 && ph != phase) continue;
        const int64_t sgn = phase < 0 ? 1 : -1;  // dx reads dy at i - (dr, dc)
        bool live = false;
        for (int64_t p = 0; p < g.P; ++p) {
          const int64_t i = p / g.OW + sgn * dr, j = p % g.OW + sgn * dc;
          live |= i >= 0 && i < g.OH && j >= 0 && j < g.OW;
          mask.push_back(i >= 0 && i < g.OH && j >= 0 && j < g.OW ? -1 : 0);
        }
        // a tap reading only padding reads (and never uses) its plane at p: its offset could
        // be as large as the padding, and the buffers' margins with it
        const int64_t o = live ? (phase < 0 ? ph * g.P : 0) + sgn * (dr * g.OW + dc) : 0;
        off.push_back(o);
        ks.push_back(kh * g.KW + kw);
        lo = std::min(lo, o), hi = std::max(hi, o);
      }
  }
  int64_t n() const { return int64_t(off.size()); }
};

// Per-thread buffer for a plane's reads: -lo zeros, the plane or its phases, hi zeros.
template <typename T>
int64_t small_buf_size(const Geom& g, const SmallTaps<T>& st) {
  return st.hi - st.lo + g.H * g.W;
}

// out[p] = bias + sum over taps u < n, in order, of wt[u] * src[p + off[u]] where mask[u][p].
template <typename T>
inline void small_taps_plane(T* __restrict out, const T* src, const int64_t* off,
                             const MaskOf<T>* mask, const T* wt, int64_t n, int64_t P, T bias) {
  constexpr int64_t L = kDwLanes<T>;
  int64_t p0 = 0;
  for (; p0 + 2 * L <= P; p0 += 2 * L) {  // two independent chains
    T a0[L], a1[L];
    for (int64_t j = 0; j < L; ++j) a0[j] = bias, a1[j] = bias;
    for (int64_t t = 0; t < n; ++t) {
      const T wv = wt[t];
      const T* s = src + off[t] + p0;
      const MaskOf<T>* m = mask + t * P + p0;
      for (int64_t j = 0; j < L; ++j) {
        const T v0 = s[j], v1 = s[L + j];  // read unconditionally: the select vectorises
        a0[j] = m[j] ? a0[j] + wv * v0 : a0[j];
        a1[j] = m[L + j] ? a1[j] + wv * v1 : a1[j];
      }
    }
    for (int64_t j = 0; j < L; ++j) out[p0 + j] = a0[j], out[p0 + L + j] = a1[j];
  }
  for (; p0 + L <= P; p0 += L) {
    T a0[L];
    for (int64_t j = 0; j < L; ++j) a0[j] = bias;
    for (int64_t t = 0; t < n; ++t) {
      const T wv = wt[t];
      const T* s = src + off[t] + p0;
      const MaskOf<T>* m = mask + t * P + p0;
#pragma GCC unroll 1  // unrolled first, GCC turns the select into branches
      for (int64_t j = 0; j < L; ++j) {
        const T v = s[j];
        a0[j] = m[j] ? a0[j] + wv * v : a0[j];
      }
    }
    for (int64_t j = 0; j < L; ++j) out[p0 + j] = a0[j];
  }
  for (; p0 < P; ++p0) {
    T acc = bias;
    for (int64_t t = 0; t < n; ++t)
      if (mask[t * P + p0]) acc += wt[t] * src[off[t] + p0];
    out[p0] = acc;
  }
}

// small_taps_plane for two planes with the same taps (their sources and weights apart): planes
// of one vector would otherwise run one chain of dependent FMAs and selects.
template <typename T>
inline void small_taps_2planes(T* __restrict out0, T* __restrict out1, const T* src0, const T* src1,
                               const int64_t* off, const MaskOf<T>* mask, const T* wt0,
                               const T* wt1, int64_t n, int64_t P, T bias0, T bias1) {
  constexpr int64_t L = kDwLanes<T>;
  int64_t p0 = 0;
  for (; p0 + L <= P; p0 += L) {
    T a0[L], a1[L];
    for (int64_t j = 0; j < L; ++j) a0[j] = bias0, a1[j] = bias1;
    for (int64_t t = 0; t < n; ++t) {
      const T w0 = wt0[t], w1 = wt1[t];
      const T *s0 = src0 + off[t] + p0, *s1 = src1 + off[t] + p0;
      const MaskOf<T>* m = mask + t * P + p0;
      for (int64_t j = 0; j < L; ++j) {
        const T v0 = s0[j], v1 = s1[j];
        a0[j] = m[j] ? a0[j] + w0 * v0 : a0[j];
        a1[j] = m[j] ? a1[j] + w1 * v1 : a1[j];
      }
    }
    for (int64_t j = 0; j < L; ++j) out0[p0 + j] = a0[j], out1[p0 + j] = a1[j];
  }
  for (; p0 < P; ++p0) {
    T acc0 = bias0, acc1 = bias1;
    for (int64_t t = 0; t < n; ++t)
      if (mask[t * P + p0]) acc0 += wt0[t] * src0[off[t] + p0], acc1 += wt1[t] * src1[off[t] + p0];
    out0[p0] = acc0, out1[p0] = acc1;
  }
}

// xs[(a * sw + b) * P + i * OW + j] = x[(sh*i + a) * W + sw*j + b]: one plane's stride phases.
template <typename T>
inline void split_phases(T* __restrict xs, const T* __restrict x, const Geom& g) {
  for (int64_t i = 0; i < g.OH; ++i)
    for (int64_t a = 0; a < g.sh; ++a) {
      const T* row = x + (g.sh * i + a) * g.W;
      T* d = xs + a * g.sw * g.P + i * g.OW;
      if (g.sw == 2) {  // a constant stride vectorises
        for (int64_t j = 0; j < g.OW; ++j) d[j] = row[2 * j], d[g.P + j] = row[2 * j + 1];
      } else {
        for (int64_t b = 0; b < g.sw; ++b)
          for (int64_t j = 0; j < g.OW; ++j) d[b * g.P + j] = row[g.sw * j + b];
      }
    }
}

// The plane the taps read for plane i of src (planes of `plane` values, `total` in all): with
// stride 1 the plane itself where every read stays inside the array, else a copy (stride 1) or
// its phases (split_phases) in buf, which has -lo values of zero before and hi after.
template <typename T>
inline const T* small_source(T* buf, const T* src, int64_t i, int64_t total, const Geom& g,
                             const SmallTaps<T>& st) {
  const int64_t plane = g.H * g.W;
  const T* s = src + i * plane;
  if (g.sh == 1 && g.sw == 1) {
    if (i * plane + st.lo >= 0 && (i + 1) * plane + st.hi <= total) return s;
    std::copy(s, s + plane, buf - st.lo);
  } else {
    split_phases(buf - st.lo, s, g);
  }
  return buf - st.lo;
}

// buf: two planes' room (small_buf_size each).
template <typename T>
EMBER_SIMD void small_fwd_range(T* y, const T* x, const T* w, const T* b, const Geom& g,
                                const SmallTaps<T>& st, T* buf, int64_t t0, int64_t t1) {
  const int64_t total = g.N * g.C * g.H * g.W, bufn = small_buf_size(g, st);
  const bool pairs = g.P < 2 * kDwLanes<T>;  // planes of one vector: two at a time
  for (int64_t t = t0, c = t0 % g.C; t < t1; ++t, c = c + 1 == g.C ? 0 : c + 1) {
    const T* s = small_source(buf, x, t, total, g, st);
    if (pairs && t + 1 < t1) {
      const int64_t c1 = c + 1 == g.C ? 0 : c + 1;
      const T* s1 = small_source(buf + bufn, x, t + 1, total, g, st);
      small_taps_2planes(y + t * g.P, y + (t + 1) * g.P, s, s1, st.off.data(), st.mask.data(),
                         w + c * g.K, w + c1 * g.K, st.n(), g.P, b ? b[c] : T(0), b ? b[c1] : T(0));
      ++t, c = c1;
      continue;
    }
    small_taps_plane(y + t * g.P, s, st.off.data(), st.mask.data(), w + c * g.K, st.n(), g.P,
                     b ? b[c] : T(0));
  }
}

template <typename T>
void depthwise_small_forward(T* y, const T* x, const T* w, const T* b, const Geom& g, int nt) {
  const SmallTaps<T> st(g);
  const int64_t bufn = 2 * small_buf_size(g, st), tasks = g.N * g.C;
  const std::unique_ptr<T[]> ws = depthwise_workspace<T>(bufn, nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    small_fwd_range(y, x, w, b, g, st, ws.get() + tid * bufn, tasks * tid / nth,
                    tasks * (tid + 1) / nth);
  }
}

// dx[n, c] per phase of dx: its taps gather dy[n, c] (read in place, or a copy at the array's
// ends), into dx itself (stride 1) or a phase plane interleaved into dx. wt: K weights.
template <typename T>
EMBER_SIMD void small_dx_range(T* dx, const T* dy, const T* w, const Geom& g,
                               const std::vector<SmallTaps<T>>& phases, int64_t lo, T* buf, T* tmp,
                               T* wt, int64_t t0, int64_t t1) {
  const int64_t total = g.N * g.C * g.P;
  for (int64_t t = t0, c = t0 % g.C; t < t1; ++t, c = c + 1 == g.C ? 0 : c + 1) {
    const T* d = dy + t * g.P;
    if (t * g.P + lo < 0 || (t + 1) * g.P - lo > total) {  // lo: the most negative reach
      std::copy(d, d + g.P, buf - lo);
      d = buf - lo;
    }
    T* dxt = dx + t * g.H * g.W;
    for (int64_t q = 0; q < g.sh * g.sw; ++q) {
      const SmallTaps<T>& st = phases[size_t(q)];
      for (int64_t u = 0; u < st.n(); ++u) wt[u] = w[c * g.K + st.ks[size_t(u)]];
      const bool direct = g.sh == 1 && g.sw == 1;
      T* out = direct ? dxt : tmp;
      small_taps_plane(out, d, st.off.data(), st.mask.data(), wt, st.n(), g.P, T(0));
      if (direct) continue;
      const int64_t a = q / g.sw, b = q % g.sw;
      for (int64_t i = 0; i < g.OH; ++i) {
        T* row = dxt + (g.sh * i + a) * g.W + b;
        for (int64_t j = 0; j < g.OW; ++j) row[g.sw * j] = tmp[i * g.OW + j];
      }
    }
  }
}

template <typename T>
void depthwise_small_input_grad(T* dx, const T* dy, const T* w, const Geom& g, int nt) {
  std::vector<SmallTaps<T>> phases;
  int64_t lo = 0;
  for (int64_t q = 0; q < g.sh * g.sw; ++q) {
    phases.emplace_back(g, q);
    lo = std::min({lo, phases.back().lo, -phases.back().hi});
  }
  const int64_t bufn = g.P - 2 * lo, per = bufn + g.P + g.K, tasks = g.N * g.C;
  const std::unique_ptr<T[]> ws = depthwise_workspace<T>(per, nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    T* buf = ws.get() + tid * per;
    small_dx_range(dx, dy, w, g, phases, lo, buf, buf + bufn, buf + bufn + g.P, tasks * tid / nth,
                   tasks * (tid + 1) / nth);
  }
}

// dw[c][t] = sum over images n, positions p where mask[t][p] of dy[n, c][p] * (tap t's read):
// per channel (one thread), three taps at a time over all images (six vectors of partial sums
// in registers: lane l sums the positions p = l mod L, the images in order), the lanes summed
// at the end. A last group of fewer taps repeats its last one (the copies are dropped). xs: the
// channel's planes as the taps read them (small_source), N of them, `stride` values apart.
template <typename T>
EMBER_SIMD void small_dw_channel(T* __restrict dw, const T* dy, const T* xs, int64_t stride,
                                 const Geom& g, const SmallTaps<T>& st, int64_t c) {
  constexpr int64_t L = kDwLanes<T>;
  const int64_t P = g.P, Pv = P / L * L;
  for (int64_t t0 = 0; t0 < g.K; t0 += 3) {
    const int64_t t1 = std::min(t0 + 1, g.K - 1), t2 = std::min(t0 + 2, g.K - 1);
    const MaskOf<T>*m0 = st.mask.data() + t0 * P, *m1 = st.mask.data() + t1 * P,
          *m2 = st.mask.data() + t2 * P;
    T a0[L] = {}, a1[L] = {}, a2[L] = {}, r0 = 0, r1 = 0, r2 = 0;  // r: positions past Pv
    for (int64_t n = 0; n < g.N; ++n) {
      const T* d = dy + (n * g.C + c) * P;
      const T* s = xs + n * stride;
      const T *s0 = s + st.off[t0], *s1 = s + st.off[t1], *s2 = s + st.off[t2];
      for (int64_t q = 0; q < Pv; q += L)
        for (int64_t j = 0; j < L; ++j) {
          const T dv = d[q + j], v0 = s0[q + j], v1 = s1[q + j], v2 = s2[q + j];
          a0[j] = m0[q + j] ? a0[j] + dv * v0 : a0[j];
          a1[j] = m1[q + j] ? a1[j] + dv * v1 : a1[j];
          a2[j] = m2[q + j] ? a2[j] + dv * v2 : a2[j];
        }
      for (int64_t q = Pv; q < P; ++q) {
        if (m0[q]) r0 += d[q] * s0[q];
        if (m1[q]) r1 += d[q] * s1[q];
        if (m2[q]) r2 += d[q] * s2[q];
      }
    }
    T* o = dw + c * g.K;
    T sum0 = r0, sum1 = r1, sum2 = r2;
    for (int64_t l = 0; l < L; ++l) sum0 += a0[l], sum1 += a1[l], sum2 += a2[l];
    o[t0] = sum0;
    if (t0 + 1 < g.K) o[t0 + 1] = sum1;
    if (t0 + 2 < g.K) o[t0 + 2] = sum2;
  }
}

// One channel's planes as the taps read them: with stride 1 x itself (every image's plane
// C planes apart, copied only when a read would leave the array), else the images' phases
// side by side in buf (after -lo zeros).
template <typename T>
EMBER_SIMD void small_dw_range(T* dw, const T* dy, const T* x, const Geom& g,
                               const SmallTaps<T>& st, T* buf, int64_t c0, int64_t c1) {
  const int64_t plane = g.H * g.W, total = g.N * g.C * plane;
  for (int64_t c = c0; c < c1; ++c) {
    const bool in_place = g.sh == 1 && g.sw == 1 && c * plane + st.lo >= 0 &&
                          ((g.N - 1) * g.C + c + 1) * plane + st.hi <= total;
    if (in_place) {
      small_dw_channel(dw, dy, x + c * plane, g.C * plane, g, st, c);
      continue;
    }
    for (int64_t n = 0; n < g.N; ++n) {
      T* d = buf - st.lo + n * plane;
      if (g.sh == 1 && g.sw == 1)
        std::copy(x + (n * g.C + c) * plane, x + (n * g.C + c + 1) * plane, d);
      else
        split_phases(d, x + (n * g.C + c) * plane, g);
    }
    small_dw_channel(dw, dy, buf - st.lo, plane, g, st, c);
  }
}

template <typename T>
void depthwise_small_weight_grad(T* dw, const T* dy, const T* x, const Geom& g, int nt) {
  const SmallTaps<T> st(g);
  const int64_t bufn = add_checked(mul_checked(g.N, g.H * g.W, "conv2d"), st.hi - st.lo, "conv2d");
  const std::unique_ptr<T[]> ws = depthwise_workspace<T>(bufn, nt);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num(), nth = omp_get_num_threads();
    small_dw_range(dw, dy, x, g, st, ws.get() + tid * bufn, g.C * tid / nth, g.C * (tid + 1) / nth);
  }
}

// ---------------------------------------------------------------- batch engine
// Small output planes (P <= 16: the stride-2 layers of DCGAN-like networks near the bottleneck)
// make the per-image GEMMs thin: y[n] (O, 16) = w (O, K) @ col[n] (K, 16) streams all of w per
// image for 16 columns, and the weight gradient's per-image depth of 16 rewrites the whole
// (K, O) partial per image. Here a block of nb images is one GEMM: the block's im2col side by
// side, col (K, nb*P) (column i*P + p: image i, position p), so
//   Y (O, nb*P) = w @ col,  dw += dY @ col^T,
// with dY (O, nb*P) the block's dy side by side. The forward never forms col: each thread builds
// its block's KC rows at a time directly as the micro-kernel's panels (forward_batch). For dw
// the GEMM threads itself (deterministic for a given thread count); im2col and the copies are
// parallel over rows or images. The input gradient dcol = w^T @ dY runs a panel's worth of
// images at a time (input_grad_images).
// Measured on Zen 5 (1 thread): 4x4 outputs 0.70x -> 1.16x torch (128 -> 256 channels, k4s2p1),
// 256 -> 256 at 4x4 1.6x faster, 256 -> 512 1x1 stride 2 1.9x. But from 7x7 outputs, or with
// fewer than 128 output channels (64 -> 64 at 4x4 0.8x, 16 -> 32 0.6x), the explicit im2col (a
// pass per output channel's worth of GEMM less) costs more than the wider GEMM gains.
// Tried (AMD EPYC, 1 thread, CPU time): DCGAN's 64 -> 128 k4s2p1 16x16 -> 8x8 at batch 32 (P =
// 64) through forward_batch instead of the fused engine: 5.66 -> 6.36 ms forward (torch 5.06-5.29),
// fwd+bwd 17.8 -> 18.0. There the fused engine is already at ember's GEMM rate (one GEMM of
// the same size, 128 x 1024 x 2048: 5.5 ms; torch's matmul 6.4, oneDNN's direct conv 5.1): im2col
// is ~3% of it, so the lever left is the micro-kernel's rate, not the layout.
constexpr int64_t kBatchMaxP = 16, kBatchMinO = 128;

bool batch_ok(const Geom& g) {
  return g.G == 1 && !g.direct && g.K > 0 && g.P <= kBatchMaxP && g.O >= kBatchMinO && g.N > 1;
}

// The weight gradient alone through the batch engine: output planes of up to 64 positions
// (7x7, 8x8). Image by image the fused engine's micro-kernel calls are P deep and read and write
// the whole (K, O) partial per image (ResNet's last stage, 512 -> 512 at 7x7: 9 MiB, 49 deep); a
// block of images makes them nb * P deep. Since weight_grad_batch stopped forming col whole it
// wins at every size of such planes measured (EPYC Zen 4, 1 thread, CPU time, fused -> batch,
// torch): DCGAN's 64 -> 128 k4s2p1 16x16 batch 32 6.7 -> 5.7 ms (5.7), 64 -> 64 at 8x8 1.6 ->
// 0.9 (1.25), 256 -> 256 3x3 at 8x8 25.9 -> 23.8 (24.3), batch 2 of 64 -> 128 0.84 -> 0.39
// (0.72), 8 -> 8 channels 0.10 -> 0.08; 512 -> 512 at 7x7 batch 16 ~49 -> ~40 (~52). From 10x10
// outputs on it did not (64 -> 64 3x3 stride 2 from 20x20: 1.78 -> 1.85 ms). The forward and dx
// stay on their engines.
constexpr int64_t kBatchDwMaxP = 64;
// 0: never, 1: by the rule above, 2: wherever the batch engine applies (tests).
std::atomic<int> g_batch_dw{1};

bool batch_dw_ok(const Geom& g) {
  const int mode = g_batch_dw.load(std::memory_order_relaxed);
  if (mode == 0 || g.G != 1 || g.direct || g.K == 0) return false;
  return mode == 2 || g.P <= kBatchDwMaxP;
}

// The weight gradient's image blocks: dY^T of a block (L x O, as NR-column panels) stays in L2
// beside the rows of im2col being multiplied; col blocks of kBatchDwColBlock bytes at most.
constexpr int64_t kBatchDwL = 512;                        // columns (image positions) per block
constexpr int64_t kBatchDwColBlock = int64_t(128) << 10;  // one task's rows of col
constexpr int64_t kBatchDwPanels = int64_t(256) << 10;    // dY^T panels met per row panel of col

// d[0 .. n) = s[0 .. n); a fixed count of 4 or 8 (4x4, 8x8 outputs) is one vector move.
template <typename T>
inline void copy_run(T* __restrict d, const T* __restrict s, int64_t n) {
  if (n == 4) {
    for (int u = 0; u < 4; ++u) d[u] = s[u];
  } else if (n == 8) {
    for (int u = 0; u < 8; ++u) d[u] = s[u];
  } else {
    for (int64_t u = 0; u < n; ++u) d[u] = s[u];
  }
}

// fill_phases of one small plane (g1: one channel), each phase row's values copied exactly: its
// whole 64-byte blocks for rows of 4 values were two thirds of batch_panels' time (DCGAN's 8x8
// planes). Reads stay inside the plane. fresh: zero xs first (the border stays zero after).
template <typename T>
EMBER_SIMD void fill_phases_exact(T* __restrict xs, const T* __restrict x, const Geom& g1,
                                  const Phases& ph, bool fresh) {
  if (fresh) std::fill(xs, xs + ph.buffer(g1), T(0));
  const int64_t sh = g1.sh, sw = g1.sw;
  for (int64_t a = 0; a < sh; ++a) {
    if (!ph.used_h[size_t(a)]) continue;
    const int64_t ilo = std::clamp<int64_t>(ceil_div_pos(g1.pt - a, sh), 0, ph.Hs);
    const int64_t ihi = std::clamp<int64_t>(ceil_div_pos(g1.pt + g1.H - a, sh), ilo, ph.Hs);
    for (size_t u = 0; u < ph.cols.size(); u += 3) {
      const int64_t b = ph.cols[u], jlo = ph.cols[u + 1], n = ph.cols[u + 2] - jlo;
      for (int64_t i = ilo; i < ihi; ++i) {
        T* dr = xs + (a * sw + b) * ph.Hs * ph.Ws + i * ph.Ws + jlo;
        const T* sr = x + (a + sh * i - g1.pt) * g1.W + b - g1.pl + sw * jlo;
        if (sw == 2 && n == 4) {  // fixed counts: a couple of vector permutes
          for (int j = 0; j < 4; ++j) dr[j] = sr[2 * j];
        } else if (sw == 2 && n == 8) {
          for (int j = 0; j < 8; ++j) dr[j] = sr[2 * j];
        } else {
          for (int64_t j = 0; j < n; ++j) dr[j] = sr[sw * j];
        }
      }
    }
  }
}

// col (rows, ld) columns [i*P, (i+1)*P) = im2col of image n0 + i, for i < nb; rows [k0, k1) of
// im2col at rows k - kbase of col.
// With phase planes of one channel (ph1 for g1, g with one channel; xs its buffer, border
// zero): each (channel, image) plane is split into its stride phases once and its KH*KW rows
// are runs of OW contiguous values, no bounds checks, no strided gathers (a 4x4 output's row
// is four runs of four: col_row's per-run checks were a fifth of the forward at 128 -> 256, 8x8
// to 4x4, and the stride-2 gathers after them another tenth). Without: col_row per row and image.
template <typename T>
EMBER_SIMD void im2col_batch(T* col, int64_t ld, const T* x, const Geom& g, int64_t n0, int64_t nb,
                             int64_t k0, int64_t k1, int64_t kbase, T* xs, const Geom& g1,
                             const Phases& ph1) {
  const int64_t KK = g.KH * g.KW;
  if (xs) {
    for (int64_t c = k0 / KK; c * KK < k1; ++c) {
      const int64_t ka = std::max(k0, c * KK), kb = std::min(k1, (c + 1) * KK);
      for (int64_t i = 0; i < nb; ++i) {
        fill_phases_exact(xs, x + ((n0 + i) * g.C + c) * g.H * g.W, g1, ph1, false);
        for (int64_t k = ka; k < kb; ++k) {
          const T* src = xs + ph1.koff[size_t(k - c * KK)];
          T* d = col + (k - kbase) * ld + i * g.P;
          for (int64_t oh = 0; oh < g.OH; ++oh) copy_run(d + oh * g.OW, src + oh * ph1.Ws, g.OW);
        }
      }
    }
    return;
  }
  for (int64_t k = k0; k < k1; ++k) {
    const int64_t c = k / KK, kh = (k / g.KW) % g.KH, kw = k % g.KW;
    int64_t lo, hi;
    valid_cols(g, kw, &lo, &hi);
    for (int64_t i = 0; i < nb; ++i)
      col_row(col + (k - kbase) * ld + i * g.P, x + ((n0 + i) * g.C + c) * g.H * g.W, g, kh, kw, lo,
              hi, 0, g.P);
  }
}

constexpr int64_t kBatchMaxPadded = int64_t(1) << 16;  // phase plane values, at most

// The batch engines copy x one (channel, image) plane at a time: that plane's geometry, its
// phase planes, and their buffer's values (0: too large, im2col reads x directly).
struct PlanePhases {
  Geom g;
  Phases ph;
  int64_t values;
};

inline PlanePhases plane_phases(const Geom& g, size_t elem) {
  PlanePhases one{g, {}, 0};
  one.g.Cg = 1;
  one.g.K = g.KH * g.KW;
  one.ph = make_phases(one.g, elem);
  one.values = one.ph.Hs > 0 && one.ph.chan <= kBatchMaxPadded ? one.ph.buffer(one.g) : 0;
  return one;
}

// bp = rows [k0, k0+kc) of the batch im2col (column i*P + p: image n0 + i, position p; i < nb)
// as the micro-kernel's kc x NR panels, zero past column nb*P: the forward's B operand built in
// place, with no col matrix and no separate packing pass. Through one channel's phase planes as
// im2col_batch (xs, g1, ph1; *fresh: xs not yet zeroed in this call), else col_row per row.
template <typename T>
EMBER_SIMD void batch_panels(T* __restrict bp, const T* x, const Geom& g, int64_t n0, int64_t nb,
                             int64_t k0, int64_t kc, T* xs, bool* fresh, const Geom& g1,
                             const Phases& ph1, int NR) {
  const int64_t KK = g.KH * g.KW, L = nb * g.P, Lp = round_up(L, int64_t(NR)), k1 = k0 + kc;
  T* last = bp + (Lp - NR) * kc;
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t j = L - (Lp - NR); j < NR; ++j) last[k * NR + j] = T(0);
  // columns [j, j + n) of panel row kk from s, split at panel boundaries
  const auto put = [&](int64_t kk, int64_t j, const T* s, int64_t n) {
    while (n > 0) {
      const int64_t q = j / NR, r = j - q * NR, m = std::min<int64_t>(n, NR - r);
      copy_run(bp + (q * kc + kk) * NR + r, s, m);
      j += m, s += m, n -= m;
    }
  };
  T run[kBatchMaxP];
  for (int64_t c = k0 / KK; c * KK < k1; ++c) {
    const int64_t ka = std::max(k0, c * KK), kb = std::min(k1, (c + 1) * KK);
    for (int64_t i = 0; i < nb; ++i) {
      const T* xc = x + ((n0 + i) * g.C + c) * g.H * g.W;
      // the image's columns within one panel (P divides NR): its rows are runs in place
      const int64_t j = i * g.P, q = j / NR, r = j - q * NR;
      T* d = r + g.P <= NR ? bp + (q * kc - k0) * NR + r : nullptr;  // d + k * NR: row k
      if (xs) {
        fill_phases_exact(xs, xc, g1, ph1, *fresh);
        *fresh = false;
        for (int64_t k = ka; k < kb; ++k) {
          const T* src = xs + ph1.koff[size_t(k - c * KK)];
          if (d) {
            for (int64_t oh = 0; oh < g.OH; ++oh)
              copy_run(d + k * NR + oh * g.OW, src + oh * ph1.Ws, g.OW);
          } else {
            for (int64_t oh = 0; oh < g.OH; ++oh)
              put(k - k0, j + oh * g.OW, src + oh * ph1.Ws, g.OW);
          }
        }
        continue;
      }
      for (int64_t k = ka; k < kb; ++k) {
        const int64_t kh = (k / g.KW) % g.KH, kw = k % g.KW;
        int64_t lo, hi;
        valid_cols(g, kw, &lo, &hi);
        col_row(run, xc, g, kh, kw, lo, hi, 0, g.P);
        put(k - k0, j, run, g.P);
      }
    }
  }
}

// Columns per forward block (whole images): its panels (256 deep: 512 KiB) and Y block stay in L2.
constexpr int64_t kBatchNc = 512;

// Forward: blocks of whole images, one thread's each; per KC block of im2col rows the block's
// panels are built by batch_panels and multiplied by w (MC rows at a time, each NR panel meeting
// them in L1) into Y (O, nb*P), then copied into y with the bias. w's rows are read in place
// (rows_a; the last MR rows from a zero-padded copy when MR does not divide O): packing w, 2 MiB
// at 128 -> 256 channels, cost a tenth of the forward. Every column gets the same arithmetic
// whatever its block: the bits do not depend on the thread count. (Before: col (K, nb*P) whole,
// then gemm(); 1 thread, 128 -> 256 from 8x8 at batch 32: ~6.0 -> ~5.3 ms, torch ~4.6.)
template <typename T>
void forward_batch(T* y, const T* x, const T* w, const T* b, const Geom& g, int nt) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const int64_t kc_blk = even_block(g.K, kern.kc, 1), mc_blk = even_block(g.O, kern.mc, MR);
  const int64_t nbi =
      std::clamp<int64_t>(std::min(kBatchNc / g.P, (g.N + nt - 1) / std::max(nt, 1)), 1, g.N);
  const int64_t blocks = (g.N + nbi - 1) / nbi;
  nt = int(std::min<int64_t>(nt, blocks));
  const PlanePhases one = plane_phases(g, sizeof(T));
  const int64_t xs_n = one.values;
  const int64_t O_full = g.O / MR * MR, edge_n = O_full < g.O ? MR * g.K : 0;
  const int64_t bp_n = kc_blk * round_up(nbi * g.P, NR) + kSlack, yt_n = g.O * nbi * g.P;
  const size_t per_thread = size_t(bp_n + yt_n + xs_n) * sizeof(T) + 3 * 64;
  char* cur = align64(Workspace::get(size_t(edge_n) * sizeof(T) + size_t(nt) * per_thread + 128));
  T* edge = carve<T>(&cur, edge_n);  // rows O_full .. O of w, then zero rows up to MR
  char* thread_base = cur;
  if (edge_n) {
    std::copy(w + O_full * g.K, w + g.O * g.K, edge);
    std::fill(edge + (g.O - O_full) * g.K, edge + edge_n, T(0));
  }
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
    T* bp = carve<T>(&tc, bp_n);
    T* yt = carve<T>(&tc, yt_n);
    T* xs = xs_n ? carve<T>(&tc, xs_n) : nullptr;
    bool fresh = true;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < blocks; ++t) {
      const int64_t n0 = t * nbi, nb = std::min(nbi, g.N - n0), L = nb * g.P;
      for (int64_t pc = 0; pc < g.K; pc += kc_blk) {
        const int64_t kc = std::min(kc_blk, g.K - pc);
        batch_panels(bp, x, g, n0, nb, pc, kc, xs, &fresh, one.g, one.ph, NR);
        const T beta = pc > 0 ? T(1) : T(0);
        for (int64_t ic = 0; ic < g.O; ic += mc_blk)
          for (int64_t jr = 0; jr < L; jr += NR) {
            const int nr = int(std::min<int64_t>(NR, L - jr));
            for (int64_t ir = ic; ir < std::min(g.O, ic + mc_blk); ir += MR) {
              const int mr = int(std::min<int64_t>(MR, g.O - ir));
              const T* a = (ir < O_full ? w + ir * g.K : edge) + pc;
              kern.rows_a(kc, T(1), a, g.K, bp + jr * kc, NR, beta, yt + ir * L + jr, L, mr, nr);
            }
          }
      }
      for (int64_t i = 0; i < nb; ++i)  // y[n0 + i][o] = Y[o][i*P ..] + b[o]
        for (int64_t o = 0; o < g.O; ++o) {
          const T bias = b ? b[o] : T(0);
          const T* s = yt + o * L + i * g.P;
          T* d = y + ((n0 + i) * g.O + o) * g.P;
          for (int64_t p = 0; p < g.P; ++p) d[p] = s[p] + bias;
        }
    }
  }
}

// bp[q][o][j] = column q*NR + j of dY (O, L), the images of dy side by side (column c is
// position c % P of image c / P): O x NR panels, zero past L.
template <typename T>
EMBER_SIMD void pack_dy_images(T* __restrict bp, const T* __restrict dy, int64_t O, int64_t P,
                               int64_t L, int NR) {
  for (int64_t q0 = 0; q0 < L; q0 += NR) {
    const int64_t nr = std::min<int64_t>(NR, L - q0);
    T* d = bp + q0 * O;
    for (int64_t o = 0; o < O; ++o) {
      for (int64_t j = 0; j < nr;) {
        const int64_t i = (q0 + j) / P, p = (q0 + j) % P, n = std::min(P - p, nr - j);
        copy_run(d + o * NR + j, dy + (i * O + o) * P + p, n);
        j += n;
      }
      for (int64_t j = nr; j < NR; ++j) d[o * NR + j] = T(0);
    }
  }
}

// wt[panel i][o][r] = w[o][i*MR + r] (zero for rows past K) for the panels of rows [i0, i1): w^T
// as MR-row panels. A fixed MR of 8 is one vector move per (panel, o); the panels of one cache
// line of each row of w are packed together (the scalar loop over every panel, serial, was 0.3
// ms of 128 -> 256 channels' input gradient at batch 32).
template <typename T>
EMBER_SIMD void pack_w_t(T* __restrict wt, const T* __restrict w, int64_t K, int64_t O, int64_t i0,
                         int64_t i1, int MR) {
  // Blocks of 16 rows of w read along the row (16 sequential streams the prefetcher follows),
  // each panel's 16 destination rows one contiguous run. (One cache line of all O rows per
  // panel pair, 8 KiB apart, missed the cache on every line: a tenth of 128 -> 256's dx.)
  constexpr int64_t OB = 16;
  for (int64_t o0 = 0; o0 < O; o0 += OB)
    for (int64_t i = i0; i < i1; i += MR)
      for (int64_t o = o0; o < std::min(O, o0 + OB); ++o) {
        T* d = wt + i * O + o * MR;
        const T* s = w + o * K + i;
        if (MR == 8 && i + 8 <= K) {
          for (int r = 0; r < 8; ++r) d[r] = s[r];
        } else {
          for (int r = 0; r < MR; ++r) d[r] = i + r < K ? s[r] : T(0);
        }
      }
}

// The batch engine's input gradient, a group of images per task: their P columns side by side
// make two NR panels (4 images of 4x4), dcol (K, nb*P) = w^T @ dY through the micro-kernel into
// a per-thread col that stays in L2, then col2im per image through dx's phase planes. (One
// GEMM over the batch wrote all of dcol, 4 MiB at 128 -> 256 channels from 8x8 to 4x4, and
// col2im read it back from memory: 1 thread 4.2 -> 3.6-3.8 ms, torch 3.6. One NR panel per
// task streamed all of w^T per 32 columns: 3.8-4.0.) Each image is one thread's.
template <typename T>
void input_grad_images(T* dx, const T* dy, const T* w, const Geom& g, int nt) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const int64_t nbi = std::max<int64_t>(1, 2 * NR / g.P), Lb = nbi * g.P;
  const int64_t Kp = round_up(g.K, MR), tasks = (g.N + nbi - 1) / nbi;
  nt = int(std::min<int64_t>(nt, tasks));
  const Phases ph = make_phases(g, sizeof(T));
  const int64_t wt_n = Kp * g.O, col_n = Kp * Lb + kSlack, bp_n = g.O * round_up(Lb, NR);
  const int64_t xs_n = ph.buffer(g);
  const size_t per_thread = size_t(col_n + bp_n + xs_n) * sizeof(T) + 3 * 64;
  char* cur = align64(Workspace::get(size_t(wt_n) * sizeof(T) + size_t(nt) * per_thread + 128));
  T* wt = carve<T>(&cur, wt_n);
  char* thread_base = cur;
  const int64_t ppl = std::max<int64_t>(1, 2048 / int64_t(sizeof(T) * MR));  // panels per chunk
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
    T* col = carve<T>(&tc, col_n);
    T* bp = carve<T>(&tc, bp_n);
    T* xs = carve<T>(&tc, xs_n);
#pragma omp for schedule(static)  // w^T packed by both threads (a copy: any split, same bits)
    for (int64_t i0 = 0; i0 < Kp; i0 += ppl * MR)
      pack_w_t(wt, w, g.K, g.O, i0, std::min(Kp, i0 + ppl * MR), MR);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n0 = t * nbi, nb = std::min(nbi, g.N - n0), L = nb * g.P;
      pack_dy_images(bp, dy + n0 * g.O * g.P, g.O, g.P, L, NR);
      for (int64_t i0 = 0; i0 < g.K; i0 += kern.mc)  // a block of w^T panels in L2
        for (int64_t q0 = 0; q0 < L; q0 += NR) {     // meets each B panel in L1
          const int nr = int(std::min<int64_t>(NR, L - q0));
          for (int64_t ir = i0; ir < std::min(g.K, i0 + kern.mc); ir += MR) {
            const int mr = int(std::min<int64_t>(MR, g.K - ir));
            kern.panel_a(g.O, T(1), wt + ir * g.O, MR, bp + q0 * g.O, NR, T(0), col + ir * L + q0,
                         L, mr, nr);
          }
        }
      for (int64_t i = 0; i < nb; ++i) {
        T* dxn = dx + (n0 + i) * g.C * g.H * g.W;
        if (xs_n) {
          std::fill(xs, xs + xs_n, T(0));
          col2im_phase_add(xs, col + i * g.P, L, g, ph, 0, g.P);
          unphase(dxn, xs, g, ph);
        } else {
          std::fill(dxn, dxn + g.C * g.H * g.W, T(0));
          col2im_channels(dxn, col + i * g.P, L, g, 0, g.P, 0, g.C);
        }
      }
    }
  }
}

// The batch engine's weight gradient: per block of nb images (L = nb*P columns)
//   dw^T (K, O) += col (K, L) @ dY^T (L, O),
// dY^T packed once per block as NR-column panels (L2); the tasks, blocks of kb rows of col, build
// their rows with im2col_batch into a per-thread buffer (L2) and run the micro-kernel on them in
// place (rows_a), each row panel meeting the panels of dY^T. col is never formed whole and never
// packed (gemm() on an explicit col wrote it, 4 MiB at 128 -> 256 channels from 8x8 to 4x4, then
// read and repacked it transposed). dw^T is transposed into dw at the end. Each element is one
// micro-kernel sum per image block whatever the thread count: the same bits on any.
template <typename T>
void weight_grad_batch(T* dw, const T* dy, const T* x, const Geom& g, int nt) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const int64_t elem = int64_t(sizeof(T));
  const int64_t nbi = std::clamp<int64_t>(kBatchDwL / g.P, 1, g.N), Lmax = nbi * g.P;
  const int64_t kb = std::max<int64_t>(MR, kBatchDwColBlock / (Lmax * elem) / MR * MR);
  const int64_t kblocks = (g.K + kb - 1) / kb, Ogp = round_up(g.O, NR);
  const int64_t oc = std::max<int64_t>(NR, kBatchDwPanels / (Lmax * elem) / NR * NR);
  nt = int(std::min<int64_t>(nt, kblocks));
  const PlanePhases one = plane_phases(g, sizeof(T));
  const int64_t xs_n = one.values;
  const int64_t dwt_n = g.K * g.O, dyt_n = g.O * Lmax, bp_n = Lmax * Ogp, col_n = kb * Lmax;
  const size_t per_thread = size_t(col_n + xs_n) * sizeof(T) + 2 * 64;
  char* cur = align64(
      Workspace::get(size_t(dwt_n + dyt_n + bp_n) * sizeof(T) + size_t(nt) * per_thread + 4 * 64));
  T* dwt = carve<T>(&cur, dwt_n);
  T* dyt = carve<T>(&cur, dyt_n);
  T* bp = carve<T>(&cur, bp_n);
  char* thread_base = cur;
  for (int64_t n0 = 0; n0 < g.N; n0 += nbi) {
    const int64_t nb = std::min(nbi, g.N - n0), L = nb * g.P;
    const T beta = n0 > 0 ? T(1) : T(0);
    for (int64_t i = 0; i < nb; ++i)  // dY[o][i*P ..] = dy[n0 + i][o]
      for (int64_t o = 0; o < g.O; ++o)
        std::copy(dy + ((n0 + i) * g.O + o) * g.P, dy + ((n0 + i) * g.O + o + 1) * g.P,
                  dyt + o * L + i * g.P);
    pack_dy_t(bp, dyt, L, 0, L, g.O, NR, kern.pack_t);
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
      T* col = carve<T>(&tc, col_n);
      T* xs = carve<T>(&tc, xs_n);
      std::fill(col, col + col_n, T(0));  // rows past k1: read, never stored
      std::fill(xs, xs + xs_n, T(0));     // the phase planes' border stays zero
#pragma omp for schedule(static)
      for (int64_t t = 0; t < kblocks; ++t) {
        const int64_t k0 = t * kb, k1 = std::min(g.K, k0 + kb);
        im2col_batch(col, L, x, g, n0, nb, k0, k1, k0, xs_n ? xs : nullptr, one.g, one.ph);
        for (int64_t o0 = 0; o0 < g.O; o0 += oc)
          for (int64_t ir = k0; ir < k1; ir += MR) {
            const int mr = int(std::min<int64_t>(MR, k1 - ir));
            for (int64_t q0 = o0; q0 < std::min(g.O, o0 + oc); q0 += NR) {
              const int nr = int(std::min<int64_t>(NR, g.O - q0)), W = panel_width(nr, NR);
              const auto fn = W < NR ? kern.rows_a_half : kern.rows_a;
              fn(L, T(1), col + (ir - k0) * L, L, bp + q0 * L, W, beta, dwt + ir * g.O + q0, g.O,
                 mr, nr);
            }
          }
      }
    }
  }
  constexpr int64_t B = 16;  // dw (O, K) = dwt^T, in B x B blocks
  const int tnt = threads_for(dwt_n, int64_t(1) << 18);
  parallel_for(std::min(tnt, nt), (g.O + B - 1) / B, [&](int64_t ob) {
    for (int64_t k0 = 0; k0 < g.K; k0 += B)
      for (int64_t o = ob * B; o < std::min(g.O, ob * B + B); ++o)
        for (int64_t k = k0; k < std::min(g.K, k0 + B); ++k) dw[o * g.K + k] = dwt[k * g.O + o];
  });
}

template <typename T>
void backward_batch(T* dx, T* dw, const T* dy, const T* x, const T* w, const Geom& g, int nt) {
  if (dw) weight_grad_batch(dw, dy, x, g, nt);
  if (dx) input_grad_images(dx, dy, w, g, nt);  // after dw: it reuses the workspace
}

// ---------------------------------------------------------------- grouped direct engine
// Groups of few channels (ResNeXt's 32 groups of 8 -> 8 at 28x28): per group the GEMM is
// (Og, K) @ (K, P) with Og = 8 and K = 72, so the fused engine builds an im2col panel for every
// 8 rows of output and the micro-kernel runs one short tile per panel (12 GMAC/s where one group
// of 256 -> 256 ran 70). Here each (image, group) copies its Cg input planes into one zero-padded
// buffer once, and a block of 8 output channels x V positions of one output row accumulates
// in registers over every (channel, tap), reading the padded rows in place:
//   acc[o][v] = b[o] + sum over c, kh, kw (in that order) of w[o, c, kh, kw] *
//               x_pad[c, oh*sh + kh*dh, ow0 + v + kw*dw].
// Strided convolutions read stride phases of the padded planes (GdPhases), where every read is a
// contiguous run; the blocks run across rows of that layout (shift engine's numbering) or a row's
// last block runs whole.
// Extra lanes read the next padded row or the buffer's zero slack and are dropped. Each output is
// the same sum whatever the thread count.
constexpr int64_t kGdBlock = 8;   // output channels per register block
constexpr int64_t kGdMaxOg = 16;  // at most this many output channels per group
constexpr int64_t kGdMaxK = 512;  // and this GEMM depth (Cg * KH * KW)

constexpr double kGdMaxPadded = double(1 << 22);  // values of one group's padded planes

// A strided convolution reads its padded planes split into sh*sw stride phases (phase (a, b)
// holds rows a + sh*i, columns b + sw*j): tap (kh, kw) of output (oh, ow) is then value (oh +
// kh*dh / sh, ow + kw*dw / sw) of phase (kh*dh % sh, kw*dw % sw), a stride-1 read. Stride 1: one
// phase, the padded planes themselves.
struct GdPhases {
  int64_t Hph, Wph, ps, cs;  // a phase plane's rows, columns and values; a channel's values
  explicit GdPhases(const Geom& g)
      : Hph(ceil_div_pos(g.H + g.pt + g.pb, g.sh)),
        Wph(ceil_div_pos(g.W + g.pl + g.pr, g.sw)),
        ps(Hph * Wph),
        cs(g.sh * g.sw * Hph * Wph) {}
  // the offset of tap (kh, kw) from its output's position oh * Wph + ow
  int64_t tap(const Geom& g, int64_t kh, int64_t kw) const {
    const int64_t r = kh * g.dh, c = kw * g.dw;
    return ((r % g.sh) * g.sw + c % g.sw) * ps + (r / g.sh) * Wph + c / g.sw;
  }
};

bool grouped_direct_ok(const Geom& g) {
  return g.G > 1 && g.Og <= kGdMaxOg && g.K <= kGdMaxK && g.KH * g.KW > 1 && g.K > 0 && g.OW > 0 &&
         g.OH > 0 && double(g.Cg) * double(GdPhases(g).cs) <= kGdMaxPadded;
}

// Column j of a row (W >= 64 bytes of values) to its column phase (j + pl) % 2 at (j + pl) / 2:
// row[(j + pl) % 2 * ps + (j + pl) / 2] = src[j], by even/odd shuffles of two vectors, the last
// chunk overlapping the one before it (the scalar loop ran a value a cycle).
template <typename T>
inline void split_columns2(T* row, int64_t ps, const T* src, int64_t W, int64_t pl) {
  typedef T Vec __attribute__((vector_size(32)));
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> I;
  typedef I M __attribute__((vector_size(32)));
  constexpr int64_t L = 32 / int64_t(sizeof(T));
  M even, odd;
  for (int64_t k = 0; k < L; ++k) even[k] = I(2 * k), odd[k] = I(2 * k + 1);
  for (int64_t s = 0;; s += 2 * L) {
    s = std::min(s, W - 2 * L);
    Vec a, b;
    std::memcpy(&a, src + s, sizeof(Vec));
    std::memcpy(&b, src + s + L, sizeof(Vec));
    const Vec e = __builtin_shuffle(a, b, even), o = __builtin_shuffle(a, b, odd);
    const int64_t u = s + pl;
    std::memcpy(row + (u % 2) * ps + u / 2, &e, sizeof(Vec));
    std::memcpy(row + ((u + 1) % 2) * ps + (u + 1) / 2, &o, sizeof(Vec));
    if (s == W - 2 * L) break;
  }
}

// Copies the Cg planes of xg (H x W) into their padded stride phases xp (GdPhases; the border
// is left as it is: zero). Plain loops, not std::copy: a memmove call per 14-value row was most
// of the copy (0.5 ms of 8 x 512 planes of 14x14; stride 2's per-value scatter at 28x28, 2.8 ms).
template <typename T>
EMBER_SIMD void gd_fill(T* __restrict xp, const T* __restrict xg, const Geom& g,
                        const GdPhases& ph) {
  for (int64_t c = 0; c < g.Cg; ++c)
    // padded row r = i + pt is row r / sh of row phase r % sh (counted, not divided: two
    // divisions per row were a third of the copy)
    for (int64_t i = 0, a = g.pt % g.sh, ri = g.pt / g.sh; i < g.H; ++i) {
      const T* __restrict src = xg + (c * g.H + i) * g.W;
      T* row = xp + c * ph.cs + a * g.sw * ph.ps + ri * ph.Wph;
      if (++a == g.sh) a = 0, ++ri;
      if (g.sw == 1) {
        T* __restrict d = row + g.pl;
        for (int64_t j = 0; j < g.W; ++j) d[j] = src[j];
        continue;
      }
      if (g.sw == 2 && g.W >= 64 / int64_t(sizeof(T))) {
        split_columns2(row, ph.ps, src, g.W, g.pl);
        continue;
      }
      for (int64_t b = 0; b < g.sw; ++b) {  // columns j = j0 + sw*k of phase b, at u / sw + k
        const int64_t j0 = ((b - g.pl) % g.sw + g.sw) % g.sw;
        T* __restrict d = row + b * ph.ps + (j0 + g.pl) / g.sw;
        for (int64_t j = j0, k = 0; j < g.W; j += g.sw, ++k) d[k] = src[j];
      }
    }
}

// The inverse of split_columns2: dst[j] = row[(j + pl) % 2 * ps + (j + pl) / 2] for j < W, by
// interleaving shuffles (the last chunk overlapping the one before it).
template <typename T>
inline void merge_columns2(T* dst, const T* row, int64_t ps, int64_t W, int64_t pl) {
  typedef T Vec __attribute__((vector_size(32)));
  typedef std::conditional_t<sizeof(T) == 4, int32_t, int64_t> I;
  typedef I M __attribute__((vector_size(32)));
  constexpr int64_t L = 32 / int64_t(sizeof(T));
  M lo, hi;
  for (int64_t k = 0; k < L; ++k)
    lo[k] = I(k % 2 * L + k / 2), hi[k] = I(k % 2 * L + L / 2 + k / 2);
  for (int64_t s = 0;; s += 2 * L) {
    s = std::min(s, W - 2 * L);
    const int64_t u = s + pl;
    Vec e, o;
    std::memcpy(&e, row + (u % 2) * ps + u / 2, sizeof(Vec));
    std::memcpy(&o, row + ((u + 1) % 2) * ps + (u + 1) / 2, sizeof(Vec));
    const Vec a = __builtin_shuffle(e, o, lo), b = __builtin_shuffle(e, o, hi);
    std::memcpy(dst + s, &a, sizeof(Vec));
    std::memcpy(dst + s + L, &b, sizeof(Vec));
    if (s == W - 2 * L) break;
  }
}

// The inverse of gd_fill: the Cg planes dxg (H x W) = the interior of their padded stride
// phases xp.
template <typename T>
EMBER_SIMD void gd_unfill(T* __restrict dxg, const T* __restrict xp, const Geom& g,
                          const GdPhases& ph) {
  for (int64_t c = 0; c < g.Cg; ++c)
    for (int64_t i = 0, a = g.pt % g.sh, ri = g.pt / g.sh; i < g.H; ++i) {
      T* __restrict dst = dxg + (c * g.H + i) * g.W;
      const T* row = xp + c * ph.cs + a * g.sw * ph.ps + ri * ph.Wph;
      if (++a == g.sh) a = 0, ++ri;
      if (g.sw == 1) {
        const T* __restrict s = row + g.pl;
        for (int64_t j = 0; j < g.W; ++j) dst[j] = s[j];
        continue;
      }
      if (g.sw == 2 && g.W >= 64 / int64_t(sizeof(T))) {
        merge_columns2(dst, row, ph.ps, g.W, g.pl);
        continue;
      }
      for (int64_t b = 0; b < g.sw; ++b) {
        const int64_t j0 = ((b - g.pl) % g.sw + g.sw) % g.sw;
        const T* __restrict s = row + b * ph.ps + (j0 + g.pl) / g.sw;
        for (int64_t j = j0, k = 0; j < g.W; j += g.sw, ++k) dst[j] = s[k];
      }
    }
}

// out[o * ldo + v] for o < kGdBlock, v < V (V = two vectors) as above; xr = x_pad at (c 0, row
// oh*sh, column ow0), toff[t] the tap offsets, cs the channel stride; wk[(c * KK + t) * kGdBlock +
// o].
// The 16 accumulators are GCC vectors (plain loops over acc[8][V] were not kept in registers:
// 8x slower); each lane is the scalar sum above.
template <typename T>
EMBER_SIMD void gd_block(T* __restrict out, const T* __restrict xr, const int64_t* toff, int64_t KK,
                         int64_t Cg, int64_t cs, const T* __restrict wk, const T* __restrict b8,
                         int64_t ldo) {
  typedef T Vec __attribute__((vector_size(64)));
  constexpr int L = 64 / int(sizeof(T));
  Vec acc[kGdBlock][2];
  for (int o = 0; o < kGdBlock; ++o) acc[o][0] = acc[o][1] = Vec{} + b8[o];
  for (int64_t c = 0; c < Cg; ++c)
    for (int64_t t = 0; t < KK; ++t) {
      const T* sx = xr + c * cs + toff[t];
      const T* wv = wk + (c * KK + t) * kGdBlock;
      Vec x0, x1;
      std::memcpy(&x0, sx, sizeof(Vec));
      std::memcpy(&x1, sx + L, sizeof(Vec));
      for (int o = 0; o < kGdBlock; ++o) {  // scalar math: acc[o][v] += wv[o] * sx[v]
        acc[o][0] += wv[o] * x0;
        acc[o][1] += wv[o] * x1;
      }
    }
  for (int o = 0; o < kGdBlock; ++o) {
    std::memcpy(out + o * ldo, &acc[o][0], sizeof(Vec));
    std::memcpy(out + o * ldo + L, &acc[o][1], sizeof(Vec));
  }
}

// One register block's rows over a plane of outputs at q = oh * Wq + ow (oh < OHq, ow < OWq) that
// read xp + q + toff[t]: gd_block over blocks of V positions, each run of a block within one row
// handed to store(tile row 0, tile row stride, oh, ow, count). Blocks run along q across rows
// (the columns ow >= OWq are junk, dropped): a 14-wide row fills half a block, 16 of them
// seven. Unless that takes more blocks than whole rows do: 32x32 (OW = V) is 34 blocks across
// rows, 32 by rows (N=32, 64 -> 64 in 4 groups at 32x32: 7.9 -> 7.4 ms forward, the same sums;
// AVX-512, 1 thread, CPU time). By rows, direct(oh, ow0, &ld) may give the place of a whole
// block to write straight (or null).
template <typename T, typename Store, typename Direct>
void gd_plane(T* tile, const T* xp, int64_t Wq, int64_t OHq, int64_t OWq, const int64_t* toff,
              int64_t KK, int64_t Cg, int64_t cs, const T* wkb, const T* b8, Store store,
              Direct direct) {
  constexpr int64_t V = 2 * 64 / int64_t(sizeof(T));
  const int64_t Q = (OHq - 1) * Wq + OWq;
  if ((Q + V - 1) / V < OHq * ((OWq + V - 1) / V)) {
    for (int64_t q0 = 0; q0 < Q; q0 += V) {
      gd_block(tile, xp + q0, toff, KK, Cg, cs, wkb, b8, V);
      const int64_t q1 = std::min(Q, q0 + V);
      for (int64_t oh = q0 / Wq, q = q0; q < q1; ++oh) {  // row segments of the block
        const int64_t ow = q - oh * Wq, end = std::min(q1, (oh + 1) * Wq);
        const int64_t m = std::min(end, oh * Wq + OWq) - q;
        if (m > 0) store(tile + (q - q0), V, oh, ow, m);
        q = end;
      }
    }
    return;
  }
  for (int64_t oh = 0; oh < OHq; ++oh)
    for (int64_t ow0 = 0; ow0 < OWq; ow0 += V) {
      const int64_t m = std::min(V, OWq - ow0);
      int64_t ld = 0;
      T* d = m == V ? direct(oh, ow0, &ld) : nullptr;
      if (d) {  // a whole block straight into place
        gd_block(d, xp + oh * Wq + ow0, toff, KK, Cg, cs, wkb, b8, ld);
        continue;
      }
      gd_block(tile, xp + oh * Wq + ow0, toff, KK, Cg, cs, wkb, b8, V);
      store(tile, V, oh, ow0, m);
    }
}

// y (N, O, OH, OW) = conv(x, w) + b for G > 1 groups of few channels; threads over (image,
// group) tasks.
template <typename T>
void forward_grouped_direct(T* y, const T* x, const T* w, const T* b, const Geom& g, int nt) {
  constexpr int64_t V = 2 * 64 / int64_t(sizeof(T));
  const int64_t KK = g.KH * g.KW;
  const GdPhases ph(g);
  const int64_t nob = (g.Og + kGdBlock - 1) / kGdBlock, tasks = g.N * g.G;
  const int64_t xp_n = g.Cg * ph.cs + V + ph.Wph + kSlack;
  nt = int(std::min<int64_t>(nt, tasks));
  // wk[gi][ob][c][t][o % 8] = w[gi*Og + ob*8 + o][c][t], zero past Og; bk likewise for b.
  const int64_t wk_n = g.G * nob * g.K * kGdBlock, bk_n = g.G * nob * kGdBlock;
  std::vector<int64_t> toff(static_cast<size_t>(KK));
  for (int64_t t = 0; t < KK; ++t) toff[size_t(t)] = ph.tap(g, t / g.KW, t % g.KW);
  const size_t per_thread = size_t(xp_n + kGdBlock * V) * sizeof(T) + 2 * 64;
  char* cur =
      align64(Workspace::get(size_t(wk_n + bk_n) * sizeof(T) + size_t(nt) * per_thread + 3 * 64));
  T* wk = carve<T>(&cur, wk_n);
  T* bk = carve<T>(&cur, bk_n);
  char* thread_base = cur;
  for (int64_t gi = 0; gi < g.G; ++gi)
    for (int64_t ob = 0; ob < nob; ++ob)
      for (int64_t o = 0; o < kGdBlock; ++o) {
        const int64_t oo = ob * kGdBlock + o, at = (gi * nob + ob) * kGdBlock + o;
        const bool live = oo < g.Og;
        bk[at] = live && b ? b[gi * g.Og + oo] : T(0);
        for (int64_t k = 0; k < g.K; ++k)
          wk[(gi * nob + ob) * g.K * kGdBlock + k * kGdBlock + o] =
              live ? w[(gi * g.Og + oo) * g.K + k] : T(0);
      }
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
    T* xp = carve<T>(&tc, xp_n);
    T* tile = carve<T>(&tc, kGdBlock * V);
    std::fill(xp, xp + xp_n, T(0));  // the border and slack stay zero: tasks write the interior
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / g.G, gi = t % g.G;
      gd_fill(xp, x + (n * g.C + gi * g.Cg) * g.H * g.W, g, ph);
      for (int64_t ob = 0; ob < nob; ++ob) {
        const int64_t olive = std::min(kGdBlock, g.Og - ob * kGdBlock);
        T* yb = y + (n * g.O + gi * g.Og + ob * kGdBlock) * g.P;
        const auto store = [&](const T* src, int64_t ld, int64_t oh, int64_t ow, int64_t m) {
          for (int64_t o = 0; o < olive; ++o)
            std::copy(src + o * ld, src + o * ld + m, yb + o * g.P + oh * g.OW + ow);
        };
        const auto direct = [&](int64_t oh, int64_t ow0, int64_t* ld) -> T* {
          *ld = g.P;
          return olive == kGdBlock ? yb + oh * g.OW + ow0 : nullptr;
        };
        gd_plane(tile, xp, ph.Wph, g.OH, g.OW, toff.data(), KK, g.Cg, ph.cs,
                 wk + (gi * nob + ob) * g.K * kGdBlock, bk + (gi * nob + ob) * kGdBlock, store,
                 direct);
      }
    }
  }
}

// dx of a stride-1 grouped convolution as the grouped direct forward of dy with the weights
// transposed per group and flipped (input_grad_forward's identity), when that stays in the
// engine's range (the transposed padding dh*(KH-1) - pt etc. non-negative).
inline bool grouped_dx_ok(const Geom& g) {
  const int64_t eh = g.dh * (g.KH - 1), ew = g.dw * (g.KW - 1);
  if (g.sh != 1 || g.sw != 1 || g.pt > eh || g.pb > eh || g.pl > ew || g.pr > ew) return false;
  return grouped_direct_ok(transposed_geom(g));
}

template <typename T>
void input_grad_grouped(T* dx, const T* dy, const T* w, const Geom& g, int nt) {
  forward_grouped_direct(dx, dy, flipped_weights(w, g).get(), static_cast<const T*>(nullptr),
                         transposed_geom(g), nt);
}

// dx of a strided grouped convolution, by stride phases of the padded input: row ihp = ih + pt =
// sh*i + a receives the taps kh with kh*dh % sh == a, from dy row i - kh*dh / sh (likewise
// columns), so each phase (a, b) of dx is a stride-1 correlation of dy, zero-padded by
// R = dh*(KH-1) / sh rows above (Rw columns left), with that phase's taps:
//   dx[c, sh*i + a - pt, sw*j + b - pl] = sum over o, then the phase's taps (kh, kw), of
//     w[o, c, kh, kw] * dyp[o, i + R - kh*dh / sh, j + Rw - kw*dw / sw],
// run by gd_block with input channels for output channels (blocks of 8). Every dx value is one
// phase's sum, written once. 512 channels in 32 groups, 3x3 stride 2 at 28x28, batch 8 (1
// thread, CPU time): 7.8 ms on the fused engine's col2im, ~3.5 here, torch ~4.3. Each phase's
// values go contiguously into dx's padded stride phases (gd_fill's layout), interleaved into dx
// at the end (gd_unfill): stride-2 scalar stores into dx were ~2.4 ms of ~5.5 (loaded machine).
inline bool grouped_dx_strided_ok(const Geom& g) {
  return g.G > 1 && (g.sh > 1 || g.sw > 1) && g.Cg <= kGdMaxOg && g.Og * g.KH * g.KW <= kGdMaxK &&
         g.KH * g.KW > 1 && g.OH > 0 && g.OW > 0 && g.H > 0 && g.W > 0 &&
         double(g.Og) * double(g.OH + g.H) * double(g.OW + g.W) <= kGdMaxPadded;
}

template <typename T>
void input_grad_grouped_strided(T* dx, const T* dy, const T* w, const Geom& g, int nt) {
  constexpr int64_t V = 2 * 64 / int64_t(sizeof(T));
  const int64_t KK = g.KH * g.KW, ncb = (g.Cg + kGdBlock - 1) / kGdBlock, tasks = g.N * g.G;
  const int64_t Rh = g.dh * (g.KH - 1) / g.sh, Rw = g.dw * (g.KW - 1) / g.sw;
  const int64_t Hd = Rh + std::max(g.OH, (g.pt + g.H - 1) / g.sh + 1);
  const int64_t Wd = Rw + std::max(g.OW, (g.pl + g.W - 1) / g.sw + 1);
  const int64_t cs = Hd * Wd, dyp_n = g.Og * cs + V + Wd + kSlack;
  // Per phase (a, b): its taps (toff, offsets from the phase position's dyp value) and weights
  // wk[phase][gi][cb][o][t][c % 8] = w[gi*Og + o][cb*8 + c][tap t], zero past Cg.
  struct Phase {
    int64_t a, b, taps, w0;  // w0: the phase's first weight in wk
    std::vector<int64_t> toff, kk;
  };
  std::vector<Phase> phs;
  int64_t wk_n = 0;
  for (int64_t a = 0; a < g.sh; ++a)
    for (int64_t b = 0; b < g.sw; ++b) {
      Phase p{a, b, 0, wk_n, {}, {}};
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw)
          if (kh * g.dh % g.sh == a && kw * g.dw % g.sw == b) {
            p.toff.push_back((Rh - kh * g.dh / g.sh) * Wd + Rw - kw * g.dw / g.sw);
            p.kk.push_back(kh * g.KW + kw);
          }
      p.taps = int64_t(p.kk.size());
      wk_n += g.G * ncb * g.Og * p.taps * kGdBlock;
      phs.push_back(std::move(p));
    }
  nt = int(std::min<int64_t>(nt, tasks));
  const GdPhases xph(g);  // dx's stride phases: written contiguously, then interleaved into dx
  const int64_t dxs_n = g.Cg * xph.cs + kSlack;
  const size_t per_thread = size_t(dyp_n + kGdBlock * V + dxs_n) * sizeof(T) + 3 * 64;
  char* cur = align64(
      Workspace::get(size_t(wk_n + kGdBlock) * sizeof(T) + size_t(nt) * per_thread + 3 * 64));
  T* wk = carve<T>(&cur, wk_n);
  T* zero = carve<T>(&cur, kGdBlock);  // gd_block's bias
  char* thread_base = cur;
  std::fill(zero, zero + kGdBlock, T(0));
  for (const Phase& p : phs)
    for (int64_t gi = 0; gi < g.G; ++gi)
      for (int64_t cb = 0; cb < ncb; ++cb)
        for (int64_t o = 0; o < g.Og; ++o)
          for (int64_t t = 0; t < p.taps; ++t)
            for (int64_t c = 0; c < kGdBlock; ++c) {
              const int64_t cc = cb * kGdBlock + c;
              wk[p.w0 + (((gi * ncb + cb) * g.Og + o) * p.taps + t) * kGdBlock + c] =
                  cc < g.Cg ? w[((gi * g.Og + o) * g.Cg + cc) * KK + p.kk[size_t(t)]] : T(0);
            }
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    char* tc = thread_base + per_thread * size_t(omp_get_thread_num());
    T* dyp = carve<T>(&tc, dyp_n);
    T* tile = carve<T>(&tc, kGdBlock * V);
    T* dxs = carve<T>(&tc, dxs_n);
    std::fill(dyp, dyp + dyp_n, T(0));  // the border and slack stay zero: tasks write the interior
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / g.G, gi = t % g.G;
      const T* dyg = dy + (n * g.O + gi * g.Og) * g.P;
      for (int64_t o = 0; o < g.Og; ++o)
        for (int64_t i = 0; i < g.OH; ++i) {
          const T* __restrict src = dyg + (o * g.OH + i) * g.OW;
          T* __restrict d = dyp + o * cs + (i + Rh) * Wd + Rw;
          for (int64_t j = 0; j < g.OW; ++j) d[j] = src[j];
        }
      for (const Phase& p : phs) {
        // the phase positions inside the input: sh*i + a - pt in [0, H), likewise j
        const int64_t i0 = ceil_div_pos(g.pt - p.a, g.sh);
        const int64_t i1 = floor_div(g.pt + g.H - 1 - p.a, g.sh);
        const int64_t j0 = ceil_div_pos(g.pl - p.b, g.sw);
        const int64_t j1 = floor_div(g.pl + g.W - 1 - p.b, g.sw);
        if (i1 < i0 || j1 < j0) continue;
        for (int64_t cb = 0; cb < ncb; ++cb) {
          const int64_t clive = std::min(kGdBlock, g.Cg - cb * kGdBlock);
          // phase (a, b) of the block's channels, from its row i0, column j0
          T* dsb = dxs + cb * kGdBlock * xph.cs + (p.a * g.sw + p.b) * xph.ps + i0 * xph.Wph + j0;
          const auto store = [&](const T* src, int64_t ld, int64_t i, int64_t j, int64_t m) {
            for (int64_t c = 0; c < clive; ++c) {
              T* __restrict d = dsb + c * xph.cs + i * xph.Wph + j;
              const T* __restrict s = src + c * ld;
              for (int64_t k = 0; k < m; ++k) d[k] = s[k];
            }
          };
          const auto direct = [&](int64_t i, int64_t j, int64_t* ld) -> T* {
            *ld = xph.cs;
            return clive == kGdBlock ? dsb + i * xph.Wph + j : nullptr;
          };
          gd_plane(tile, dyp + i0 * Wd + j0, Wd, i1 - i0 + 1, j1 - j0 + 1, p.toff.data(), p.taps,
                   g.Og, cs, wk + p.w0 + (gi * ncb + cb) * g.Og * p.taps * kGdBlock, zero, store,
                   direct);
        }
      }
      gd_unfill(dx + (n * g.G + gi) * g.Cg * g.H * g.W, dxs, g, xph);
    }
  }
}

// dw of a grouped convolution of few output channels per group (grouped_direct_ok), straight
// from the stride phases of the padded input (gd_fill) and dy transposed to dyT[p][o] (o
// contiguous, Og <= 16: one or two vectors): for a block of R channels c of one tap t (rows
// k = c*KK + t, phase offsets c*cs + toff[t]),
//   dw[o, k] += sum over oh, then ow, of xp[c*cs + toff[t] + oh*Wph + ow] * dyT[oh*OW + ow][o],
// R accumulator vectors over o, one broadcast per row and position (the micro-kernel's shape,
// without forming im2col; rows cs apart keep the addressing to one base). No junk columns:
// every product is one of the convolution's. Per-thread partials (G x K x 16) reduced in thread
// order. 512 channels in 32 groups, 3x3 stride 2 at 28x28, batch 8 (1 thread, CPU time, loaded
// machine): 5.6 ms through the fused engine (im2col, then 8 x 16 tiles), ~4.1 here (~1.3 of it
// reading x and dy), torch ~4.5.
constexpr int64_t kGdwO = 16;       // dyT's row: the output channels padded to 16
constexpr int64_t kGdwChain = 256;  // positions per register sum, at most (unless OW is more)

inline bool grouped_dw_ok(const Geom& g) { return grouped_direct_ok(g); }

template <int R, typename T>
EMBER_SIMD void gdw_rows(T* __restrict out, int64_t ldo, const T* __restrict xr, int64_t cs,
                         const T* __restrict dyT, const Geom& g, int64_t Wph, int64_t oh0,
                         int64_t oh1) {
  typedef T Vec __attribute__((vector_size(64)));
  constexpr int64_t L = 64 / int64_t(sizeof(T)), NV = kGdwO / L;
  Vec acc[R][NV];
  for (int r = 0; r < R; ++r)
    for (int64_t j = 0; j < NV; ++j) acc[r][j] = Vec{};
  for (int64_t oh = oh0; oh < oh1; ++oh) {
    const T* dq = dyT + oh * g.OW * kGdwO;
    const T* xo = xr + oh * Wph;
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      Vec v[NV];
      std::memcpy(&v, dq + ow * kGdwO, sizeof(v));
      for (int r = 0; r < R; ++r) {
        const T s = xo[r * cs + ow];
        for (int64_t j = 0; j < NV; ++j) acc[r][j] += s * v[j];
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    Vec d[NV];
    std::memcpy(&d, out + r * ldo, sizeof(d));
    for (int64_t j = 0; j < NV; ++j) d[j] += acc[r][j];
    std::memcpy(out + r * ldo, &d, sizeof(d));
  }
}

template <typename T>
void weight_grad_grouped(T* dw, const T* dy, const T* x, const Geom& g, int nt) {
  constexpr int RB = sizeof(T) == 4 ? 8 : 4;  // channels per block: 8 accumulator vectors
  const int64_t KK = g.KH * g.KW, tasks = g.N * g.G, part_n = g.G * g.K * kGdwO;
  const GdPhases ph(g);
  const int64_t xp_n = g.Cg * ph.cs + kSlack, dyT_n = g.P * kGdwO;
  // dyT through the GEMM's transposing packer where it makes panels 16 wide
  const Kernel<T> kern = micro_kernel<T>();
  const auto pack_t = kern.nr == kGdwO || kern.nr == 2 * kGdwO ? kern.pack_t : nullptr;
  std::vector<int64_t> toff(static_cast<size_t>(KK));
  for (int64_t t = 0; t < KK; ++t) toff[size_t(t)] = ph.tap(g, t / g.KW, t % g.KW);
  const int64_t ohb = std::max<int64_t>(1, kGdwChain / g.OW);  // output rows per partial sum
  nt = int(std::min<int64_t>(nt, tasks));
  const size_t per_thread = size_t(xp_n + dyT_n + part_n) * sizeof(T) + 4 * 64;
  char* base = align64(Workspace::get(size_t(nt) * per_thread + 64));
  std::vector<const T*> parts(static_cast<size_t>(nt));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    const int tid = omp_get_thread_num();
    char* tc = base + per_thread * size_t(tid);
    T* xp = carve<T>(&tc, xp_n);
    T* dyT = carve<T>(&tc, dyT_n);
    T* part = carve<T>(&tc, part_n);
    parts[size_t(tid)] = part;
    std::fill(xp, xp + xp_n, T(0));     // the border stays zero: tasks write the interior
    std::fill(dyT, dyT + dyT_n, T(0));  // (columns o >= Og stay zero)
    std::fill(part, part + part_n, T(0));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t n = t / g.G, gi = t % g.G;
      gd_fill(xp, x + (n * g.C + gi * g.Cg) * g.H * g.W, g, ph);
      const T* dyg = dy + (n * g.O + gi * g.Og) * g.P;
      if (pack_t)  // in-register transposes (the scalar loop was an eighth of the gradient)
        pack_t(dyT, dyg, g.P, g.Og, g.P, int(kGdwO));
      else
        for (int64_t p = 0; p < g.P; ++p)
          for (int64_t o = 0; o < g.Og; ++o) dyT[p * kGdwO + o] = dyg[o * g.P + p];
      T* pg = part + gi * g.K * kGdwO;
      const int64_t ldo = KK * kGdwO;  // rows k = c * KK + tap: channels KK rows apart
      // sums of at most kGdwChain positions added into the partial (as the fused engine's
      // blocks): one float32 chain over a 28x28 plane drifted past 1e-4 of a dw of ~80
      for (int64_t oh0 = 0; oh0 < g.OH; oh0 += ohb) {
        const int64_t oh1 = std::min(g.OH, oh0 + ohb);
        for (int64_t tap = 0; tap < KK; ++tap) {
          const T* xt = xp + toff[size_t(tap)];
          T* ot = pg + tap * kGdwO;
          int64_t c = 0;
          for (; c + RB <= g.Cg; c += RB)
            gdw_rows<RB>(ot + c * ldo, ldo, xt + c * ph.cs, ph.cs, dyT, g, ph.Wph, oh0, oh1);
          for (; c < g.Cg; ++c)
            gdw_rows<1>(ot + c * ldo, ldo, xt + c * ph.cs, ph.cs, dyT, g, ph.Wph, oh0, oh1);
        }
      }
    }
    // dw[gi*Og + o][k] = the threads' partials [gi][k][o], added in thread order
#pragma omp for schedule(static)
    for (int64_t gi = 0; gi < g.G; ++gi)
      for (int64_t k = 0; k < g.K; ++k)
        for (int64_t o = 0; o < g.Og; ++o) {
          const size_t at = size_t((gi * g.K + k) * kGdwO + o);
          T s = parts[0][at];
          for (int th = 1; th < nt; ++th) s += parts[size_t(th)][at];
          dw[(gi * g.Og + o) * g.K + k] = s;
        }
  }
}

// ---------------------------------------------------------------- dense engine
// A kernel that covers the whole (unpadded) input, one group: the output is 1x1 and im2col of
// image n is x[n] itself, so the convolution is one GEMM over the batch instead of N GEMMs with
// one column each (DCGAN's discriminator head, and its generator's first layer, a transposed
// convolution of a 1x1 input, whose forward is this dx):
//   y (N, O) = x (N, K) @ w (O, K)^T,  dx (N, K) = dy (N, O) @ w,  dw (O, K) = dy^T @ x.
bool dense_ok(const Geom& g) {
  return g.G == 1 && g.KH == g.H && g.KW == g.W && g.pt == 0 && g.pb == 0 && g.pl == 0 &&
         g.pr == 0 && g.K > 0;
}

template <typename T>
void forward_dense(T* y, const T* x, const T* w, const T* b, const Geom& g, int nt) {
  if (b)
    for (int64_t n = 0; n < g.N; ++n) std::copy(b, b + g.O, y + n * g.O);
  gemm<T>(false, true, g.N, g.O, g.K, T(1), x, g.K, w, g.K, b ? T(1) : T(0), y, g.O, nt);
}

template <typename T>
void backward_dense(T* dx, T* dw, const T* dy, const T* x, const T* w, const Geom& g, int nt) {
  if (dx) gemm<T>(false, false, g.N, g.K, g.O, T(1), dy, g.O, w, g.K, T(0), dx, g.K, nt);
  if (dw) gemm<T>(true, false, g.O, g.K, g.N, T(1), dy, g.O, x, g.K, T(0), dw, g.K, nt);
}

// ---------------------------------------------------------------- dilation split
// A stride-1 convolution dilated by (dh, dw) never mixes rows of different residues mod dh (nor
// columns mod dw): with H, W and the padding multiples of the dilation, output phase (a, b)
// (rows a + dh*i, columns b + dw*j) is the undilated convolution of input phase (a, b), padded
// pt/dh etc. So the N images become N*dh*dw phase images of (H/dh, W/dw) and the convolution an
// undilated one, which Winograd takes (DeepLab-style 3x3 with dilation 2 at 28x28: 256 -> 256
// channels 0.77x torch on the shift engine). Only where the split geometry reaches Winograd:
// elsewhere the shift engine runs dilated planes as fast as split ones, without the copies.
// Each output is its phase image's result, the same bits whatever the thread count.
inline bool dilation_phase_geom(const Geom& g, Geom* s) {
  if (g.G != 1 || g.sh != 1 || g.sw != 1 || (g.dh == 1 && g.dw == 1) || g.H % g.dh != 0 ||
      g.W % g.dw != 0 || g.pt % g.dh != 0 || g.pb % g.dh != 0 || g.pl % g.dw != 0 ||
      g.pr % g.dw != 0 || g.N == 0 || g.C == 0 || g.O == 0)
    return false;
  *s = make_geom(g.N * g.dh * g.dw, g.C, g.H / g.dh, g.W / g.dw, g.O, g.KH, g.KW, 1, 1, g.pt / g.dh,
                 g.pb / g.dh, g.pl / g.dw, g.pr / g.dw, 1, 1, 1);
  return true;
}

inline bool dilation_split(const Geom& g, Geom* s) {
  if (!dilation_phase_geom(g, s)) return false;
  // Phase outputs under 8x8 lose more to Winograd's 2x2 tiles and the copies than they gain
  // (dilation 4 at 28x28, 7x7 phases: forward 6.3 ms split, 5.4 ms unsplit, torch 4.1 ms).
  return s->OH >= 8 && s->OW >= 8;
}

// Between (N, C, H, W) planes x and their dilation phases xs ((N*dh*dw, C, H/dh, W/dw), phase
// image (n*dh + a)*dw + b holding x[n][c][a + dh*i][b + dw*j]): to_phases copies x into xs,
// else xs back into x. Threads over the (image, channel) planes.
template <typename T>
void dilation_phases(T* xs, T* x, int64_t N, int64_t C, int64_t H, int64_t W, int64_t dh,
                     int64_t dw, bool to_phases) {
  const int64_t Hs = H / dh, Ws = W / dw, ps = Hs * Ws;
  const int nt = threads_for(N * C * H * W, int64_t(1) << 18);
  parallel_for(nt, N * C, [&](int64_t nc) {
    const int64_t n = nc / C, c = nc % C;
    T* xp = x + nc * H * W;
    for (int64_t a = 0; a < dh; ++a)
      for (int64_t b = 0; b < dw; ++b) {
        T* sp = xs + (((n * dh + a) * dw + b) * C + c) * ps;
        for (int64_t i = 0; i < Hs; ++i) {
          T* row = xp + (a + dh * i) * W + b;
          T* srow = sp + i * Ws;
          if (to_phases)
            for (int64_t j = 0; j < Ws; ++j) srow[j] = row[dw * j];
          else
            for (int64_t j = 0; j < Ws; ++j) row[dw * j] = srow[j];
        }
      }
  });
}

// The dilation mosaic: where the split's phase images are too small for Winograd (dilation 4 at
// 28x28: 7x7 phases, see dilation_split), the dh*dw phase planes of each input plane are tiled
// into one plane instead, blocks (a, b) sv rows and su columns apart (the largest padding: each
// block's zero border, shared with its neighbours). The undilated convolution of that plane with
// the phases' padding gives every phase's output at its block's place (the rows and columns
// between blocks are junk, skipped), and the one larger plane reaches Winograd (the gradients:
// see conv2d_backward).
// 64 -> 64 channels, 3x3 dilation 4 at 28x28, batch 8 (31x31 mosaics; 1 thread, CPU time):
// 5.4 -> ~4.9 ms, torch ~3.9-4.1 (0.72x -> 0.80x); the copies were slow by their codegen (see
// mosaic_row).
// Every output is its mosaic's result: the same bits whatever the thread count.
struct Mosaic {
  Geom g;  // the mosaic convolution
  int64_t sv = 0, su = 0;
};

inline bool dilation_mosaic(const Geom& g, Mosaic* m) {
  Geom s;
  if (!dilation_phase_geom(g, &s)) return false;
  m->sv = std::max(s.pt, s.pb);
  m->su = std::max(s.pl, s.pr);
  const int64_t Hm = g.dh * s.H + (g.dh - 1) * m->sv, Wm = g.dw * s.W + (g.dw - 1) * m->su;
  m->g = make_geom(g.N, g.C, Hm, Wm, g.O, g.KH, g.KW, 1, 1, s.pt, s.pb, s.pl, s.pr, 1, 1, 1);
  // at most a quarter more positions than the dilated convolution's planes
  return 4 * Hm * Wm <= 5 * g.H * g.W && wino_ok(m->g);
}

// The mosaic's buffers (input and output mosaics, n values), kept per calling thread as the
// Workspace is (busy in the inner call): fresh arrays per call were mostly page faults. Freed by
// mosaic_trim when over kKeepBytes.
using MosaicWorkspace = ThreadBuffer<1>;
template <typename T>
T* mosaic_buffer(int64_t n) {
  return reinterpret_cast<T*>(MosaicWorkspace::get(size_t(std::max<int64_t>(n, 1)) * sizeof(T)));
}
inline void mosaic_trim() { MosaicWorkspace::trim(); }

// Between planes of x (dh*rows, dw*cols) and mosaic planes m (Hm, Wm) whose block (a, b) of rows x
// cols values starts at (a*ph, b*pw): the input's blocks are phase planes, ph = rows + sv etc.;
// the output's, phase outputs at the same places. to_mosaic zeroes m and copies x into its
// blocks, else the blocks back into x. Row by row in a function of its own (not inlined): inline
// in parallel_for's loop GCC kept the inner loops' pointers on the stack (too many live values
// in the nest), a store-to-load chain per value; the copies were ~1.3 ms of the ~5 ms forward
// (perf: 26% of _C's samples at 64 -> 64, 3x3 dilation 4, 28x28, batch 8).
template <typename T>
__attribute__((noinline)) void mosaic_row(T* __restrict mrow, T* __restrict row, int64_t cols,
                                          int64_t dw, int64_t pw, bool to_mosaic) {
  for (int64_t b = 0; b < dw; ++b, mrow += pw) {
    if (to_mosaic)
      for (int64_t j = 0; j < cols; ++j) mrow[j] = row[b + dw * j];
    else
      for (int64_t j = 0; j < cols; ++j) row[b + dw * j] = mrow[j];
  }
}

template <typename T>
void mosaic_copy(T* m, T* x, int64_t planes, int64_t Hm, int64_t Wm, int64_t rows, int64_t cols,
                 int64_t dh, int64_t dw, int64_t ph, int64_t pw, bool to_mosaic) {
  const int64_t HW = dh * rows * dw * cols;
  const int nt = threads_for(planes * Hm * Wm, int64_t(1) << 18);
  parallel_for(nt, planes, [=](int64_t pl) {
    T* xp = x + pl * HW;
    T* mp = m + pl * Hm * Wm;
    if (to_mosaic) std::fill(mp, mp + Hm * Wm, T(0));
    for (int64_t a = 0; a < dh; ++a)
      for (int64_t i = 0; i < rows; ++i)
        mosaic_row(mp + (a * ph + i) * Wm, xp + (a + dh * i) * dw * cols, cols, dw, pw, to_mosaic);
  });
}

// Owned buffers for the split copies (the engines' Workspace is busy in the inner call).
template <typename T>
std::unique_ptr<T[]> split_buffer(int64_t n) {
  return std::unique_ptr<T[]>(new T[size_t(std::max<int64_t>(n, 1))]);
}

}  // namespace

// x (N,C,H,W), w (O,C/g,KH,KW), b (O) or null -> y (N,O,OH,OW)
// padding is (top, bottom, left, right); OH = (H+pt+pb - dh*(KH-1) - 1)/sh + 1, likewise OW.
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t H,
                    int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t sh, int64_t sw,
                    int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                    int64_t groups) {
  const Geom g = make_geom(N, C, H, W, O, KH, KW, sh, sw, pt, pb, pl, pr, dh, dw, groups);
  if (g.N == 0 || g.O == 0) return;
  const Plan plan = make_plan(g, sizeof(T));
  TrimOnExit trim;
  if (depthwise_small_ok(g)) return depthwise_small_forward(y, x, w, b, g, small_threads(g));
  if (depthwise_ok(g)) return depthwise_forward(y, x, w, b, g, plan.nt);
  if (dense_ok(g)) return forward_dense(y, x, w, b, g, plan.nt);
  Geom gs;
  if (dilation_split(g, &gs) && wino_ok(gs)) {
    const int64_t xn = g.N * g.C * g.H * g.W, yn = g.N * g.O * g.P;
    std::unique_ptr<T[]> xs = split_buffer<T>(xn), ys = split_buffer<T>(yn);
    dilation_phases(xs.get(), const_cast<T*>(x), N, C, H, W, dh, dw, true);
    conv2d_forward<T>(ys.get(), xs.get(), w, b, gs.N, C, gs.H, gs.W, O, KH, KW, 1, 1, gs.pt, gs.pb,
                      gs.pl, gs.pr, 1, 1, 1);
    dilation_phases(ys.get(), y, N, O, g.OH, g.OW, dh, dw, false);
    return;
  }
  Mosaic mo;
  if (dilation_mosaic(g, &mo)) {
    const Geom& m = mo.g;
    const int64_t xm_n = g.N * g.C * m.H * m.W;
    T* xm = mosaic_buffer<T>(xm_n + g.N * g.O * m.OH * m.OW);
    T* ym = xm + xm_n;
    const int64_t ph = H / dh + mo.sv, pw = W / dw + mo.su;  // block pitch
    mosaic_copy(xm, const_cast<T*>(x), N * C, m.H, m.W, H / dh, W / dw, dh, dw, ph, pw, true);
    conv2d_forward<T>(ym, xm, w, b, N, C, m.H, m.W, O, KH, KW, 1, 1, m.pt, m.pb, m.pl, m.pr, 1, 1,
                      1);
    mosaic_copy(ym, y, N * O, m.OH, m.OW, g.OH / dh, g.OW / dw, dh, dw, ph, pw, false);
    mosaic_trim();
    return;
  }
  // (w's finiteness is checked by the weight transform: else y is recomputed below)
  if (wino_ok(g) && all_finite(x, g.N * g.C * g.H * g.W) &&
      forward_winograd(y, x, w, b, g, plan.nt))
    return;
  if (batch_ok(g)) return forward_batch(y, x, w, b, g, plan.nt);
  if (grouped_direct_ok(g)) return forward_grouped_direct(y, x, w, b, g, plan.nt);
  if (!g.direct && g.K > 0) {
    if (shift_ok(g, g.Cg) && !shift_wasteful(g, micro_kernel<T>().nr, 23, 20) &&
        !shift_many_taps(g))
      return forward_shift(y, x, w, b, g, plan.nt);
    return forward_engine(y, x, w, b, g, plan.nt);
  }
  T* ws = col_workspace<T>(g, plan);
  const int64_t tasks = g.N * g.G;
  if (plan.outer) {
    const size_t per = size_t(std::max<int64_t>(g.K, 1)) * size_t(plan.tile);
#pragma omp parallel num_threads(plan.nt)
    {
      T* col = ws ? ws + per * size_t(omp_get_thread_num()) : nullptr;
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tasks; ++t)
        forward_task(y, x, w, b, g, t / g.G, t % g.G, col, plan.tile, 1, 1);
    }
  } else {
    for (int64_t t = 0; t < tasks; ++t)
      forward_task(y, x, w, b, g, t / g.G, t % g.G, ws, plan.tile, plan.nt, 0);
  }
}

// Backward of  x (N,C,H,W), w (O,C/g,KH,KW), b (O) -> y (N,O,OH,OW):
// dy (N,O,OH,OW), x, w -> dx (N,C,H,W), dw (O,C/g,KH,KW), db (O); any output may be null (not
// computed). Fresh outputs (overwritten, never accumulated into).
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C,
                     int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t sh,
                     int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
                     int64_t dwl, int64_t groups) {
  const Geom g = make_geom(N, C, H, W, O, KH, KW, sh, sw, pt, pb, pl, pr, dh, dwl, groups);
  const int64_t wnumel = g.O * g.K;
  if (dw) std::fill(dw, dw + wnumel, T(0));
  if (db) {
    // db[o] = sum over n, p of dy: double accumulation in a fixed order.
    const int nt = threads_for(g.N * g.O * g.P, int64_t(1) << 20);
    parallel_for(nt, g.O, [&](int64_t o) {
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t n = 0; n < g.N; ++n) {
        const T* s = dy + (n * g.O + o) * g.P;
        int64_t p = 0;
        for (; p + 8 <= g.P; p += 8)
          for (int j = 0; j < 8; ++j) acc[j] += double(s[p + j]);
        for (; p < g.P; ++p) acc[0] += double(s[p]);
      }
      db[o] = T(((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    });
  }
  if ((!dx && !dw) || g.N == 0) {
    if (dx) std::fill(dx, dx + g.N * g.C * g.H * g.W, T(0));
    return;
  }
  if (g.O == 0) {  // no output channels: zero gradients
    if (dx) std::fill(dx, dx + g.N * g.C * g.H * g.W, T(0));
    return;
  }
  const Plan plan = make_plan(g, sizeof(T));
  TrimOnExit trim;
  const int64_t xn = g.N * g.C * g.H * g.W, dyn = g.N * g.O * g.P;
  if (depthwise_small_ok(g)) {
    if (dx) depthwise_small_input_grad(dx, dy, w, g, small_threads(g));
    if (dw) depthwise_small_weight_grad(dw, dy, x, g, small_threads(g));
    return;
  }
  // dx as a convolution of dy (depthwise, Winograd, shift, fused forward) multiplies the weights
  // by dy's zero padding: an infinite weight would give NaN where torch's col2im
  // (backward_engine) does not. Such weights take backward_engine.
  int w_ok = -1;  // all_finite(w), scanned once, only where one of those engines would run
  const auto w_finite = [&] { return w_ok >= 0 ? w_ok == 1 : (w_ok = all_finite(w, wnumel)) == 1; };
  if (depthwise_ok(g) && (!dw || all_finite(x, xn)) && (!dx || w_finite()))
    return depthwise_backward(dx, dw, dy, x, w, g, plan.nt);
  if (dense_ok(g)) return backward_dense(dx, dw, dy, x, w, g, plan.nt);
  Geom gs;
  if (dilation_split(g, &gs) && ((dx && wino_dx_ok(gs)) || (dw && wino_ok(gs, true)))) {
    const int64_t yn = g.N * g.O * g.P;
    std::unique_ptr<T[]> xs = split_buffer<T>(dw ? xn : 0), dys = split_buffer<T>(yn),
                         dxs = split_buffer<T>(dx ? xn : 0);
    dilation_phases(dys.get(), const_cast<T*>(dy), N, O, g.OH, g.OW, dh, dwl, true);
    if (dw) dilation_phases(xs.get(), const_cast<T*>(x), N, C, H, W, dh, dwl, true);
    conv2d_backward<T>(dx ? dxs.get() : nullptr, dw, nullptr, dys.get(), dw ? xs.get() : x, w, gs.N,
                       C, gs.H, gs.W, O, KH, KW, 1, 1, gs.pt, gs.pb, gs.pl, gs.pr, 1, 1, 1);
    if (dx) dilation_phases(dxs.get(), dx, N, C, H, W, dh, dwl, false);
    return;
  }
  // The mosaic's gradients (see dilation_mosaic): dy tiled as the forward tiles y, its junk rows
  // and columns zero, so they add nothing; each block's gradient is its phase's (the windows of
  // one block reach only its own zero border). Each gradient that reaches Winograd there takes
  // it, the other the dilated convolution below (so do non-finite operands). 128 -> 128, 3x3
  // dilation 4 at 28x28, batch 8 (1 thread, CPU time): dx 19.5 -> ~14 ms, dw 17.7 -> ~14, torch
  // ~14.5 and ~15.5.
  Mosaic mo;
  if (dilation_mosaic(g, &mo)) {
    const Geom& m = mo.g;
    // (Winograd's operands must be finite, and so must the mosaic's: an inf times a junk zero
    // would be NaN in any engine)
    const bool dy_ok = (dx || dw) && all_finite(dy, dyn);
    const bool mdx = dx && dy_ok && wino_dx_ok(m) && w_finite();
    const bool mdw = dw && dy_ok && wino_ok(m, true) && all_finite(x, xn);
    if (mdx || mdw) {
      const int64_t xm_n = g.N * g.C * m.H * m.W, dym_n = g.N * g.O * m.OH * m.OW;
      T* dym = mosaic_buffer<T>(dym_n + (mdw ? xm_n : 0) + (mdx ? xm_n : 0));
      T* xm = mdw ? dym + dym_n : nullptr;
      T* dxm = mdx ? dym + dym_n + (mdw ? xm_n : 0) : nullptr;
      const int64_t ph = H / dh + mo.sv, pw = W / dwl + mo.su;  // block pitch
      mosaic_copy(dym, const_cast<T*>(dy), N * O, m.OH, m.OW, g.OH / dh, g.OW / dwl, dh, dwl, ph,
                  pw, true);
      if (mdw)
        mosaic_copy(xm, const_cast<T*>(x), N * C, m.H, m.W, H / dh, W / dwl, dh, dwl, ph, pw, true);
      conv2d_backward<T>(dxm, mdw ? dw : nullptr, nullptr, dym, xm, w, N, C, m.H, m.W, O, KH, KW, 1,
                         1, m.pt, m.pb, m.pl, m.pr, 1, 1, 1);
      if (mdx) mosaic_copy(dxm, dx, N * C, m.H, m.W, H / dh, W / dwl, dh, dwl, ph, pw, false);
      mosaic_trim();
      if ((dx && !mdx) || (dw && !mdw))  // the other gradient on the dilated planes
        conv2d_backward<T>(mdx ? nullptr : dx, mdw ? nullptr : dw, nullptr, dy, x, w, N, C, H, W, O,
                           KH, KW, sh, sw, pt, pb, pl, pr, dh, dwl, groups);
      return;
    }
  }
  const bool wino_dx = dx && wino_dx_ok(g) && w_finite() && all_finite(dy, dyn);
  const bool wino_dw = dw && wino_ok(g, true) && all_finite(dy, dyn) && all_finite(x, xn);
  if (wino_dx || wino_dw) {  // the other gradient, if needed, by whichever engine takes it
    if (wino_dw)
      weight_grad_winograd(dw, dy, x, g, plan.nt);
    else if (dw)
      conv2d_backward<T>(nullptr, dw, nullptr, dy, x, w, N, C, H, W, O, KH, KW, sh, sw, pt, pb, pl,
                         pr, dh, dwl, groups);
    if (wino_dx)
      input_grad_winograd(dx, dy, w, g, plan.nt);
    else if (dx)
      conv2d_backward<T>(dx, nullptr, nullptr, dy, x, w, N, C, H, W, O, KH, KW, sh, sw, pt, pb, pl,
                         pr, dh, dwl, groups);
    return;
  }
  if (batch_ok(g)) return backward_batch(dx, dw, dy, x, w, g, plan.nt);
  if (dw && batch_dw_ok(g)) {
    backward_batch<T>(nullptr, dw, dy, x, w, g, plan.nt);
    if (dx)
      conv2d_backward<T>(dx, nullptr, nullptr, dy, x, w, N, C, H, W, O, KH, KW, sh, sw, pt, pb, pl,
                         pr, dh, dwl, groups);
    return;
  }
  // A strided input gradient of small output planes (P <= 64, as batch_dw_ok) and a deep w^T
  // through input_grad_images: its w^T blocks stay in L2 across the image's NR panels, where
  // backward_engine streamed all of w^T (2 MiB) per panel. DCGAN's 256 -> 128 k4s2p1 8x8 ->
  // 16x16 transposed forward, batch 16: 11.8 -> 11.2 ms (torch 11.3; 1 thread, CPU time); at
  // 16x16 -> 32x32 level, at K = 27 (3 -> 32) 5% slower.
  if (dx && !dw && g.G == 1 && !g.direct && (g.sh > 1 || g.sw > 1) && g.P <= kBatchDwMaxP &&
      g.K >= 256 && g.N >= plan.nt)
    return input_grad_images(dx, dy, w, g, plan.nt);
  if (!g.direct && g.K > 0 && (plan.nt == 1 || g.N * g.G >= plan.nt)) {
    if (dw && grouped_dw_ok(g)) {  // then dx, if needed, by whichever engine takes it
      weight_grad_grouped(dw, dy, x, g, plan.nt);
      if (!dx) return;
      dw = nullptr;
    }
    if (dx && shift_wasteful(g, micro_kernel<T>().nr) && transposed_ok(g) && w_finite()) {
      if (dw) backward_engine<T>(nullptr, dw, dy, x, w, g, plan.nt);
      return input_grad_forward(dx, dy, w, g, plan.nt);
    }
    if (dx && grouped_dx_ok(g) && w_finite()) {
      if (dw) backward_engine<T>(nullptr, dw, dy, x, w, g, plan.nt);
      return input_grad_grouped(dx, dy, w, g, plan.nt);
    }
    if (dx && grouped_dx_strided_ok(g) && w_finite()) {
      if (dw) backward_engine<T>(nullptr, dw, dy, x, w, g, plan.nt);
      return input_grad_grouped_strided(dx, dy, w, g, plan.nt);
    }
    if (dx && shift_ok(g, g.Og) && w_finite()) {
      if (dw) backward_engine<T>(nullptr, dw, dy, x, w, g, plan.nt);
      return input_grad_shift(dx, dy, w, g, plan.nt);
    }
    return backward_engine(dx, dw, dy, x, w, g, plan.nt);
  }
  const bool need_col = !g.direct;
  const int64_t tasks = g.N * g.G;
  if (plan.outer) {
    const size_t per = need_col ? size_t(std::max<int64_t>(g.K, 1)) * size_t(plan.tile) : 0;
    // Workspace: col per thread, then dw partials for threads 1..nt-1 (thread 0 uses dw).
    const size_t parts = dw ? size_t(plan.nt - 1) * size_t(wnumel) : 0;
    T* ws = reinterpret_cast<T*>(Workspace::get((per * plan.nt + parts) * sizeof(T) + 1));
    T* partials = ws + per * plan.nt;
    if (dw) std::fill(partials, partials + parts, T(0));
#pragma omp parallel num_threads(plan.nt)
    {
      const int tid = omp_get_thread_num();
      T* col = need_col ? ws + per * size_t(tid) : nullptr;
      T* acc = dw ? (tid == 0 ? dw : partials + size_t(tid - 1) * size_t(wnumel)) : nullptr;
#pragma omp for schedule(static)
      for (int64_t t = 0; t < tasks; ++t)
        backward_task(dx, acc, dy, x, w, g, t / g.G, t % g.G, col, plan.tile, 1, 1);
      if (dw && plan.nt > 1) {
        // Fixed-order reduction: dw[i] = part0[i] + part1[i] + ... (after the implicit barrier).
#pragma omp for schedule(static)
        for (int64_t i = 0; i < wnumel; ++i) {
          T s = dw[i];
          for (int t = 0; t < plan.nt - 1; ++t) s += partials[size_t(t) * size_t(wnumel) + i];
          dw[i] = s;
        }
      }
    }
  } else {
    T* col = col_workspace<T>(g, plan);
    for (int64_t t = 0; t < tasks; ++t)
      backward_task(dx, dw, dy, x, w, g, t / g.G, t % g.G, col, plan.tile, plan.nt, 0);
  }
}

// conv_transpose2d, the adjoint of conv2d in x (conv2d's input gradient with x as its output
// gradient): x (N,Cin,H,W), w (Cin,Cout/g,KH,KW), b (Cout) or null -> y (N,Cout,OH,OW), where
// conv2d of y's shape with w (Cin output channels, the same stride, padding, dilation, groups)
// gives x's (the caller checks). The bias is added per output plane after the engine.
template <typename T>
void conv_transpose2d_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t Cin,
                              int64_t Cout, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                              int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
                              int64_t pr, int64_t dh, int64_t dw, int64_t groups) {
  // (conv2d_backward reads no input values for dx alone: y stands in for conv2d's x)
  conv2d_backward<T>(y, nullptr, nullptr, x, y, w, N, Cout, OH, OW, Cin, KH, KW, sh, sw, pt, pb, pl,
                     pr, dh, dw, groups);
  if (!b) return;
  const int64_t P = OH * OW;
  parallel_for(threads_for(N * Cout * P, int64_t(1) << 18), N * Cout, [&](int64_t nc) {
    T* __restrict r = y + nc * P;
    const T v = b[nc % Cout];
    for (int64_t j = 0; j < P; ++j) r[j] += v;
  });
}

// conv3d's depth taps (python/ember/nn/functional.py composes conv3d as one conv2d whose input
// channels are (c, a) pairs): x (N, C, D, HW) -> out (N, OD, C, KD, HW),
//   out[n, i, c, a] = x[n, c, i*s - p + a*d]  (zero outside [0, D)).
// Plane copies, threads over (image, output depth) rows (NumPy's serial copies were a seventh of
// conv3d's forward and backward at 2 threads).
template <typename T>
void conv3d_depth_taps(T* out, const T* x, int64_t N, int64_t C, int64_t D, int64_t HW, int64_t KD,
                       int64_t OD, int64_t s, int64_t d, int64_t p) {
  const int nt = threads_for(N * OD * C * KD * HW, int64_t(1) << 16);
  parallel_for(nt, N * OD, [&](int64_t ni) {
    const int64_t n = ni / OD, i = ni % OD;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t a = 0; a < KD; ++a) {
        T* dst = out + ((ni * C + c) * KD + a) * HW;
        const int64_t z = i * s - p + a * d;
        if (z >= 0 && z < D) {
          const T* src = x + ((n * C + c) * D + z) * HW;
          std::copy(src, src + HW, dst);
        } else {
          std::fill(dst, dst + HW, T(0));
        }
      }
  });
}

// The adjoint: g (N, OD, C, KD, HW) -> dx (N, C, D, HW), dx[n, c, z] = the sum of the g[n, i, c,
// a] with i*s - p + a*d = z, added in order of a (NumPy's per-tap scatter-adds: the same bits).
// Threads over (image, channel) planes of dx.
template <typename T>
void conv3d_depth_taps_backward(T* dx, const T* g, int64_t N, int64_t C, int64_t D, int64_t HW,
                                int64_t KD, int64_t OD, int64_t s, int64_t d, int64_t p) {
  const int nt = threads_for(N * OD * C * KD * HW, int64_t(1) << 16);
  parallel_for(nt, N * C, [&](int64_t nc) {
    const int64_t n = nc / C, c = nc % C;
    T* dp = dx + nc * D * HW;
    std::fill(dp, dp + D * HW, T(0));
    for (int64_t a = 0; a < KD; ++a)
      for (int64_t i = 0; i < OD; ++i) {
        const int64_t z = i * s - p + a * d;
        if (z < 0 || z >= D) continue;
        T* __restrict dst = dp + z * HW;
        const T* __restrict src = g + (((n * OD + i) * C + c) * KD + a) * HW;
        for (int64_t k = 0; k < HW; ++k) dst[k] += src[k];
      }
  });
}

// conv3d's direct forward (python/ember/nn/functional.py: strided, one group): no depth-tap
// copy, phase planes or im2col panels (together a sixth of the conv2d route's time at 4x32x16^3
// -> 64, 3x3x3 stride 2: 3.1 -> 2.4 ms, torch 2.0; AVX-512, 1 thread, CPU time). Per image, y
// (O, P) is computed as tiles of MR output positions x NR channels by the gather micro-kernel
// (gemm_internal.h): position i's corner in a zero-padded copy of x, tap p at offset koff[p]
// from it, broadcast in place; the weights packed once as NR-channel panels. sz: N, C, D, H, W,
// O, KD, KH, KW; s, p, d, out: per axis (D, H, W).
//
// Taps that read only padding are skipped, as oneDNN does (at 16^3 -> 8^3, 3x3x3 stride 2 they
// are 12% of the multiply-adds): per axis output i's taps in bounds are a range [lo, hi); the
// positions are ordered by their three ranges so that a tile of MR mostly shares them, and each
// distinct bounding box of a tile's ranges (a class) gets its own compact tap list and weight
// panels, the taps in the same (c, a, h, v) order (consecutive taps read neighbouring values:
// an order with whole runs of skipped taps, channel fastest, read a new plane per tap and lost
// what the skipping saved). A tile's taps outside its positions' own ranges read zeros of the
// padded copy: computing them is harmless.
template <typename T>
void conv3d_direct_forward(T* y, const T* x, const T* w, const T* b, const int64_t* sz,
                           const int64_t* s, const int64_t* p, const int64_t* d,
                           const int64_t* out) {
  const Kernel<T> kern = micro_kernel<T>();
  const int MR = kern.mr, NR = kern.nr;
  const int64_t N = sz[0], C = sz[1], O = sz[5], KD = sz[6], KH = sz[7], KW = sz[8];
  const int64_t Dp = sz[2] + 2 * p[0], Hp = sz[3] + 2 * p[1], Wp = sz[4] + 2 * p[2];
  const int64_t plane = Dp * Hp * Wp, K = C * KD * KH * KW, P = out[0] * out[1] * out[2];
  const int64_t KT = KD * KH * KW;
  const int nt = threads_for(N * P * O * K, kMinWorkPerThread);
  const int64_t npan = (O + NR - 1) / NR, ntile = (P + MR - 1) / MR, ntask = N * npan;
  const int tnt = std::min<int64_t>(nt, ntask);
  // positions ordered by their in-bounds tap ranges (box[6q ..]: lo, hi per axis)
  std::vector<int64_t> key(static_cast<size_t>(P)), order(static_cast<size_t>(P));
  std::vector<int64_t> box(static_cast<size_t>(6 * P));
  for (int64_t q = 0; q < P; ++q) {
    const int64_t idx[3] = {q / (out[1] * out[2]), q / out[2] % out[1], q % out[2]};
    int64_t kv = 0;
    for (int ax = 0; ax < 3; ++ax) {
      const int64_t k = sz[6 + ax], off = idx[ax] * s[ax] - p[ax], n = sz[2 + ax];
      int64_t* bx = &box[size_t(6 * q + 2 * ax)];  // tap t reads off + t*d
      bx[0] = off >= 0 ? 0 : std::min(k, (-off + d[ax] - 1) / d[ax]);
      bx[1] = std::max(bx[0], off > n - 1 ? 0 : std::min(k, (n - 1 - off) / d[ax] + 1));
      kv = (kv * (k + 1) + bx[0]) * (k + 1) + bx[1];
    }
    key[size_t(q)] = kv;
    order[size_t(q)] = q;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t u, int64_t v) { return key[size_t(u)] < key[size_t(v)]; });
  // classes: the distinct bounding boxes of the tiles; ktap[cls_at[c] .. cls_at[c + 1]) the
  // taps of class c. Too many classes (compact panels over 4 full ones): one, every tap.
  std::vector<std::array<int64_t, 6>> boxes;
  std::vector<int64_t> tcls(static_cast<size_t>(ntile));
  for (int64_t ti = 0; ti < ntile; ++ti) {
    std::array<int64_t, 6> bb = {KD, 0, KH, 0, KW, 0};
    for (int64_t q = ti * MR; q < std::min(P, (ti + 1) * MR); ++q)
      for (int e = 0; e < 6; e += 2) {
        const int64_t* bx = &box[size_t(6 * order[size_t(q)] + e)];
        bb[size_t(e)] = std::min(bb[size_t(e)], bx[0]);
        bb[size_t(e + 1)] = std::max(bb[size_t(e + 1)], bx[1]);
      }
    const auto it = std::find(boxes.begin(), boxes.end(), bb);
    tcls[size_t(ti)] = it - boxes.begin();
    if (it == boxes.end()) boxes.push_back(bb);
  }
  std::vector<int64_t> ktap, cls_at(1, 0);
  for (const auto& bb : boxes) {
    for (int64_t k = 0; k < K; ++k) {
      const int64_t a = k / (KH * KW) % KD, h = k / KW % KH, v = k % KW;
      if (a >= bb[0] && a < bb[1] && h >= bb[2] && h < bb[3] && v >= bb[4] && v < bb[5])
        ktap.push_back(k);
    }
    cls_at.push_back(int64_t(ktap.size()));
  }
  if (int64_t(ktap.size()) > 4 * K) {
    boxes.assign(1, {0, KD, 0, KH, 0, KW});
    std::fill(tcls.begin(), tcls.end(), 0);
    ktap.resize(size_t(K));
    for (int64_t k = 0; k < K; ++k) ktap[size_t(k)] = k;
    cls_at.assign({0, K});
  }
  const int64_t ncls = int64_t(boxes.size()), KS = int64_t(ktap.size());
  std::vector<int64_t> ctile(static_cast<size_t>(ntile)), ctile_at(size_t(ncls + 1), 0);
  for (int64_t ti = 0; ti < ntile; ++ti) ++ctile_at[size_t(tcls[size_t(ti)] + 1)];
  for (int64_t c = 0; c < ncls; ++c) ctile_at[size_t(c + 1)] += ctile_at[size_t(c)];
  {
    std::vector<int64_t> fill(ctile_at.begin(), ctile_at.end() - 1);
    for (int64_t ti = 0; ti < ntile; ++ti) ctile[size_t(fill[size_t(tcls[size_t(ti)])]++)] = ti;
  }
  std::vector<int64_t> koff(static_cast<size_t>(KS));
  for (int64_t i = 0; i < KS; ++i) {
    const int64_t k = ktap[size_t(i)];
    const int64_t c = k / KT, a = k / (KH * KW) % KD, h = k / KW % KH, v = k % KW;
    koff[size_t(i)] = c * plane + (a * d[0] * Hp + h * d[1]) * Wp + v * d[2];
  }
  // One workspace (kept between calls): the weight panels, then per thread a zero-padded image
  // and an accumulator (64-byte aligned each: the kernel's aligned loads).
  const size_t align = 64 / sizeof(T);
  const auto up = [&](int64_t n) { return (size_t(n) + align - 1) / align * align; };
  const size_t wp_n = up(npan * KS * NR), xi_n = up(C * plane), acc_n = up(ntile * MR * NR);
  TrimOnExit trim;
  T* wp = reinterpret_cast<T*>(
      align64(Workspace::get((wp_n + size_t(tnt) * (xi_n + acc_n)) * sizeof(T) + 64)));
  // class c's panel j: wp + (npan * cls_at[c] + j * Kc) * NR, [k][r] = w[j*NR + r][its tap k]
  parallel_for(nt, npan * NR, [&](int64_t o) {
    for (int64_t c = 0; c < ncls; ++c) {
      const int64_t k0 = cls_at[size_t(c)], kc = cls_at[size_t(c + 1)] - k0;
      T* dst = wp + (npan * k0 + (o / NR) * kc) * NR + o % NR;
      for (int64_t k = 0; k < kc; ++k) dst[k * NR] = o < O ? w[o * K + ktap[size_t(k0 + k)]] : T(0);
    }
  });
  // Per (image, panel) task: depth blocks of kc taps whose weight block (kc x NR, 16 KiB) stays
  // in L1 while the class's position tiles run through it, accumulating into acc (P x NR, in
  // L2), rather than the whole depth's panel (110 KiB at 32 channels x 27 taps) per 8 positions.
  const int64_t kc_blk = std::max<int64_t>(16384 / (NR * sizeof(T)), 1);
  const int64_t D = sz[2], H = sz[3], W = sz[4];
  parallel_region(tnt, [&](int th, int nth) {
    T* xi = wp + wp_n + size_t(th) * (xi_n + acc_n);
    T* acc = xi + xi_n;
    std::vector<const T*> xb(size_t(ntile * MR));
    for (int64_t q = 0; q < ntile * MR; ++q) {
      const int64_t qc = order[size_t(std::min(q, P - 1))];  // (rows past P repeat the last)
      const int64_t od = qc / (out[1] * out[2]), oh = qc / out[2] % out[1], ow = qc % out[2];
      xb[size_t(q)] = xi + (od * s[0] * Hp + oh * s[1]) * Wp + ow * s[2];
    }
    // A contiguous run of tasks: an image's panels on one thread, its padded copy (xi, in L2)
    // written once just before they read it (a padded copy of the whole batch first was a
    // tenth of the time, its writes and reads going through memory).
    int64_t padded = -1;
    for (int64_t t = ntask * th / nth; t < ntask * (th + 1) / nth; ++t) {
      const int64_t n = t / npan, j = t % npan;
      if (n != padded) {
        padded = n;
        for (int64_t c = 0; c < C; ++c) {
          T* dst = xi + c * plane;
          std::fill(dst, dst + p[0] * Hp * Wp, T(0));
          std::fill(dst + (p[0] + D) * Hp * Wp, dst + plane, T(0));
          for (int64_t z = 0; z < D; ++z) {
            T* sl = dst + (z + p[0]) * Hp * Wp;
            std::fill(sl, sl + p[1] * Wp, T(0));
            std::fill(sl + (p[1] + H) * Wp, sl + Hp * Wp, T(0));
            for (int64_t r = 0; r < H; ++r) {  // (inline loops: a memmove call per short row)
              T* __restrict row = sl + (r + p[1]) * Wp;
              const T* __restrict src = x + (((n * C + c) * D + z) * H + r) * W;
              for (int64_t i = 0; i < p[2]; ++i) row[i] = T(0);
              for (int64_t i = 0; i < W; ++i) row[p[2] + i] = src[i];
              for (int64_t i = p[2] + W; i < Wp; ++i) row[i] = T(0);
            }
          }
        }
      }
      for (int64_t c = 0; c < ncls; ++c) {
        const int64_t k0 = cls_at[size_t(c)], kc = cls_at[size_t(c + 1)] - k0;
        const T* wc = wp + (npan * k0 + j * kc) * NR;
        for (int64_t u = ctile_at[size_t(c)]; u < ctile_at[size_t(c + 1)] && kc == 0; ++u) {
          const int64_t ti = ctile[size_t(u)];  // (positions whose every tap is padding)
          std::fill(acc + ti * MR * NR, acc + (ti + 1) * MR * NR, T(0));
        }
        for (int64_t kb = 0; kb < kc; kb += kc_blk)
          for (int64_t u = ctile_at[size_t(c)]; u < ctile_at[size_t(c + 1)]; ++u) {
            const int64_t ti = ctile[size_t(u)];
            kern.gather(std::min(kc_blk, kc - kb), xb.data() + ti * MR, koff.data() + k0 + kb,
                        wc + kb * NR, acc + ti * MR * NR, kb > 0);
          }
      }
      for (int64_t r = 0; r < std::min<int64_t>(NR, O - j * NR); ++r) {
        const int64_t o = j * NR + r;
        T* yo = y + (n * O + o) * P;
        const T bo = b ? b[o] : T(0);
        for (int64_t q = 0; q < P; ++q) yo[order[size_t(q)]] = acc[q * NR + r] + bo;
      }
    }
  });
}

// Where the Winograd engine runs: 0 never, 1 where it wins (the default), 2 wherever it applies.
// Returns the previous mode.
int conv2d_set_winograd(int mode) {
  EMBER_CHECK(mode >= 0 && mode <= 2, "conv2d_set_winograd: mode must be 0, 1 or 2, got ", mode);
  return g_winograd.exchange(mode);
}

// Where the weight gradient alone runs the batch engine: 0 never, 1 by batch_dw_ok's rule (the
// default), 2 wherever it applies (one group, not 1x1-direct). Returns the previous mode.
int conv2d_set_batch_dw(int mode) {
  EMBER_CHECK(mode >= 0 && mode <= 2, "conv2d_set_batch_dw: mode must be 0, 1 or 2, got ", mode);
  return g_batch_dw.exchange(mode);
}

template void conv2d_forward<float>(float*, const float*, const float*, const float*, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                    int64_t);
template void conv2d_forward<double>(double*, const double*, const double*, const double*, int64_t,
                                     int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                     int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                     int64_t);
template void conv2d_backward<float>(float*, float*, float*, const float*, const float*,
                                     const float*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                     int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                     int64_t, int64_t, int64_t, int64_t);
template void conv2d_backward<double>(double*, double*, double*, const double*, const double*,
                                      const double*, int64_t, int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                      int64_t, int64_t, int64_t, int64_t);

template void conv_transpose2d_forward<float>(float*, const float*, const float*, const float*,
                                              int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                              int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                              int64_t, int64_t, int64_t, int64_t);
template void conv_transpose2d_forward<double>(double*, const double*, const double*, const double*,
                                               int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                               int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                               int64_t, int64_t, int64_t, int64_t);
template void conv3d_direct_forward<float>(float*, const float*, const float*, const float*,
                                           const int64_t*, const int64_t*, const int64_t*,
                                           const int64_t*, const int64_t*);
template void conv3d_direct_forward<double>(double*, const double*, const double*, const double*,
                                            const int64_t*, const int64_t*, const int64_t*,
                                            const int64_t*, const int64_t*);
template void conv3d_depth_taps<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                       int64_t, int64_t, int64_t, int64_t, int64_t);
template void conv3d_depth_taps<double>(double*, const double*, int64_t, int64_t, int64_t, int64_t,
                                        int64_t, int64_t, int64_t, int64_t, int64_t);
template void conv3d_depth_taps_backward<float>(float*, const float*, int64_t, int64_t, int64_t,
                                                int64_t, int64_t, int64_t, int64_t, int64_t,
                                                int64_t);
template void conv3d_depth_taps_backward<double>(double*, const double*, int64_t, int64_t, int64_t,
                                                 int64_t, int64_t, int64_t, int64_t, int64_t,
                                                 int64_t);

}  // namespace ember
