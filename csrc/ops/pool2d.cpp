// 2-D pooling, NCHW viewed as NC planes of (H, W): max (with PyTorch's flat argmax indices into
// H*W), average (padding, ceil_mode, count_include_pad, divisor_override) and adaptive average.
// Output sizes, padding limits and divisors follow PyTorch exactly. Parallel over planes.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "common.h"
#include "vecmath.h"

namespace ember {

namespace {

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// PyTorch's pooling_output_shape_pad_lr with pad_l == pad_r == pad.
int64_t pool_out(int64_t in, int64_t k, int64_t pad, int64_t s, int64_t d, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0), s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pad) --out;
  return out;
}

constexpr int64_t kMaxParam = int64_t(1) << 31;  // kernel/stride/padding/dilation bound

}  // namespace

// Validates a max/avg pooling configuration as PyTorch's pool2d_shape_check does and returns the
// output size. op names the caller in messages. Throws std::invalid_argument (BadShapeOrValue).
void pool2d_output_size(int64_t* OH, int64_t* OW, const char* op, int64_t C, int64_t H, int64_t W,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        int64_t dh, int64_t dw, bool ceil_mode) {
  EMBER_CHECK(kh > 0 && kw > 0, op, ": kernel size should be greater than zero, but got (", kh,
              ", ", kw, ")");
  EMBER_CHECK(sh > 0 && sw > 0, op, ": stride should be greater than zero, but got (", sh, ", ", sw,
              ")");
  EMBER_CHECK(dh > 0 && dw > 0, op, ": dilation should be greater than zero, but got (", dh, ", ",
              dw, ")");
  EMBER_CHECK(ph >= 0 && pw >= 0, op, ": pad must be non-negative, but got (", ph, ", ", pw, ")");
  EMBER_CHECK(kh < kMaxParam && kw < kMaxParam && sh < kMaxParam && sw < kMaxParam &&
                  dh < kMaxParam && dw < kMaxParam,
              op, ": kernel, stride and dilation must be < 2^31");
  EMBER_CHECK(ph <= ((kh - 1) * dh + 1) / 2 && pw <= ((kw - 1) * dw + 1) / 2 && ph <= kh / 2 &&
                  pw <= kw / 2,
              op, ": pad should be at most half of kernel size, but got pad=(", ph, ", ", pw,
              "), kernel_size=(", kh, ", ", kw, ") and dilation=(", dh, ", ", dw, ")");
  EMBER_CHECK(C > 0 && H > 0 && W > 0, op, ": expected non-empty (C, H, W), got (", C, ", ", H,
              ", ", W, ")");
  *OH = pool_out(H, kh, ph, sh, dh, ceil_mode);
  *OW = pool_out(W, kw, pw, sw, dw, ceil_mode);
  EMBER_CHECK(*OH >= 1 && *OW >= 1, op, ": given input size (", C, "x", H, "x", W,
              "), calculated output size (", C, "x", *OH, "x", *OW, ") is too small");
}

