// Bindings for csrc/ops/activation.cpp: one forward and one backward entry dispatching on name.
//
//   activation_forward(name, x, alpha=0.0, beta=1.0, threshold=20.0, approximate="none",
//                      out=None) -> y
//   activation_backward(name, dy, saved, alpha=0.0, beta=1.0, threshold=20.0,
//                       approximate="none") -> dx   (dy: saved's shape, or one value for all)
//   activation(x, act, alpha, beta, out) -> y, activation_grad(dy, saved, act, alpha, beta) -> dx
//     the same, every argument positional, the activation by its index in activation_names
//
// name: relu | leaky_relu (alpha = negative_slope) | elu (alpha) | gelu (approximate "none" |
// "tanh") | sigmoid | tanh | softplus (beta, threshold) | silu | mish | hardswish | hardtanh (alpha
// = min_val, beta = max_val) | hardsigmoid | logsigmoid, and the unary maths exp | expm1 | log |
// log1p | sqrt | rsqrt | reciprocal | abs | neg | square | clamp (alpha = min, beta = max, -inf /
// inf when absent) | sin | cos | log2 | log10 | exp2 | sinh | cosh | atanh | atan | asin |
// acos. `saved` is the forward OUTPUT y for sigmoid, tanh, expm1, sqrt, rsqrt, reciprocal and
// exp2, the forward INPUT x for every other one (exp and neg: no backward).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "bind_util.h"

namespace ember {

// csrc/ops/activation.cpp (instantiated there for float and double).
template <typename T>
void relu_forward(T* y, const T* x, int64_t n);
template <typename T>
void relu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar);
template <typename T>
void leaky_relu_forward(T* y, const T* x, int64_t n, T slope);
template <typename T>
void leaky_relu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, T slope);
template <typename T>
void elu_forward(T* y, const T* x, int64_t n, T alpha, T scale, T input_scale);
template <typename T>
void elu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, T alpha, T scale,
                  T input_scale);
template <typename T>
void gelu_forward(T* y, const T* x, int64_t n, bool approximate);
template <typename T>
void gelu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, bool approximate);
template <typename T>
void sigmoid_forward(T* y, const T* x, int64_t n);
template <typename T>
void sigmoid_backward(T* dx, const T* dy, const T* y, int64_t n, bool dy_scalar);
template <typename T>
void tanh_forward(T* y, const T* x, int64_t n);
template <typename T>
void tanh_backward(T* dx, const T* dy, const T* y, int64_t n, bool dy_scalar);
template <typename T>
void softplus_forward(T* y, const T* x, int64_t n, T beta, T threshold);
template <typename T>
void softplus_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, T beta,
                       T threshold);
template <typename T>
void silu_forward(T* y, const T* x, int64_t n);
template <typename T>
void silu_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar);
template <typename T>
void mish_forward(T* y, const T* x, int64_t n);
template <typename T>
void mish_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar);
template <typename T>
void hardswish_forward(T* y, const T* x, int64_t n);
template <typename T>
void hardswish_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar);
template <typename T>
void hardtanh_forward(T* y, const T* x, int64_t n, T lo, T hi);
template <typename T>
void hardtanh_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar, T lo, T hi);
template <typename T>
void hardsigmoid_forward(T* y, const T* x, int64_t n);
template <typename T>
void hardsigmoid_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar);
template <typename T>
void logsigmoid_forward(T* y, const T* x, int64_t n);
template <typename T>
void logsigmoid_backward(T* dx, const T* dy, const T* x, int64_t n, bool dy_scalar);
template <typename T>
void prelu_forward(T* y, const T* x, const T* w, int64_t outer, int64_t C, int64_t inner);
template <typename T>
void prelu_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, int64_t outer, int64_t C,
                    int64_t inner);
