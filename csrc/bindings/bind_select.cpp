// Bindings for csrc/ops/select.cpp. x is (rows, n), C-contiguous, float32/float64/int64.
//
//   topk_indices(x, k, largest, sorted, values=False) -> idx (rows, k) int64, or (v, idx)
//   sort_indices(x, descending, values=False) -> idx (rows, n) int64, or (v, idx)  (unstable)
//   stable_sort_indices(x, descending, values=False) -> as sort_indices, a stable sort
//   kthvalue_indices(x, k, values=False) -> idx (rows,) int64 (k 0-based), or (v, idx) (rows, 1)
//   mode_indices(x, values=False) -> idx (rows,) int64, or (v, idx) (rows, 1)
//   median_indices(x, ignore_nan, values=False) -> idx (rows,) int64, or (v (rows, 1), idx)
#include <string>
#include <type_traits>
#include <utility>

#include "bind_util.h"

namespace ember {

// csrc/ops/select.cpp (instantiated there for float, double and int64_t).
template <typename T>
void topk_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, int64_t k, bool largest,
                  bool sorted);
template <typename T>
void sort_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, bool descending);
template <typename T>
void stable_sort_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, bool descending);
template <typename T>
void kthvalue_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, int64_t k);
template <typename T>
void mode_indices(int64_t* idx, const T* x, int64_t rows, int64_t n);
template <typename T>
void median_indices(int64_t* idx, const T* x, int64_t rows, int64_t n, bool ignore_nan);
template <typename T>
void take_rows(T* y, const T* x, const int64_t* idx, int64_t rows, int64_t n, int64_t cols);

namespace {

bool is_i64(const py::array& a) { return same_dtype(a.dtype(), py::dtype::of<int64_t>()); }

// Checks x (rows, n), allocates idx (rows, cols) or (rows,) for cols < 0, and runs
// kernel(idx, typed pointer to x) without the GIL; with values (cols >= 0), returns (v, idx)
// with v (rows, cols) x's entries at idx.
template <typename Kernel>
py::object run(const py::array& x, const char* op, int64_t cols, Kernel kernel,
               bool values = false) {
  if (!is_f32(x) && !is_f64(x) && !is_i64(x))
    throw py::type_error(std::string(op) + ": x must be float32, float64 or int64, got " +
                         std::string(py::str(x.dtype())));
  require_ndim(x, 2, op, "x");
  require_contiguous(x, op, "x");
  std::vector<py::ssize_t> shape{x.shape(0)};
  if (cols >= 0) shape.push_back(cols);
  py::array_t<int64_t> idx;
  try {
    idx = py::array_t<int64_t>(shape);
  } catch (py::error_already_set& e) {
    if (!e.matches(PyExc_MemoryError)) throw;
    throw out_of_memory(std::string(e.what()));
  }
  py::array v = values ? empty_like_dtype(x, {x.shape(0), cols}) : py::array();
  // Nothing to select: the kernels would still walk (2^56, 0)'s rows, or size per-thread
  // buffers for (0, 2^56)'s row length (a failed allocation in a parallel region aborted).
  if (x.size() == 0) return values ? py::object(py::make_tuple(v, idx)) : py::object(idx);
  int64_t* out = idx.mutable_data();
  const void* in = x.data();
  void* vp = values ? v.mutable_data() : nullptr;
  const int64_t rows = x.shape(0), n = x.shape(1);
  const bool f32 = is_f32(x), f64 = is_f64(x);
  {
    py::gil_scoped_release release;
    auto go = [&](const auto* typed) {
      using T = std::remove_const_t<std::remove_pointer_t<decltype(typed)>>;
      kernel(out, typed);
      if (values) take_rows<T>(static_cast<T*>(vp), typed, out, rows, n, cols);
    };
    if (f32)
      go(static_cast<const float*>(in));
    else if (f64)
      go(static_cast<const double*>(in));
    else
      go(static_cast<const int64_t*>(in));
  }
  if (values) return py::make_tuple(v, idx);
  return std::move(idx);
}

py::object topk_py(const py::array& x, int64_t k, bool largest, bool sorted, bool values) {
  const int64_t rows = x.ndim() == 2 ? x.shape(0) : 0, n = x.ndim() == 2 ? x.shape(1) : 0;
  EMBER_CHECK(x.ndim() != 2 || (0 <= k && k <= n), "topk_indices: k (", k,
              ") out of range for rows of ", n);
  return run(
      x, "topk_indices", k,
      [&](int64_t* idx, const auto* in) { topk_indices(idx, in, rows, n, k, largest, sorted); },
      values);
}

py::object sort_py(const py::array& x, bool descending, bool values) {
  const int64_t rows = x.ndim() == 2 ? x.shape(0) : 0, n = x.ndim() == 2 ? x.shape(1) : 0;
  return run(
      x, "sort_indices", n,
      [&](int64_t* idx, const auto* in) { sort_indices(idx, in, rows, n, descending); }, values);
}

py::object stable_sort_py(const py::array& x, bool descending, bool values) {
  const int64_t rows = x.ndim() == 2 ? x.shape(0) : 0, n = x.ndim() == 2 ? x.shape(1) : 0;
  return run(
      x, "stable_sort_indices", n,
      [&](int64_t* idx, const auto* in) { stable_sort_indices(idx, in, rows, n, descending); },
      values);
}

py::object kthvalue_py(const py::array& x, int64_t k, bool values) {
  const int64_t rows = x.ndim() == 2 ? x.shape(0) : 0, n = x.ndim() == 2 ? x.shape(1) : 0;
  EMBER_CHECK(x.ndim() != 2 || (0 <= k && k < n), "kthvalue_indices: k (", k,
              ") out of range for rows of ", n);
  return run(
      x, "kthvalue_indices", values ? 1 : -1,
      [&](int64_t* idx, const auto* in) { kthvalue_indices(idx, in, rows, n, k); }, values);
}

py::object mode_py(const py::array& x, bool values) {
  const int64_t rows = x.ndim() == 2 ? x.shape(0) : 0, n = x.ndim() == 2 ? x.shape(1) : 0;
  EMBER_CHECK(x.ndim() != 2 || n > 0, "mode_indices: rows must not be empty");
  return run(
      x, "mode_indices", values ? 1 : -1,
      [&](int64_t* idx, const auto* in) { mode_indices(idx, in, rows, n); }, values);
}

py::object median_py(const py::array& x, bool ignore_nan, bool values) {
  const int64_t rows = x.ndim() == 2 ? x.shape(0) : 0, n = x.ndim() == 2 ? x.shape(1) : 0;
  EMBER_CHECK(x.ndim() != 2 || n > 0, "median_indices: rows must not be empty");
  // (values: the kernel's positions are (rows,) = (rows, 1) laid out, read as one column)
  return run(
      x, "median_indices", values ? 1 : -1,
      [&](int64_t* idx, const auto* in) { median_indices(idx, in, rows, n, ignore_nan); }, values);
}

}  // namespace

