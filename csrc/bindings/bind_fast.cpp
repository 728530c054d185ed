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
//
// speed27b: abs, number - tensor, number / tensor, tensor ** 2 / 0.5 / -1 / -0.5, the six
// comparisons and the in-place + - * / (x += y, x.add_(y), ...) the same way: each of these
// spent ~1-2.5 us of a 32x32 call in Python frames and tests (1 - a ~2.8 us, a > 0 ~2.3 us,
// a ** 2 ~1.7 us). The in-place ones write self's array by the kernel only where
// Tensor._inplace's kernel path would (a plain writeable C-contiguous float tensor, no
// inference tensors made, another of its shape and dtype not overlapping it or a Python
// number) and note the write as it does (function.note_write, inline: count_write; one version
// bump); every refusal (graph leaves, expanded or inference tensors, casts) is the fallback's.
//
// speed28: fill_(number) and zero_() the same way (~2.8 us of a 32x32 zero_ in the _inplace
// wrapper, Tensor.fill_ and ops._fill_value; torch ~0.35 us): a plain writeable C-contiguous
// float32/float64/int64 tensor outside autograd, a Python number that needs none of
// _checked_scalar's refusals, written by the fill kernel and noted as the wrapper notes it.
// copy_(src) likewise for a plain src outside autograd that broadcasts to self (~4.7 us of a
// 32x32 copy_, torch ~0.9): a memcpy for the same dtype, shape and C order, else Tensor.copy_'s
// own np.copyto(self, src, casting="unsafe").
#include <pybind11/pybind11.h>
#include <structmember.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bind_util.h"
#include "gemm/gemm.h"

namespace ember {

// csrc/ops/elementwise.cpp; bind_activation.cpp's parameterless activation by index.
template <typename T>
void binary_forward(T* y, const T* a, const T* b, int64_t rows, int64_t n, int op, int form,
                    bool flip);
void activation_plain(int id, bool f32, void* y, const void* x, int64_t n);
// csrc/ops/reduce.cpp
template <typename T>
void fill(T* y, int64_t n, T value);

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
  kAbs,  // (speed27b from here)
  kAbsMethod,
  kRsub,  // number - tensor
  kRdiv,  // number / tensor
  kPow,   // tensor ** number
  kPowMethod,
  kLt,  // comparisons, in NumPy's ufunc names' order below
  kLe,
  kGt,
  kGe,
  kEq,
  kNe,
  kIadd,  // x op= y (the in-place ones: op = K - kIadd, _C.binary's code)
  kIsub,
  kImul,
  kIdiv,
  kAddIn,  // x.add_(y), ... (installed by fast_inplace_methods, after ember/_inplace.py's wraps)
  kSubIn,
  kMulIn,
  kDivIn,
  kFillIn,  // x.fill_(number), x.zero_() (speed28; also made by fast_inplace_methods)
  kZeroIn,
  kCopyIn,
  kCount
};
const char* const kNames[kCount] = {
    "__add__",  "__sub__",      "__mul__",  "__truediv__",  "__radd__", "__rmul__", "exp",
    "log",      "sqrt",         "tanh",     "sigmoid",      "relu",     "__neg__",  "neg",
    "__abs__",  "abs",          "__rsub__", "__rtruediv__", "__pow__",  "pow",      "__lt__",
    "__le__",   "__gt__",       "__ge__",   "__eq__",       "__ne__",   "__iadd__", "__isub__",
    "__imul__", "__itruediv__", "add_",     "sub_",         "mul_",     "div_",     "fill_",
    "zero_",    "copy_"};
const char* const kUfuncs[6] = {"less",          "less_equal", "greater",
                                "greater_equal", "equal",      "not_equal"};
constexpr bool unary(int k) {
  return (k >= kExp && k <= kNegMethod) || k == kAbs || k == kAbsMethod;
}

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
  PyObject* i64 = nullptr;         // NumPy's int64 dtype (fill_ only)
  PyObject* copyto = nullptr;      // numpy.copyto (copy_)
  PyObject* casting_kw = nullptr;  // ("casting",)
  PyObject* unsafe = nullptr;      // "unsafe"
  PyObject* fallback[kCount] = {};
  PyObject* ufunc[6] = {};           // NumPy's comparison ufuncs (kLt ...)
  PyObject* fn_globals = nullptr;    // ember.autograd.function's namespace
  PyObject* swapped = nullptr;       // "_swapped", "_multi_owners", "_written_owners",
  PyObject* multi_owners = nullptr;  // "_graph_writes" (count_write)
  PyObject* written_owners = nullptr;
  PyObject* graph_writes = nullptr;
  PyObject* inference_made = nullptr;  // "_inference_made"
  PyObject* note_write = nullptr;      // function.note_write
  PyObject* grad_state = nullptr;      // function._state (its .enabled: grad mode)
  PyObject* enabled = nullptr;         // "enabled"
  PyObject* apply[4] = {};             // ops.Add / Sub / Mul / Div .apply (recorded())
  int pow_act[4] = {};                 // the kernels of ** 2, 0.5, -1, -0.5 (ops._POW_KERNEL)
  int act[kCount] = {};                // activation index of the unary methods
  long num_acts = 0;                   // len(_C.activation_names)
  PyMethodDef defs[kCount] = {};
  std::string docs[kCount];
} S;

inline PyObject*& slot(PyObject* t, int k) {
  return *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(t) + S.off[k]);
}

// A reference to a Tensor's array (t any object) for the length of a call: the kernels run
// with the GIL released, and the Python calls between (size1_strided, binary_auto, a ufunc,
// an allocation's garbage collection) can run another thread whose `t.data = ...` would
// otherwise free the array a kernel is reading (the Python paths held it in a local).
struct HoldData {
  PyObject* d;
  explicit HoldData(PyObject* t)
      : d(S.tensor && PyObject_TypeCheck(t, S.tensor) ? Py_XNewRef(slot(t, 0)) : nullptr) {}
  ~HoldData() { Py_XDECREF(d); }
  HoldData(const HoldData&) = delete;
  HoldData& operator=(const HoldData&) = delete;
};

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
  const HoldData hold(self);
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
  const HoldData hold_a(self), hold_b(other);
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

// self op other in autograd as tensor.py's _recorded_binary (the fallback's first case):
// two Tensors exactly, one requiring grad, grad mode on, fresh float32/float64 arrays of one
// dtype and one shape (or one of them 0-d), by the node's apply straight (overhead40: the
// fallback's Python frame was ~0.4 us of a ~2.2 us recorded 32x32 a * b). Null: not taken
// (no error set), else apply's result or error.
PyObject* recorded(PyObject* self, PyObject* other, int op, bool* taken) {
  *taken = false;
  if (Py_TYPE(self) != S.tensor || Py_TYPE(other) != S.tensor) return nullptr;
  if (slot(self, 2) != Py_True && slot(other, 2) != Py_True) return nullptr;
  PyObject *d = slot(self, 0), *e = slot(other, 0);
  auto* array = npy_api::get().PyArray_Type_;
  if (!d || !e || Py_TYPE(d) != array || Py_TYPE(e) != array) return nullptr;
  PyArray_Proxy *a = array_proxy(d), *b = array_proxy(e);
  if (a->descr != b->descr || (a->descr != S.f32 && a->descr != S.f64) || a->base || b->base)
    return nullptr;
  if (a->nd && b->nd &&
      (a->nd != b->nd ||
       std::memcmp(a->dimensions, b->dimensions, a->nd * sizeof(Py_ssize_t)) != 0))
    return nullptr;
  PyObject* on = PyObject_GetAttr(S.grad_state, S.enabled);
  if (!on) {
    PyErr_Clear();  // (the fallback's own path)
    return nullptr;
  }
  Py_DECREF(on);
  if (on != Py_True) return nullptr;
  *taken = true;
  PyObject* args[2] = {self, other};
  return PyObject_Vectorcall(S.apply[op], args, 2, nullptr);
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
      bool taken;
      r = recorded(self, other, op, &taken);
      if (taken) return r;
    } else if (PyFloat_CheckExact(other) || PyLong_CheckExact(other)) {
      if (by_number(self, other, op, reflected, &r)) return r;
    }
  }
  return call_fallback(K, self, args, nargs);
}