template <typename T>
void glu_forward(T* y, const T* x, int64_t outer, int64_t h);
template <typename T>
void glu_backward(T* dx, const T* dy, const T* x, int64_t outer, int64_t h);
template <typename T>
void vecmath_apply(T* y, const T* x, int64_t n, int which, int isa);
bool vecmath_isa_supported(int isa);
template <typename T>
void unary_forward(T* y, const T* x, int64_t n, int op, T lo, T hi);
template <typename T>
void unary_backward(T* dx, const T* dy, const T* s, int64_t n, bool dy_scalar, int op, T lo, T hi);

namespace {

enum class Act {
  relu,
  leaky_relu,
  elu,
  gelu,
  sigmoid,
  tanh,
  softplus,
  silu,
  mish,
  hardswish,
  hardtanh,
  hardsigmoid,
  logsigmoid,
  // the unary maths, in unary_forward's op-id order (csrc/ops/activation.cpp)
  exp,
  expm1,
  log,
  log1p,
  sqrt,
  rsqrt,
  reciprocal,
  abs,
  neg,
  square,
  clamp,
  sin,
  cos,
  log2,
  log10,
  exp2,
  sinh,
  cosh,
  atanh,
  atan,
  asin,
  acos,
  cube,
  inv_square,
  sign
};
constexpr const char* kActNames[] = {
    "relu",  "leaky_relu", "elu",      "gelu",        "sigmoid",    "tanh", "softplus", "silu",
    "mish",  "hardswish",  "hardtanh", "hardsigmoid", "logsigmoid", "exp",  "expm1",    "log",
    "log1p", "sqrt",       "rsqrt",    "reciprocal",  "abs",        "neg",  "square",   "clamp",
    "sin",   "cos",        "log2",     "log10",       "exp2",       "sinh", "cosh",     "atanh",
    "atan",  "asin",       "acos",     "cube",        "inv_square", "sign"};
constexpr int kNumActs = int(sizeof(kActNames) / sizeof(kActNames[0]));
static_assert(kNumActs == int(Act::sign) + 1, "kActNames must list every Act");

// The unary maths' id for unary_forward / unary_backward, -1 for the activations.
int unary_id(Act act) { return act >= Act::exp ? int(act) - int(Act::exp) : -1; }

Act parse_act(const std::string& name, const char* op) {
  for (int i = 0; i < kNumActs; ++i)
    if (name == kActNames[i]) return Act(i);
  std::string all;
  for (int i = 0; i < kNumActs; ++i) all += std::string(i ? ", " : "") + kActNames[i];
  EMBER_CHECK(false, op, ": unknown activation '", name, "' (expected one of ", all, ")");
  return Act::relu;
}

bool parse_approximate(const std::string& a, const char* op) {
  EMBER_CHECK(a == "none" || a == "tanh", op, ": approximate must be 'none' or 'tanh', got '", a,
              "'");
  return a == "tanh";
}

struct Params {
  double alpha, beta, threshold;
  bool approximate;
};

void check_params(Act act, const Params& p, const char* op) {
  EMBER_CHECK(act != Act::hardtanh || p.alpha <= p.beta, op,
              ": hardtanh needs min_val (alpha) <= max_val (beta), got ", p.alpha, " > ", p.beta);
}

template <typename T>
void run_forward(Act act, T* y, const T* x, int64_t n, const Params& p) {
  py::gil_scoped_release release;
  switch (act) {
    case Act::relu:
      relu_forward<T>(y, x, n);
      break;
    case Act::leaky_relu:
      leaky_relu_forward<T>(y, x, n, T(p.alpha));
      break;
    case Act::elu:
      elu_forward<T>(y, x, n, T(p.alpha), T(1), T(1));
      break;
    case Act::gelu:
      gelu_forward<T>(y, x, n, p.approximate);
      break;
    case Act::sigmoid:
      sigmoid_forward<T>(y, x, n);
      break;
    case Act::tanh:
      tanh_forward<T>(y, x, n);
      break;
    case Act::softplus:
      softplus_forward<T>(y, x, n, T(p.beta), T(p.threshold));
      break;
    case Act::silu:
      silu_forward<T>(y, x, n);
      break;
    case Act::mish:
      mish_forward<T>(y, x, n);
      break;
    case Act::hardswish:
      hardswish_forward<T>(y, x, n);
      break;
    case Act::hardtanh:
      hardtanh_forward<T>(y, x, n, T(p.alpha), T(p.beta));
      break;
    case Act::hardsigmoid:
      hardsigmoid_forward<T>(y, x, n);
      break;
    case Act::logsigmoid:
      logsigmoid_forward<T>(y, x, n);
      break;
    default:  // the unary maths; clamp's lo, hi are alpha, beta
      unary_forward<T>(y, x, n, unary_id(act), T(p.alpha), T(p.beta));
  }
}

template <typename T>
void run_backward(Act act, T* dx, const T* dy, const T* s, int64_t n, bool dy_scalar,
                  const Params& p) {
  py::gil_scoped_release release;
  switch (act) {
    case Act::relu:
      relu_backward<T>(dx, dy, s, n, dy_scalar);
      break;
    case Act::leaky_relu:
      leaky_relu_backward<T>(dx, dy, s, n, dy_scalar, T(p.alpha));
      break;
    case Act::elu:
      elu_backward<T>(dx, dy, s, n, dy_scalar, T(p.alpha), T(1), T(1));
      break;
    case Act::gelu:
      gelu_backward<T>(dx, dy, s, n, dy_scalar, p.approximate);
      break;
    case Act::sigmoid:
      sigmoid_backward<T>(dx, dy, s, n, dy_scalar);
      break;
    case Act::tanh:
      tanh_backward<T>(dx, dy, s, n, dy_scalar);
      break;
    case Act::softplus:
      softplus_backward<T>(dx, dy, s, n, dy_scalar, T(p.beta), T(p.threshold));
      break;
    case Act::silu:
      silu_backward<T>(dx, dy, s, n, dy_scalar);
      break;
    case Act::mish:
      mish_backward<T>(dx, dy, s, n, dy_scalar);
      break;
    case Act::hardswish:
      hardswish_backward<T>(dx, dy, s, n, dy_scalar);
      break;
    case Act::hardtanh:
      hardtanh_backward<T>(dx, dy, s, n, dy_scalar, T(p.alpha), T(p.beta));
      break;
    case Act::hardsigmoid:
      hardsigmoid_backward<T>(dx, dy, s, n, dy_scalar);
      break;
    case Act::logsigmoid:
      logsigmoid_backward<T>(dx, dy, s, n, dy_scalar);
      break;
    default:
      unary_backward<T>(dx, dy, s, n, dy_scalar, unary_id(act), T(p.alpha), T(p.beta));
  }
}

// The activation with index `id` in kActNames (activation_names in Python).
Act act_of(int id, const char* op) {
  EMBER_CHECK(id >= 0 && id < kNumActs, op, ": activation index ", id, " out of range [0, ",
              kNumActs, ")");
  return Act(id);
}

// A fresh C-contiguous array of x's dtype and shape, straight from NumPy's C API with x's own
// shape pointer: empty_like_dtype's two copies of the shape into std::vectors (and shape_of's for
// the size) were a measurable part of a 32x32 call. NumPy's MemoryError becomes out_of_memory.
py::array fresh_like(const py::array& x) {
  auto& api = py::detail::npy_api::get();
  PyObject* descr = py::detail::array_proxy(x.ptr())->descr;
  Py_INCREF(descr);  // PyArray_NewFromDescr steals it
  PyObject* r = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, static_cast<int>(x.ndim()),
                                          x.shape(), nullptr, nullptr, 0, nullptr);
  if (!r) {
    py::error_already_set e;
    if (e.matches(PyExc_MemoryError)) throw out_of_memory(std::string(e.what()));
    throw e;
  }
  return py::reinterpret_steal<py::array>(r);
}

