// Flash-style scaled dot-product attention: the interface shared by csrc/ops/attention.cpp and
// its binding.
#pragma once

#include <cstdint>

namespace ember {

// What a call needs besides q, k, v: the mask (at most one of bool_mask / float_mask, each a
// flat buffer read at mask_off[bh] + i * mask_sr + j * mask_sc, so any broadcast over batch,
// heads, rows or columns is a 0 stride, never a copy), the causal flag, the scale and dropout.
struct SdpaOptions {
  const uint8_t* bool_mask = nullptr;  // nonzero: key j takes part for query i (as PyTorch)
  const void* float_mask = nullptr;    // additive, of the kernel's type T
  const int64_t* mask_off = nullptr;   // (BH,) element offsets into the mask
  int64_t mask_sr = 0, mask_sc = 0;    // element strides of a mask row / column
  bool causal = false;                 // key j takes part for query i only if j <= i (top-left)
  double scale = 1.0;
  double dropout_p = 0.0;  // probability of dropping an attention weight (training)
  uint64_t seed = 0;       // dropout: keep(bh, i, j) is a hash of (seed, bh, i, j)
  int64_t kv_group = 1;    // grouped-query attention: query head bh reads k, v head bh / kv_group
};

// q (BH, Lq, D), k (BH/g, Lk, D), v (BH/g, Lk, Dv) -> out (BH, Lq, Dv), lse (BH, Lq), with
// g = opt.kv_group (1: one key/value head per query head)
// out = dropout(softmax(scale * q k^T + mask)) v, never materialising the Lq x Lk matrix;
// lse = logsumexp of each row of the masked logits (-inf for a row with every key masked,
// whose output is 0, as PyTorch's CPU kernels return).
template <typename T>
void sdpa_forward(T* out, T* lse, const T* q, const T* k, const T* v, int64_t BH, int64_t Lq,
                  int64_t Lk, int64_t D, int64_t Dv, const SdpaOptions& opt);

// dout (BH, Lq, Dv), q, k, v, out, lse as above -> dq (BH, Lq, D), dk (BH/g, Lk, D),
// dv (BH/g, Lk, Dv): a key/value head's gradient sums its g query heads' (in head order)
// Recomputes P tile by tile from lse (FlashAttention-2); Delta = rowsum(dout * out).
template <typename T>
void sdpa_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v,
                   const T* out, const T* lse, int64_t BH, int64_t Lq, int64_t Lk, int64_t D,
                   int64_t Dv, const SdpaOptions& opt);

// The dropout keep-mask the kernels use, (BH, Lq, Lk) of 0/1: for tests.
void sdpa_dropout_mask(uint8_t* keep, int64_t BH, int64_t Lq, int64_t Lk, double p, uint64_t seed);

}  // namespace ember