template <int K>
PyObject* unary_method(PyObject* self, PyObject*) {
  const HoldData hold(self);
  // (abs: ops.abs takes a subclass by its node's path, so only a Tensor exactly)
  PyArray_Proxy* x =
      (K != kAbs && K != kAbsMethod) || Py_TYPE(self) == S.tensor ? float_data(self) : nullptr;
  // (__neg__, abs: NumPy gives a 0-d array's scalar, so 0-d keeps the Python path)
  if (x && c_contiguous(x) &&
      ((K != kNeg && K != kNegMethod && K != kAbs && K != kAbsMethod) || x->nd > 0) && !marking()) {
    PyObject* y = fresh_like(x);
    if (y) {
      activation_plain(S.act[K], x->descr == S.f32, array_proxy(y)->data, x->data, numel(x));
      return plain(y);
    }
  }
  return PyObject_CallOneArg(S.fallback[K], self);
}

// ---- speed27b: the other small operators and the in-place updates -------------------------

// The Python number s as a double when it is an exact int (not bool) or float.
bool number(PyObject* s, double* v) {
  if (PyFloat_CheckExact(s)) {
    *v = PyFloat_AS_DOUBLE(s);
    return true;
  }
  if (!PyLong_CheckExact(s)) return false;
  *v = PyLong_AsDouble(s);
  if (*v == -1.0 && PyErr_Occurred()) {  // (too large for a double: not an exponent we take)
    PyErr_Clear();
    return false;
  }
  return true;
}

// A plain float tensor outside autograd, C-contiguous and no view with a size-1 dim (the
// layout _by_number's test keeps for the Python path): its array, else null.
PyArray_Proxy* plain_operand(PyObject* self) {
  if (Py_TYPE(self) != S.tensor) return nullptr;
  PyArray_Proxy* a = float_data(self);
  return a && c_contiguous(a) && !(a->base && has_size1(a)) ? a : nullptr;
}

// number / self as tensor.py's __rtruediv__: torch's reciprocal times the number, the
// reciprocal kernel then the by-number kernel (ops.reciprocal, then ops.mul's), in y.
bool rdiv(PyObject* self, PyObject* s, PyObject** r) {
  const HoldData hold(self);
  PyArray_Proxy* a = plain_operand(self);
  if (!a || numel(a) < 16) return false;
  const bool f32 = a->descr == S.f32;
  double v;
  if (!kernel_scalar(s, f32, &v) || marking()) return false;
  PyObject* y = fresh_like(a);
  if (!y) return false;
  PyArray_Proxy* p = array_proxy(y);
  activation_plain(S.pow_act[2], f32, p->data, a->data, numel(a));
  if (f32) {
    const float c = static_cast<float>(v);
    run_binary<float>(y, p, &c, 1, numel(a), 2, 1, false);  // (in place: elementwise)
  } else {
    run_binary<double>(y, p, &v, 1, numel(a), 2, 1, false);
  }
  *r = plain(y);
  return true;
}

// self ** s for s one of ops._POW_KERNEL's exponents (ops._pow_scalar's kernel call).
bool pow_number(PyObject* self, PyObject* s, PyObject** r) {
  const HoldData hold(self);
  double v;
  if (Py_TYPE(self) != S.tensor || !number(s, &v)) return false;
  const int e = v == 2.0 ? 0 : v == 0.5 ? 1 : v == -1.0 ? 2 : v == -0.5 ? 3 : -1;
  PyArray_Proxy* a = float_data(self);
  if (e < 0 || !a || !c_contiguous(a) || marking()) return false;
  PyObject* y = fresh_like(a);
  if (!y) return false;
  activation_plain(S.pow_act[e], a->descr == S.f32, array_proxy(y)->data, a->data, numel(a));
  *r = plain(y);
  return true;
}

// self cmp other as ops.compare's first branch (a float tensor with a Python number or a
// tensor of its dtype: NumPy's ufunc), for arrays that own their memory (no _laid needed).
bool compare(int k, PyObject* self, PyObject* other, PyObject** r) {
  const HoldData hold_a(self), hold_b(other);
  if (Py_TYPE(self) != S.tensor) return false;
  PyArray_Proxy* a = float_data(self);            // (requires_grad does not matter to a comparison,
  if (!a || a->base || a->nd == 0) return false;  // but float_data's test is cheap and safe)
  PyObject* e = other;
  if (Py_TYPE(other) == S.tensor) {
    PyArray_Proxy* b = float_data(other);
    if (!b || b->descr != a->descr || b->base) return false;
    e = slot(other, 0);
  } else if (PyLong_CheckExact(other)) {
    int overflow = 0;  // (an int past int64: the Python path's OverflowError, as torch's parser)
    PyLong_AsLongLongAndOverflow(other, &overflow);
    if (overflow) return false;
  } else if (!PyFloat_CheckExact(other)) {
    return false;
  }
  if (marking()) return false;
  PyObject* args[2] = {slot(self, 0), e};
  PyObject* y = PyObject_Vectorcall(S.ufunc[k - kLt], args, 2, nullptr);
  if (!y) {
    PyErr_Clear();  // (the general path raises its own error)
    return false;
  }
  if (Py_TYPE(y) != npy_api::get().PyArray_Type_) {
    Py_DECREF(y);
    return false;
  }
  *r = plain(y);
  return true;
}

// A global of ember.autograd.function is exactly False (a missing one: the fallback path).
bool global_false(PyObject* name) {
  PyObject* v = PyDict_GetItemWithError(S.fn_globals, name);
  if (!v) PyErr_Clear();
  return v == Py_False;
}

// function.note_write(d, self): every write counts from a tensor's creation (its _version, as
// torch's, behave28). Inline for the common case, where note_write only bumps two counts: d
// owns its memory, which has its entry in _written_owners already, and neither `t.data =
// other` nor a graph multi-output view ever happened (their bookkeeping is note_write's): the
// Python call is ~0.3 us, this ~0.09 us (a 32x32 x.add_(1) is ~0.24 us). False on an error.
bool count_write(PyObject* d, PyObject* self) {
  if (reinterpret_cast<PyArray_Proxy*>(d)->base == nullptr && global_false(S.swapped)) {
    PyObject* multi = PyDict_GetItemWithError(S.fn_globals, S.multi_owners);
    PyObject* owners = PyDict_GetItemWithError(S.fn_globals, S.written_owners);
    PyObject* writes = PyDict_GetItemWithError(S.fn_globals, S.graph_writes);
    if (multi && PyDict_CheckExact(multi) && PyDict_GET_SIZE(multi) == 0 && owners &&
        PyDict_CheckExact(owners) && writes && PyLong_CheckExact(writes)) {
      PyObject* key = PyLong_FromVoidPtr(d);  // id(d)
      if (!key) return false;
      PyObject* hit = PyDict_GetItemWithError(owners, key);
      Py_DECREF(key);
      if (hit && PyList_CheckExact(hit) && PyList_GET_SIZE(hit) == 3 &&
          PyLong_CheckExact(PyList_GET_ITEM(hit, 2))) {
        PyObject* one = PyLong_FromLong(1);
        PyObject* next = PyNumber_Add(writes, one);
        PyObject* count = next ? PyNumber_Add(PyList_GET_ITEM(hit, 2), one) : nullptr;
        Py_DECREF(one);
        if (!count || PyDict_SetItem(S.fn_globals, S.graph_writes, next) < 0) {
          Py_XDECREF(next);
          Py_XDECREF(count);
          return false;
        }
        PyList_SetItem(hit, 1, next);  // (steal both)
        PyList_SetItem(hit, 2, count);
        return true;
      }
    }
    if (PyErr_Occurred()) return false;
  }
  PyObject* args[2] = {d, self};
  PyObject* ok = PyObject_Vectorcall(S.note_write, args, 2, nullptr);
  Py_XDECREF(ok);
  return ok != nullptr;
}

// count_write(a, t=None): function.note_write, bound over it by tensor.py (the Python
// wrappers of the other in-place methods call it on every write: ~0.3 us as Python, ~0.12 us
// here with the call). Anything but a plain ndarray goes to the Python note_write.
PyObject* count_write_py(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "count_write(a, t=None): one or two arguments");
    return nullptr;
  }
  if (!S.note_write) {
    PyErr_SetString(PyExc_RuntimeError, "count_write: fast_methods not installed");
    return nullptr;
  }
  PyObject* d = args[0];
  PyObject* t = nargs == 2 ? args[1] : Py_None;
  bool ok;
  if (Py_TYPE(d) == npy_api::get().PyArray_Type_) {
    ok = count_write(d, t);
  } else {
    PyObject* call[2] = {d, t};
    PyObject* r = PyObject_Vectorcall(S.note_write, call, 2, nullptr);
    Py_XDECREF(r);
    ok = r != nullptr;
  }
  if (!ok) return nullptr;
  Py_RETURN_NONE;
}

