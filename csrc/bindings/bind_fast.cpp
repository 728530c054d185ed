// Tensor's hottest methods in C (python/ember/tensor.py installs them):
//
//   fast_methods(Tensor, members, tensor_globals, size1_strided, binary_auto, fallbacks)
//     -> {name: method descriptor}
//
// + - * / of two plain float tensors (and a tensor with a Python number, either side), and the
// parameterless unary kernels (exp, log, sqrt, tanh, sigmoid, relu, neg), outside autograd:
// the Python method's frame, its attribute tests, pybind11's argument dispatch and the result
// Tensor built in Python were ~0.5 us of a ~0.95 us 32x32 a + b (NumPy's a + b ~0.5 us). Each
// method runs the tests of the Python fast path it replaces (tensor.py's _binary_method,
// _by_number, _unary_method, __neg__), the same kernel on the same arrays (so the same bits),
// and builds the result as tensor.py's _plain does; anything else -- autograd, other dtypes,
// strides, broadcasting the kernels do not take, an inference_mode block open -- calls the
// Python fallback given for that method, which is the previous code path itself.
#include <pybind11/pybind11.h>
#include <structmember.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

#include "bind_util.h"

namespace ember {

// csrc/ops/elementwise.cpp; bind_activation.cpp's parameterless activation by index.
template <typename T>
void binary_forward(T* y, const T* a, const T* b, int64_t rows, int64_t n, int op, int form,
                    bool flip);
void activation_plain(int id, bool f32, void* y, const void* x, int64_t n);

namespace {

using py::detail::array_proxy;
using py::detail::npy_api;
using py::detail::PyArray_Proxy;

// The methods, in the order of kNames: the binary ones take (self, other).
enum Method {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kRadd,
  kRmul,
  kExp,
  kLog,
  kSqrt,
  kTanh,
  kSigmoid,
  kRelu,
  kNeg,
  kNegMethod,
  kCount
};
const char* const kNames[kCount] = {"__add__",  "__sub__", "__mul__", "__truediv__", "__radd__",
                                    "__rmul__", "exp",     "log",     "sqrt",        "tanh",
                                    "sigmoid",  "relu",    "__neg__", "neg"};

struct State {
  PyTypeObject* tensor = nullptr;
  Py_ssize_t off[5] = {};             // the slots _data, _grad, _requires_grad, _ctx, _idx
  PyObject* globals = nullptr;        // ember.tensor's namespace (its _marking)
  PyObject* marking = nullptr;        // "_marking"
  PyObject* size1_strided = nullptr;  // ops._size1_strided
  PyObject* binary_auto = nullptr;    // _C.binary_auto (rows and columns)
  PyObject* zero = nullptr;           // the int 0 (_idx)
  PyObject* f32 = nullptr;  // NumPy's float32 / float64 dtypes (the ones `d.dtype is _F32` tests)
  PyObject* f64 = nullptr;
  PyObject* fallback[kCount] = {};
  int act[kCount] = {};  // activation index of the unary methods
  long num_acts = 0;     // len(_C.activation_names)
  PyMethodDef defs[kCount] = {};
  std::string docs[kCount];
} S;

inline PyObject*& slot(PyObject* t, int k) {
  return *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(t) + S.off[k]);
}

// tensor.py's _plain(y): a Tensor outside the graph holding y (steals y).
PyObject* plain(PyObject* y) {
  if (!y) return nullptr;
  PyObject* t = S.tensor->tp_alloc(S.tensor, 0);
  if (!t) {
    Py_DECREF(y);
    return nullptr;
  }
  slot(t, 0) = y;
  slot(t, 1) = Py_NewRef(Py_None);
  slot(t, 2) = Py_NewRef(Py_False);
  slot(t, 3) = Py_NewRef(Py_None);
  slot(t, 4) = Py_NewRef(S.zero);
  return t;
}

// An inference_mode block is open or inference tensors exist: results are marked in Python.
bool marking() {
  PyObject* m = PyDict_GetItemWithError(S.globals, S.marking);
  return m != Py_False;  // (missing or an error: the fallback path, which will say so)
}

// t's array when t is outside autograd (_requires_grad False) and holds an ndarray of NumPy's
// own float32/float64 dtype (tensor.py's `d.dtype is _F32 or d.dtype is _F64`), else null.
PyArray_Proxy* float_data(PyObject* t) {
  if (slot(t, 2) != Py_False) return nullptr;  // (requires grad, or the slot unset)
  PyObject* d = slot(t, 0);
  if (!d || !PyObject_TypeCheck(d, npy_api::get().PyArray_Type_)) return nullptr;
  PyArray_Proxy* p = array_proxy(d);
  return p->descr == S.f32 || p->descr == S.f64 ? p : nullptr;
}

inline bool c_contiguous(const PyArray_Proxy* p) {
  return p->flags & npy_api::NPY_ARRAY_C_CONTIGUOUS_;
}

inline int64_t numel(const PyArray_Proxy* p) {
  int64_t n = 1;
  for (int d = 0; d < p->nd; ++d) n *= p->dimensions[d];
  return n;
}

inline bool has_size1(const PyArray_Proxy* p) {
  for (int d = 0; d < p->nd; ++d)
    if (p->dimensions[d] == 1) return true;
  return false;
}

// A fresh C-contiguous array of p's dtype and shape; null (error cleared) when NumPy cannot
// make it: the fallback then raises what the general path raises.
PyObject* fresh_like(const PyArray_Proxy* p) {
  auto& api = npy_api::get();
  Py_INCREF(p->descr);  // (PyArray_NewFromDescr steals it)
  PyObject* y = api.PyArray_NewFromDescr_(api.PyArray_Type_, p->descr, p->nd, p->dimensions,
                                          nullptr, nullptr, 0, nullptr);
  if (!y) PyErr_Clear();
  return y;
}

template <typename T>
void run_binary(PyObject* y, const PyArray_Proxy* a, const void* b, int64_t rows, int64_t n, int op,
                int form, bool flip) {
  T* yp = reinterpret_cast<T*>(array_proxy(y)->data);
  const T* ap = reinterpret_cast<const T*>(a->data);
  const T* bp = static_cast<const T*>(b);
  Py_BEGIN_ALLOW_THREADS binary_forward<T>(yp, ap, bp, rows, n, op, form, flip);
  Py_END_ALLOW_THREADS
}

// Whether the kernels round the Python number s (an exact int or float) to the dtype as NumPy
// does, into *v: ops._kernel_scalar's test (an int through an exact double, a float within
// float32's range for float32).
bool kernel_scalar(PyObject* s, bool f32, double* v) {
  if (PyLong_CheckExact(s)) {
    int overflow = 0;
    const long long i = PyLong_AsLongLongAndOverflow(s, &overflow);
    constexpr long long kExact = 1LL << 53;
    if (overflow || i < -kExact || i > kExact) return false;
    *v = static_cast<double>(i);
    return true;
  }
  *v = PyFloat_AS_DOUBLE(s);
  return !f32 || !std::isfinite(*v) || std::fabs(*v) <= FLT_MAX;
}

// self op s (s op self when flip) as tensor.py's _by_number: into *r when taken.
bool by_number(PyObject* self, PyObject* s, int op, bool flip, PyObject** r) {
  if (Py_TYPE(self) != S.tensor) return false;
  PyArray_Proxy* a = float_data(self);
  if (!a || !c_contiguous(a) || (a->base && has_size1(a))) return false;
  const int64_t size = numel(a);
  const bool f32 = a->descr == S.f32;
  double v;
  if (size < 16 || !kernel_scalar(s, f32, &v) || marking()) return false;
  PyObject* y = fresh_like(a);
  if (!y) return false;
  if (f32) {
    const float c = static_cast<float>(v);
    run_binary<float>(y, a, &c, 1, size, op, 1, flip);
  } else {
    run_binary<double>(y, a, &v, 1, size, op, 1, flip);
  }
  *r = plain(y);
  return true;
}

// ops._size1_strided(d) for a view with a size-1 dim (torch's layout: the Python path's);
// -1 on an error.
int size1_strided(PyObject* d, const PyArray_Proxy* p) {
  if (!p->base || !has_size1(p)) return 0;
  PyObject* r = PyObject_CallOneArg(S.size1_strided, d);
  if (!r) return -1;
  const int t = PyObject_IsTrue(r);
  Py_DECREF(r);
  return t;
}

// self op other for two Tensors, as tensor.py's _binary_method: into *r when taken.
bool tensors(PyObject* self, PyObject* other, int op, PyObject** r) {
  PyArray_Proxy* a = float_data(self);
  PyArray_Proxy* b = a ? float_data(other) : nullptr;
  if (!b || a->descr != b->descr || marking()) return false;
  PyObject *d = slot(self, 0), *e = slot(other, 0);
  int s1 = size1_strided(d, a);
  if (s1 == 0) s1 = size1_strided(e, b);
  if (s1) {
    *r = nullptr;
    return s1 < 0;  // (an error: raised)
  }
  const int64_t na = numel(a), nb = numel(b);
  const bool flip = na < nb;
  const PyArray_Proxy* big = flip ? b : a;
  const PyArray_Proxy* small = flip ? a : b;
  const int64_t size = flip ? nb : na;
  int form = -1;
  if (a->nd == b->nd && std::memcmp(a->dimensions, b->dimensions, a->nd * sizeof(Py_ssize_t)) == 0)
    form = c_contiguous(small) ? 0 : -2;
  else if ((flip ? na : nb) == 1 && small->nd <= big->nd)
    form = 1;
  if (form == -2 || size < 16 || !c_contiguous(big)) return false;
  if (form == -1) {  // a row or a column of the other: _C.binary_auto's own test
    PyObject* args[3] = {d, e, nullptr};
    args[2] = PyLong_FromLong(op);
    if (!args[2]) return true;
    PyObject* y = PyObject_Vectorcall(S.binary_auto, args, 3, nullptr);
    Py_DECREF(args[2]);
    if (y == Py_None) {
      Py_DECREF(y);
      return false;
    }
    *r = plain(y);
    return true;
  }
  PyObject* y = fresh_like(big);
  if (!y) return false;
  if (a->descr == S.f32)
    run_binary<float>(y, big, small->data, 1, size, op, form, flip);
  else
    run_binary<double>(y, big, small->data, 1, size, op, form, flip);
  *r = plain(y);
  return true;
}

PyObject* call_fallback(int k, PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  PyObject* all[2] = {self, nargs > 0 ? args[0] : nullptr};
  if (nargs <= 1) return PyObject_Vectorcall(S.fallback[k], all, 1 + nargs, nullptr);
  PyObject* tuple = PyTuple_New(1 + nargs);  // (too many arguments: the fallback says so)
  if (!tuple) return nullptr;
  PyTuple_SET_ITEM(tuple, 0, Py_NewRef(self));
  for (Py_ssize_t i = 0; i < nargs; ++i) PyTuple_SET_ITEM(tuple, i + 1, Py_NewRef(args[i]));
  PyObject* r = PyObject_Call(S.fallback[k], tuple, nullptr);
  Py_DECREF(tuple);
  return r;
}

template <int K>
PyObject* binary_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs == 1) {
    PyObject* other = args[0];
    PyObject* r = nullptr;
    constexpr bool reflected = K == kRadd || K == kRmul;
    constexpr int op = K == kRadd ? 0 : K == kRmul ? 2 : K;
    if (!reflected && Py_TYPE(other) == S.tensor) {
      if (tensors(self, other, op, &r)) return r;
    } else if (PyFloat_CheckExact(other) || PyLong_CheckExact(other)) {
      if (by_number(self, other, op, reflected, &r)) return r;
    }
  }
  return call_fallback(K, self, args, nargs);
}

