// Packing for the blocked GEMM: op(A) into MR-row panels, op(B) into NR-column panels, each
// stored p-major (kc rows of W contiguous values) so the micro-kernel streams both with unit
// stride. Edges are zero-padded to a full W so the micro-kernel always computes whole tiles.
#include <algorithm>

#include "gemm/gemm_internal.h"

namespace ember {
namespace gemm_detail {

namespace {

// Element (w, p) of the source is src[w * rs + p * cs]; W is the panel width.
template <typename T, int W>
void pack_fixed(T* dst, const T* src, int64_t rs, int64_t cs, int64_t w_len, int64_t kc) {
  if (rs == 1 && w_len >= 2 * W) {
    // Contiguous along w, several whole panels (op(A) of a transposed A, op(B) of a plain B):
    // row p of the source once, sequentially, into every panel's row p. Panel by panel would
    // read W values a row, a page apart for a long leading dimension (dW = dgates^T @ x, 4 KiB
    // rows: TLB and L1-set misses made packing a fifth of the GEMM).
    const int64_t full = w_len / W * W;
    for (int64_t p0 = 0; p0 < kc; p0 += 8) {
      const int64_t p1 = std::min<int64_t>(kc, p0 + 8);
      for (int64_t w0 = 0; w0 < full; w0 += W)
        for (int64_t p = p0; p < p1; ++p) {
          const T* sp = src + p * cs + w0;
          T* d = dst + w0 * kc + p * W;
          for (int w = 0; w < W; ++w) d[w] = sp[w];
        }
    }
    dst += full * kc;
    src += full;
    w_len -= full;
  }
  for (int64_t w0 = 0; w0 < w_len; w0 += W, dst += kc * W) {
    const int64_t wn = std::min<int64_t>(W, w_len - w0);
    const T* s = src + w0 * rs;
    if (wn == W && rs == 1) {
      // Contiguous along w (op(A) of a transposed A, op(B) of a plain B): row copies.
      for (int64_t p = 0; p < kc; ++p) {
        const T* sp = s + p * cs;
        T* d = dst + p * W;
        for (int w = 0; w < W; ++w) d[w] = sp[w];
      }
    } else if (wn == W && cs == 1) {
      // Contiguous along p: a transpose. Blocks of 8 p keep the W source rows' lines hot.
      int64_t p = 0;
      for (; p + 8 <= kc; p += 8) {
        for (int w = 0; w < W; ++w) {
          const T* sw = s + w * rs + p;
          T* d = dst + p * W + w;
          for (int q = 0; q < 8; ++q) d[q * W] = sw[q];
        }
      }
      for (; p < kc; ++p)
        for (int w = 0; w < W; ++w) dst[p * W + w] = s[w * rs + p];
    } else if (rs == 1) {
      // Edge panel, contiguous along w: copy what exists, zero the rest.
      for (int64_t p = 0; p < kc; ++p) {
        T* d = dst + p * W;
        std::copy(s + p * cs, s + p * cs + wn, d);
        std::fill(d + wn, d + W, T(0));
      }
    } else {
      // Edge panel (or a general stride): copy what exists, zero the rest.
      for (int64_t p = 0; p < kc; ++p) {
        T* d = dst + p * W;
        for (int64_t w = 0; w < wn; ++w) d[w] = s[w * rs + p * cs];
        for (int64_t w = wn; w < W; ++w) d[w] = T(0);
      }
    }
  }
}

// Any width (used only if an ISA picks an unusual MR / NR).
template <typename T>
void pack_any(T* dst, const T* src, int64_t rs, int64_t cs, int64_t w_len, int64_t kc, int W) {
  for (int64_t w0 = 0; w0 < w_len; w0 += W, dst += kc * W) {
    const int64_t wn = std::min<int64_t>(W, w_len - w0);
    const T* s = src + w0 * rs;
    for (int64_t p = 0; p < kc; ++p) {
      T* d = dst + p * W;
      for (int64_t w = 0; w < wn; ++w) d[w] = s[w * rs + p * cs];
      for (int64_t w = wn; w < W; ++w) d[w] = T(0);
    }
  }
}

}  // namespace

template <typename T>
void pack_panels(T* dst, const T* src, int64_t rs, int64_t cs, int64_t w_len, int64_t kc, int W) {
  switch (W) {
    case 4:
      return pack_fixed<T, 4>(dst, src, rs, cs, w_len, kc);
    case 6:
      return pack_fixed<T, 6>(dst, src, rs, cs, w_len, kc);
    case 8:
      return pack_fixed<T, 8>(dst, src, rs, cs, w_len, kc);
    case 12:
      return pack_fixed<T, 12>(dst, src, rs, cs, w_len, kc);
    case 14:
      return pack_fixed<T, 14>(dst, src, rs, cs, w_len, kc);
    case 16:
      return pack_fixed<T, 16>(dst, src, rs, cs, w_len, kc);
    case 24:
      return pack_fixed<T, 24>(dst, src, rs, cs, w_len, kc);
    case 32:
      return pack_fixed<T, 32>(dst, src, rs, cs, w_len, kc);
    case 10:
      return pack_fixed<T, 10>(dst, src, rs, cs, w_len, kc);
    case 64:
      return pack_fixed<T, 64>(dst, src, rs, cs, w_len, kc);
    case 48:
      return pack_fixed<T, 48>(dst, src, rs, cs, w_len, kc);
    default:
      return pack_any<T>(dst, src, rs, cs, w_len, kc, W);
  }
}

template <typename T>
void pack_rows(T* dst, const T* src, int64_t rs, int64_t cs, int64_t w_len, int64_t kc, int W) {
  const int64_t w_pad = (w_len + W - 1) / W * W;
  for (int64_t w = 0; w < w_len; ++w) {
    const T* s = src + w * rs;
    T* d = dst + w * kc;
    if (cs == 1)
      std::copy(s, s + kc, d);
    else
      for (int64_t p = 0; p < kc; ++p) d[p] = s[p * cs];
  }
  std::fill(dst + w_len * kc, dst + w_pad * kc, T(0));
}

template void pack_rows<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t, int);
template void pack_rows<double>(double*, const double*, int64_t, int64_t, int64_t, int64_t, int);
template void pack_panels<float>(float*, const float*, int64_t, int64_t, int64_t, int64_t, int);
template void pack_panels<double>(double*, const double*, int64_t, int64_t, int64_t, int64_t, int);

}  // namespace gemm_detail
}  // namespace ember