namespace {

// m[ow], b[ow] = max(m[ow], row[ow*sw + off]) and its flat index base + ow*sw + off, for ow in
// [lo, hi) (where ow*sw + off is inside the row). Locals
// only (no aliasing with the sizes) and unconditional stores, so the select is branch-free:
// random data would mispredict a per-element branch half the time. v != v: NaN wins (PyTorch).
template <typename T>
inline void max_row(T* __restrict m, int64_t* __restrict b, const T* __restrict row, int64_t off,
                    int64_t base, int64_t lo, int64_t hi, int64_t sw) {
  if (sw == 1) {
    for (int64_t ow = lo; ow < hi; ++ow) {
      const T v = row[ow + off], cur = m[ow];
      const int64_t take = int64_t(v > cur) | int64_t(v != v);
      const T pick[2] = {cur, v};  // indexed select: compilers turn ?: into a branch here
      m[ow] = pick[take];
      b[ow] += take * (base + ow + off - b[ow]);
    }
  } else {
    for (int64_t ow = lo; ow < hi; ++ow) {
      const T v = row[ow * sw + off], cur = m[ow];
      const int64_t take = int64_t(v > cur) | int64_t(v != v);
      const T pick[2] = {cur, v};  // indexed select: compilers turn ?: into a branch here
      m[ow] = pick[take];
      b[ow] += take * (base + ow * sw + off - b[ow]);
    }
  }
}

// t ? a : b on the bits: GCC 12 neither vectorises nor if-converts a float ?: between loaded
// values here, and a branch mispredicts on random data (it cost 10x at (64,16,10,10)).
template <typename T>
inline T pick(bool t, T a, T b) {
  const auto mask = decltype(vm::as_bits(a))(0) - decltype(vm::as_bits(a))(t);
  return vm::from_bits((vm::as_bits(a) & mask) | (vm::as_bits(b) & ~mask));
}

// The 2x2 window  a b / c d:  its maximum by PyTorch's rule (in window order, a later element
// wins if greater or NaN), as a tree -- (a, b), (c, d), then the two winners, which picks the same
// element -- and that element's offset from a (0, 1, W or W + 1).
template <typename T, typename I>
inline T max4(T a, T b, T c, T d, I W, I& off) {
  const bool t1 = (b > a) | (b != b), t2 = (d > c) | (d != d);
  const T ab = pick(t1, b, a), cd = pick(t2, d, c);
  const bool t3 = (cd > ab) | (cd != cd);
  off = t3 ? W + I(t2) : I(t1);
  return pick(t3, cd, ab);
}

// One plane of the common 2x2, stride-2 window with no padding or dilation, every window inside
// the plane: the four elements compared in the general path's order with the same rule, written
// so the row loop vectorises (the general path's running row update does not for stride 2). Its
// scalar remainder keeps the ?: as branches, so the caller sends rows it would not cover with
// vectors to max_2x2_flat.
template <typename T>
EMBER_SIMD void max_2x2_plane(T* __restrict y, int64_t* __restrict idx, const T* __restrict x,
                              int64_t W, int64_t OH, int64_t OW) {
  for (int64_t oh = 0; oh < OH; ++oh) {
    const T* r0 = x + 2 * oh * W;
    const T* r1 = r0 + W;
    const int64_t base = 2 * oh * W;
    T* m = y + oh * OW;
    int64_t* b = idx + oh * OW;
    for (int64_t ow = 0; ow < OW; ++ow) {
      T cur = r0[2 * ow];
      int64_t at = base + 2 * ow;
      T v = r0[2 * ow + 1];
      bool take = v > cur || v != v;
      cur = take ? v : cur;
      at = take ? base + 2 * ow + 1 : at;
      v = r1[2 * ow];
      take = v > cur || v != v;
      cur = take ? v : cur;
      at = take ? base + W + 2 * ow : at;
      v = r1[2 * ow + 1];
      take = v > cur || v != v;
      cur = take ? v : cur;
      at = take ? base + W + 2 * ow + 1 : at;
      m[ow] = cur;
      b[ow] = at;
    }
  }
}

// z[p], off[p] for p in [0, n): the 2x2 window whose top-left element is x[2p], rows W apart.
// With W even, x[2p] for consecutive p walks the even columns of consecutive rows, so one flat
// loop covers many short rows (odd rows give windows nobody asked for; the caller skips them).
template <typename T>
EMBER_SIMD void max_2x2_flat(T* __restrict z, int32_t* __restrict off, const T* __restrict x,
                             int64_t W, int64_t n) {
  const T* r1 = x + W;
  const int32_t w = int32_t(W);
  for (int64_t p = 0; p < n; ++p)
    z[p] = max4(x[2 * p], x[2 * p + 1], r1[2 * p], r1[2 * p + 1], w, off[p]);
}

// Rows [r0, r1) of the NC*OH output rows for even H and W (H == 2*OH, W == 2*OW): output row r
// reads input rows 2r and 2r+1, so blocks of rows are one max_2x2_flat call each, then the even
// rows are copied out. z, off hold (2*block - 1)*OW values.
template <typename T>
void max_2x2_rows(T* y, int64_t* idx, const T* x, int64_t r0, int64_t r1, int64_t OH, int64_t OW,
                  int64_t block, T* z, int32_t* off) {
  const int64_t W = 2 * OW;
  for (int64_t rb = r0; rb < r1; rb += block) {
    const int64_t re = std::min(r1, rb + block);
    max_2x2_flat(z, off, x + rb * 2 * W, W, (2 * (re - rb) - 1) * OW);
    for (int64_t r = rb; r < re; ++r) {
      const T* zr = z + 2 * (r - rb) * OW;
      const int32_t* orow = off + 2 * (r - rb) * OW;
      const int64_t base = 2 * (r % OH) * W;
      for (int64_t ow = 0; ow < OW; ++ow) {
        y[r * OW + ow] = zr[ow];
        idx[r * OW + ow] = base + 2 * ow + orow[ow];
      }
    }
  }
}

}  // namespace