template <int K>
PyObject* unary_method(PyObject* self, PyObject*) {
  PyArray_Proxy* x = float_data(self);
  // (__neg__: NumPy negates a 0-d array to a scalar, so 0-d keeps the Python path)
  if (x && c_contiguous(x) && ((K != kNeg && K != kNegMethod) || x->nd > 0) && !marking()) {
    PyObject* y = fresh_like(x);
    if (y) {
      activation_plain(S.act[K], x->descr == S.f32, array_proxy(y)->data, x->data, numel(x));
      return plain(y);
    }
  }
  return PyObject_CallOneArg(S.fallback[K], self);
}

PyCFunction function_of(int k) {
  static const PyCFunction binary[] = {
      reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(binary_method<kAdd>)),
      reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(binary_method<kSub>)),
      reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(binary_method<kMul>)),
      reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(binary_method<kDiv>)),
      reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(binary_method<kRadd>)),
      reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(binary_method<kRmul>))};
  static const PyCFunction unary[] = {
      unary_method<kExp>,     unary_method<kLog>,  unary_method<kSqrt>, unary_method<kTanh>,
      unary_method<kSigmoid>, unary_method<kRelu>, unary_method<kNeg>,  unary_method<kNegMethod>};
  return k < kExp ? binary[k] : unary[k - kExp];
}

