// ember._C: one block per ops file, each defined in its bind_<family>.cpp.
#include <pybind11/pybind11.h>
#include <structmember.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "bind_util.h"
#include "gemm/gemm.h"

namespace ember {
void bind_activation(py::module_& m);
void bind_attention(py::module_& m);
void bind_batchnorm(py::module_& m);
void bind_conv2d(py::module_& m);
void bind_elementwise(py::module_& m);
void bind_fast(py::module_& m);
void bind_embedding(py::module_& m);
void bind_gather(py::module_& m);
void bind_gemm(py::module_& m);
void bind_layernorm(py::module_& m);
void bind_loss(py::module_& m);
void bind_optim(py::module_& m);
void bind_pool2d(py::module_& m);
void bind_random(py::module_& m);
void bind_reduce(py::module_& m);
void bind_resample(py::module_& m);
void bind_rnn(py::module_& m);
void bind_select(py::module_& m);
void bind_softmax(py::module_& m);
void bind_special(py::module_& m);
}  // namespace ember

#ifndef EMBER_VERSION
#define EMBER_VERSION "0.0.0"
#endif
#ifndef EMBER_COMPILER
#define EMBER_COMPILER "unknown"
#endif

// A training step frees and reallocates the same megabyte-sized activations every step. With
// glibc's defaults the freed top of the heap goes back to the kernel (trim) and the next step
// page-faults on every 4 KiB it writes again: a quarter of a small ResNet's step at batch 32.
// Keep up to 256 MiB of freed heap and serve blocks up to 32 MiB (glibc's own dynamic ceiling)
// from it. EMBER_MALLOC_TUNING=0 keeps glibc's defaults; other allocators are left alone.
static bool tune_malloc() {
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
  const char* env = std::getenv("EMBER_MALLOC_TUNING");
  if (env && std::strcmp(env, "0") == 0) return false;
  return mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1 && mallopt(M_TRIM_THRESHOLD, 256 << 20) == 1;
#else
  return false;
#endif
}

// float16 / bfloat16: the kernels are float32/float64 only. Every function of the module is
// wrapped in a LowpCall: the call goes straight to the kernel (one vectorcall indirection, so
// float32/float64 pay nothing measurable); only when it raises TypeError does
// ember._lowp.call_f32 look for 16-bit float arrays among the arguments and, if it finds any,
// run the kernel in float32 and round the results back, as PyTorch's CPU half ops do.
namespace {

struct LowpCall {
  PyObject_HEAD PyObject* fn;
  vectorcallfunc vectorcall;
};

PyObject* lowp_fallback = nullptr;  // ember._lowp.call_f32, imported on first use

// The raised exception as an object with its traceback (clears the error indicator).
PyObject* take_error() {
#if PY_VERSION_HEX >= 0x030C0000
  return PyErr_GetRaisedException();
#else
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  return value;
#endif
}

PyObject* lowp_vectorcall(PyObject* self, PyObject* const* args, size_t nargsf, PyObject* kwnames) {
  PyObject* fn = reinterpret_cast<LowpCall*>(self)->fn;
  PyObject* r = PyObject_Vectorcall(fn, args, nargsf, kwnames);
  if (r || !PyErr_ExceptionMatches(PyExc_TypeError)) return r;
  PyObject* error = take_error();
  if (!lowp_fallback) {
    PyObject* mod = PyImport_ImportModule("ember._lowp");
    lowp_fallback = mod ? PyObject_GetAttrString(mod, "call_f32") : nullptr;
    Py_XDECREF(mod);
    if (!lowp_fallback) {
      Py_DECREF(error);
      return nullptr;
    }
  }
  // call_f32(error, fn, *args, **kwargs): re-raises error when no argument is 16-bit float
  const Py_ssize_t n = PyVectorcall_NARGS(nargsf);
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  std::vector<PyObject*> all(static_cast<size_t>(n + nkw + 2));
  all[0] = error;
  all[1] = fn;
  for (Py_ssize_t i = 0; i < n + nkw; ++i) all[static_cast<size_t>(i + 2)] = args[i];
  r = PyObject_Vectorcall(lowp_fallback, all.data(), static_cast<size_t>(n + 2), kwnames);
  Py_DECREF(error);
  return r;
}

void lowp_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  Py_XDECREF(reinterpret_cast<LowpCall*>(self)->fn);
  type->tp_free(self);
  Py_DECREF(type);  // a heap type: its instances hold a reference
}