// x (NC,H,W) -> y (NC,OH,OW), idx (NC,OH,OW) int64 flat argmax into H*W (PyTorch's: NaN wins,
// first maximum kept on ties). A window that holds no input element (possible only with dilation
// and ceil_mode) gives -inf and index -1, which backward skips; PyTorch stores an index past the
// end.
template <typename T>
void max_pool2d_forward(T* y, int64_t* idx, const T* x, int64_t NC, int64_t H, int64_t W,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        int64_t dh, int64_t dw, bool ceil_mode) {
  int64_t OH, OW;
  pool2d_output_size(&OH, &OW, "max_pool2d", 1, H, W, kh, kw, sh, sw, ph, pw, dh, dw, ceil_mode);
  numel_checked({NC, OH, OW}, "max_pool2d");
  const int nt = threads_for(NC * OH * OW * kh * kw);
  const bool two_by_two = kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0 &&
                          dh == 1 && dw == 1 && 2 * OH <= H && 2 * OW <= W;
  // Short even rows that the per-row loop's vectors do not cover whole (its remainder is scalar
  // and branches): one flat loop. LeNet's 28x28 and 10x10 (OW 14 and 5) go here; OW a multiple
  // of half a 512-bit vector stays per row (the main loop and its half-width epilogue cover it).
  const int64_t half_vec = 32 / int64_t(sizeof(T));
  if (two_by_two && 2 * OH == H && 2 * OW == W && OW < 64 && OW % half_vec != 0) {
    const int64_t R = NC * OH, block = std::max<int64_t>(1, 1024 / OW);
    parallel_region(nt, [&](int64_t t, int64_t n) {
      std::vector<T> z((2 * block - 1) * OW);
      std::vector<int32_t> off(z.size());
      max_2x2_rows(y, idx, x, R * t / n, R * (t + 1) / n, OH, OW, block, z.data(), off.data());
    });
    return;
  }
  parallel_for(nt, NC, [&](int64_t pl) {
    const T* xp = x + pl * H * W;
    T* yp = y + pl * OH * OW;
    int64_t* ip = idx + pl * OH * OW;
    if (two_by_two) {
      max_2x2_plane(yp, ip, xp, W, OH, OW);
      return;
    }
    for (int64_t oh = 0; oh < OH; ++oh) {
      T* m = yp + oh * OW;  // running maximum and argmax of the output row, in place
      int64_t* b = ip + oh * OW;
      const int64_t hs = oh * sh - ph;
      int64_t ih0 = hs;
      const int64_t ih1 = std::min(hs + (kh - 1) * dh + 1, H);
      while (ih0 < 0) ih0 += dh;
      // Start from -inf and PyTorch's initial index (the window's first element in the input);
      // -1 for a window without input elements.
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t iw0 = ow * sw - pw;
        const int64_t iw1 = std::min(iw0 + (kw - 1) * dw + 1, W);
        while (iw0 < 0) iw0 += dw;
        m[ow] = -std::numeric_limits<T>::infinity();
        b[ow] = (ih0 < ih1 && iw0 < iw1) ? ih0 * W + iw0 : -1;
      }
      // Kernel positions in row-major order, output columns innermost: each output sees its
      // window in PyTorch's order (first maximum kept on ties).
      for (int64_t i = 0; i < kh; ++i) {
        const int64_t ih = hs + i * dh;
        if (ih < 0 || ih >= H) continue;
        for (int64_t j = 0; j < kw; ++j) {
          const int64_t off = j * dw - pw;
          const int64_t lo = std::clamp<int64_t>(off >= 0 ? 0 : (-off + sw - 1) / sw, 0, OW);
          const int64_t hi =
              std::clamp<int64_t>(W - off <= 0 ? 0 : (W - off + sw - 1) / sw, lo, OW);
          max_row(m, b, xp + ih * W, off, ih * W, lo, hi, sw);
        }
      }
    }
  });
}

// Backward of  x (NC,H,W) -> y, idx (NC,OH,OW):  dx[idx] += dy per plane (fresh dx). Every index
// must lie in [0, H*W) or be -1 (empty window, skipped); any other throws. The check sits in the
// scatter loop (one pass over idx) and guards each write, so a bad index never writes.
template <typename T>
void max_pool2d_backward(T* dx, const T* dy, const int64_t* idx, int64_t NC, int64_t H, int64_t W,
                         int64_t OH, int64_t OW) {
  const int64_t HW = H * W, OHW = OH * OW;
  const int nt = threads_for(NC * OHW);
  int64_t bad = 0;
#pragma omp parallel for num_threads(nt) schedule(static) reduction(+ : bad) if (nt > 1)
  for (int64_t pl = 0; pl < NC; ++pl) {
    T* dp = dx + pl * HW;
    std::fill(dp, dp + HW, T(0));
    const T* g = dy + pl * OHW;
    const int64_t* ip = idx + pl * OHW;
    for (int64_t o = 0; o < OHW; ++o) {
      if (uint64_t(ip[o]) < uint64_t(HW))
        dp[ip[o]] += g[o];
      else
        bad += ip[o] != -1;
    }
  }
  EMBER_CHECK(bad == 0, "max_pool2d_backward: ", bad, " indices lie outside [0, ", HW,
              ") for input planes (", H, ", ", W, ")");
}

namespace {

// PyTorch's avg_pool2d window: the divisor and the clipped window [ih0, ih1) x [iw0, iw1).
struct AvgWin {
  int64_t ih0, ih1, iw0, iw1;
  double div;
};

inline AvgWin avg_window(int64_t oh, int64_t ow, int64_t H, int64_t W, int64_t kh, int64_t kw,
                         int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool count_include_pad,
                         int64_t divisor_override) {
  int64_t ih0 = oh * sh - ph, iw0 = ow * sw - pw;
  int64_t ih1 = std::min(ih0 + kh, H + ph), iw1 = std::min(iw0 + kw, W + pw);
  const int64_t pool_size = (ih1 - ih0) * (iw1 - iw0);
  ih0 = std::max<int64_t>(ih0, 0);
  iw0 = std::max<int64_t>(iw0, 0);
  ih1 = std::min(ih1, H);
  iw1 = std::min(iw1, W);
  double div;
  if (divisor_override != 0)
    div = double(divisor_override);
  else if (count_include_pad)
    div = double(pool_size);
  else
    div = double((ih1 - ih0) * (iw1 - iw0));
  return {ih0, ih1, iw0, iw1, div};
}

}  // namespace

// x (NC,H,W) -> y (NC,OH,OW). divisor_override == 0 means none. A window entirely in padding
// gives 0 (as PyTorch).
template <typename T>
void avg_pool2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t kh, int64_t kw,
                        int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool ceil_mode,
                        bool count_include_pad, int64_t divisor_override) {
  int64_t OH, OW;
  pool2d_output_size(&OH, &OW, "avg_pool2d", 1, H, W, kh, kw, sh, sw, ph, pw, 1, 1, ceil_mode);
  numel_checked({NC, OH, OW}, "avg_pool2d");
  const int nt = threads_for(NC * OH * OW * kh * kw);
  parallel_for(nt, NC, [&](int64_t pl) {
    const T* xp = x + pl * H * W;
    T* yp = y + pl * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        const AvgWin a =
            avg_window(oh, ow, H, W, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override);
        if (a.ih0 >= a.ih1 || a.iw0 >= a.iw1) {
          yp[oh * OW + ow] = T(0);
          continue;
        }
        double s = 0;
        for (int64_t ih = a.ih0; ih < a.ih1; ++ih)
          for (int64_t iw = a.iw0; iw < a.iw1; ++iw) s += double(xp[ih * W + iw]);
        yp[oh * OW + ow] = T(s / a.div);
      }
    }
  });
}