// fast_binary(a, b, op) / fast_unary(x, act): the same paths for ember.add / mul / exp / F.relu
// ... (ops.add and kin, ops._kernel_unary try them first): a plain Tensor, or None when they do
// not take the operands (a a Tensor exactly, b a Tensor or a Python int / float; x a Tensor; act
// any parameterless use of the activation kernel, with _kernel_unary's alpha 0 and beta 1).
PyObject* fast_binary(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 3 || !PyLong_CheckExact(args[2])) {
    PyErr_SetString(PyExc_TypeError, "fast_binary(a, b, op): op an int");
    return nullptr;
  }
  const long op = PyLong_AsLong(args[2]);
  if (op < 0 || op > 3) {
    PyErr_Format(PyExc_ValueError, "fast_binary: op must be 0 to 3, got %ld", op);
    return nullptr;
  }
  PyObject *a = args[0], *b = args[1], *r = nullptr;
  if (S.tensor && Py_TYPE(a) == S.tensor) {
    if (Py_TYPE(b) == S.tensor) {
      if (tensors(a, b, static_cast<int>(op), &r)) return r;
    } else if (PyFloat_CheckExact(b) || PyLong_CheckExact(b)) {
      if (by_number(a, b, static_cast<int>(op), false, &r)) return r;
    }
  }
  Py_RETURN_NONE;
}

