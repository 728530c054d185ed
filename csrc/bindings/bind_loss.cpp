// Bindings for csrc/ops/loss.cpp: the elementwise regression losses (mse, l1, huber, smooth_l1)
// binary cross-entropy with logits (bce_logits) and the KL divergence (kl_div).
#include <string>

#include "bind_util.h"

namespace ember {

// csrc/ops/loss.cpp (instantiated there for float and double).
template <typename T>
double regression_loss_forward(T* loss, T* diff, const T* x, const T* t, int64_t n, int kind,
                               double param);
template <typename T>
void regression_loss_backward(T* dx, const T* x, const T* t, const T* g, T scale, int64_t n,
                              int kind, double param);

namespace {

int parse_kind(const std::string& name, const char* op) {
  const char* names[] = {"mse", "l1", "huber", "smooth_l1", "bce_logits", "kl_div"};
  for (int k = 0; k < 6; ++k)
    if (name == names[k]) return k;
  EMBER_CHECK(false, op, ": unknown loss '", name,
              "' (expected mse, l1, huber, smooth_l1, bce_logits or kl_div)");
  return -1;
}

void check_pair(const py::array& x, const py::array& t, const char* op) {
  require_float(x, op, "x");
  require_float(t, op, "t");
  require_same_dtype(x, t, op);
  require_contiguous(x, op, "x");
  require_contiguous(t, op, "t");
  require_shape(t, shape_of(x), op, "t");
}

py::object forward_py(const py::array& x, const py::array& t, const std::string& loss, double param,
                      const std::string& reduction, bool keep_diff) {
  const char* op = "regression_loss_forward";
  const int kind = parse_kind(loss, op);
  check_pair(x, t, op);
  EMBER_CHECK(reduction == "none" || reduction == "mean" || reduction == "sum", op,
              ": reduction must be 'none', 'mean' or 'sum', got '", reduction, "'");
  const int64_t n = numel_checked(shape_of(x), op);
  const bool none = reduction == "none";
  py::array out = empty_like_dtype(x, none ? shape_of(x) : std::vector<int64_t>{});
  py::array diff = keep_diff ? empty_like_dtype(x, shape_of(x)) : py::array();
  double total;
  if (is_f32(x)) {
    float* lp = none ? ptr<float>(out) : nullptr;
    float* dp = keep_diff ? ptr<float>(diff) : nullptr;
    const float *xp = cptr<float>(x), *tp = cptr<float>(t);
    py::gil_scoped_release release;
    total = regression_loss_forward<float>(lp, dp, xp, tp, n, kind, param);
  } else {
    double* lp = none ? ptr<double>(out) : nullptr;
    double* dp = keep_diff ? ptr<double>(diff) : nullptr;
    const double *xp = cptr<double>(x), *tp = cptr<double>(t);
    py::gil_scoped_release release;
    total = regression_loss_forward<double>(lp, dp, xp, tp, n, kind, param);
  }
  if (!none) {
    const double v = reduction == "mean" ? total / double(n) : total;  // empty mean: NaN
    if (is_f32(x))
      *ptr<float>(out) = static_cast<float>(v);
    else
      *ptr<double>(out) = v;
  }
  if (keep_diff) return py::make_tuple(out, diff);
  return std::move(out);
}

template <typename T>
py::array backward_t(const py::array& x, const py::object& t, const py::object& grad, double scale,
                     int kind, double param, int64_t n) {
  py::array dx = empty_like_dtype(x, shape_of(x));
  const T *gp = nullptr, *tp = nullptr;
  if (!grad.is_none()) gp = cptr<T>(py::reinterpret_borrow<py::array>(grad));
  if (!t.is_none()) tp = cptr<T>(py::reinterpret_borrow<py::array>(t));
  T* dp = ptr<T>(dx);
  const T* xp = cptr<T>(x);
  py::gil_scoped_release release;
  regression_loss_backward<T>(dp, xp, tp, gp, static_cast<T>(scale), n, kind, param);
  return dx;
}

// t None: x holds d = x - t (forward's keep_diff output).
py::array backward_py(const py::array& x, const py::object& t, const py::object& grad,
                      const std::string& loss, double param, double scale) {
  const char* op = "regression_loss_backward";
  const int kind = parse_kind(loss, op);
  if (t.is_none()) {
    EMBER_CHECK(kind < 4, op, ": ", loss, " needs t");
    require_float(x, op, "x");
    require_contiguous(x, op, "x");
  } else {
    if (!py::isinstance<py::array>(t))
      throw py::type_error(std::string(op) + ": t must be a NumPy array or None");
    check_pair(x, py::reinterpret_borrow<py::array>(t), op);
  }
  if (!grad.is_none()) {
    if (!py::isinstance<py::array>(grad))
      throw py::type_error(std::string(op) + ": grad must be a NumPy array or None");
    const py::array g = py::reinterpret_borrow<py::array>(grad);
    require_float(g, op, "grad");
    require_same_dtype(x, g, op);
    require_contiguous(g, op, "grad");
    require_shape(g, shape_of(x), op, "grad");
  }
  const int64_t n = numel_checked(shape_of(x), op);
  return is_f32(x) ? backward_t<float>(x, t, grad, scale, kind, param, n)
                   : backward_t<double>(x, t, grad, scale, kind, param, n);
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def("regression_loss_forward", &forward_py, py::arg("x"), py::arg("t"), py::arg("loss"),
        py::arg("param") = 0.0, py::arg("reduction") = "mean", py::arg("keep_diff") = false,
        "Elementwise loss of d = x - t for C-contiguous float x, t of one shape and dtype: loss "
        "'mse' | 'l1' | 'huber' (param = delta > 0) | 'smooth_l1' (param = beta >= 0) | "
        "'bce_logits' (x logits, t targets: (1 - t) x + softplus(-x)) | 'kl_div' (x log-"
        "probabilities, t probabilities: t log t - t x, 0 log 0 = 0) -> the "
        "per-element losses ('none') or their 0-d mean / sum (summed in double, in a fixed "
        "order); keep_diff: (that, d) with d = x - t written in the same pass, for "
        "regression_loss_backward with t None.");
  m.def("regression_loss_backward", &backward_py, py::arg("x"), py::arg("t"), py::arg("grad"),
        py::arg("loss"), py::arg("param") = 0.0, py::arg("scale") = 1.0,
        "dx = scale * grad * dl/dd (grad None: scale * dl/dd), dl/dd = d (mse: the 2 is in "
        "scale), sign(d) (l1), clamp(d, -delta, delta) (huber), clamp(d / beta, -1, 1) "
        "(smooth_l1; beta 0: sign(d)), sigmoid(x) - t (bce_logits), -t (kl_div); t None: x holds "
        "d (not for bce_logits and kl_div). Returns a new dx of x's shape.");
}

}  // namespace ember
