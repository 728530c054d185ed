// Array checks shared by the binding blocks: dtype, contiguity, shapes. No maths here.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "common.h"

namespace py = pybind11;

namespace ember {

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

// dtype equality, not identity: an unpickled array's dtype is a new object (a DataLoader worker
// or a pickled dataset hands those over), and byte-swapped dtypes compare unequal.
inline bool same_dtype(const py::dtype& a, const py::dtype& b) { return a.is(b) || a.equal(b); }
inline bool is_f32(const py::array& a) { return same_dtype(a.dtype(), py::dtype::of<float>()); }
inline bool is_f64(const py::array& a) { return same_dtype(a.dtype(), py::dtype::of<double>()); }

// Float kernels refuse integer / object / other arrays with TypeError.
inline void require_float(const py::array& a, const char* op, const char* name) {
  if (!is_f32(a) && !is_f64(a))
    throw py::type_error(std::string(op) + ": " + name + " must be float32 or float64, got " +
                         std::string(py::str(a.dtype())));
}

inline void require_same_dtype(const py::array& a, const py::array& b, const char* op) {
  if (!same_dtype(a.dtype(), b.dtype()))
    throw py::type_error(std::string(op) + ": dtypes differ (" + std::string(py::str(a.dtype())) +
                         " vs " + std::string(py::str(b.dtype())) + ")");
}

// Kernels take raw pointers, so inputs must be C-contiguous; the Python layer makes them so.
inline void require_contiguous(const py::array& a, const char* op, const char* name) {
  EMBER_CHECK(a.flags() & py::array::c_style, op, ": ", name, " must be C-contiguous");
}

inline void require_writeable(const py::array& a, const char* op, const char* name) {
  EMBER_CHECK(a.writeable(), op, ": ", name, " is read-only");
}

inline void require_ndim(const py::array& a, py::ssize_t ndim, const char* op, const char* name) {
  EMBER_CHECK(a.ndim() == ndim, op, ": ", name, " must be ", ndim, "-D, got shape ",
              shape_str(shape_of(a)));
}

inline void require_shape(const py::array& a, const std::vector<int64_t>& shape, const char* op,
                          const char* name) {
  EMBER_CHECK(shape_of(a) == shape, op, ": ", name, " must have shape ", shape_str(shape), ", got ",
              shape_str(shape_of(a)));
}

// A fresh C-contiguous output of a's dtype.
inline py::array empty_like_dtype(const py::array& a, const std::vector<int64_t>& shape) {
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  return py::array(a.dtype(), s);
}

template <typename T>
T* ptr(py::array& a) {
  return static_cast<T*>(a.mutable_data());
}
template <typename T>
const T* cptr(const py::array& a) {
  return static_cast<const T*>(a.data());
}

}  // namespace ember