PyObject* fast_unary(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2 || !PyLong_CheckExact(args[1])) {
    PyErr_SetString(PyExc_TypeError, "fast_unary(x, act): act an int");
    return nullptr;
  }
  const long act = PyLong_AsLong(args[1]);
  if (act < 0 || act >= S.num_acts) {  // (before fast_methods: no kernel taken yet)
    if (S.tensor) {
      PyErr_Format(PyExc_ValueError, "fast_unary: activation index %ld out of range", act);
      return nullptr;
    }
    Py_RETURN_NONE;
  }
  PyObject* x = args[0];
  if (S.tensor && Py_TYPE(x) == S.tensor) {
    PyArray_Proxy* p = float_data(x);
    if (p && c_contiguous(p) && !marking()) {
      PyObject* y = fresh_like(p);
      if (y) {
        activation_plain(static_cast<int>(act), p->descr == S.f32, array_proxy(y)->data, p->data,
                         numel(p));
        return plain(y);
      }
    }
  }
  Py_RETURN_NONE;
}

Py_ssize_t member_offset(PyObject* tensor, const char* name) {
  py::object m = py::reinterpret_borrow<py::object>(tensor).attr("__dict__")[name];
  if (!Py_IS_TYPE(m.ptr(), &PyMemberDescr_Type))
    throw py::type_error(std::string("fast_methods: Tensor.") + name + " is not a slot");
  return reinterpret_cast<PyMemberDescrObject*>(m.ptr())->d_member->offset;
}