// Whether x's elements fill one block of memory in some order (a transpose or permutation of a
// C-contiguous array: its strides, those of the dims of size > 1 sorted, are C strides). A
// pointwise map then runs over the memory as it lies, into a y of x's strides (torch's layout
// for it), with no copy either way: a transposed 1000x1000 sigmoid took 2.7x torch's time.
bool dense_permuted(const py::array& x) {
  std::vector<std::pair<py::ssize_t, py::ssize_t>> d;  // (stride, size)
  for (py::ssize_t i = 0; i < x.ndim(); ++i)
    if (x.shape(i) > 1) d.push_back({x.strides(i), x.shape(i)});
  std::sort(d.begin(), d.end());
  py::ssize_t want = x.itemsize();
  for (const auto& [stride, size] : d) {
    if (stride != want) return false;
    want *= size;
  }
  return true;
}

// A fresh array of x's dtype, shape and strides (x dense_permuted: they fit its size).
py::array fresh_strided_like(const py::array& x) {
  auto& api = py::detail::npy_api::get();
  PyObject* descr = py::detail::array_proxy(x.ptr())->descr;
  Py_INCREF(descr);  // PyArray_NewFromDescr steals it
  PyObject* r = api.PyArray_NewFromDescr_(api.PyArray_Type_, descr, static_cast<int>(x.ndim()),
                                          x.shape(), x.strides(), nullptr, 0, nullptr);
  if (!r) {
    py::error_already_set e;
    if (e.matches(PyExc_MemoryError)) throw out_of_memory(std::string(e.what()));
    throw e;
  }
  return py::reinterpret_steal<py::array>(r);
}