// Backward of  x (NC,H,W) -> y (NC,OH,OW) average pooling: dy -> dx (fresh).
template <typename T>
void avg_pool2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t kh,
                         int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool ceil_mode,
                         bool count_include_pad, int64_t divisor_override) {
  int64_t OH, OW;
  pool2d_output_size(&OH, &OW, "avg_pool2d_backward", 1, H, W, kh, kw, sh, sw, ph, pw, 1, 1,
                     ceil_mode);
  // one window over the whole plane (a global average pool): one fill, no accumulation. Its
  // divisor is the window's (padding, divisor_override), and a single window that misses part of
  // the plane (stride > size) takes the general loop, which leaves the missed part 0.
  const AvgWin w0 =
      avg_window(0, 0, H, W, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override);
  const bool whole = OH == 1 && OW == 1 && w0.ih0 == 0 && w0.ih1 == H && w0.iw0 == 0 && w0.iw1 == W;
  // Windows that neither overlap nor reach padding (2x2 stride 2): each dx value is one window's
  // share or 0, written once in row runs (no zero fill, no scattered accumulation); same values.
  const bool disjoint = ph == 0 && pw == 0 && sh >= kh && sw >= kw;
  const int nt = threads_for(NC * OH * OW * kh * kw);
  parallel_for(nt, NC, [&](int64_t pl) {
    T* dp = dx + pl * H * W;
    const T* g = dy + pl * OH * OW;
    if (whole) {
      std::fill(dp, dp + H * W, T(double(g[0]) / w0.div));
      return;
    }
    if (disjoint) {
      std::vector<T> v(OW);
      int64_t ih = 0;  // rows below ih are written
      for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow)
          v[ow] = T(double(g[oh * OW + ow]) / avg_window(oh, ow, H, W, kh, kw, sh, sw, 0, 0,
                                                         count_include_pad, divisor_override)
                                                  .div);
        const int64_t r0 = oh * sh, r1 = std::min(r0 + kh, H);
        std::fill(dp + ih * W, dp + r0 * W, T(0));
        for (ih = r0; ih < r1; ++ih) {
          T* d = dp + ih * W;
          int64_t iw = 0;  // columns below iw are written
          for (int64_t ow = 0; ow < OW; ++ow) {
            const int64_t c0 = ow * sw, c1 = std::min(c0 + kw, W);
            std::fill(d + iw, d + c0, T(0));
            std::fill(d + c0, d + c1, v[ow]);
            iw = c1;
          }
          std::fill(d + iw, d + W, T(0));
        }
      }
      std::fill(dp + ih * W, dp + H * W, T(0));
      return;
    }
    std::fill(dp, dp + H * W, T(0));
    for (int64_t oh = 0; oh < OH; ++oh) {
      for (int64_t ow = 0; ow < OW; ++ow) {
        const AvgWin a =
            avg_window(oh, ow, H, W, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override);
        const T v = T(double(g[oh * OW + ow]) / a.div);
        for (int64_t ih = a.ih0; ih < a.ih1; ++ih)
          for (int64_t iw = a.iw0; iw < a.iw1; ++iw) dp[ih * W + iw] += v;
      }
    }
  });
}

