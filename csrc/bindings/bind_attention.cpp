// Bindings for csrc/ops/attention.cpp.
//
//   sdpa_forward(q (BH, Lq, D), k (BH/g, Lk, D), v (BH/g, Lk, Dv), mask=None, mask_off=None,
//                mask_sr=0, mask_sc=0, is_causal=False, scale=1.0, dropout_p=0.0, seed=0,
//                kv_group=g=1) -> (out (BH, Lq, Dv), lse (BH, Lq))
//       (kv_group: grouped-query attention, query head bh reads key/value head bh / g)
//   sdpa_backward(dout, q, k, v, out, lse, <the same mask and options>) -> (dq, dk, dv)
//   sdpa_dropout_mask(BH, Lq, Lk, p, seed) -> keep (BH, Lq, Lk) uint8
//
// mask: a C-contiguous bool array (True takes part) or a float array of q's dtype (added to the
// logits), read as a flat buffer at mask_off[bh] + i * mask_sr + j * mask_sc (element units):
// broadcasting is 0 strides, never a copy. mask_off: int64 (BH,). Every read is bounds-checked
// here before the kernel runs.
#include "bind_util.h"
#include "ops/attention.h"

namespace ember {

namespace {

struct Args {
  SdpaOptions opt;
  int64_t BH, Lq, Lk, D, Dv;
};

void check_qkv(const py::array& q, const py::array& k, const py::array& v, int64_t kv_group,
               const char* op, Args& a) {
  require_float(q, op, "q");
  require_same_dtype(q, k, op);
  require_same_dtype(q, v, op);
  for (auto [arr, n] : {std::pair<const py::array*, const char*>{&q, "q"}, {&k, "k"}, {&v, "v"}}) {
    require_contiguous(*arr, op, n);
    require_ndim(*arr, 3, op, n);
  }
  a.BH = q.shape(0);
  a.Lq = q.shape(1);
  a.D = q.shape(2);
  a.Lk = k.shape(1);
  a.Dv = v.shape(2);
  EMBER_CHECK(kv_group >= 1 && a.BH % kv_group == 0, op,  // (an empty batch: any group)
              ": kv_group ", kv_group, " must be >= 1 and divide q's ", a.BH, " heads");
  a.opt.kv_group = kv_group;
  EMBER_CHECK(k.shape(0) * kv_group == a.BH && v.shape(0) * kv_group == a.BH, op,
              ": batch sizes differ (kv_group ", kv_group, "): q ", shape_str(shape_of(q)), ", k ",
              shape_str(shape_of(k)), ", v ", shape_str(shape_of(v)));
  EMBER_CHECK(k.shape(2) == a.D, op, ": q and k head dims differ: q ", shape_str(shape_of(q)),
              ", k ", shape_str(shape_of(k)));
  EMBER_CHECK(v.shape(1) == a.Lk, op, ": k and v sequence lengths differ: k ",
              shape_str(shape_of(k)), ", v ", shape_str(shape_of(v)));
}

void check_mask(const py::object& mask, const py::object& mask_off, int64_t sr, int64_t sc,
                const py::array& q, const char* op, Args& a) {
  a.opt.mask_sr = sr;
  a.opt.mask_sc = sc;
  if (mask.is_none()) return;
  if (!py::isinstance<py::array>(mask) || !py::isinstance<py::array>(mask_off))
    throw py::type_error(std::string(op) + ": mask and mask_off must be arrays");
  py::array m = py::reinterpret_borrow<py::array>(mask);
  py::array off = py::reinterpret_borrow<py::array>(mask_off);
  require_contiguous(m, op, "mask");
  require_contiguous(off, op, "mask_off");
  if (!same_dtype(off.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": mask_off must be int64");
  require_shape(off, {a.BH}, op, "mask_off");
  if (same_dtype(m.dtype(), py::dtype::of<bool>()))
    a.opt.bool_mask = static_cast<const uint8_t*>(m.data());
  else if (same_dtype(m.dtype(), q.dtype()))
    a.opt.float_mask = m.data();
  else
    throw py::type_error(std::string(op) + ": mask must be bool or of q's dtype (" +
                         std::string(py::str(q.dtype())) + "), got " +
                         std::string(py::str(m.dtype())));
  EMBER_CHECK(sr >= 0 && sc >= 0, op, ": mask strides must be >= 0, got (", sr, ", ", sc, ")");
  const int64_t size = m.size();
  const int64_t* o = static_cast<const int64_t*>(off.data());
  if (a.Lq == 0 || a.Lk == 0) {  // nothing is read
    a.opt.mask_off = o;
    return;
  }
  // Strides beyond the mask's size can only read outside it (and their products could wrap).
  EMBER_CHECK((a.Lq <= 1 || sr < size) && (a.Lk <= 1 || sc < size), op, ": mask strides (", sr,
              ", ", sc, ") exceed the mask size ", size);
  const int64_t span = (a.Lq > 1 ? (a.Lq - 1) * sr : 0) + (a.Lk > 1 ? (a.Lk - 1) * sc : 0);
  for (int64_t b = 0; b < a.BH; ++b)
    EMBER_CHECK(o[b] >= 0 && o[b] < size && o[b] + span < size, op,
                ": mask offsets/strides read outside the mask (offset ", o[b], ", strides (", sr,
                ", ", sc, "), mask size ", size, ")");
  a.opt.mask_off = o;
}

void check_options(bool causal, double scale, double p, uint64_t seed, const char* op, Args& a) {
  EMBER_CHECK(p >= 0.0 && p <= 1.0, op, ": dropout_p must be in [0, 1], got ", p);
  EMBER_CHECK(std::isfinite(scale), op, ": scale must be finite, got ", scale);
  a.opt.causal = causal;
  a.opt.scale = scale;
  a.opt.dropout_p = p;
  a.opt.seed = seed;
}

template <typename T>
py::tuple forward_t(const py::array& q, const py::array& k, const py::array& v, const Args& a) {
  py::array out = empty_like_dtype(q, {a.BH, a.Lq, a.Dv});
  py::array lse = empty_like_dtype(q, {a.BH, a.Lq});
  T *op = ptr<T>(out), *lp = ptr<T>(lse);
  const T *qp = cptr<T>(q), *kp = cptr<T>(k), *vp = cptr<T>(v);
  {
    py::gil_scoped_release release;
    sdpa_forward<T>(op, lp, qp, kp, vp, a.BH, a.Lq, a.Lk, a.D, a.Dv, a.opt);
  }
  return py::make_tuple(out, lse);
}

py::tuple forward_py(const py::array& q, const py::array& k, const py::array& v,
                     const py::object& mask, const py::object& mask_off, int64_t mask_sr,
                     int64_t mask_sc, bool is_causal, double scale, double dropout_p, uint64_t seed,
                     int64_t kv_group) {
  const char* op = "sdpa_forward";
  Args a;
  check_qkv(q, k, v, kv_group, op, a);
  check_mask(mask, mask_off, mask_sr, mask_sc, q, op, a);
  check_options(is_causal, scale, dropout_p, seed, op, a);
  return is_f32(q) ? forward_t<float>(q, k, v, a) : forward_t<double>(q, k, v, a);
}

template <typename T>
py::tuple backward_t(const py::array& dout, const py::array& q, const py::array& k,
                     const py::array& v, const py::array& out, const py::array& lse,
                     const Args& a) {
  py::array dq = empty_like_dtype(q, {a.BH, a.Lq, a.D});
  const int64_t bhk = a.BH / a.opt.kv_group;
  py::array dk = empty_like_dtype(q, {bhk, a.Lk, a.D});
  py::array dv = empty_like_dtype(q, {bhk, a.Lk, a.Dv});
  T *dqp = ptr<T>(dq), *dkp = ptr<T>(dk), *dvp = ptr<T>(dv);
  const T *gp = cptr<T>(dout), *qp = cptr<T>(q), *kp = cptr<T>(k), *vp = cptr<T>(v);
  const T *op = cptr<T>(out), *lp = cptr<T>(lse);
  {
    py::gil_scoped_release release;
    sdpa_backward<T>(dqp, dkp, dvp, gp, qp, kp, vp, op, lp, a.BH, a.Lq, a.Lk, a.D, a.Dv, a.opt);
  }
  return py::make_tuple(dq, dk, dv);
}

py::tuple backward_py(const py::array& dout, const py::array& q, const py::array& k,
                      const py::array& v, const py::array& out, const py::array& lse,
                      const py::object& mask, const py::object& mask_off, int64_t mask_sr,
                      int64_t mask_sc, bool is_causal, double scale, double dropout_p,
                      uint64_t seed, int64_t kv_group) {
  const char* op = "sdpa_backward";
  Args a;
  check_qkv(q, k, v, kv_group, op, a);
  for (auto [arr, n] :
       {std::pair<const py::array*, const char*>{&dout, "dout"}, {&out, "out"}, {&lse, "lse"}}) {
    require_same_dtype(q, *arr, op);
    require_contiguous(*arr, op, n);
  }
  require_shape(dout, {a.BH, a.Lq, a.Dv}, op, "dout");
  require_shape(out, {a.BH, a.Lq, a.Dv}, op, "out");
  require_shape(lse, {a.BH, a.Lq}, op, "lse");
  check_mask(mask, mask_off, mask_sr, mask_sc, q, op, a);
  check_options(is_causal, scale, dropout_p, seed, op, a);
  return is_f32(q) ? backward_t<float>(dout, q, k, v, out, lse, a)
                   : backward_t<double>(dout, q, k, v, out, lse, a);
}

}  // namespace

void bind_attention(py::module_& m) {
  m.def("sdpa_forward", &forward_py, py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("mask") = py::none(), py::arg("mask_off") = py::none(), py::arg("mask_sr") = 0,
        py::arg("mask_sc") = 0, py::arg("is_causal") = false, py::arg("scale") = 1.0,
        py::arg("dropout_p") = 0.0, py::arg("seed") = 0, py::arg("kv_group") = 1,
        "Flash-style attention of C-contiguous (BH, L, D) arrays: returns (out, lse).");
  m.def("sdpa_backward", &backward_py, py::arg("dout"), py::arg("q"), py::arg("k"), py::arg("v"),
        py::arg("out"), py::arg("lse"), py::arg("mask") = py::none(),
        py::arg("mask_off") = py::none(), py::arg("mask_sr") = 0, py::arg("mask_sc") = 0,
        py::arg("is_causal") = false, py::arg("scale") = 1.0, py::arg("dropout_p") = 0.0,
        py::arg("seed") = 0, py::arg("kv_group") = 1, "Gradients of sdpa_forward: (dq, dk, dv).");
  m.def(
      "sdpa_dropout_mask",
      [](int64_t BH, int64_t Lq, int64_t Lk, double p, uint64_t seed) {
        EMBER_CHECK(BH >= 0 && Lq >= 0 && Lk >= 0, "sdpa_dropout_mask: negative size");
        const int64_t n = numel_checked({BH, Lq, Lk}, "sdpa_dropout_mask");
        py::array_t<uint8_t> keep({BH, Lq, Lk});
        (void)n;
        uint8_t* out = keep.mutable_data();
        py::gil_scoped_release release;
        sdpa_dropout_mask(out, BH, Lq, Lk, p, seed);
        return keep;
      },
      py::arg("BH"), py::arg("Lq"), py::arg("Lk"), py::arg("p"), py::arg("seed"),
      "The dropout keep-mask (BH, Lq, Lk) the attention kernels use for (p, seed): for tests.");
}

}  // namespace ember