// Attributes (__doc__, __name__, ...) are the wrapped function's.
PyObject* lowp_getattro(PyObject* self, PyObject* name) {
  return PyObject_GetAttr(reinterpret_cast<LowpCall*>(self)->fn, name);
}

PyObject* lowp_repr(PyObject* self) { return PyObject_Repr(reinterpret_cast<LowpCall*>(self)->fn); }

PyTypeObject* make_lowp_type() {
  static PyMemberDef members[] = {
      {"__vectorcalloffset__", T_PYSSIZET, offsetof(LowpCall, vectorcall), READONLY, nullptr},
      {nullptr, 0, 0, 0, nullptr}};
  static PyType_Slot slots[] = {{Py_tp_dealloc, reinterpret_cast<void*>(lowp_dealloc)},
                                {Py_tp_getattro, reinterpret_cast<void*>(lowp_getattro)},
                                {Py_tp_repr, reinterpret_cast<void*>(lowp_repr)},
                                {Py_tp_call, reinterpret_cast<void*>(PyVectorcall_Call)},
                                {Py_tp_members, members},
                                {0, nullptr}};
  static PyType_Spec spec = {"ember._C.kernel", sizeof(LowpCall), 0,
                             Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL, slots};
  PyObject* t = PyType_FromSpec(&spec);
  if (!t) throw py::error_already_set();
  return reinterpret_cast<PyTypeObject*>(t);
}

// slot_property(member, fset, fdel): a data descriptor whose reads are the slot's own (its
// member descriptor's C getter, ~15 ns a read, where a property with the same getter costs
// ~45 ns through its method-wrapper call) and whose writes and deletes call fset(obj, value) /
// fdel(obj). Tensor.data is one: read on every op's path, assigned rarely and checked.
struct SlotProperty {
  PyObject_HEAD PyObject* member;
  PyObject* fset;
  PyObject* fdel;
};

PyObject* slot_property_new(PyTypeObject* type, PyObject* args, PyObject* kwargs) {
  PyObject *member, *fset, *fdel;
  if (kwargs && PyDict_GET_SIZE(kwargs)) {
    PyErr_SetString(PyExc_TypeError, "slot_property(member, fset, fdel) takes no keywords");
    return nullptr;
  }
  if (!PyArg_UnpackTuple(args, "slot_property", 3, 3, &member, &fset, &fdel)) return nullptr;
  if (!Py_TYPE(member)->tp_descr_get || !PyCallable_Check(fset) || !PyCallable_Check(fdel)) {
    PyErr_SetString(PyExc_TypeError, "slot_property: a descriptor and two callables");
    return nullptr;
  }
  auto* self = reinterpret_cast<SlotProperty*>(type->tp_alloc(type, 0));
  if (!self) return nullptr;
  self->member = Py_NewRef(member);
  self->fset = Py_NewRef(fset);
  self->fdel = Py_NewRef(fdel);
  return reinterpret_cast<PyObject*>(self);
}

PyObject* slot_property_get(PyObject* self, PyObject* obj, PyObject* type) {
  if (!obj || obj == Py_None) return Py_NewRef(self);  // (on the class: the descriptor)
  PyObject* member = reinterpret_cast<SlotProperty*>(self)->member;
  return Py_TYPE(member)->tp_descr_get(member, obj, type);
}

int slot_property_set(PyObject* self, PyObject* obj, PyObject* value) {
  auto* p = reinterpret_cast<SlotProperty*>(self);
  PyObject* r = value ? PyObject_CallFunctionObjArgs(p->fset, obj, value, nullptr)
                      : PyObject_CallOneArg(p->fdel, obj);
  Py_XDECREF(r);
  return r ? 0 : -1;
}

void slot_property_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  auto* p = reinterpret_cast<SlotProperty*>(self);
  Py_XDECREF(p->member);
  Py_XDECREF(p->fset);
  Py_XDECREF(p->fdel);
  type->tp_free(self);
  Py_DECREF(type);
}

