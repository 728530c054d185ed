// Bindings for csrc/ops/reduce.cpp.
//
//   sum_rows(x (rows, n) float32/float64, C-contiguous, square=False) -> y (rows,)
#include "bind_util.h"

namespace ember {

// csrc/ops/reduce.cpp (instantiated there for float and double).
template <typename T>
void sum_rows(T* y, const T* x, int64_t rows, int64_t n, bool square);

namespace {

py::array sum_rows_py(const py::array& x, bool square) {
  const char* op = "sum_rows";
  require_float(x, op, "x");
  require_ndim(x, 2, op, "x");
  require_contiguous(x, op, "x");
  const int64_t rows = x.shape(0), n = x.shape(1);
  py::array y = empty_like_dtype(x, {rows});
  // Everything that touches Python objects (dtype, data pointers) before the release.
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (f32)
      sum_rows<float>(static_cast<float*>(out), static_cast<const float*>(in), rows, n, square);
    else
      sum_rows<double>(static_cast<double*>(out), static_cast<const double*>(in), rows, n, square);
  }
  return y;
}

}  // namespace

void bind_reduce(py::module_& m) {
  m.def("sum_rows", &sum_rows_py, py::arg("x"), py::arg("square") = false,
        "x (rows, n) float32/float64 C-contiguous -> y (rows,): each row's sum (of squares when "
        "square: each x*x rounded, then summed) in x's dtype, "
        "blocked pairwise (error ~ log2(n) ulp; the same bits for any thread count).");
}

}  // namespace ember
