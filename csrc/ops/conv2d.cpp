// conv2d forward and backward: im2col / col2im on the GEMM core, NCHW, float32 and float64.
//
// Per image n and group g the convolution is one GEMM:
//   y[n, g] (Og, P) = w[g] (Og, K) @ col (K, P),  K = Cg*KH*KW, P = OH*OW,
// where col is im2col of x[n, g] (rows (c, kh, kw), columns (oh, ow)). A 1x1 convolution with
// stride 1 and no padding skips im2col: x[n, g] (Cg, H*W) is already the matrix.
//
// Threads: with at least as many (image, group) tasks as threads, each thread takes whole tasks
// and runs serial GEMMs (threads = 1) on its own col workspace; otherwise tasks run one after
// another with im2col/col2im parallel inside and the GEMM's own threads. The col workspace is
// tiled over output positions so that all of it stays under kColBudget bytes, and it is kept per
// calling thread between calls. Weight gradients go through per-thread partial buffers reduced in
// thread order: no atomics, deterministic for a given thread count.
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "common.h"
#include "gemm/gemm.h"

namespace ember {

namespace {

constexpr int64_t kColBudget = int64_t(256) << 20;  // bytes of col workspace, all threads
constexpr size_t kKeepBytes = size_t(64) << 20;     // larger workspaces are freed after a call

int64_t add_checked(int64_t a, int64_t b, const char* what) {
  EMBER_CHECK(a >= 0 && b >= 0 && a <= std::numeric_limits<int64_t>::max() - b, what,
              ": size overflows int64 (", a, " + ", b, ")");
  return a + b;
}

// A reusable, uninitialised buffer per calling thread (ember is called from many Python threads).
class Workspace {
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
  const std::string xs = shape_str({N, C, H, W}), ws = shape_str({O, wC, KH, KW});
  EMBER_CHECK(N >= 0 && C >= 0 && H >= 0 && W >= 0 && O >= 0 && wC >= 0 && KH >= 0 && KW >= 0,
              "conv2d: negative size in input ", xs, " or weight ", ws);
  EMBER_CHECK(groups >= 1, "conv2d: groups must be >= 1, got ", groups);
  EMBER_CHECK(sh >= 1 && sw >= 1, "conv2d: stride must be >= 1, got (", sh, ", ", sw, ")");
  EMBER_CHECK(dh >= 1 && dw >= 1, "conv2d: dilation must be >= 1, got (", dh, ", ", dw, ")");
  EMBER_CHECK(pt >= 0 && pb >= 0 && pl >= 0 && pr >= 0,
              "conv2d: padding must be non-negative, got (top, bottom, left, right) = (", pt, ", ",
              pb, ", ", pl, ", ", pr, ")");
  EMBER_CHECK(KH >= 1 && KW >= 1, "conv2d: kernel size must be >= 1, got weight ", ws);
  EMBER_CHECK(wC >= 1, "conv2d: weight ", ws, " has no input channels");
  EMBER_CHECK(mul_checked(wC, groups, "conv2d") == C, "conv2d: input ", xs, " has ", C,
              " channels but weight ", ws, " with groups=", groups, " expects ", wC * groups);
  EMBER_CHECK(O % groups == 0, "conv2d: out_channels ", O, " (weight ", ws,
              ") is not divisible by groups=", groups);
  const int64_t Hp = add_checked(add_checked(H, pt, "conv2d"), pb, "conv2d");
  const int64_t Wp = add_checked(add_checked(W, pl, "conv2d"), pr, "conv2d");
  const int64_t eh = add_checked(mul_checked(dh, KH - 1, "conv2d"), 1, "conv2d");
  const int64_t ew = add_checked(mul_checked(dw, KW - 1, "conv2d"), 1, "conv2d");
  EMBER_CHECK(Hp >= eh && Wp >= ew, "conv2d: input ", xs, " padded to (", Hp, ", ", Wp,
              ") is smaller than the dilated kernel (", eh, ", ", ew, ") of weight ", ws);
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

// col (K, p1-p0) = im2col of one group's channels x (Cg, H, W), output positions [p0, p1).
template <typename T>
void im2col(T* col, const T* x, const Geom& g, int64_t p0, int64_t p1, int nt) {
  const int64_t L = p1 - p0, KK = g.KH * g.KW;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t k = 0; k < g.K; ++k) {
    const int64_t c = k / KK, kh = (k / g.KW) % g.KH, kw = k % g.KW;
    const T* xc = x + c * g.H * g.W;
    T* row = col + k * L - p0;  // row[p]
    const int64_t ihoff = kh * g.dh - g.pt, iwoff = kw * g.dw - g.pl;
    int64_t lo, hi;
    valid_cols(g, kw, &lo, &hi);
    for (int64_t p = p0; p < p1;) {
      const int64_t oh = p / g.OW, ow0 = p - oh * g.OW, ow1 = std::min(g.OW, ow0 + (p1 - p));
      T* dst = row + oh * g.OW;  // dst[ow]
      const int64_t ih = oh * g.sh + ihoff;
      if (ih < 0 || ih >= g.H) {
        for (int64_t ow = ow0; ow < ow1; ++ow) dst[ow] = T(0);
      } else {
        const T* src = xc + ih * g.W;
        const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
        for (int64_t ow = ow0; ow < a; ++ow) dst[ow] = T(0);
        if (g.sw == 1) {
          for (int64_t ow = a; ow < b; ++ow) dst[ow] = src[ow + iwoff];
        } else {
          for (int64_t ow = a; ow < b; ++ow) dst[ow] = src[ow * g.sw + iwoff];
        }
        for (int64_t ow = b; ow < ow1; ++ow) dst[ow] = T(0);
      }
      p += ow1 - ow0;
    }
  }
}

// dx (Cg, H, W) += col2im of col (K, p1-p0): the adjoint of im2col. Parallel over channels, which
// own disjoint planes of dx.
template <typename T>
void col2im_add(T* dx, const T* col, const Geom& g, int64_t p0, int64_t p1, int nt) {
  const int64_t L = p1 - p0, KK = g.KH * g.KW;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t c = 0; c < g.Cg; ++c) {
    T* xc = dx + c * g.H * g.W;
    for (int64_t kk = 0; kk < KK; ++kk) {
      const int64_t kh = kk / g.KW, kw = kk % g.KW;
      const T* row = col + (c * KK + kk) * L - p0;
      const int64_t ihoff = kh * g.dh - g.pt, iwoff = kw * g.dw - g.pl;
      int64_t lo, hi;
      valid_cols(g, kw, &lo, &hi);
      for (int64_t p = p0; p < p1;) {
        const int64_t oh = p / g.OW, ow0 = p - oh * g.OW, ow1 = std::min(g.OW, ow0 + (p1 - p));
        const int64_t ih = oh * g.sh + ihoff;
        if (ih >= 0 && ih < g.H) {
          const T* s = row + oh * g.OW;
          T* d = xc + ih * g.W;
          const int64_t a = std::clamp(lo, ow0, ow1), b = std::clamp(hi, a, ow1);
          if (g.sw == 1) {
            for (int64_t ow = a; ow < b; ++ow) d[ow + iwoff] += s[ow];
          } else {
            for (int64_t ow = a; ow < b; ++ow) d[ow * g.sw + iwoff] += s[ow];
          }
        }
        p += ow1 - ow0;
      }
    }
  }
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
  Plan pl{threads_for(work, 1 << 16), false, std::max<int64_t>(g.P, 1)};
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

// y for one (image, group) task.
template <typename T>
void forward_task(T* y, const T* x, const T* w, const T* b, const Geom& g, int64_t n, int64_t gi,
                  T* col, int64_t tile, int it, int gt) {
  const T* xg = x + (n * g.C + gi * g.Cg) * g.H * g.W;
  const T* wg = w + gi * g.Og * g.K;
  T* yg = y + (n * g.O + gi * g.Og) * g.P;
  const int64_t ldw = std::max<int64_t>(g.K, 1), P = std::max<int64_t>(g.P, 1);
  T beta = T(0);
  if (b) {
    for (int64_t o = 0; o < g.Og; ++o)
      std::fill(yg + o * g.P, yg + (o + 1) * g.P, b[gi * g.Og + o]);
    beta = T(1);
  }
  if (g.direct) {
    gemm<T>(false, false, g.Og, g.P, g.Cg, T(1), wg, ldw, xg, P, beta, yg, P, gt);
    return;
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
    const int nt = threads_for(g.N * g.O * g.P);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t o = 0; o < g.O; ++o) {
      double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      for (int64_t n = 0; n < g.N; ++n) {
        const T* s = dy + (n * g.O + o) * g.P;
        int64_t p = 0;
        for (; p + 8 <= g.P; p += 8)
          for (int j = 0; j < 8; ++j) acc[j] += double(s[p + j]);
        for (; p < g.P; ++p) acc[0] += double(s[p]);
      }
      db[o] = T(((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    }
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

}  // namespace ember