py::array forward_impl(Act act, const py::array& x, const Params& p, const py::object& out_obj,
                       const char* op) {
  check_params(act, p, op);
  require_float(x, op, "x");
  // (a fresh y only: out and backward's arrays stay C-contiguous)
  const bool permuted = out_obj.is_none() && !(x.flags() & py::array::c_style) && dense_permuted(x);
  if (!permuted) require_contiguous(x, op, "x");
  const int64_t n = x.size();  // an existing array's size: NumPy keeps it within intp
  py::array y;
  if (out_obj.is_none()) {
    y = permuted ? fresh_strided_like(x) : fresh_like(x);
  } else {
    if (!py::isinstance<py::array>(out_obj))
      throw py::type_error(std::string(op) + ": out must be a numpy array");
    y = py::reinterpret_borrow<py::array>(out_obj);
    require_same_dtype(x, y, op);
    require_contiguous(y, op, "out");
    require_writeable(y, op, "out");
    require_shape(y, shape_of(x), op, "out");
    require_no_overlap(y, x, op, "out", "x", true);
  }
  if (is_f32(x))
    run_forward<float>(act, ptr<float>(y), cptr<float>(x), n, p);
  else
    run_forward<double>(act, ptr<double>(y), cptr<double>(x), n, p);
  return y;
}

py::array forward_py(const std::string& name, const py::array& x, double alpha, double beta,
                     double threshold, const std::string& approximate, const py::object& out_obj) {
  const char* op = "activation_forward";
  const Act act = parse_act(name, op);
  return forward_impl(act, x, Params{alpha, beta, threshold, parse_approximate(approximate, op)},
                      out_obj, op);
}

// activation_forward's small-call entry: every argument positional and the activation by index,
// without gelu's and softplus's options. pybind11's keyword defaults and two string arguments
// were ~0.5 us of a ~1 us call on a small array (the hot path of ember.exp, relu, ...).
py::array forward_id_py(const py::array& x, int id, double alpha, double beta,
                        const py::object& out_obj) {
  const char* op = "activation";
  return forward_impl(act_of(id, op), x, Params{alpha, beta, 20.0, false}, out_obj, op);
}