void bind_slot_property(py::module_& m) {
  static PyType_Slot slots[] = {
      {Py_tp_new, reinterpret_cast<void*>(slot_property_new)},
      {Py_tp_dealloc, reinterpret_cast<void*>(slot_property_dealloc)},
      {Py_tp_descr_get, reinterpret_cast<void*>(slot_property_get)},
      {Py_tp_descr_set, reinterpret_cast<void*>(slot_property_set)},
      {Py_tp_doc, const_cast<char*>("slot_property(member, fset, fdel): a slot's C getter with a "
                                    "Python setter and deleter")},
      {0, nullptr}};
  static PyType_Spec spec = {"ember._C.slot_property", sizeof(SlotProperty), 0, Py_TPFLAGS_DEFAULT,
                             slots};
  PyObject* t = PyType_FromSpec(&spec);
  if (!t) throw py::error_already_set();
  m.attr("slot_property") = py::reinterpret_steal<py::object>(t);
}

void wrap_kernels(py::module_& m) {
  PyTypeObject* type = make_lowp_type();  // lives as long as the process
  py::dict d = m.attr("__dict__");
  for (auto [key, fn] : py::dict(d.attr("copy")())) {  // a copy: the loop replaces entries
    if (!PyCFunction_Check(fn.ptr())) continue;
    const std::string name = py::str(key);
    if (name == "set_num_threads" || name == "get_num_threads" || name == "omp_max_threads")
      continue;
    auto* w = PyObject_New(LowpCall, type);
    if (!w) throw py::error_already_set();
    w->fn = fn.inc_ref().ptr();
    w->vectorcall = lowp_vectorcall;
    d[key] = py::reinterpret_steal<py::object>(reinterpret_cast<PyObject*>(w));
  }
}

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "ember's C++ kernels (OpenMP). Use ember's Python API rather than these directly.";
  py::register_exception<ember::type_error>(m, "KernelTypeError", PyExc_TypeError);
  // A huge (valid) size that cannot be allocated: RuntimeError as in PyTorch, and MemoryError.
  static PyObject* oom = PyErr_NewException(
      "ember._C.OutOfMemoryError",
      py::make_tuple(py::handle(PyExc_RuntimeError), py::handle(PyExc_MemoryError)).ptr(), nullptr);
  m.attr("OutOfMemoryError") = py::handle(oom);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ember::out_of_memory& e) {
      PyErr_SetString(oom, e.what());
    } catch (const std::bad_alloc&) {
      PyErr_SetString(oom, "ember: out of memory allocating a kernel workspace");
    } catch (const std::invalid_argument& e) {
      // A failed EMBER_CHECK: ember._errors.BadShapeOrValue (a ValueError, as design.md says,
      // and a RuntimeError, as torch raises), so the kernels' own checks refuse as the Python
      // layer's do. Looked up on first use: ember._errors imports nothing of ours.
      static PyObject* bad = [] {
        return py::module_::import("ember._errors")
            .attr("BadShapeOrValue")
            .cast<py::object>()
            .release()
            .ptr();
      }();
      PyErr_SetString(bad, e.what());
    }
  });

  m.def("set_num_threads", &ember::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &ember::get_num_threads);
  m.def("omp_max_threads", &ember::omp_threads_cap);
  m.attr("__version__") = EMBER_VERSION;
  m.attr("compiler") = EMBER_COMPILER;
  m.attr("openmp_version") = _OPENMP;
  m.attr("malloc_tuned") = tune_malloc();

  ember::bind_activation(m);
  ember::bind_attention(m);
  ember::bind_batchnorm(m);
  ember::bind_conv2d(m);
  ember::bind_elementwise(m);
  ember::bind_embedding(m);
  ember::bind_gather(m);
  ember::bind_gemm(m);
  ember::bind_layernorm(m);
  ember::bind_loss(m);
  ember::bind_optim(m);
  ember::bind_pool2d(m);
  ember::bind_random(m);
  ember::bind_reduce(m);
  ember::bind_resample(m);
  ember::bind_rnn(m);
  ember::bind_select(m);
  ember::bind_softmax(m);
  ember::bind_special(m);
  ember::bind_fast(m);
  wrap_kernels(m);
  bind_slot_property(m);  // (after wrap_kernels: a type, not a kernel)
}
