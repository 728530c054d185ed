// Array checks shared by the binding blocks: dtype, contiguity, shapes. No maths here.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <utility>
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

// A fresh C-contiguous output of a's dtype. NumPy's MemoryError for a huge (valid) size becomes
// out_of_memory (ember._C.OutOfMemoryError: a RuntimeError and a MemoryError, as PyTorch's).
inline py::array empty_like_dtype(const py::array& a, const std::vector<int64_t>& shape) {
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  try {
    return py::array(a.dtype(), s);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_MemoryError)) throw;
    throw out_of_memory(std::string(e.what()));
  }
}

// a itself when C-contiguous, else a C-contiguous copy. (py::array::ensure returns a null array
// when the copy fails, e.g. a huge broadcast view: dereferencing that crashed.) NumPy's
// MemoryError becomes out_of_memory.
inline py::array c_contiguous(const py::array& a) {
  if (a.flags() & py::array::c_style) return a;
  try {
    return py::module_::import("numpy").attr("ascontiguousarray")(a);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_MemoryError)) throw;
    throw out_of_memory(std::string(e.what()));
  }
}

// The byte range [lo, hi) an array's elements span (any strides); empty for size 0.
inline std::pair<const char*, const char*> byte_range(const py::array& a) {
  const char* lo = static_cast<const char*>(a.data());
  const char* hi = lo;
  if (a.size() == 0) return {lo, lo};
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    const py::ssize_t step = (a.shape(d) - 1) * a.strides(d);
    (step < 0 ? lo : hi) += step;
  }
  return {lo, hi + a.itemsize()};
}

inline bool overlaps(const py::array& a, const py::array& b) {
  auto [alo, ahi] = byte_range(a);
  auto [blo, bhi] = byte_range(b);
  return alo < bhi && blo < ahi;
}

// An output written while `in` is read: the same array (elementwise kernels read each element
// before writing it) is fine when allow_same, any other overlap would read overwritten values.
inline void require_no_overlap(const py::array& out, const py::array& in, const char* op,
                               const char* out_name, const char* in_name, bool allow_same) {
  const bool same =
      out.data() == in.data() && shape_of(out) == shape_of(in) && out.itemsize() == in.itemsize();
  EMBER_CHECK((allow_same && same) || !overlaps(out, in), op, ": ", out_name,
              " overlaps the memory of ", in_name,
              allow_same ? " (it may be the same array, not a shifted view of it)" : "");
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