// A backward's dy beside the array it differentiates at (saved: the forward's input or output):
// both C-contiguous floats of one dtype, dy of saved's shape or one value (a full sum's gradient,
// not filled in: true, the kernel reads that value for every element).
bool check_grad_args(const py::array& dy, const py::array& saved, const char* op,
                     const char* saved_name) {
  require_float(dy, op, "dy");
  require_float(saved, op, saved_name);
  require_same_dtype(dy, saved, op);
  require_contiguous(dy, op, "dy");
  require_contiguous(saved, op, saved_name);
  const bool dy_scalar = dy.size() == 1 && saved.size() > 1;
  if (!dy_scalar) require_shape(saved, shape_of(dy), op, saved_name);
  return dy_scalar;
}

py::array backward_impl(Act act, const py::array& dy, const py::array& saved, const Params& p,
                        const char* op) {
  EMBER_CHECK(act != Act::exp && act != Act::neg, op, ": '", kActNames[int(act)],
              "' has no backward kernel (its gradient is dy * y / -dy: plain arithmetic)");
  check_params(act, p, op);
  const int64_t n = saved.size();  // (as forward_impl)
  const bool dy_scalar = check_grad_args(dy, saved, op, "saved");
  py::array dx = fresh_like(saved);
  if (is_f32(dy))
    run_backward<float>(act, ptr<float>(dx), cptr<float>(dy), cptr<float>(saved), n, dy_scalar, p);
  else
    run_backward<double>(act, ptr<double>(dx), cptr<double>(dy), cptr<double>(saved), n, dy_scalar,
                         p);
  return dx;
}

py::array backward_py(const std::string& name, const py::array& dy, const py::array& saved,
                      double alpha, double beta, double threshold, const std::string& approximate) {
  const char* op = "activation_backward";
  const Act act = parse_act(name, op);
  return backward_impl(act, dy, saved,
                       Params{alpha, beta, threshold, parse_approximate(approximate, op)}, op);
}

// activation_backward's small-call entry, as forward_id_py.
py::array backward_id_py(const py::array& dy, const py::array& saved, int id, double alpha,
                         double beta) {
  const char* op = "activation_grad";
  return backward_impl(act_of(id, op), dy, saved, Params{alpha, beta, 20.0, false}, op);
}

// elu with PyTorch's three coefficients (selu, celu: nn/functional.py): y = x > 0 ? x * scale :
// expm1(x * input_scale) * alpha * scale, and its dx from dy and the input x (dy of x's shape or
// one value, as activation_backward's).
py::array elu_py(const py::array& x, double alpha, double scale, double input_scale) {
  const char* op = "elu";
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  py::array y = fresh_like(x);
  const int64_t n = x.size();
  const bool f32 = is_f32(x);  // (before the release: dtype() needs the GIL)
  py::gil_scoped_release release;
  if (f32)
    elu_forward<float>(ptr<float>(y), cptr<float>(x), n, float(alpha), float(scale),
                       float(input_scale));
  else
    elu_forward<double>(ptr<double>(y), cptr<double>(x), n, alpha, scale, input_scale);
  return y;
}

py::array elu_backward_py(const py::array& dy, const py::array& x, double alpha, double scale,
                          double input_scale) {
  const char* op = "elu_backward";
  const int64_t n = x.size();
  const bool dy_scalar = check_grad_args(dy, x, op, "x");
  py::array dx = fresh_like(x);
  const bool f32 = is_f32(x);
  py::gil_scoped_release release;
  if (f32)
    elu_backward<float>(ptr<float>(dx), cptr<float>(dy), cptr<float>(x), n, dy_scalar, float(alpha),
                        float(scale), float(input_scale));
  else
    elu_backward<double>(ptr<double>(dx), cptr<double>(dy), cptr<double>(x), n, dy_scalar, alpha,
                         scale, input_scale);
  return dx;
}