namespace {
inline int64_t ad_start(int64_t i, int64_t in, int64_t out) { return (i * in) / out; }
inline int64_t ad_end(int64_t i, int64_t in, int64_t out) { return ((i + 1) * in + out - 1) / out; }

// N values of T as one GCC vector.
template <typename T, int N>
struct Lanes {
  typedef T type __attribute__((vector_size(N * sizeof(T))));
};

// sum_double's 8 partial sums as one GCC vector (each clone's registers; the baseline clone
// splits it), lane j = partial j, so a plane's sum keeps sum_double's order and bits.
typedef Lanes<double, 8>::type V8d;

// acc (N partial sums) += the N values at p, widened to double. (Vectors pass by reference:
// by value they change the baseline clone's ABI.)
template <int N, typename T>
inline void add_lanes(typename Lanes<double, N>::type& acc, const T* p) {
  typename Lanes<T, N>::type v;
  std::memcpy(&v, p, sizeof v);
  acc += __builtin_convertvector(v, typename Lanes<double, N>::type);
}

// sum_double's result from its partial sums acc over x[0, i) and the tail x[i, n).
template <typename T>
inline double finish8(const V8d& a, const T* x, int64_t i, int64_t n) {
  double s = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
  for (; i < n; ++i) s += double(x[i]);
  return s;
}

// Half of sum_double's partial sums: 4 lanes (a 256-bit vector, the widest float -> double
// conversion the clones do in one instruction: V8d's was split into halves and reassembled).
typedef Lanes<double, 4>::type V4d;

// r lane q = (a[q][0] + a[q][1]) + (a[q][2] + a[q][3]): four planes' half trees at once by
// transposing shuffles (a reference, not a return: see add_lanes).
inline void tree4(V4d& r, const V4d* a) {
  typedef int64_t M __attribute__((vector_size(32)));
  // lanes (a0 01, a1 01, a0 23, a1 23) and (a2 01, a3 01, a2 23, a3 23)
  const V4d s0 =
      __builtin_shuffle(a[0], a[1], M{0, 4, 2, 6}) + __builtin_shuffle(a[0], a[1], M{1, 5, 3, 7});
  const V4d s1 =
      __builtin_shuffle(a[2], a[3], M{0, 4, 2, 6}) + __builtin_shuffle(a[2], a[3], M{1, 5, 3, 7});
  r = __builtin_shuffle(s0, s1, M{0, 1, 4, 5}) + __builtin_shuffle(s0, s1, M{2, 3, 6, 7});
}

// y[p] = mean of plane p's hw values (a global average pool), compiled per ISA (EMBER_SIMD).
// Each plane is summed exactly as sum_double sums it (same bits). Written as sum_double's plain
// loop GCC vectorised it with scalar loads and inserts (~0.8 cycles a value; (32,512,7,7)
// float32: 0.19 ms at 1 thread, torch 0.10); then four planes at a time, each with one V8d of
// partial sums and its own horizontal tree: ~0.12 ms (AMD EPYC, CPU time). Now four planes at a
// time with their partial sums as two V4d each (lanes 0-3, 4-7: eight independent add chains),
// the trees of the four planes reduced together (tree4: lane q is plane q, and lo + hi is the
// tree's last addition), then the tails, the division and the conversion to T as vectors. Here
// about as fast as before (GCC splits the conversions); float on AVX2 CPUs runs the same steps
// as plane_means_avx2: ~0.075 ms, torch ~0.10. (Torch sums in float: its bits are not reachable
// in this order.)
template <typename T>
EMBER_SIMD void plane_means(T* y, const T* x, int64_t planes, int64_t hw) {
  int64_t p = 0;
  const int64_t full = hw / 8 * 8;
  for (; p + 4 <= planes; p += 4) {
    const T* xp = x + p * hw;
    V4d lo[4] = {}, hi[4] = {};
    for (int64_t i = 0; i < full; i += 8)
      for (int q = 0; q < 4; ++q) {
        add_lanes<4>(lo[q], xp + q * hw + i);
        add_lanes<4>(hi[q], xp + q * hw + i + 4);
      }
    V4d s, h;
    tree4(s, lo);
    tree4(h, hi);
    s += h;
    for (int64_t i = full; i < hw; ++i) {
      const V4d v = {double(xp[i]), double(xp[hw + i]), double(xp[2 * hw + i]),
                     double(xp[3 * hw + i])};
      s += v;
    }
    s /= double(hw);
    const typename Lanes<T, 4>::type out = __builtin_convertvector(s, typename Lanes<T, 4>::type);
    std::memcpy(y + p, &out, sizeof out);
  }
  for (; p < planes; ++p) {
    V8d a = {};
    int64_t i = 0;
    for (; i + 8 <= hw; i += 8) add_lanes<8>(a, x + p * hw + i);
    y[p] = T(finish8(a, x + p * hw, i, hw) / double(hw));
  }
}

#if EMBER_SIMD_CLONES
// plane_means for float by AVX2 intrinsics: GCC lowers V4d's float -> double conversion to two
// 128-bit conversions and an insert (V8d's to two 256-bit ones and an insert) in every clone;
// one vcvtps2pd ymm per 4 values made the (32,512,7,7) pool ~0.12 -> ~0.08 ms. The same
// additions in the same order as plane_means (same bits).
EMBER_TARGET("arch=x86-64-v3")
void plane_means_avx2(float* y, const float* x, int64_t planes, int64_t hw) {
  const int64_t full = hw / 8 * 8;
  const __m256d div = _mm256_set1_pd(double(hw));
  int64_t p = 0;
  for (; p + 4 <= planes; p += 4) {
    const float* xp = x + p * hw;
    __m256d lo[4], hi[4];
    for (int q = 0; q < 4; ++q) lo[q] = hi[q] = _mm256_setzero_pd();
    for (int64_t i = 0; i < full; i += 8)
      for (int q = 0; q < 4; ++q) {
        lo[q] = _mm256_add_pd(lo[q], _mm256_cvtps_pd(_mm_loadu_ps(xp + q * hw + i)));
        hi[q] = _mm256_add_pd(hi[q], _mm256_cvtps_pd(_mm_loadu_ps(xp + q * hw + i + 4)));
      }
    __m256d t[2];  // tree4 of lo, then of hi: lane q = plane q
    for (int h = 0; h < 2; ++h) {
      const __m256d* a = h ? hi : lo;
      const __m256d s0 =
          _mm256_add_pd(_mm256_unpacklo_pd(a[0], a[1]), _mm256_unpackhi_pd(a[0], a[1]));
      const __m256d s1 =
          _mm256_add_pd(_mm256_unpacklo_pd(a[2], a[3]), _mm256_unpackhi_pd(a[2], a[3]));
      t[h] =
          _mm256_add_pd(_mm256_permute2f128_pd(s0, s1, 0x20), _mm256_permute2f128_pd(s0, s1, 0x31));
    }
    __m256d s = _mm256_add_pd(t[0], t[1]);
    for (int64_t i = full; i < hw; ++i)
      s = _mm256_add_pd(s, _mm256_setr_pd(xp[i], xp[hw + i], xp[2 * hw + i], xp[3 * hw + i]));
    _mm_storeu_ps(y + p, _mm256_cvtpd_ps(_mm256_div_pd(s, div)));
  }
  if (p < planes) plane_means(y + p, x + p * hw, planes - p, hw);
}
#endif

template <typename T>
void plane_means_any(T* y, const T* x, int64_t planes, int64_t hw) {
#if EMBER_SIMD_CLONES
  if constexpr (std::is_same_v<T, float>) {
    static const bool avx2 = __builtin_cpu_supports("x86-64-v3");
    if (avx2) return plane_means_avx2(y, x, planes, hw);
  }
#endif
  plane_means(y, x, planes, hw);
}

// dx plane p = dy[p] / hw in every cell (the global average pool's backward), compiled per ISA.
// 0 + v, as the general loop's zero-fill plus one addition gives (a -0 gradient becomes +0).
template <typename T>
EMBER_SIMD void plane_fill(T* dx, const T* dy, int64_t planes, int64_t hw) {
  for (int64_t p = 0; p < planes; ++p) {
    const T v = T(0) + T(double(dy[p]) / double(hw));
    for (int64_t i = 0; i < hw; ++i) dx[p * hw + i] = v;
  }
}

}  // namespace