// self op= other into self's array by the kernels, as Tensor._inplace's paths for a plain
// float tensor (another of its shape and dtype not overlapping it, or a Python number); the
// write then noted for autograd as they note it. True when taken (*err on an error).
bool inplace(PyObject* self, PyObject* other, int op, bool* err) {
  const HoldData hold_a(self), hold_b(other);
  if (Py_TYPE(self) != S.tensor || slot(self, 3) != Py_None) return false;
  PyArray_Proxy* a = float_data(self);
  if (!a || !c_contiguous(a) || !(a->flags & npy_api::NPY_ARRAY_WRITEABLE_)) return false;
  const int64_t n = numel(a);
  if (n < 16 || !global_false(S.inference_made)) return false;
  const bool f32 = a->descr == S.f32;
  const void* b = nullptr;
  float c32;
  double c64;
  int form = 0;
  if (Py_TYPE(other) == S.tensor) {
    PyArray_Proxy* p = float_data(other);
    if (!p || p->descr != a->descr || !c_contiguous(p) || p->nd != a->nd ||
        std::memcmp(p->dimensions, a->dimensions, a->nd * sizeof(Py_ssize_t)) != 0)
      return false;
    const int64_t bytes = n * (f32 ? 4 : 8);
    const char *x = a->data, *z = p->data;
    // (an overlapping other array: NumPy's buffered path, as ops._binary_kernel declines it)
    if (slot(other, 0) != slot(self, 0) && x < z + bytes && z < x + bytes) return false;
    b = z;
  } else if (PyFloat_CheckExact(other) || PyLong_CheckExact(other)) {
    if (!kernel_scalar(other, f32, &c64)) return false;
    c32 = static_cast<float>(c64);
    b = f32 ? static_cast<const void*>(&c32) : &c64;
    form = 1;
  } else {
    return false;
  }
  PyObject* d = slot(self, 0);
  if (f32)
    run_binary<float>(d, a, b, 1, n, op, form, false);
  else
    run_binary<double>(d, a, b, 1, n, op, form, false);
  *err = !count_write(d, self);
  return true;
}

// fallbacks[k](self, *args, **kwargs) from a METH_FASTCALL | METH_KEYWORDS call.
PyObject* fallback_kw(int k, PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                      PyObject* kwnames) {
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  std::vector<PyObject*> all(1 + nargs + nkw);
  all[0] = self;
  std::copy(args, args + nargs + nkw, all.begin() + 1);
  return PyObject_Vectorcall(S.fallback[k], all.data(), 1 + nargs, kwnames);
}

template <int K>
PyObject* other_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs == 1 && !kwnames) {
    PyObject* other = args[0];
    PyObject* r = nullptr;
    bool taken = false;
    if constexpr (K == kRsub) {
      if (PyFloat_CheckExact(other) || PyLong_CheckExact(other))
        taken = by_number(self, other, 1, true, &r);
    } else if constexpr (K == kRdiv) {
      if (PyFloat_CheckExact(other) || PyLong_CheckExact(other)) taken = rdiv(self, other, &r);
    } else if constexpr (K == kPow || K == kPowMethod) {
      taken = pow_number(self, other, &r);
    } else {
      taken = compare(K, self, other, &r);
    }
    if (taken) return r;
  }
  return fallback_kw(K, self, args, nargs, kwnames);
}

// self.fill_(value) (value null: zero_) into self's array as the _inplace wrapper's unrecorded
// path and Tensor.fill_ for a plain tensor: nothing to record or refuse when self is outside
// autograd and value a number; a value ops._checked_scalar would refuse or round otherwise
// (a float beyond float32's range, an int past 2^53 into a float, any float or an out-of-range
// int into int64) is the fallback's. True when taken (*err on an error).
bool fill_in(PyObject* self, PyObject* value, bool* err) {
  const HoldData hold(self);
  if (Py_TYPE(self) != S.tensor || slot(self, 3) != Py_None || slot(self, 2) != Py_False)
    return false;
  PyObject* d = slot(self, 0);
  if (!d || Py_TYPE(d) != npy_api::get().PyArray_Type_) return false;
  PyArray_Proxy* a = array_proxy(d);
  if (!c_contiguous(a) || !(a->flags & npy_api::NPY_ARRAY_WRITEABLE_)) return false;
  const bool f32 = a->descr == S.f32, f64 = a->descr == S.f64;
  double v = 0.0;
  long long i = 0;
  if (value && Py_TYPE(value) == S.tensor) {
    // overhead44: a 0-d tensor of self's dtype outside autograd, whose element Tensor.fill_
    // writes as it is (d[...] = v); ~12 -> ~1 us of a 32x32 (torch ~5.6). The rest: fallback.
    PyObject* e = slot(value, 0);
    if (slot(value, 2) != Py_False || !e || Py_TYPE(e) != npy_api::get().PyArray_Type_)
      return false;
    const PyArray_Proxy* b = array_proxy(e);
    if (b->nd != 0 || b->descr != a->descr || !(f32 || f64 || a->descr == S.i64)) return false;
    if (f32) {
      v = *reinterpret_cast<const float*>(b->data);  // (exact: float -> double -> float,
      if (std::isnan(v)) return false;               // but for a NaN's payload bits)
    } else if (f64)
      v = *reinterpret_cast<const double*>(b->data);
    else
      i = *reinterpret_cast<const int64_t*>(b->data);
  } else if (f32 || f64) {
    if (value &&
        !((PyFloat_CheckExact(value) || PyLong_CheckExact(value)) && kernel_scalar(value, f32, &v)))
      return false;
  } else if (a->descr == S.i64) {
    if (value) {
      if (!PyLong_CheckExact(value)) return false;
      int overflow = 0;
      i = PyLong_AsLongLongAndOverflow(value, &overflow);
      if (overflow || (i == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return false;
      }
    }
  } else {
    return false;
  }
  if (!global_false(S.inference_made)) return false;
  const int64_t n = numel(a);
  void* y = a->data;
  // (all-zero bits, zero_'s and fill_(0)'s: memset, whose large-size stores beat the kernel's)
  const bool zero = f32 || f64 ? v == 0 && !std::signbit(v) : i == 0;
  Py_BEGIN_ALLOW_THREADS;
  if (zero)
    std::memset(y, 0, n * (f32 ? 4 : 8));
  else if (f32)
    fill<float>(static_cast<float*>(y), n, static_cast<float>(v));
  else if (f64)
    fill<double>(static_cast<double*>(y), n, v);
  else
    fill<int64_t>(static_cast<int64_t*>(y), n, static_cast<int64_t>(i));
  Py_END_ALLOW_THREADS;
  *err = !count_write(d, self);
  return true;
}

// Whether the byte ranges two non-empty arrays span intersect.
bool extents_overlap(PyArray_Proxy* a, PyArray_Proxy* b) {
  const char *lo[2], *hi[2];
  PyArray_Proxy* p[2] = {a, b};
  for (int i = 0; i < 2; ++i) {
    lo[i] = hi[i] = p[i]->data;
    for (int k = 0; k < p[i]->nd; ++k) {
      if (p[i]->dimensions[k] == 0) return false;
      const Py_ssize_t step = (p[i]->dimensions[k] - 1) * p[i]->strides[k];
      (step < 0 ? lo[i] : hi[i]) += step;
    }
    hi[i] += py::reinterpret_borrow<py::dtype>(p[i]->descr).itemsize();
  }
  return lo[0] < hi[1] && lo[1] < hi[0];
}

// self.copy_(src) as the _inplace wrapper's unrecorded path and Tensor.copy_ for a plain
// self and src outside autograd, src's shape broadcasting to self's (else broadcast_to's
// error, the fallback's). True when taken (*err on an error).
bool copy_in(PyObject* self, PyObject* src, bool* err) {
  const HoldData hold_a(self), hold_b(src);
  if (Py_TYPE(self) != S.tensor || slot(self, 3) != Py_None || slot(self, 2) != Py_False ||
      Py_TYPE(src) != S.tensor || slot(src, 2) != Py_False)
    return false;
  PyObject *d = slot(self, 0), *e = slot(src, 0);
  auto* array = npy_api::get().PyArray_Type_;
  if (!d || !e || Py_TYPE(d) != array || Py_TYPE(e) != array) return false;
  PyArray_Proxy *a = array_proxy(d), *b = array_proxy(e);
  if (!(a->flags & npy_api::NPY_ARRAY_WRITEABLE_) || b->nd > a->nd) return false;
  const int lead = a->nd - b->nd;
  bool same_shape = lead == 0;
  for (int k = 0; k < b->nd; ++k) {
    const Py_ssize_t m = b->dimensions[k], n = a->dimensions[lead + k];
    if (m != n && m != 1) return false;
    same_shape = same_shape && m == n;
  }
  if (!global_false(S.inference_made)) return false;
  if (a->descr != b->descr) {  // complex into real (torch's UserWarning) and bfloat16 casts
    const char ka = py::reinterpret_borrow<py::dtype>(a->descr).kind();    // (through float32,
    const char kb = py::reinterpret_borrow<py::dtype>(b->descr).kind();    // as torch's) are
    if ((kb == 'c' && ka != 'c') || ka == 'V' || kb == 'V') return false;  // Tensor.copy_'s
  }
  // src sharing self's memory: the _inplace wrapper's check (torch's partial-overlap refusal)
  if (extents_overlap(a, b)) return false;
  const int64_t bytes = numel(a) * py::reinterpret_borrow<py::dtype>(a->descr).itemsize();
  const char* z = b->data;
  if (same_shape && a->descr == b->descr && c_contiguous(a) && c_contiguous(b)) {
    char* y = a->data;
    Py_BEGIN_ALLOW_THREADS;
    std::memcpy(y, z, bytes);
    Py_END_ALLOW_THREADS;
  } else {
    PyObject* args[3] = {d, e, S.unsafe};
    PyObject* r = PyObject_Vectorcall(S.copyto, args, 2, S.casting_kw);
    if (!r) {
      PyErr_Clear();  // (the fallback raises its own error)
      return false;
    }
    Py_DECREF(r);
  }
  *err = !count_write(d, self);
  return true;
}

template <int K>
PyObject* fill_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs == (K != kZeroIn) && !kwnames) {
    bool err = false;
    if (K == kCopyIn ? copy_in(self, args[0], &err)
                     : fill_in(self, K == kFillIn ? args[0] : nullptr, &err))
      return err ? nullptr : Py_NewRef(self);
  }
  return fallback_kw(K, self, args, nargs, kwnames);
}