// x's (outer, C, inner) view for prelu: C = w's size, the channels (dim 1), or 1 for one slope.
struct PreluDims {
  int64_t outer, C, inner;
};
PreluDims prelu_dims(const py::array& x, const py::array& w, const char* op) {
  require_float(x, op, "x");
  require_same_dtype(x, w, op);
  require_contiguous(x, op, "x");
  require_contiguous(w, op, "weight");
  const auto shape = shape_of(x);
  const int64_t n = x.size(), C = w.size();
  if (C == 1) return {1, 1, n};
  EMBER_CHECK(shape.size() >= 2 && shape[1] == C, op, ": weight has ", C,
              " entries, expected 1 or the input's channels (dim 1) of shape ", shape_str(shape));
  if (n == 0) return {0, C, 1};  // (no rows at all, whatever the zero dim: dw all zeros)
  return {shape[0], C, n / (shape[0] * C)};
}

py::array prelu_py(const py::array& x, const py::array& w) {
  const char* op = "prelu";
  const PreluDims d = prelu_dims(x, w, op);
  py::array y = fresh_like(x);
  const bool f32 = is_f32(x);  // (before the release: dtype() needs the GIL)
  py::gil_scoped_release release;
  if (f32)
    prelu_forward<float>(ptr<float>(y), cptr<float>(x), cptr<float>(w), d.outer, d.C, d.inner);
  else
    prelu_forward<double>(ptr<double>(y), cptr<double>(x), cptr<double>(w), d.outer, d.C, d.inner);
  return y;
}

py::tuple prelu_backward_py(const py::array& dy, const py::array& x, const py::array& w) {
  const char* op = "prelu_backward";
  const PreluDims d = prelu_dims(x, w, op);
  require_same_dtype(dy, x, op);
  require_contiguous(dy, op, "dy");
  require_shape(dy, shape_of(x), op, "dy");
  py::array dx = fresh_like(x), dw = fresh_like(w);
  const bool f32 = is_f32(x);
  {
    py::gil_scoped_release release;
    if (f32)
      prelu_backward<float>(ptr<float>(dx), ptr<float>(dw), cptr<float>(dy), cptr<float>(x),
                            cptr<float>(w), d.outer, d.C, d.inner);
    else
      prelu_backward<double>(ptr<double>(dx), ptr<double>(dw), cptr<double>(dy), cptr<double>(x),
                             cptr<double>(w), d.outer, d.C, d.inner);
  }
  return py::make_tuple(dx, dw);
}

// x's (outer, 2 h) view for glu along dim: h = half the dim's size times the size after it.
std::pair<int64_t, int64_t> glu_dims(const py::array& x, int64_t dim, const char* op) {
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  const auto shape = shape_of(x);
  const int64_t nd = int64_t(shape.size());
  EMBER_CHECK(dim >= 0 && dim < nd && shape[size_t(dim)] % 2 == 0, op, ": dim ", dim,
              " must be a dim of even size of shape ", shape_str(shape));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < dim; ++i) outer *= shape[size_t(i)];
  for (int64_t i = dim + 1; i < nd; ++i) inner *= shape[size_t(i)];
  return {outer, shape[size_t(dim)] / 2 * inner};
}

py::array glu_py(const py::array& x, int64_t dim) {
  const char* op = "glu";
  const auto [outer, h] = glu_dims(x, dim, op);
  auto shape = shape_of(x);
  shape[size_t(dim)] /= 2;
  py::array y = empty_like_dtype(x, shape);
  const bool f32 = is_f32(x);  // (before the release: dtype() needs the GIL)
  py::gil_scoped_release release;
  if (f32)
    glu_forward<float>(ptr<float>(y), cptr<float>(x), outer, h);
  else
    glu_forward<double>(ptr<double>(y), cptr<double>(x), outer, h);
  return y;
}