// x (NC,H,W) -> y (NC,OH,OW): window [floor(i*H/OH), ceil((i+1)*H/OH)) per output index i.
template <typename T>
void adaptive_avg_pool2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t OH,
                                 int64_t OW) {
  EMBER_CHECK(H > 0 && W > 0, "adaptive_avg_pool2d: expected non-empty (H, W), got (", H, ", ", W,
              ")");
  EMBER_CHECK(OH >= 0 && OW >= 0 && OH < kMaxParam && OW < kMaxParam,
              "adaptive_avg_pool2d: output size must be in [0, 2^31), got (", OH, ", ", OW, ")");
  numel_checked({NC, OH, OW}, "adaptive_avg_pool2d");
  const int nt = threads_for(NC * std::max(H * W, OH * OW));
  if (OH == 1 && OW == 1) {  // the global average pool: one contiguous sum per plane
    const int64_t chunk = (NC + nt - 1) / nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int t = 0; t < nt; ++t) {
      const int64_t p0 = std::min(NC, t * chunk), p1 = std::min(NC, p0 + chunk);
      plane_means_any(y + p0, x + p0 * H * W, p1 - p0, H * W);
    }
    return;
  }
  parallel_for(nt, NC, [&](int64_t pl) {
    const T* xp = x + pl * H * W;
    T* yp = y + pl * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
        double s = 0;
        if (w0 == 0 && w1 == W)  // whole rows: one contiguous range
          s = sum_double(xp + h0 * W, (h1 - h0) * W);
        else
          for (int64_t ih = h0; ih < h1; ++ih) s += sum_double(xp + ih * W + w0, w1 - w0);
        yp[oh * OW + ow] = T(s / double((h1 - h0) * (w1 - w0)));
      }
    }
  });
}

// Backward of  x (NC,H,W) -> y (NC,OH,OW) adaptive average pooling: dy -> dx (fresh).
template <typename T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t OH,
                                  int64_t OW) {
  EMBER_CHECK(H > 0 && W > 0, "adaptive_avg_pool2d_backward: expected non-empty (H, W), got (", H,
              ", ", W, ")");
  EMBER_CHECK(OH >= 0 && OW >= 0 && OH < kMaxParam && OW < kMaxParam,
              "adaptive_avg_pool2d_backward: output size must be in [0, 2^31), got (", OH, ", ", OW,
              ")");
  const int nt = threads_for(NC * std::max(H * W, OH * OW));
  if (OH == 1 && OW == 1) {  // the global average pool: each plane one value (~6x the loop)
    const int64_t chunk = (NC + nt - 1) / nt;
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int t = 0; t < nt; ++t) {
      const int64_t p0 = std::min(NC, t * chunk), p1 = std::min(NC, p0 + chunk);
      plane_fill(dx + p0 * H * W, dy + p0, p1 - p0, H * W);
    }
    return;
  }
  parallel_for(nt, NC, [&](int64_t pl) {
    T* dp = dx + pl * H * W;
    std::fill(dp, dp + H * W, T(0));
    const T* g = dy + pl * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
        const T v = T(double(g[oh * OW + ow]) / double((h1 - h0) * (w1 - w0)));
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) dp[ih * W + iw] += v;
      }
    }
  });
}

