// ember._C: one block per ops file, each defined in its bind_<family>.cpp.
#include <pybind11/pybind11.h>

#include <cstdlib>
#include <cstring>
#include <new>
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
void bind_embedding(py::module_& m);
void bind_gather(py::module_& m);
void bind_gemm(py::module_& m);
void bind_layernorm(py::module_& m);
void bind_loss(py::module_& m);
void bind_optim(py::module_& m);
void bind_pool2d(py::module_& m);
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
    }
  });

  m.def("set_num_threads", &ember::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &ember::get_num_threads);
  m.def("omp_max_threads", [] { return omp_get_max_threads(); });
  m.attr("__version__") = EMBER_VERSION;
  m.attr("compiler") = EMBER_COMPILER;
  m.attr("openmp_version") = _OPENMP;
  m.attr("malloc_tuned") = tune_malloc();

  ember::bind_activation(m);
  ember::bind_attention(m);
  ember::bind_batchnorm(m);
  ember::bind_conv2d(m);
  ember::bind_embedding(m);
  ember::bind_gather(m);
  ember::bind_gemm(m);
  ember::bind_layernorm(m);
  ember::bind_loss(m);
  ember::bind_optim(m);
  ember::bind_pool2d(m);
  ember::bind_reduce(m);
  ember::bind_resample(m);
  ember::bind_rnn(m);
  ember::bind_select(m);
  ember::bind_softmax(m);
  ember::bind_special(m);
}