py::array glu_backward_py(const py::array& dy, const py::array& x, int64_t dim) {
  const char* op = "glu_backward";
  const auto [outer, h] = glu_dims(x, dim, op);
  require_same_dtype(dy, x, op);
  require_contiguous(dy, op, "dy");
  EMBER_CHECK(dy.size() == outer * h, op, ": dy has ", dy.size(), " elements, expected ",
              outer * h);
  py::array dx = fresh_like(x);
  const bool f32 = is_f32(x);  // (before the release: dtype() needs the GIL)
  py::gil_scoped_release release;
  if (f32)
    glu_backward<float>(ptr<float>(dx), cptr<float>(dy), cptr<float>(x), outer, h);
  else
    glu_backward<double>(ptr<double>(dx), cptr<double>(dy), cptr<double>(x), outer, h);
  return dx;
}

py::array vecmath_py(const std::string& name, const py::array& x, int isa) {
  const char* op = "_vecmath";
  static const char* names[] = {"exp",       "expm1",     "log",        "log1p",       "tanh",
                                "sigmoid",   "erf",       "erfc",       "log2",        "log10",
                                "asin",      "acos",      "atan",       "gelu",        "gelu_grad",
                                "sin",       "cos",       "erfinv",     "exp2",        "lgamma",
                                "exp_split", "log_split", "log2_split", "log10_split", "atanh"};
  constexpr int kNames = int(sizeof(names) / sizeof(names[0]));
  int which = -1;
  for (int i = 0; i < kNames; ++i)
    if (name == names[i]) which = i;
  EMBER_CHECK(which >= 0, op, ": unknown function '", name, "'");
  EMBER_CHECK(vecmath_isa_supported(isa), op, ": isa ", isa, " is not available on this CPU/build");
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  const int64_t n = numel_checked(shape_of(x), op);
  py::array y = empty_like_dtype(x, shape_of(x));
  if (is_f32(x)) {
    float* yp = ptr<float>(y);
    const float* xp = cptr<float>(x);
    py::gil_scoped_release release;
    vecmath_apply<float>(yp, xp, n, which, isa);
  } else {
    double* yp = ptr<double>(y);
    const double* xp = cptr<double>(x);
    py::gil_scoped_release release;
    vecmath_apply<double>(yp, xp, n, which, isa);
  }
  return y;
}

}  // namespace

// bind_fast.cpp's Tensor methods: the parameterless activation `id` (as forward_id_py with alpha
// 0, beta 1) of n elements of x into y, float32 or float64, both C-contiguous; the caller
// checked them and holds the GIL (released here around the kernel).
void activation_plain(int id, bool f32, void* y, const void* x, int64_t n) {
  const Params p{0.0, 1.0, 20.0, false};
  if (f32)
    run_forward<float>(Act(id), static_cast<float*>(y), static_cast<const float*>(x), n, p);
  else
    run_forward<double>(Act(id), static_cast<double*>(y), static_cast<const double*>(x), n, p);
}