// x (NC,H,W) -> y, idx (NC,OH,OW): adaptive max pooling over the windows of
// adaptive_avg_pool2d_forward, idx the flat argmax into H*W by PyTorch's scan (row-major; a later
// element wins if greater or NaN: the first maximum, or the last NaN).
template <typename T>
void adaptive_max_pool2d_forward(T* y, int64_t* idx, const T* x, int64_t NC, int64_t H, int64_t W,
                                 int64_t OH, int64_t OW) {
  EMBER_CHECK(H > 0 && W > 0, "adaptive_max_pool2d: expected non-empty (H, W), got (", H, ", ", W,
              ")");
  EMBER_CHECK(OH >= 0 && OW >= 0 && OH < kMaxParam && OW < kMaxParam,
              "adaptive_max_pool2d: output size must be in [0, 2^31), got (", OH, ", ", OW, ")");
  numel_checked({NC, OH, OW}, "adaptive_max_pool2d");
  parallel_for(threads_for(NC * std::max(H * W, OH * OW)), NC, [&](int64_t pl) {
    const T* xp = x + pl * H * W;
    T* yp = y + pl * OH * OW;
    int64_t* ip = idx + pl * OH * OW;
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = ad_start(oh, H, OH), h1 = ad_end(oh, H, OH);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = ad_start(ow, W, OW), w1 = ad_end(ow, W, OW);
        int64_t at = h0 * W + w0;
        T m = xp[at];
        for (int64_t ih = h0; ih < h1; ++ih)
          for (int64_t iw = w0; iw < w1; ++iw) {
            const T v = xp[ih * W + iw];
            if (v > m || v != v) m = v, at = ih * W + iw;
          }
        yp[oh * OW + ow] = m;
        ip[oh * OW + ow] = at;
      }
    }
  });
}

// The maximum of the (D, H, W) plane xp over [d0, d1) x [h0, h1) x [w0, w1) (non-empty) into *y,
// its flat index into *at, by PyTorch's scan: row-major, a later element wins if greater or NaN.
template <typename T>
inline void window_max(T* y, int64_t* at, const T* xp, int64_t H, int64_t W, int64_t d0, int64_t d1,
                       int64_t h0, int64_t h1, int64_t w0, int64_t w1) {
  int64_t best = (d0 * H + h0) * W + w0;
  T m = xp[best];
  for (int64_t d = d0; d < d1; ++d)
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const int64_t i = (d * H + h) * W + w;
        const T v = xp[i];
        if (v > m || v != v) m = v, best = i;
      }
  *y = m;
  *at = best;
}

// x (B, D, H, W) -> y, idx (B, OD, OH, OW): max pooling of dilation 1 (max_pool3d's common call;
// the binding checks the sizes: no window lies wholly in the padding), idx flat into D*H*W by
// PyTorch's scan (row-major; a later element wins if greater or NaN).
template <typename T>
void max_pool3d_forward(T* y, int64_t* idx, const T* x, int64_t B, int64_t D, int64_t H, int64_t W,
                        int64_t OD, int64_t OH, int64_t OW, const int64_t* k, const int64_t* s,
                        const int64_t* p) {
  const int64_t O = OD * OH * OW;
  parallel_for(threads_for(B * O * k[0] * k[1] * k[2]), B, [&](int64_t b) {
    const T* xp = x + b * D * H * W;
    for (int64_t od = 0; od < OD; ++od) {
      const int64_t d0 = std::max<int64_t>(od * s[0] - p[0], 0);
      const int64_t d1 = std::min(od * s[0] - p[0] + k[0], D);
      for (int64_t oh = 0; oh < OH; ++oh) {
        const int64_t h0 = std::max<int64_t>(oh * s[1] - p[1], 0);
        const int64_t h1 = std::min(oh * s[1] - p[1] + k[1], H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t w0 = std::max<int64_t>(ow * s[2] - p[2], 0);
          const int64_t w1 = std::min(ow * s[2] - p[2] + k[2], W);
          const int64_t o = b * O + (od * OH + oh) * OW + ow;
          window_max(y + o, idx + o, xp, H, W, d0, d1, h0, h1, w0, w1);
        }
      }
    }
  });
}

template void max_pool3d_forward<float>(float*, int64_t*, const float*, int64_t, int64_t, int64_t,
                                        int64_t, int64_t, int64_t, int64_t, const int64_t*,
                                        const int64_t*, const int64_t*);
template void max_pool3d_forward<double>(double*, int64_t*, const double*, int64_t, int64_t,
                                         int64_t, int64_t, int64_t, int64_t, int64_t,
                                         const int64_t*, const int64_t*, const int64_t*);

// x (B, D, H, W) -> y, idx (B, OD, OH, OW): fractional max pooling's windows [start, start + k)
// per axis, at the starts sd (B, OD), sh (B, OH), sw (B, OW) (checked in range by the binding);
// idx flat into D*H*W by PyTorch's scan (row-major; a later element wins if greater or NaN: the
// first maximum, or the last NaN). 2-D pooling is D = kd = OD = 1.
template <typename T>
void fractional_max_pool_forward(T* y, int64_t* idx, const T* x, int64_t B, int64_t D, int64_t H,
                                 int64_t W, const int64_t* sd, const int64_t* sh, const int64_t* sw,
                                 int64_t OD, int64_t OH, int64_t OW, int64_t kd, int64_t kh,
                                 int64_t kw) {
  const int64_t O = OD * OH * OW;
  parallel_for(threads_for(B * O * kd * kh * kw), B, [&](int64_t b) {
    const T* xp = x + b * D * H * W;
    for (int64_t od = 0; od < OD; ++od)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const int64_t d0 = sd[b * OD + od], h0 = sh[b * OH + oh], w0 = sw[b * OW + ow];
          const int64_t o = b * O + (od * OH + oh) * OW + ow;
          window_max(y + o, idx + o, xp, H, W, d0, d0 + kd, h0, h0 + kh, w0, w0 + kw);
        }
  });
}

template void fractional_max_pool_forward<float>(float*, int64_t*, const float*, int64_t, int64_t,
                                                 int64_t, int64_t, const int64_t*, const int64_t*,
                                                 const int64_t*, int64_t, int64_t, int64_t, int64_t,
                                                 int64_t, int64_t);