void bind_select(py::module_& m) {
  m.def("topk_indices", &topk_py, py::arg("x"), py::arg("k"), py::arg("largest"), py::arg("sorted"),
        py::arg("values") = false,
        "Positions of the k largest (smallest) entries of each row of x (rows, n), ties broken "
        "as torch.topk's CPU kernel; with values, (those entries, positions).");
  m.def("sort_indices", &sort_py, py::arg("x"), py::arg("descending"), py::arg("values") = false,
        "Each row's sorting permutation by an unstable sort, ties as torch.sort(stable=False); "
        "with values, (the sorted rows, permutation).");
  m.def("stable_sort_indices", &stable_sort_py, py::arg("x"), py::arg("descending"),
        py::arg("values") = false,
        "Each row's sorting permutation by a stable sort, as torch.sort(stable=True); with "
        "values, (the sorted rows, permutation).");
  m.def("kthvalue_indices", &kthvalue_py, py::arg("x"), py::arg("k"), py::arg("values") = false,
        "Position of the k-th smallest (0-based) entry of each row, as torch.kthvalue; with "
        "values, ((rows, 1) entries, (rows, 1) positions).");
  m.def("mode_indices", &mode_py, py::arg("x"), py::arg("values") = false,
        "Position of each row's most frequent value, as torch.mode; with values, ((rows, 1) "
        "values, (rows, 1) positions).");
  m.def("median_indices", &median_py, py::arg("x"), py::arg("ignore_nan"),
        py::arg("values") = false,
        "Position of each row's lower median, as torch.median (the first NaN when the row holds "
        "one) or torch.nanmedian (ignore_nan); with values, ((rows, 1) medians, (rows, 1) "
        "positions).");
}

}  // namespace ember