template <int K>
PyObject* inplace_method(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                         PyObject* kwnames) {
  if (nargs == 1 && !kwnames) {
    bool err = false;
    if (inplace(self, args[0], K >= kAddIn ? K - kAddIn : K - kIadd, &err))
      return err ? nullptr : Py_NewRef(self);
  }
  return fallback_kw(K, self, args, nargs, kwnames);
}

template <typename F>
PyCFunction cast(F f) {
  return reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(f));
}

PyCFunction function_of(int k) {
  static const PyCFunction f[kCount] = {
      cast(binary_method<kAdd>),    cast(binary_method<kSub>),
      cast(binary_method<kMul>),    cast(binary_method<kDiv>),
      cast(binary_method<kRadd>),   cast(binary_method<kRmul>),
      unary_method<kExp>,           unary_method<kLog>,
      unary_method<kSqrt>,          unary_method<kTanh>,
      unary_method<kSigmoid>,       unary_method<kRelu>,
      unary_method<kNeg>,           unary_method<kNegMethod>,
      unary_method<kAbs>,           unary_method<kAbsMethod>,
      cast(other_method<kRsub>),    cast(other_method<kRdiv>),
      cast(other_method<kPow>),     cast(other_method<kPowMethod>),
      cast(other_method<kLt>),      cast(other_method<kLe>),
      cast(other_method<kGt>),      cast(other_method<kGe>),
      cast(other_method<kEq>),      cast(other_method<kNe>),
      cast(inplace_method<kIadd>),  cast(inplace_method<kIsub>),
      cast(inplace_method<kImul>),  cast(inplace_method<kIdiv>),
      cast(inplace_method<kAddIn>), cast(inplace_method<kSubIn>),
      cast(inplace_method<kMulIn>), cast(inplace_method<kDivIn>),
      cast(fill_method<kFillIn>),   cast(fill_method<kZeroIn>),
      cast(fill_method<kCopyIn>)};
  return f[k];
}

int flags_of(int k) {
  return unary(k) ? METH_NOARGS : k >= kRsub ? METH_FASTCALL | METH_KEYWORDS : METH_FASTCALL;
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
  const HoldData hold(x);
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

// fast_dot(a, b): ops._plain_dot's common call -- two Tensors outside autograd holding
// C-contiguous 1-D float32/float64 arrays of one dtype and size n > 0 -- by the GEMM that path
// runs ((1, n) @ (n, 1): the same arguments, so the same bits), into a fresh 0-d array, as a
// plain Tensor; None for anything else. overhead44: dot / vdot / inner of 32 ~2.3 -> ~1.1 us
// (the reshapes, _C.gemm's checks and the Tensor built in Python).
template <typename T>
void dot_gemm(void* y, const void* a, const void* b, int64_t n) {
  const T* x = static_cast<const T*>(a);
  const T* z = static_cast<const T*>(b);
  T* out = static_cast<T*>(y);
  Py_BEGIN_ALLOW_THREADS gemm<T>(false, false, 1, 1, n, T(1), x, n, z, 1, T(0), out, 1);
  Py_END_ALLOW_THREADS
}

PyObject* fast_dot(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) {
    PyErr_SetString(PyExc_TypeError, "fast_dot(a, b): two arguments");
    return nullptr;
  }
  PyObject *a = args[0], *b = args[1];
  if (!S.tensor || Py_TYPE(a) != S.tensor || Py_TYPE(b) != S.tensor) Py_RETURN_NONE;
  const HoldData hold_a(a), hold_b(b);
  PyArray_Proxy* x = float_data(a);
  PyArray_Proxy* z = x ? float_data(b) : nullptr;
  if (!z || x->descr != z->descr || x->nd != 1 || z->nd != 1 || x->dimensions[0] == 0 ||
      x->dimensions[0] != z->dimensions[0] || !c_contiguous(x) || !c_contiguous(z) || marking())
    Py_RETURN_NONE;
  auto& api = npy_api::get();
  Py_INCREF(x->descr);  // (PyArray_NewFromDescr steals it)
  PyObject* y = api.PyArray_NewFromDescr_(api.PyArray_Type_, x->descr, 0, nullptr, nullptr, nullptr,
                                          0, nullptr);
  if (!y) return nullptr;
  if (x->descr == S.f32)
    dot_gemm<float>(array_proxy(y)->data, x->data, z->data, x->dimensions[0]);
  else
    dot_gemm<double>(array_proxy(y)->data, x->data, z->data, x->dimensions[0]);
  return plain(y);
}

Py_ssize_t member_offset(PyObject* tensor, const char* name) {
  py::object m = py::reinterpret_borrow<py::object>(tensor).attr("__dict__")[name];
  if (!Py_IS_TYPE(m.ptr(), &PyMemberDescr_Type))
    throw py::type_error(std::string("fast_methods: Tensor.") + name + " is not a slot");
  return reinterpret_cast<PyMemberDescrObject*>(m.ptr())->d_member->offset;
}

