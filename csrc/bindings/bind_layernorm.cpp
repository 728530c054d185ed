// Bindings for csrc/ops/layernorm.cpp.
//
//   layer_norm_forward(x (N, M), weight (M) | None, bias (M) | None, eps) -> (y, mean, rstd)
//   layer_norm_backward(dy, x, mean, rstd, weight | None, want_dw, want_db) -> (dx, dw|None,
//   db|None)
//   rms_norm_forward(x (N, M), weight (M) | None, eps) -> (y, rstd)
//   rms_norm_backward(dy, x, rstd, weight | None, want_dw) -> (dx, dw|None)
#include <array>

#include "bind_util.h"

namespace ember {

// csrc/ops/layernorm.cpp (instantiated there for float and double).
template <typename T>
void layer_norm_forward(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t N,
                        int64_t M, T eps);
template <typename T>
void layer_norm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* mean, const T* rstd,
                         const T* w, int64_t N, int64_t M);

template <typename T>
void group_norm_forward(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t N,
                        int64_t C, int64_t S, int64_t G, T eps);
template <typename T>
void group_norm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* mean, const T* rstd,
                         const T* w, int64_t N, int64_t C, int64_t S, int64_t G);

namespace {

constexpr const char* kFwd = "layer_norm_forward";
constexpr const char* kBwd = "layer_norm_backward";

// Checks an optional (M,) parameter of x's dtype (None is allowed: a null pointer).
void check_optional_vec(const py::object& o, const py::array& x, int64_t M, const char* op,
                        const char* name) {
  if (o.is_none()) return;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(op) + ": " + name + " must be an array or None");
  py::array a = py::reinterpret_borrow<py::array>(o);
  require_float(a, op, name);
  require_same_dtype(x, a, op);
  require_contiguous(a, op, name);
  require_shape(a, {M}, op, name);
}

template <typename T>
const T* opt_ptr(const py::object& o) {
  return o.is_none() ? nullptr : cptr<T>(py::reinterpret_borrow<py::array>(o));
}

template <typename T>
py::tuple forward_t(const py::array& x, const py::object& w, const py::object& b, double eps) {
  const int64_t N = x.shape(0), M = x.shape(1);
  py::array y = empty_like_dtype(x, {N, M});
  py::array mean = empty_like_dtype(x, {N});
  py::array rstd = empty_like_dtype(x, {N});
  T *yp = ptr<T>(y), *mp = ptr<T>(mean), *rp = ptr<T>(rstd);
  const T *xp = cptr<T>(x), *wp = opt_ptr<T>(w), *bp = opt_ptr<T>(b);
  {
    py::gil_scoped_release release;
    layer_norm_forward<T>(yp, mp, rp, xp, wp, bp, N, M, static_cast<T>(eps));
  }
  return py::make_tuple(y, mean, rstd);
}

py::tuple forward_py(const py::array& x, const py::object& weight, const py::object& bias,
                     double eps) {
  require_float(x, kFwd, "x");
  require_contiguous(x, kFwd, "x");
  require_ndim(x, 2, kFwd, "x");
  // any eps, as PyTorch: a negative one makes rows with var + eps < 0 NaN (1 / sqrt(< 0))
  const int64_t M = x.shape(1);
  check_optional_vec(weight, x, M, kFwd, "weight");
  check_optional_vec(bias, x, M, kFwd, "bias");
  return is_f32(x) ? forward_t<float>(x, weight, bias, eps)
                   : forward_t<double>(x, weight, bias, eps);
}

// (dx of x's shape, dw and db (P,) or None) from kernel(dx, dw, db, dy, x, mean, rstd, w), run
// without the GIL: the backward of layer norm and of group norm alike.
template <typename T, typename Kernel>
py::tuple norm_backward(const py::array& dy, const py::array& x, const py::array& mean,
                        const py::array& rstd, const py::object& w, int64_t P, bool want_dw,
                        bool want_db, Kernel kernel) {
  py::array dx = empty_like_dtype(x, shape_of(x));
  py::array dw = empty_like_dtype(x, {want_dw ? P : 0});
  py::array db = empty_like_dtype(x, {want_db ? P : 0});
  T* dxp = ptr<T>(dx);
  T* dwp = want_dw ? ptr<T>(dw) : nullptr;
  T* dbp = want_db ? ptr<T>(db) : nullptr;
  const T *gp = cptr<T>(dy), *xp = cptr<T>(x), *mp = cptr<T>(mean), *rp = cptr<T>(rstd);
  const T* wp = opt_ptr<T>(w);
  {
    py::gil_scoped_release release;
    kernel(dxp, dwp, dbp, gp, xp, mp, rp, wp);
  }
  return py::make_tuple(dx, want_dw ? py::object(dw) : py::object(py::none()),
                        want_db ? py::object(db) : py::object(py::none()));
}