py::dict fast_methods_py(const py::type& tensor, const py::dict& globals,
                         const py::object& size1_strided, const py::object& binary_auto,
                         const py::dict& fallbacks, const py::dict& acts) {
  EMBER_CHECK(!S.tensor, "fast_methods: installed already");
  auto& api = npy_api::get();
  const char* slots[5] = {"_data", "_grad", "_requires_grad", "_ctx", "_idx"};
  for (int k = 0; k < 5; ++k) S.off[k] = member_offset(tensor.ptr(), slots[k]);
  S.globals = globals.inc_ref().ptr();
  S.marking = PyUnicode_InternFromString("_marking");
  S.size1_strided = size1_strided.inc_ref().ptr();
  S.binary_auto = binary_auto.inc_ref().ptr();
  S.zero = PyLong_FromLong(0);
  S.num_acts = static_cast<long>(py::len(py::module_::import("ember._C").attr("activation_names")));
  S.f32 = api.PyArray_DescrFromType_(npy_api::NPY_FLOAT_);
  S.f64 = api.PyArray_DescrFromType_(npy_api::NPY_DOUBLE_);
  if (!S.marking || !S.zero || !S.f32 || !S.f64) throw py::error_already_set();
  py::dict out;
  for (int k = 0; k < kCount; ++k) {
    py::object fb = fallbacks[kNames[k]];
    S.fallback[k] = fb.inc_ref().ptr();
    if (k >= kExp) S.act[k] = acts[kNames[k]].cast<int>();
    py::object doc = py::getattr(fb, "__doc__", py::none());
    S.docs[k] = doc.is_none() ? std::string() : doc.cast<std::string>();
    S.defs[k] = {kNames[k], function_of(k), k < kExp ? METH_FASTCALL : METH_NOARGS,
                 S.docs[k].empty() ? nullptr : S.docs[k].c_str()};
    PyObject* descr = PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(tensor.ptr()), &S.defs[k]);
    if (!descr) throw py::error_already_set();
    out[kNames[k]] = py::reinterpret_steal<py::object>(descr);
  }
  S.tensor = reinterpret_cast<PyTypeObject*>(tensor.inc_ref().ptr());
  return out;
}

}  // namespace

void bind_fast(py::module_& m) {
  static PyMethodDef defs[] = {
      {"fast_binary", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_binary)),
       METH_FASTCALL,
       "fast_binary(a, b, op): a op b (op 0 add, 1 sub, 2 mul, 3 div) as Tensor's fast methods "
       "compute it, or None where they would call their fallback."},
      {"fast_unary", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_unary)),
       METH_FASTCALL,
       "fast_unary(x, act): activation(x.data, act, 0.0, 1.0, None) as a plain Tensor when x "
       "is a Tensor outside autograd of a C-contiguous float32/float64 array (Tensor's fast "
       "methods' path), else None."}};
  for (PyMethodDef& d : defs) {
    PyObject* f = PyCFunction_NewEx(&d, nullptr, m.attr("__name__").ptr());
    if (!f) throw py::error_already_set();
    m.attr(d.ml_name) = py::reinterpret_steal<py::object>(f);
  }
  m.def("fast_methods", &fast_methods_py, py::arg("tensor"), py::arg("globals"),
        py::arg("size1_strided"), py::arg("binary_auto"), py::arg("fallbacks"), py::arg("acts"),
        "Tensor's + - * / (and number + / * tensor) and exp, log, sqrt, tanh, sigmoid, relu, "
        "neg as method descriptors whose C bodies run tensor.py's fast paths (the same tests, "
        "kernels and plain result) and call fallbacks[name] for anything else. Once per process.");
}

}  // namespace ember