// ---- Function.apply's common case (overhead37) ----------------------------------------------
// ember's own ops call Function.apply with one to six positional arguments, a plain Tensor
// first (the others Tensors or options), no keywords, and none of autograd's rare modes on:
// the Python classmethod's frame, its tests and the output Tensor were ~1.2 us of each recorded
// op. fast_apply(cls, *args) does the same steps in C -- the node (object.__new__), its
// needs_input_grad, cls.forward(ctx, *arrays), then parents, _order and one output Tensor --
// and hands everything else to the Python code: the whole of Function.apply before forward
// runs (keywords, Parameters, a user's Function, grad mode off on a tensor that requires
// grad, forward AD, anomaly mode, inference tensors, graph writes, views made under no_grad),
// function._recorded / _unrecorded after it (tuples, complex or non-array outputs).
struct Apply {
  PyObject* slow = nullptr;           // Function.apply's Python body (a function of cls, *args)
  PyObject* recorded = nullptr;       // function._recorded(cls, ctx, args, parents, out)
  PyObject* unrecorded = nullptr;     // function._unrecorded(out, first_arg)
  PyObject* new_ = nullptr;           // object.__new__
  PyObject* state = nullptr;          // function._state (its `enabled`)
  PyObject* anomaly = nullptr;        // function._anomaly (its `enabled`)
  PyObject* order = nullptr;          // function._creation_order
  PyObject* flags[4] = {};            // the names of function.py's mode globals (its `common`)
  PyObject* common[4] = {};           // and their values when no rare mode is on
  int writes = -1;                    // the index of "_graph_writes" among them (see modes)
  PyObject* multi_written = nullptr;  // "_multi_written", "_moved_at": function._recorded's
  PyObject* moved_at = nullptr;       // tests after writes (see quiet_writes)
  PyObject* epoch = nullptr;          // "_epoch"
  PyObject* enabled = nullptr;        // "enabled"
  PyObject* tensor_api = nullptr;     // "_tensor_api"
  PyObject* forward = nullptr;        // "forward"
  PyObject* needs = nullptr;          // "needs_input_grad"
  PyObject* parents = nullptr;        // "parents"
  PyObject* order_name = nullptr;     // "_order"
  PyObject* globals = nullptr;        // ember.autograd.function's namespace
} A;
constexpr Py_ssize_t kMaxArgs = 6;  // (ember's ops pass at most 6 positionals but a few)

// v is the common value c: None, a bool, or an exact int of the same value.
bool same_value(PyObject* v, PyObject* c) {
  if (v == c) return true;
  if (!PyLong_CheckExact(v) || !PyLong_CheckExact(c)) return false;
  int overflow = 0;
  const long long a = PyLong_AsLongLongAndOverflow(v, &overflow);
  return !overflow && a == PyLong_AsLongLong(c);
}

// -1: a rare mode is on (one of function's mode globals _fw_level, _inference_made,
// _no_grad_views_made off its common value, or _anomaly.enabled), or any doubt: the slow path.
// 0: none. 1: none, but something was written in place since import (_graph_writes, an int,
// above 0: after the first optimiser step or init, for good): a recorded output is then made
// by function._recorded, which links the node to those writes (overhead39: the slow path's
// Python apply was ~1.5 us more of every recorded op from then on).
int modes() {
  int written = 0;
  for (int i = 0; i < 4; ++i) {
    PyObject* v = PyDict_GetItemWithError(A.globals, A.flags[i]);
    if (!v) {
      PyErr_Clear();
      return -1;
    }
    if (same_value(v, A.common[i])) continue;
    if (i != A.writes || !PyLong_CheckExact(v)) return -1;
    written = 1;
  }
  PyObject* on = PyObject_GetAttr(A.anomaly, A.enabled);
  if (!on) {
    PyErr_Clear();
    return -1;
  }
  Py_DECREF(on);
  return on == Py_False ? written : -1;
}

// After writes (modes() 1): none touched a multi-output view or moved a graph tensor
// (function's _multi_written false, _moved_at 0), so function._recorded would only stamp the
// node with _graph_writes (its _epoch): the C output then, with that stamp. False on any doubt.
bool quiet_writes() {
  PyObject* multi = PyDict_GetItemWithError(A.globals, A.multi_written);
  PyObject* moved = multi ? PyDict_GetItemWithError(A.globals, A.moved_at) : nullptr;
  if (!moved) {
    PyErr_Clear();
    return false;
  }
  int overflow = 0;  // (a count past a long long is not 0: no error left set)
  return multi == Py_False && PyLong_CheckExact(moved) &&
         PyLong_AsLongLongAndOverflow(moved, &overflow) == 0 && !overflow;
}

// ctx._epoch = function._graph_writes (function._recorded's stamp after writes).
bool set_epoch(PyObject* ctx) {
  PyObject* n = PyDict_GetItemWithError(A.globals, A.flags[A.writes]);
  if (!n) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "function._graph_writes is gone");
    return false;
  }
  return PyObject_SetAttr(ctx, A.epoch, n) == 0;
}

PyObject* call_slow(PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  return PyObject_Vectorcall(A.slow, args, nargsf, kwnames);
}

PyObject* fast_apply(PyObject*, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf), n = nargs - 1;
  if (!S.tensor || !A.slow || nargs < 2 || n > kMaxArgs || (kwnames && PyTuple_GET_SIZE(kwnames)) ||
      Py_TYPE(args[1]) != S.tensor || !PyType_Check(args[0]))
    return call_slow(args, nargsf, kwnames);
  PyObject* cls = args[0];
  // the Tensors' arrays in their place, and which require grad (a subclass: the slow path)
  PyObject* raw[kMaxArgs + 1] = {nullptr};  // (raw[0]: the node, filled below)
  bool needs[kMaxArgs] = {};
  bool any_grad = false;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* o = args[1 + i];
    if (Py_TYPE(o) == S.tensor) {
      PyObject* rg = slot(o, 2);
      if ((rg != Py_True && rg != Py_False) || !slot(o, 0)) return call_slow(args, nargsf, kwnames);
      needs[i] = rg == Py_True;
      any_grad |= needs[i];
      raw[1 + i] = slot(o, 0);
    } else {
      if (PyObject_TypeCheck(o, S.tensor)) return call_slow(args, nargsf, kwnames);
      raw[1 + i] = o;
    }
  }
  const int mode = modes();
  if (mode < 0) return call_slow(args, nargsf, kwnames);
  PyObject* api = PyObject_GetAttr(cls, A.tensor_api);
  if (!api) return nullptr;
  Py_DECREF(api);
  if (api != Py_False) return call_slow(args, nargsf, kwnames);
  if (any_grad) {
    PyObject* on = PyObject_GetAttr(A.state, A.enabled);
    if (!on) return nullptr;
    Py_DECREF(on);
    if (on != Py_True) return call_slow(args, nargsf, kwnames);  // (no_grad_view's path)
  }
  PyObject* ctx = PyObject_CallOneArg(A.new_, cls);
  if (!ctx) return nullptr;
  PyObject* flags = PyTuple_New(n);
  if (!flags) {
    Py_DECREF(ctx);
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < n; ++i)
    PyTuple_SET_ITEM(flags, i, Py_NewRef(needs[i] ? Py_True : Py_False));
  int bad = PyObject_SetAttr(ctx, A.needs, flags);
  Py_DECREF(flags);
  PyObject* forward = bad < 0 ? nullptr : PyObject_GetAttr(cls, A.forward);
  PyObject* out = nullptr;
  if (forward) {
    raw[0] = ctx;
    out = PyObject_Vectorcall(forward, raw, static_cast<size_t>(nargs), nullptr);
    Py_DECREF(forward);
  }
  if (!out) {
    Py_DECREF(ctx);
    return nullptr;
  }
  if (!any_grad) {  // outside the graph: function._unrecorded
    Py_DECREF(ctx);
    PyObject* call[2] = {out, args[1]};
    PyObject* res = PyObject_Vectorcall(A.unrecorded, call, 2, nullptr);
    Py_DECREF(out);
    return res;
  }
  auto& np = npy_api::get();
  const bool one_real = Py_TYPE(out) == np.PyArray_Type_ &&
                        py::detail::array_descriptor_proxy(array_proxy(out)->descr)->kind != 'c';
  PyObject* parents = PyTuple_New(n);
  if (!parents) {
    Py_DECREF(ctx);
    Py_DECREF(out);
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < n; ++i)
    PyTuple_SET_ITEM(parents, i, Py_NewRef(needs[i] ? args[1 + i] : Py_None));
  PyObject* res = nullptr;
  const bool stamp = one_real && mode == 1 && quiet_writes();
  if (!one_real || (mode == 1 && !stamp)) {  // function._recorded: tuples, complex and other
    // outputs, and any after writes it must link (see quiet_writes)
    PyObject* targs = PyTuple_New(n);
    if (targs) {
      for (Py_ssize_t i = 0; i < n; ++i) PyTuple_SET_ITEM(targs, i, Py_NewRef(args[1 + i]));
      PyObject* call[5] = {cls, ctx, targs, parents, out};
      res = PyObject_Vectorcall(A.recorded, call, 5, nullptr);
      Py_DECREF(targs);
    }
  } else if (PyObject_SetAttr(ctx, A.parents, parents) == 0 && (!stamp || set_epoch(ctx))) {
    PyObject* order = PyIter_Next(A.order);
    if (order && PyObject_SetAttr(ctx, A.order_name, order) == 0) {
      res = S.tensor->tp_alloc(S.tensor, 0);  // (function._recorded's output, slot by slot)
      if (res) {
        slot(res, 0) = Py_NewRef(out);
        slot(res, 1) = Py_NewRef(Py_None);
        slot(res, 2) = Py_NewRef(Py_True);
        slot(res, 3) = Py_NewRef(ctx);
        slot(res, 4) = Py_NewRef(S.zero);
      }
    }
    Py_XDECREF(order);
  }
  Py_DECREF(parents);
  Py_DECREF(ctx);
  Py_DECREF(out);
  return res;
}

