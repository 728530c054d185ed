// Bindings for csrc/ops/softmax.cpp: softmax / log_softmax forward and backward along any dim.
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

}  // namespace

void bind_softmax(py::module_& m) {
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