template <typename T>
py::tuple backward_t(const py::array& dy, const py::array& x, const py::array& mean,
                     const py::array& rstd, const py::object& w, bool want_dw, bool want_db) {
  const int64_t N = x.shape(0), M = x.shape(1);
  return norm_backward<T>(
      dy, x, mean, rstd, w, M, want_dw, want_db,
      [N, M](T* dx, T* dw, T* db, const T* g, const T* xp, const T* m, const T* r, const T* wp) {
        layer_norm_backward<T>(dx, dw, db, g, xp, m, r, wp, N, M);
      });
}

// dy, x, mean and rstd: float, of one dtype, C-contiguous.
void check_grad_arrays(const py::array& dy, const py::array& x, const py::array& mean,
                       const py::array& rstd, const char* op) {
  for (auto [a, n] : {std::pair<const py::array*, const char*>{&dy, "dy"},
                      {&x, "x"},
                      {&mean, "mean"},
                      {&rstd, "rstd"}}) {
    require_float(*a, op, n);
    require_same_dtype(x, *a, op);
    require_contiguous(*a, op, n);
  }
}

py::tuple backward_py(const py::array& dy, const py::array& x, const py::array& mean,
                      const py::array& rstd, const py::object& weight, bool want_dw, bool want_db) {
  check_grad_arrays(dy, x, mean, rstd, kBwd);
  require_ndim(x, 2, kBwd, "x");
  const int64_t N = x.shape(0), M = x.shape(1);
  require_shape(dy, {N, M}, kBwd, "dy");
  require_shape(mean, {N}, kBwd, "mean");
  require_shape(rstd, {N}, kBwd, "rstd");
  check_optional_vec(weight, x, M, kBwd, "weight");
  return is_f32(x) ? backward_t<float>(dy, x, mean, rstd, weight, want_dw, want_db)
                   : backward_t<double>(dy, x, mean, rstd, weight, want_dw, want_db);
}

// RMS norm: layer norm's kernels with no mean (null).
py::tuple rms_forward_py(const py::array& x, const py::object& weight, double eps) {
  const char* op = "rms_norm_forward";
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  require_ndim(x, 2, op, "x");
  const int64_t N = x.shape(0), M = x.shape(1);
  check_optional_vec(weight, x, M, op, "weight");
  py::array y = empty_like_dtype(x, {N, M}), rstd = empty_like_dtype(x, {N});
  const bool f32 = is_f32(x);
  void *yp = y.mutable_data(), *rp = rstd.mutable_data();
  const void *xp = x.data(), *wp = weight.is_none() ? nullptr : weight.cast<py::array>().data();
  {
    py::gil_scoped_release release;
    if (f32)
      layer_norm_forward<float>(static_cast<float*>(yp), nullptr, static_cast<float*>(rp),
                                static_cast<const float*>(xp), static_cast<const float*>(wp),
                                nullptr, N, M, static_cast<float>(eps));
    else
      layer_norm_forward<double>(static_cast<double*>(yp), nullptr, static_cast<double*>(rp),
                                 static_cast<const double*>(xp), static_cast<const double*>(wp),
                                 nullptr, N, M, eps);
  }
  return py::make_tuple(y, rstd);
}

template <typename T>
py::tuple rms_backward_t(const py::array& dy, const py::array& x, const py::array& rstd,
                         const py::object& w, bool want_dw) {
  const int64_t N = x.shape(0), M = x.shape(1);
  py::tuple r = norm_backward<T>(
      dy, x, rstd, rstd, w, M, want_dw, false,
      [N, M](T* dx, T* dw, T* db, const T* g, const T* xp, const T*, const T* r, const T* wp) {
        layer_norm_backward<T>(dx, dw, db, g, xp, nullptr, r, wp, N, M);
      });
  return py::make_tuple(r[0], r[1]);
}

py::tuple rms_backward_py(const py::array& dy, const py::array& x, const py::array& rstd,
                          const py::object& weight, bool want_dw) {
  const char* op = "rms_norm_backward";
  check_grad_arrays(dy, x, rstd, rstd, op);
  require_ndim(x, 2, op, "x");
  const int64_t N = x.shape(0), M = x.shape(1);
  require_shape(dy, {N, M}, op, "dy");
  require_shape(rstd, {N}, op, "rstd");
  check_optional_vec(weight, x, M, op, "weight");
  return is_f32(x) ? rms_backward_t<float>(dy, x, rstd, weight, want_dw)
                   : rms_backward_t<double>(dy, x, rstd, weight, want_dw);
}

// (N, C, S) of an (N, C, *) array; checks the group count.
std::array<int64_t, 3> ncs_groups(const py::array& x, int64_t G, const char* op) {
  EMBER_CHECK(x.ndim() >= 2, op, ": x must be at least 2-D (N, C, *), got shape ",
              shape_str(shape_of(x)));
  int64_t S = 1;
  for (py::ssize_t d = 2; d < x.ndim(); ++d) S = mul_checked(S, x.shape(d), op);
  EMBER_CHECK(G > 0 && x.shape(1) % G == 0, op, ": num_channels ", x.shape(1),
              " must be divisible by num_groups ", G);
  return {x.shape(0), x.shape(1), S};
}