// make_fast_apply(slow, recorded, unrecorded, function_globals, common, new, state, anomaly,
// order): fast_apply, its Python partners installed (see Apply). function.py names what the C
// path reads: the objects themselves, and the mode globals it rebinds as {name: common value}.
// Every name must be a global holding its common value now, and state and anomaly must have a
// bool `enabled`: a rename or a changed meaning fails here, at import, not by fast_apply
// silently never (or wrongly) taking its path.
PyObject* make_fast_apply_py(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  constexpr const char* kUsage =
      "make_fast_apply(slow, recorded, unrecorded, function_globals, common, new, state, "
      "anomaly, order)";
  if (nargs != 9 || !PyDict_Check(args[3]) || !PyDict_Check(args[4])) {
    PyErr_SetString(PyExc_TypeError, kUsage);
    return nullptr;
  }
  PyObject *g = args[3], *common = args[4];
  if (PyDict_GET_SIZE(common) != 4) {
    PyErr_Format(PyExc_ValueError, "make_fast_apply: common must name the 4 mode globals, got %R",
                 common);
    return nullptr;
  }
  if (!PyDict_GetItemString(common, "_graph_writes")) {  // (modes' count of writes)
    PyErr_Format(PyExc_ValueError, "make_fast_apply: common must name _graph_writes, got %R",
                 common);
    return nullptr;
  }
  Py_ssize_t pos = 0;
  PyObject *name, *want;
  while (PyDict_Next(common, &pos, &name, &want)) {
    PyObject* v = PyUnicode_Check(name) ? PyDict_GetItemWithError(g, name) : nullptr;
    if (!v || !same_value(v, want)) {
      if (!PyErr_Occurred())
        PyErr_Format(PyExc_RuntimeError,
                     "make_fast_apply: ember.autograd.function's global %R is %s, not its common "
                     "value %R",
                     name, v ? "another value" : "missing", want);
      return nullptr;
    }
  }
  PyObject* multi = PyDict_GetItemString(g, "_multi_written");
  PyObject* moved = PyDict_GetItemString(g, "_moved_at");
  if (!multi || !PyBool_Check(multi) || !moved || !PyLong_CheckExact(moved)) {
    PyErr_SetString(PyExc_RuntimeError,
                    "make_fast_apply: ember.autograd.function's _multi_written (a bool) or "
                    "_moved_at (an int) is missing or of another type");
    return nullptr;
  }
  for (int i : {6, 7}) {  // state.enabled, anomaly.enabled: bools
    PyObject* on = PyObject_GetAttrString(args[i], "enabled");
    if (!on) return nullptr;
    const bool ok = PyBool_Check(on);
    Py_DECREF(on);
    if (!ok) {
      PyErr_Format(PyExc_TypeError, "make_fast_apply: %R.enabled is not a bool", args[i]);
      return nullptr;
    }
  }
  if (!PyCallable_Check(args[5]) || !PyIter_Check(args[8])) {
    PyErr_SetString(PyExc_TypeError, "make_fast_apply: new must be callable, order an iterator");
    return nullptr;
  }
  if (A.slow) {  // (after the checks: a test may run them on other globals)
    PyErr_SetString(PyExc_RuntimeError, "make_fast_apply: installed already (once per process)");
    return nullptr;
  }
  pos = 0;
  for (int i = 0; PyDict_Next(common, &pos, &name, &want); ++i) {
    Py_INCREF(name);
    PyUnicode_InternInPlace(&name);  // (the per-call lookups hash an interned str)
    A.flags[i] = name;
    A.common[i] = Py_NewRef(want);
    if (PyUnicode_CompareWithASCIIString(name, "_graph_writes") == 0) A.writes = i;
  }
  A.enabled = PyUnicode_InternFromString("enabled");
  A.tensor_api = PyUnicode_InternFromString("_tensor_api");
  A.forward = PyUnicode_InternFromString("forward");
  A.needs = PyUnicode_InternFromString("needs_input_grad");
  A.parents = PyUnicode_InternFromString("parents");
  A.order_name = PyUnicode_InternFromString("_order");
  A.multi_written = PyUnicode_InternFromString("_multi_written");
  A.moved_at = PyUnicode_InternFromString("_moved_at");
  A.epoch = PyUnicode_InternFromString("_epoch");
  if (!A.enabled || !A.tensor_api || !A.forward || !A.needs || !A.parents || !A.order_name ||
      !A.multi_written || !A.moved_at || !A.epoch)
    return nullptr;
  A.new_ = Py_NewRef(args[5]);
  A.state = Py_NewRef(args[6]);
  A.anomaly = Py_NewRef(args[7]);
  A.order = Py_NewRef(args[8]);
  A.recorded = Py_NewRef(args[1]);
  A.unrecorded = Py_NewRef(args[2]);
  A.globals = Py_NewRef(g);
  A.slow = Py_NewRef(args[0]);  // (last: fast_apply runs only once all is set)
  static PyMethodDef def = {"apply",
                            reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_apply)),
                            METH_FASTCALL | METH_KEYWORDS,
                            "apply(cls, *args, **kwargs): Function.apply (its common case in C)."};
  return PyCFunction_NewEx(&def, nullptr, nullptr);
}

// strided(a, shape, strides, writeable, base=a): np.lib.stride_tricks.as_strided(a, shape,
// strides, writeable=writeable) for an ndarray a (its dtype), ~0.15 us where that is ~1.5 us
// (expand's view). Bounds-checked, unlike as_strided: every element must lie within the bytes
// a's own elements span (an empty result: anything), and writeable needs a writeable a.
// base: the object the view holds (from_numpy's new owner of a's memory: a tuple holding a).
PyObject* strided_py(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  auto& api = npy_api::get();
  if (nargs < 4 || nargs > 5 || !PyObject_TypeCheck(args[0], api.PyArray_Type_) ||
      !PyTuple_Check(args[1]) || !PyTuple_Check(args[2]) ||
      PyTuple_GET_SIZE(args[1]) != PyTuple_GET_SIZE(args[2])) {
    PyErr_SetString(PyExc_TypeError,
                    "strided(a, shape, strides, writeable, base=a): an ndarray and two tuples "
                    "of one length");
    return nullptr;
  }
  PyArray_Proxy* a = array_proxy(args[0]);
  const Py_ssize_t nd = PyTuple_GET_SIZE(args[1]);
  if (nd > 64) {
    PyErr_SetString(PyExc_ValueError, "strided: more than 64 dims");
    return nullptr;
  }
  Py_ssize_t dims[64], steps[64];
  bool empty = false;
  long long lo = 0, hi = 0;  // the new view's byte extent, from a's data pointer
  for (Py_ssize_t i = 0; i < nd; ++i) {
    dims[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(args[1], i));
    steps[i] = PyLong_AsSsize_t(PyTuple_GET_ITEM(args[2], i));
    if (PyErr_Occurred()) return nullptr;
    if (dims[i] < 0) {
      PyErr_Format(PyExc_ValueError, "strided: negative size %zd", dims[i]);
      return nullptr;
    }
    empty |= dims[i] == 0;
    const long long reach = static_cast<long long>(dims[i] - 1) * steps[i];
    (reach < 0 ? lo : hi) += reach;
  }
  long long alo = 0, ahi = 0, an = 1;  // a's own extent
  for (int d = 0; d < a->nd; ++d) {
    an *= a->dimensions[d];
    const long long reach = static_cast<long long>(a->dimensions[d] - 1) * a->strides[d];
    (reach < 0 ? alo : ahi) += reach;
  }
  if (!empty && (an == 0 || lo < alo || hi > ahi)) {
    PyErr_SetString(PyExc_ValueError, "strided: the view reaches outside the array's elements");
    return nullptr;
  }
  const int writeable = PyObject_IsTrue(args[3]);
  if (writeable < 0) return nullptr;
  if (writeable && !(a->flags & npy_api::NPY_ARRAY_WRITEABLE_)) {
    PyErr_SetString(PyExc_ValueError, "strided: a writeable view of a read-only array");
    return nullptr;
  }
  Py_INCREF(a->descr);  // (stolen)
  PyObject* y =
      api.PyArray_NewFromDescr_(api.PyArray_Type_, a->descr, static_cast<int>(nd), dims, steps,
                                a->data, writeable ? npy_api::NPY_ARRAY_WRITEABLE_ : 0, nullptr);
  if (!y) return nullptr;
  if (api.PyArray_SetBaseObject_(y, Py_NewRef(args[nargs == 5 ? 4 : 0])) < 0) {
    Py_DECREF(y);
    return nullptr;
  }
  return y;
}