template void fractional_max_pool_forward<double>(double*, int64_t*, const double*, int64_t,
                                                  int64_t, int64_t, int64_t, const int64_t*,
                                                  const int64_t*, const int64_t*, int64_t, int64_t,
                                                  int64_t, int64_t, int64_t, int64_t);
template void adaptive_max_pool2d_forward<float>(float*, int64_t*, const float*, int64_t, int64_t,
                                                 int64_t, int64_t, int64_t);
template void adaptive_max_pool2d_forward<double>(double*, int64_t*, const double*, int64_t,
                                                  int64_t, int64_t, int64_t, int64_t);
template void max_pool2d_forward<float>(float*, int64_t*, const float*, int64_t, int64_t, int64_t,
                                        int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                        int64_t, int64_t, bool);
template void max_pool2d_backward<float>(float*, const float*, const int64_t*, int64_t, int64_t,
                                         int64_t, int64_t, int64_t);
template void avg_pool2d_forward<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                        int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool,
                                        int64_t);
template void avg_pool2d_backward<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t,
                                         int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool,
                                         int64_t);
template void adaptive_avg_pool2d_forward<float>(float*, const float*, int64_t, int64_t, int64_t,
                                                 int64_t, int64_t);
template void adaptive_avg_pool2d_backward<float>(float*, const float*, int64_t, int64_t, int64_t,
                                                  int64_t, int64_t);
template void max_pool2d_forward<double>(double*, int64_t*, const double*, int64_t, int64_t,
                                         int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                         int64_t, int64_t, int64_t, bool);
template void max_pool2d_backward<double>(double*, const double*, const int64_t*, int64_t, int64_t,
                                          int64_t, int64_t, int64_t);
template void avg_pool2d_forward<double>(double*, const double*, int64_t, int64_t, int64_t, int64_t,
                                         int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool,
                                         int64_t);
template void avg_pool2d_backward<double>(double*, const double*, int64_t, int64_t, int64_t,
                                          int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                                          bool, bool, int64_t);
template void adaptive_avg_pool2d_forward<double>(double*, const double*, int64_t, int64_t, int64_t,
                                                  int64_t, int64_t);
template void adaptive_avg_pool2d_backward<double>(double*, const double*, int64_t, int64_t,
                                                   int64_t, int64_t, int64_t);

// ---- 1-D max pooling without indices (max_pool1d when no graph needs them) ----------------

namespace {

// One row: y[j] = max_{i < k} x[j s + i], a NaN winning (kept once met, as the 2-D kernel).
template <typename T>
EMBER_SIMD void max1d_row(T* __restrict y, const T* __restrict x, int64_t n, int64_t k, int64_t s) {
  for (int64_t j = 0; j < n; ++j) y[j] = x[j * s];
  for (int64_t i = 1; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const T v = x[j * s + i];
      y[j] = (v > y[j] || v != v) ? v : y[j];
    }
}

// Stride 2, as max1d_row: x split once into its even and odd entries (block by block, in L1),
// so the k window taps are contiguous loads instead of k strided gathers (1.5x PyTorch's time).
template <typename T>
EMBER_SIMD void max1d_row_s2(T* __restrict y, const T* __restrict x, int64_t n, int64_t k,
                             int64_t L) {
  constexpr int64_t kB = 512;  // outputs per block
  T ph[2][kB + 32];
  for (int64_t j0 = 0; j0 < n; j0 += kB) {
    const int64_t nb = std::min(kB, n - j0), m = std::min((L - 2 * j0 + 1) / 2, nb + (k - 1) / 2);
    const T* xb = x + 2 * j0;
    const int64_t m1 = 2 * (j0 + m) <= L ? m : m - 1;  // odd entries within the row
    for (int64_t t = 0; t < m1; ++t) {
      ph[0][t] = xb[2 * t];
      ph[1][t] = xb[2 * t + 1];
    }
    if (m1 < m) ph[0][m1] = xb[2 * m1];  // (its odd partner is past the row: never read)
    T* yb = y + j0;
    for (int64_t j = 0; j < nb; ++j) yb[j] = ph[0][j];
    for (int64_t i = 1; i < k; ++i) {
      const T* v = ph[i & 1] + (i >> 1);
      for (int64_t j = 0; j < nb; ++j) yb[j] = (v[j] > yb[j] || v[j] != v[j]) ? v[j] : yb[j];
    }
  }
}

}  // namespace

// x (R, L) -> y (R, n), n = (L - k) / s + 1 >= 1: every row's windows of k at stride s.
template <typename T>
void max_pool1d_forward(T* y, const T* x, int64_t R, int64_t L, int64_t k, int64_t s) {
  EMBER_CHECK(R >= 0 && k >= 1 && s >= 1 && L >= k, "max_pool1d_forward: bad sizes (rows ", R,
              ", length ", L, ", kernel ", k, ", stride ", s, ")");
  const int64_t n = (L - k) / s + 1;
  parallel_for(threads_for(mul_checked(R, n * k, "max_pool1d_forward")), R, [&](int64_t r) {
    if (s == 2 && k <= 64)
      max1d_row_s2(y + r * n, x + r * L, n, k, L);
    else
      max1d_row(y + r * n, x + r * L, n, k, s);
  });
}

template void max_pool1d_forward<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t);
template void max_pool1d_forward<double>(double*, const double*, int64_t, int64_t, int64_t,
                                         int64_t);

}  // namespace ember