template <typename T>
py::tuple gn_forward_t(const py::array& x, const py::object& w, const py::object& b, int64_t G,
                       double eps) {
  const auto [N, C, S] = ncs_groups(x, G, "group_norm_forward");
  py::array y = empty_like_dtype(x, shape_of(x));
  py::array mean = empty_like_dtype(x, {N, G}), rstd = empty_like_dtype(x, {N, G});
  T *yp = ptr<T>(y), *mp = ptr<T>(mean), *rp = ptr<T>(rstd);
  const T *xp = cptr<T>(x), *wp = opt_ptr<T>(w), *bp = opt_ptr<T>(b);
  {
    py::gil_scoped_release release;
    group_norm_forward<T>(yp, mp, rp, xp, wp, bp, N, C, S, G, static_cast<T>(eps));
  }
  return py::make_tuple(y, mean, rstd);
}

py::tuple gn_forward_py(const py::array& x, const py::object& weight, const py::object& bias,
                        int64_t num_groups, double eps) {
  const char* op = "group_norm_forward";
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  const auto ncs = ncs_groups(x, num_groups, op);
  // any eps (see forward_py)
  check_optional_vec(weight, x, ncs[1], op, "weight");
  check_optional_vec(bias, x, ncs[1], op, "bias");
  return is_f32(x) ? gn_forward_t<float>(x, weight, bias, num_groups, eps)
                   : gn_forward_t<double>(x, weight, bias, num_groups, eps);
}

template <typename T>
py::tuple gn_backward_t(const py::array& dy, const py::array& x, const py::array& mean,
                        const py::array& rstd, const py::object& w, int64_t G, bool want_dw,
                        bool want_db) {
  const auto [N, C, S] = ncs_groups(x, G, "group_norm_backward");
  return norm_backward<T>(dy, x, mean, rstd, w, C, want_dw, want_db,
                          [N = N, C = C, S = S, G](T* dx, T* dw, T* db, const T* g, const T* xp,
                                                   const T* m, const T* r, const T* wp) {
                            group_norm_backward<T>(dx, dw, db, g, xp, m, r, wp, N, C, S, G);
                          });
}

py::tuple gn_backward_py(const py::array& dy, const py::array& x, const py::array& mean,
                         const py::array& rstd, const py::object& weight, int64_t num_groups,
                         bool want_dw, bool want_db) {
  const char* op = "group_norm_backward";
  check_grad_arrays(dy, x, mean, rstd, op);
  const auto ncs = ncs_groups(x, num_groups, op);
  require_shape(dy, shape_of(x), op, "dy");
  require_shape(mean, {ncs[0], num_groups}, op, "mean");
  require_shape(rstd, {ncs[0], num_groups}, op, "rstd");
  check_optional_vec(weight, x, ncs[1], op, "weight");
  return is_f32(x) ? gn_backward_t<float>(dy, x, mean, rstd, weight, num_groups, want_dw, want_db)
                   : gn_backward_t<double>(dy, x, mean, rstd, weight, num_groups, want_dw, want_db);
}

}  // namespace

void bind_layernorm(py::module_& m) {
  m.def("layer_norm_forward", &forward_py, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("eps"),
        "Layer norm of each row of a C-contiguous (N, M) array; weight/bias (M,) or None. "
        "Returns (y, mean, rstd), rstd = 1/sqrt(biased var + eps).");
  m.def("layer_norm_backward", &backward_py, py::arg("dy"), py::arg("x"), py::arg("mean"),
        py::arg("rstd"), py::arg("weight"), py::arg("want_dw") = true, py::arg("want_db") = true,
        "Gradients of layer_norm_forward: (dx, dw or None, db or None).");
  m.def("rms_norm_forward", &rms_forward_py, py::arg("x"), py::arg("weight"), py::arg("eps"),
        "RMS norm of each row of a C-contiguous (N, M) array; weight (M,) or None. Returns (y, "
        "rstd), rstd = 1/sqrt(mean(x^2) + eps).");
  m.def("rms_norm_backward", &rms_backward_py, py::arg("dy"), py::arg("x"), py::arg("rstd"),
        py::arg("weight"), py::arg("want_dw") = true,
        "Gradients of rms_norm_forward: (dx, dw or None).");
  m.def("group_norm_forward", &gn_forward_py, py::arg("x"), py::arg("weight"), py::arg("bias"),
        py::arg("num_groups"), py::arg("eps"),
        "Group norm of a C-contiguous (N, C, *) array, C divisible by num_groups; weight/bias (C,) "
        "or None. Returns (y, mean (N, G), rstd (N, G)).");
  m.def("group_norm_backward", &gn_backward_py, py::arg("dy"), py::arg("x"), py::arg("mean"),
        py::arg("rstd"), py::arg("weight"), py::arg("num_groups"), py::arg("want_dw") = true,
        py::arg("want_db") = true,
        "Gradients of group_norm_forward: (dx, dw or None, db or None).");
}

}  // namespace ember