// ---- overhead38: a view op's Tensor outside the graph --------------------------------------
// outside_view(a, x): ops._outside_view -- the Tensor of a, a view of x's array made outside
// the graph, linked to x as function.mark_view links it (_chained_view, _view_of, _made_at, and
// a weak reference in its root's _views) -- in C for its common case: x a plain Tensor not
// requiring grad, a's base x's array or that array's base, no inference_mode block open nor
// inference tensor made (tensor.py's _marking False: Tensor._make marks nothing) and grad
// mode on in every thread (function's _open_blocks [0], _grad_off 0). Tensor._make and
// mark_view's Python frames were ~0.5 us of a ~1.4 us 32x32 transpose (torch's ~1.05).
// Anything else calls the Python function given.
struct Views {
  PyObject* fallback = nullptr;  // ops._outside_view's Python body
  PyObject* globals = nullptr;   // ember.autograd.function's namespace
  PyObject* open_blocks = nullptr;
  PyObject* grad_off = nullptr;
  PyObject* graph_writes = nullptr;
  Py_ssize_t chained = 0, view_of = 0, views = 0, made_at = 0;  // Tensor's slots
} V;

inline PyObject*& member(PyObject* t, Py_ssize_t off) {
  return *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(t) + off);
}

inline void set_member(PyObject* t, Py_ssize_t off, PyObject* v) {
  PyObject* old = member(t, off);
  member(t, off) = Py_NewRef(v);
  Py_XDECREF(old);
}

// function's global `name` when it is exactly the int 0 (the list [0] for _open_blocks).
bool global_zero(PyObject* name, bool in_list) {
  PyObject* v = PyDict_GetItemWithError(V.globals, name);
  if (v && in_list)
    v = PyList_CheckExact(v) && PyList_GET_SIZE(v) > 0 ? PyList_GET_ITEM(v, 0) : nullptr;
  if (!v) {
    PyErr_Clear();
    return false;
  }
  return PyLong_CheckExact(v) && PyLong_AsLong(v) == 0;
}

PyObject* outside_view(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  auto& api = npy_api::get();
  if (nargs != 2 || !S.tensor || !V.fallback || Py_TYPE(args[1]) != S.tensor ||
      Py_TYPE(args[0]) != api.PyArray_Type_)
    return PyObject_Vectorcall(V.fallback, args, static_cast<size_t>(nargs), nullptr);
  PyObject *a = args[0], *x = args[1];
  PyObject* d = slot(x, 0);
  if (slot(x, 2) != Py_False || !d || Py_TYPE(d) != api.PyArray_Type_ || marking() ||
      !global_zero(V.open_blocks, true) || !global_zero(V.grad_off, false))
    return PyObject_Vectorcall(V.fallback, args, 2, nullptr);
  PyObject* b = array_proxy(a)->base;
  PyObject* db = array_proxy(d)->base;
  PyObject* writes = PyDict_GetItemWithError(V.globals, V.graph_writes);
  PyObject* src = x;
  PyObject* mark = Py_None;
  if (b && db) {  // a view of a view: linked to its root, its mark carried on (mark_view)
    PyObject* root = member(x, V.view_of);
    if (root) {
      mark = member(x, V.chained);
      src = root;
    }
  }
  PyObject* views = b ? member(src, V.views) : nullptr;
  if ((b && b != d && b != db) || !writes || !PyLong_CheckExact(writes) || !mark ||
      (views && !PyList_CheckExact(views))) {
    PyErr_Clear();  // (the owner walk of as_strided's views, and any doubt: mark_view's own)
    return PyObject_Vectorcall(V.fallback, args, 2, nullptr);
  }
  PyObject* out = plain(Py_NewRef(a));
  if (!out || !b) return out;  // (not a view: nothing to link, as mark_view)
  PyObject* ref = PyWeakref_NewRef(out, nullptr);
  if (!ref) {
    Py_DECREF(out);
    return nullptr;
  }
  set_member(out, V.chained, mark);
  set_member(out, V.view_of, src);
  set_member(out, V.made_at, writes);
  if (!views) {  // the root's first view
    PyObject* list = PyList_New(1);
    if (!list) {
      Py_DECREF(ref);
      Py_DECREF(out);
      return nullptr;
    }
    PyList_SET_ITEM(list, 0, ref);
    set_member(src, V.views, list);
    Py_DECREF(list);
    return out;
  }
  const int bad = PyList_Append(views, ref);
  Py_DECREF(ref);
  if (bad < 0) {
    Py_DECREF(out);
    return nullptr;
  }
  const Py_ssize_t n = PyList_GET_SIZE(views);
  if (n >= 64 && !(n & (n - 1))) {  // (at each power of two the dead go: amortised O(1))
    PyObject* live = PyList_New(0);
    for (Py_ssize_t i = 0; live && i < n; ++i) {
      PyObject* w = PyList_GET_ITEM(views, i);
      if (PyWeakref_GetObject(w) != Py_None && PyList_Append(live, w) < 0) Py_CLEAR(live);
    }
    if (!live || PyList_SetSlice(views, 0, n, live) < 0) {
      Py_XDECREF(live);
      Py_DECREF(out);
      return nullptr;
    }
    Py_DECREF(live);
  }
  return out;
}

// make_outside_view(fallback, tensor, function_globals): outside_view, its Python path given;
// the globals it reads checked at import (there now, ints / a list of ints).
PyObject* make_outside_view_py(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 3 || !PyType_Check(args[1]) || !PyDict_Check(args[2])) {
    PyErr_SetString(PyExc_TypeError, "make_outside_view(fallback, tensor, function_globals)");
    return nullptr;
  }
  PyObject* g = args[2];
  const char* names[3] = {"_open_blocks", "_grad_off", "_graph_writes"};
  for (const char* name : names) {
    PyObject* v = PyDict_GetItemString(g, name);
    const bool ok = v && (name == names[0] ? PyList_CheckExact(v) : PyLong_CheckExact(v));
    if (!ok) {
      PyErr_Format(PyExc_RuntimeError,
                   "make_outside_view: ember.autograd.function's global %s is %s", name,
                   v ? "of another type" : "missing");
      return nullptr;
    }
  }
  Py_ssize_t off[4];
  const char* slots[4] = {"_chained_view", "_view_of", "_views", "_made_at"};
  try {
    for (int k = 0; k < 4; ++k) off[k] = member_offset(args[1], slots[k]);
  } catch (py::error_already_set& e) {
    e.restore();
    return nullptr;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_TypeError, e.what());
    return nullptr;
  }
  V.chained = off[0];
  V.view_of = off[1];
  V.views = off[2];
  V.made_at = off[3];
  if (!V.open_blocks) {
    V.open_blocks = PyUnicode_InternFromString(names[0]);
    V.grad_off = PyUnicode_InternFromString(names[1]);
    V.graph_writes = PyUnicode_InternFromString(names[2]);
  }
  Py_XSETREF(V.globals, Py_NewRef(g));
  Py_XSETREF(V.fallback, Py_NewRef(args[0]));
  static PyMethodDef def = {
      "outside_view", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(outside_view)),
      METH_FASTCALL, "outside_view(a, x): ops._outside_view (its common case in C)."};
  return PyCFunction_NewEx(&def, nullptr, nullptr);
}

