// Bindings for csrc/ops/softmax.cpp: softmax / log_softmax forward and backward along any dim.
#include <algorithm>
#include <cmath>
#include <limits>

#include "bind_util.h"

namespace ember {

// csrc/ops/softmax.cpp (instantiated there for float and double).
template <typename T>
void softmax_forward(T* y, const T* x, int64_t outer, int64_t D, int64_t inner);
template <typename T>
void softmax_backward(T* dx, const T* y, const T* dy, int64_t outer, int64_t D, int64_t inner);
template <typename T>
void log_softmax_forward(T* y, const T* x, int64_t outer, int64_t D, int64_t inner);
template <typename T>
void log_softmax_backward(T* dx, const T* y, const T* dy, int64_t outer, int64_t D, int64_t inner);
template <typename T>
void cross_entropy_forward(T* loss, T* lse, T* logp, double* sums, const T* x,
                           const int64_t* target, const T* w, int64_t N, int64_t C, int64_t S,
                           int64_t ignore_index, double label_smoothing, bool log_input);
template <typename T>
void cross_entropy_backward(T* dx, const T* x, const T* lse, const int64_t* target, const T* w,
                            const T* g, T scale, int64_t N, int64_t C, int64_t S,
                            int64_t ignore_index, double label_smoothing, bool log_input);

namespace {

// The tensor viewed as (outer, D, inner) around dimension `dim` (negative counts from the end;
// a 0-d array is one element, dim 0 or -1).
struct Dims {
  int64_t outer = 1, D = 1, inner = 1;
};

Dims split_dims(const py::array& a, int64_t dim, const char* op) {
  const std::vector<int64_t> shape = shape_of(a);
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t span = nd == 0 ? 1 : nd;
  if (dim < -span || dim >= span)
    throw py::index_error(std::string(op) + ": dim " + std::to_string(dim) +
                          " is out of range for an array of shape " + shape_str(shape) +
                          " (expected in [" + std::to_string(-span) + ", " +
                          std::to_string(span - 1) + "])");
  Dims d;
  if (nd == 0) return d;
  if (dim < 0) dim += nd;
  numel_checked(shape, op);
  for (int64_t i = 0; i < dim; ++i) d.outer *= shape[i];
  d.D = shape[dim];
  for (int64_t i = dim + 1; i < nd; ++i) d.inner *= shape[i];
  return d;
}

py::array softmax_forward_py(const py::array& x, int64_t dim, bool log) {
  const char* op = log ? "log_softmax_forward" : "softmax_forward";
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  const Dims d = split_dims(x, dim, op);
  py::array y = empty_like_dtype(x, shape_of(x));
  if (is_f32(x)) {
    float* yp = ptr<float>(y);
    const float* xp = cptr<float>(x);
    py::gil_scoped_release release;
    if (log)
      log_softmax_forward<float>(yp, xp, d.outer, d.D, d.inner);
    else
      softmax_forward<float>(yp, xp, d.outer, d.D, d.inner);
  } else {
    double* yp = ptr<double>(y);
    const double* xp = cptr<double>(x);
    py::gil_scoped_release release;
    if (log)
      log_softmax_forward<double>(yp, xp, d.outer, d.D, d.inner);
    else
      softmax_forward<double>(yp, xp, d.outer, d.D, d.inner);
  }
  return y;
}

py::array softmax_backward_py(const py::array& y, const py::array& dy, int64_t dim, bool log) {
  const char* op = log ? "log_softmax_backward" : "softmax_backward";
  require_float(y, op, "y");
  require_float(dy, op, "dy");
  require_same_dtype(y, dy, op);
  require_contiguous(y, op, "y");
  require_contiguous(dy, op, "dy");
  require_shape(dy, shape_of(y), op, "dy");
  const Dims d = split_dims(y, dim, op);
  py::array dx = empty_like_dtype(y, shape_of(y));
  if (is_f32(y)) {
    float* dxp = ptr<float>(dx);
    const float *yp = cptr<float>(y), *gp = cptr<float>(dy);
    py::gil_scoped_release release;
    if (log)
      log_softmax_backward<float>(dxp, yp, gp, d.outer, d.D, d.inner);
    else
      softmax_backward<float>(dxp, yp, gp, d.outer, d.D, d.inner);
  } else {
    double* dxp = ptr<double>(dx);
    const double *yp = cptr<double>(y), *gp = cptr<double>(dy);
    py::gil_scoped_release release;
    if (log)
      log_softmax_backward<double>(dxp, yp, gp, d.outer, d.D, d.inner);
    else
      softmax_backward<double>(dxp, yp, gp, d.outer, d.D, d.inner);
  }
  return dx;
}

// The positions of x (N, C, d1, ...): target's shape (N, d1, ...).
std::vector<int64_t> ce_positions(const py::array& x) {
  std::vector<int64_t> shape = shape_of(x);
  shape.erase(shape.begin() + 1);
  return shape;
}

// x as (N, C, S): S = d1 * ... (1 for (N, C)).
int64_t ce_inner(const py::array& x) {
  int64_t S = 1;
  for (py::ssize_t i = 2; i < x.ndim(); ++i) S *= x.shape(i);
  return S;
}

// Checks shared by both cross-entropy passes: x (N, C) or (N, C, d1, ...) float, target
// (N,) / (N, d1, ...) int64, weight None or (C,) of x's dtype, label_smoothing in [0, 1],
// reduction a known name (its index returned).
int check_ce(const py::array& x, const py::array& target, const py::object& weight,
             double label_smoothing, const std::string& reduction, const char* op, py::array* w) {
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  EMBER_CHECK(x.ndim() >= 2, op, ": x must be at least 2-D, (N, C) or (N, C, d1, ...), got shape ",
              shape_str(shape_of(x)));
  numel_checked(shape_of(x), op);
  if (!same_dtype(target.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": target must be int64, got " +
                         std::string(py::str(target.dtype())));
  require_contiguous(target, op, "target");
  require_shape(target, ce_positions(x), op, "target");
  if (!weight.is_none()) {
    if (!py::isinstance<py::array>(weight))
      throw py::type_error(std::string(op) + ": weight must be a NumPy array or None");
    *w = py::reinterpret_borrow<py::array>(weight);
    require_float(*w, op, "weight");
    require_same_dtype(x, *w, op);
    require_contiguous(*w, op, "weight");
    require_shape(*w, {x.shape(1)}, op, "weight");
  }
  EMBER_CHECK(label_smoothing >= 0 && label_smoothing <= 1, op,
              ": label_smoothing must be in [0, 1], got ", label_smoothing);
  const char* names[] = {"none", "mean", "sum"};
  for (int r = 0; r < 3; ++r)
    if (reduction == names[r]) return r;
  EMBER_CHECK(false, op, ": reduction must be 'none', 'mean' or 'sum', got '", reduction, "'");
  return -1;
}

template <typename T>
py::tuple ce_forward_t(const py::array& x, const py::array& target, const py::array& w, bool hw,
                       int64_t ignore_index, double label_smoothing, int red, bool log_input,
                       bool keep_log_softmax) {
  const int64_t N = x.shape(0), C = x.shape(1), S = ce_inner(x);
  py::array loss = empty_like_dtype(x, ce_positions(x)), lse = empty_like_dtype(x, ce_positions(x));
  py::array logp = keep_log_softmax ? empty_like_dtype(x, shape_of(x)) : py::array();
  double sums[2] = {0, 0};
  {
    T *lp = ptr<T>(loss), *sp = ptr<T>(lse), *pp = keep_log_softmax ? ptr<T>(logp) : nullptr;
    const T* xp = cptr<T>(x);
    const T* wp = hw ? cptr<T>(w) : nullptr;
    const int64_t* tp = cptr<int64_t>(target);
    py::gil_scoped_release release;
    cross_entropy_forward<T>(lp, sp, pp, sums, xp, tp, wp, N, C, S, ignore_index, label_smoothing,
                             log_input);
  }
  if (red != 0) {
    loss = empty_like_dtype(x, {});
    // 'mean' over a zero total weight is NaN, as PyTorch (its nll part is 0/0 even when label
    // smoothing makes the numerator non-zero)
    const double mean = sums[1] != 0 ? sums[0] / sums[1] : std::nan("");
    *ptr<T>(loss) = static_cast<T>(red == 1 ? mean : sums[0]);
  }
  return py::make_tuple(loss, lse, sums[1], keep_log_softmax ? py::object(logp) : py::none());
}

py::tuple ce_forward_py(const py::array& x, const py::array& target, const py::object& weight,
                        int64_t ignore_index, double label_smoothing, const std::string& reduction,
                        bool log_input, bool keep_log_softmax) {
  const char* op = "cross_entropy_forward";
  py::array w;
  const int red = check_ce(x, target, weight, label_smoothing, reduction, op, &w);
  EMBER_CHECK(!(keep_log_softmax && log_input), op,
              ": keep_log_softmax needs logits (log_input=False)");
  const bool hw = !weight.is_none();
  return is_f32(x) ? ce_forward_t<float>(x, target, w, hw, ignore_index, label_smoothing, red,
                                         log_input, keep_log_softmax)
                   : ce_forward_t<double>(x, target, w, hw, ignore_index, label_smoothing, red,
                                          log_input, keep_log_softmax);
}

template <typename T>
py::array ce_backward_t(const py::array& x, const py::object& lse, const py::array& target,
                        const py::array& grad, const py::array& w, bool hw, int64_t ignore_index,
                        double label_smoothing, int red, double weight_sum, bool log_input) {
  const int64_t N = x.shape(0), C = x.shape(1), S = ce_inner(x);
  py::array dx = empty_like_dtype(x, shape_of(x));
  const T g0 = red == 0 ? T(1) : *cptr<T>(grad);
  // 'mean' over a zero total weight, as PyTorch: every target ignored gives gradient 0, a
  // target of weight 0 makes its row's gradient NaN (w / 0)
  T scale = red != 1 ? g0 : static_cast<T>(g0 / weight_sum);
  if (red == 1 && weight_sum == 0) {
    const int64_t* t = cptr<int64_t>(target);
    scale = std::any_of(t, t + N * S, [&](int64_t v) { return v != ignore_index; })
                ? std::numeric_limits<T>::quiet_NaN()
                : T(0);
  }
  T* dp = ptr<T>(dx);
  const T *xp = cptr<T>(x), *gp = red == 0 ? cptr<T>(grad) : nullptr;
  const T* sp = lse.is_none() ? nullptr : cptr<T>(py::reinterpret_borrow<py::array>(lse));
  const T* wp = hw ? cptr<T>(w) : nullptr;
  const int64_t* tp = cptr<int64_t>(target);
  py::gil_scoped_release release;
  cross_entropy_backward<T>(dp, xp, sp, tp, wp, gp, scale, N, C, S, ignore_index, label_smoothing,
                            log_input);
  return dx;
}

// lse None: 0, x holding forward's log_softmax output.
py::array ce_backward_py(const py::array& x, const py::object& lse, const py::array& target,
                         const py::array& grad, const py::object& weight, int64_t ignore_index,
                         double label_smoothing, const std::string& reduction, double weight_sum,
                         bool log_input) {
  const char* op = "cross_entropy_backward";
  py::array w;
  const int red = check_ce(x, target, weight, label_smoothing, reduction, op, &w);
  if (!lse.is_none()) {
    if (!py::isinstance<py::array>(lse))
      throw py::type_error(std::string(op) + ": lse must be a NumPy array or None");
    const py::array l = py::reinterpret_borrow<py::array>(lse);
    require_float(l, op, "lse");
    require_same_dtype(x, l, op);
    require_contiguous(l, op, "lse");
    require_shape(l, ce_positions(x), op, "lse");
  }
  require_float(grad, op, "grad");
  require_same_dtype(x, grad, op);
  require_contiguous(grad, op, "grad");
  if (red == 0)
    require_shape(grad, ce_positions(x), op, "grad");
  else
    EMBER_CHECK(grad.size() == 1, op, ": grad of a reduced loss must have one element, got shape ",
                shape_str(shape_of(grad)));
  const bool hw = !weight.is_none();
  return is_f32(x) ? ce_backward_t<float>(x, lse, target, grad, w, hw, ignore_index,
                                          label_smoothing, red, weight_sum, log_input)
                   : ce_backward_t<double>(x, lse, target, grad, w, hw, ignore_index,
                                           label_smoothing, red, weight_sum, log_input);
}

}  // namespace

void bind_softmax(py::module_& m) {
  m.def("cross_entropy_forward", &ce_forward_py, py::arg("x"), py::arg("target"),
        py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean",
        py::arg("log_input") = false, py::arg("keep_log_softmax") = false,
        "Fused log_softmax + nll of logits x (N, C) or (N, C, d1, ...) float and class indices "
        "target (N,) / (N, d1, ...) int64 (weight (C,) or None; label smoothing as PyTorch) -> "
        "(loss: target's shape for 'none' else 0-d, lse (target's shape) for backward, "
        "weight_sum: the 'mean' denominator, log_softmax(x) along C when keep_log_softmax else "
        "None: written in the same pass; backward takes it as x with lse None). log_input: x "
        "already holds log-probabilities (nll_loss; lse is 0). A target outside [0, C) other "
        "than ignore_index raises ValueError.");
  m.def("cross_entropy_backward", &ce_backward_py, py::arg("x"), py::arg("lse"), py::arg("target"),
        py::arg("grad"), py::arg("weight") = py::none(), py::arg("ignore_index") = -100,
        py::arg("label_smoothing") = 0.0, py::arg("reduction") = "mean",
        py::arg("weight_sum") = 1.0, py::arg("log_input") = false,
        "Gradient wrt x of cross_entropy_forward from its lse and weight_sum (lse None: x is "
        "forward's log_softmax output); grad has target's shape for 'none', one element "
        "otherwise -> dx of x's shape (ignored positions 0).");
  m.def("softmax_forward", &softmax_forward_py, py::arg("x"), py::arg("dim"),
        py::arg("log") = false,
        "softmax (log=False) or log_softmax (log=True) of a C-contiguous float32/float64 array "
        "along dim (negative counts from the end); returns a new array of x's shape and dtype.");
  m.def("softmax_backward", &softmax_backward_py, py::arg("y"), py::arg("dy"), py::arg("dim"),
        py::arg("log") = false,
        "Gradient wrt the input of softmax (log=False: dx = y*(dy - sum(dy*y))) or log_softmax "
        "(log=True: dx = dy - exp(y)*sum(dy)) from the forward OUTPUT y; returns a new dx.");
}

}  // namespace ember