void bind_activation(py::module_& m) {
  m.def("activation_forward", &forward_py, py::arg("name"), py::arg("x"), py::arg("alpha") = 0.0,
        py::arg("beta") = 1.0, py::arg("threshold") = 20.0, py::arg("approximate") = "none",
        py::arg("out") = py::none(),
        "y = act(x) elementwise for a C-contiguous float32/float64 x. name: relu, leaky_relu "
        "(alpha = negative_slope), elu (alpha), gelu (approximate 'none'|'tanh'), sigmoid, tanh, "
        "softplus (beta, threshold), silu, mish, hardswish, hardtanh (alpha = min_val, beta = "
        "max_val), hardsigmoid, logsigmoid; exp, expm1, log, log1p, sqrt, rsqrt, reciprocal, abs, "
        "neg, square, clamp (alpha = min, beta = max), sin, cos. out: optional array of x's "
        "shape/dtype to write into "
        "(may be x itself). Returns y.");
  m.def("activation_backward", &backward_py, py::arg("name"), py::arg("dy"), py::arg("saved"),
        py::arg("alpha") = 0.0, py::arg("beta") = 1.0, py::arg("threshold") = 20.0,
        py::arg("approximate") = "none",
        "dx for act; saved is the forward OUTPUT y for sigmoid, tanh, expm1, sqrt, rsqrt, exp2 and "
        "reciprocal, the forward INPUT x for every other one (exp and neg have none). dy has "
        "saved's shape, or holds one value that every element takes (a "
        "full sum's gradient, not filled in). Returns a new dx of saved's shape.");
  py::tuple names(kNumActs);
  for (int i = 0; i < kNumActs; ++i) names[i] = py::str(kActNames[i]);
  m.attr("activation_names") = names;
  m.def("activation", &forward_id_py, py::arg("x"), py::arg("act"), py::arg("alpha"),
        py::arg("beta"), py::arg("out"),
        "activation_forward(activation_names[act], x, alpha, beta, out=out) with every argument "
        "given positionally (out None for a fresh y): the cheap call for small arrays. gelu takes "
        "its exact form, softplus threshold 20.");
  m.def("activation_grad", &backward_id_py, py::arg("dy"), py::arg("saved"), py::arg("act"),
        py::arg("alpha"), py::arg("beta"),
        "activation_backward(activation_names[act], dy, saved, alpha, beta), every argument "
        "positional (gelu exact, softplus threshold 20).");
  m.def("elu", &elu_py, py::arg("x"), py::arg("alpha"), py::arg("scale"), py::arg("input_scale"),
        "PyTorch's elu kernel for a C-contiguous float32/float64 x: x > 0 ? x * scale : "
        "expm1(x * input_scale) * (alpha * scale), the coefficients rounded to x's dtype (selu, "
        "celu).");
  m.def("elu_backward", &elu_backward_py, py::arg("dy"), py::arg("x"), py::arg("alpha"),
        py::arg("scale"), py::arg("input_scale"),
        "dx of elu from the input x: x > 0 ? dy * scale : dy * input_scale * (alpha * scale) * "
        "exp(x * input_scale); dy of x's shape or one value.");
  m.def("prelu", &prelu_py, py::arg("x"), py::arg("weight"),
        "y = x > 0 ? x : weight * x for a C-contiguous x, weight one slope or one per channel "
        "(dim 1) of x's dtype.");
  m.def("prelu_backward", &prelu_backward_py, py::arg("dy"), py::arg("x"), py::arg("weight"),
        "(dx, dweight) of prelu: dx = x > 0 ? dy : weight * dy, dweight the sum of dy * x where "
        "x <= 0 per slope.");
  m.def("glu", &glu_py, py::arg("x"), py::arg("dim"),
        "a * sigmoid(b), a and b the halves of a C-contiguous x along dim (>= 0, even size).");
  m.def("glu_backward", &glu_backward_py, py::arg("dy"), py::arg("x"), py::arg("dim"),
        "dx of glu: dy * s for a, dy * a * s * (1 - s) for b, s = sigmoid(b).");
  m.def("_vecmath", &vecmath_py, py::arg("name"), py::arg("x"), py::arg("isa") = 0,
        "Test hook: csrc/vecmath.h's exp|expm1|log|log1p|tanh|sigmoid|erf|erfc|log2|log10|asin|"
        "acos|atan|gelu|gelu_grad|sin|cos|erfinv|exp2|lgamma (float32 only)|exp_split|log_split|"
        "log2_split|log10_split (float64 only: the two-pass forms of the unary kernels) "
        "elementwise, serially, "
        "in the SIMD clone for "
        "isa: 0 the one the CPU dispatch "
        "picks, 4 x86-64-v4 (AVX-512), 3 x86-64-v3 (AVX2 + FMA), 1 the baseline.");
  m.def(
      "_vecmath_isas",
      [] {
        py::list r;
        for (int isa : {4, 3, 1})
          if (vecmath_isa_supported(isa)) r.append(isa);
        return r;
      },
      "Test hook: the clones _vecmath can run on this CPU (empty where there is one build).");
}

}  // namespace ember