// The method descriptors of kNames[k0 .. k1), fallbacks[name] their Python paths.
py::dict descriptors(PyObject* tensor, const py::dict& fallbacks, const py::dict& acts, int k0,
                     int k1) {
  py::dict out;
  for (int k = k0; k < k1; ++k) {
    py::object fb = fallbacks[kNames[k]];
    S.fallback[k] = fb.inc_ref().ptr();
    if (unary(k)) S.act[k] = acts[kNames[k]].cast<int>();
    py::object doc = py::getattr(fb, "__doc__", py::none());
    S.docs[k] = doc.is_none() ? std::string() : doc.cast<std::string>();
    S.defs[k] = {kNames[k], function_of(k), flags_of(k),
                 S.docs[k].empty() ? nullptr : S.docs[k].c_str()};
    PyObject* descr = PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(tensor), &S.defs[k]);
    if (!descr) throw py::error_already_set();
    out[kNames[k]] = py::reinterpret_steal<py::object>(descr);
  }
  return out;
}

py::dict fast_methods_py(const py::type& tensor, const py::dict& globals,
                         const py::object& size1_strided, const py::object& binary_auto,
                         const py::dict& fallbacks, const py::dict& acts,
                         const py::dict& function_globals, const py::object& note_write) {
  EMBER_CHECK(!S.tensor, "fast_methods: installed already");
  auto& api = npy_api::get();
  const char* slots[5] = {"_data", "_grad", "_requires_grad", "_ctx", "_idx"};
  for (int k = 0; k < 5; ++k) S.off[k] = member_offset(tensor.ptr(), slots[k]);
  S.globals = globals.inc_ref().ptr();
  S.marking = PyUnicode_InternFromString("_marking");
  S.size1_strided = size1_strided.inc_ref().ptr();
  S.binary_auto = binary_auto.inc_ref().ptr();
  S.zero = PyLong_FromLong(0);
  py::list names = py::module_::import("ember._C").attr("activation_names");
  S.num_acts = static_cast<long>(py::len(names));
  const char* pow_kernels[4] = {"square", "sqrt", "reciprocal", "rsqrt"};  // ops._POW_KERNEL
  for (int e = 0; e < 4; ++e) S.pow_act[e] = names.attr("index")(pow_kernels[e]).cast<int>();
  py::module_ np = py::module_::import("numpy");
  for (int i = 0; i < 6; ++i) S.ufunc[i] = py::object(np.attr(kUfuncs[i])).inc_ref().ptr();
  S.fn_globals = function_globals.inc_ref().ptr();
  S.swapped = PyUnicode_InternFromString("_swapped");
  S.multi_owners = PyUnicode_InternFromString("_multi_owners");
  S.written_owners = PyUnicode_InternFromString("_written_owners");
  S.graph_writes = PyUnicode_InternFromString("_graph_writes");
  S.inference_made = PyUnicode_InternFromString("_inference_made");
  S.note_write = note_write.inc_ref().ptr();
  S.grad_state = py::object(function_globals["_state"]).inc_ref().ptr();
  S.enabled = PyUnicode_InternFromString("enabled");
  if (!S.enabled) throw py::error_already_set();
  py::module_ ops = py::module_::import("ember.ops");
  const char* nodes[4] = {"Add", "Sub", "Mul", "Div"};
  for (int k = 0; k < 4; ++k)
    S.apply[k] = py::object(ops.attr(nodes[k]).attr("apply")).inc_ref().ptr();
  S.f32 = api.PyArray_DescrFromType_(npy_api::NPY_FLOAT_);
  S.f64 = api.PyArray_DescrFromType_(npy_api::NPY_DOUBLE_);
  S.i64 = api.PyArray_DescrFromType_(npy_api::NPY_INT64_);
  S.copyto = py::object(np.attr("copyto")).inc_ref().ptr();
  S.casting_kw = py::make_tuple("casting").inc_ref().ptr();
  S.unsafe = py::str("unsafe").inc_ref().ptr();
  if (!S.marking || !S.zero || !S.f32 || !S.f64 || !S.i64 || !S.swapped || !S.multi_owners ||
      !S.written_owners || !S.graph_writes || !S.inference_made)
    throw py::error_already_set();
  // the globals the C paths read by name each call, there now with their types: a rename in
  // tensor.py or function.py fails here, at import, not by a path silently never taken
  const std::pair<PyObject*, PyObject*> named[] = {
      {globals.ptr(), S.marking},       {S.fn_globals, S.swapped},
      {S.fn_globals, S.inference_made}, {S.fn_globals, S.multi_owners},
      {S.fn_globals, S.written_owners}, {S.fn_globals, S.graph_writes}};
  for (const auto& [space, name] : named) {
    PyObject* v = PyDict_GetItemWithError(space, name);
    if (!v && PyErr_Occurred()) throw py::error_already_set();
    const bool ok = name == S.multi_owners || name == S.written_owners ? v && PyDict_CheckExact(v)
                    : name == S.graph_writes                           ? v && PyLong_CheckExact(v)
                                                                       : v && PyBool_Check(v);
    EMBER_CHECK(ok, "fast_methods: the global ", py::str(name).cast<std::string>(),
                v ? " has another type" : " is missing");
  }
  py::dict out = descriptors(tensor.ptr(), fallbacks, acts, 0, kAddIn);
  S.tensor = reinterpret_cast<PyTypeObject*>(tensor.inc_ref().ptr());
  return out;
}

// add_, sub_, mul_, div_ (and speed28's fill_, zero_): made after ember/_inplace.py wrapped them
// (their fallbacks).
py::dict fast_inplace_methods_py(const py::dict& fallbacks) {
  EMBER_CHECK(S.tensor && !S.fallback[kAddIn], "fast_inplace_methods: after fast_methods, once");
  return descriptors(reinterpret_cast<PyObject*>(S.tensor), fallbacks, py::dict(), kAddIn, kCount);
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
       "methods' path), else None."},
      {"fast_dot", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fast_dot)),
       METH_FASTCALL,
       "fast_dot(a, b): gemm(a.reshape(1, n), b.reshape(n, 1)) as a 0-d plain Tensor when a "
       "and b are Tensors outside autograd of C-contiguous 1-D float32/float64 arrays of one "
       "dtype and size n > 0 (ops._plain_dot's case), else None."},
      {"make_fast_apply",
       reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(make_fast_apply_py)),
       METH_FASTCALL,
       "make_fast_apply(slow, recorded, unrecorded, function_globals, common, new, state, "
       "anomaly, order): Function.apply's common case in C (a function of cls, *args; wrap it "
       "in classmethod), the rest by the Python functions given; common maps the mode globals "
       "it reads to their values when no rare mode is on. Once per process."},
      {"strided", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(strided_py)),
       METH_FASTCALL,
       "strided(a, shape, strides, writeable, base=a): np.lib.stride_tricks.as_strided(a, "
       "shape, strides, writeable=writeable) (byte strides), refused where an element would "
       "lie outside the bytes a's elements span; the view holds base (a by default)."},
      {"make_outside_view",
       reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(make_outside_view_py)),
       METH_FASTCALL,
       "make_outside_view(fallback, tensor, function_globals): ops._outside_view's common case "
       "in C (a view's Tensor outside the graph, linked as function.mark_view links it), "
       "fallback for the rest."},
      {"count_write", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(count_write_py)),
       METH_FASTCALL,
       "count_write(a, t=None): ember.autograd.function.note_write (array a's memory written "
       "in place, through the tensor t), its common case in C; after fast_methods."}};
  for (PyMethodDef& d : defs) {
    PyObject* f = PyCFunction_NewEx(&d, nullptr, m.attr("__name__").ptr());
    if (!f) throw py::error_already_set();
    m.attr(d.ml_name) = py::reinterpret_steal<py::object>(f);
  }
  m.def("fast_methods", &fast_methods_py, py::arg("tensor"), py::arg("globals"),
        py::arg("size1_strided"), py::arg("binary_auto"), py::arg("fallbacks"), py::arg("acts"),
        py::arg("function_globals"), py::arg("note_write"),
        "Tensor's + - * / (and number + / * tensor) and exp, log, sqrt, tanh, sigmoid, relu, "
        "neg, abs, number - / tensor, tensor ** number, the comparisons and the augmented "
        "assignments as method descriptors whose C bodies run tensor.py's fast paths (the same "
        "tests, kernels and plain result) and call fallbacks[name] for anything else. Once per "
        "process.");
  m.def("fast_inplace_methods", &fast_inplace_methods_py, py::arg("fallbacks"),
        "Tensor.add_, sub_, mul_, div_, fill_, zero_, copy_ as fast_methods' in-place ones "
        "(fallbacks: ember/"
        "_inplace.py's wrapped methods). Once, after fast_methods.");
}

}  // namespace ember
