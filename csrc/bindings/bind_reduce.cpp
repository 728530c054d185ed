// Bindings for csrc/ops/reduce.cpp.
//
//   sum_rows(x (rows, n) float32/float64, C-contiguous, square=False) -> y (rows,)
//   cumsum(x (outer, n, inner) float32/float64, C-contiguous, reverse=False) -> y (same)
//   broadcast_binary(x (rows, n), v (n,) or (rows,), op, per_row=False, flip=False) -> y (rows, n)
//   fill(out float32/float64 C-contiguous writeable, value) -> None      out[...] = value
//   fill_rows(out (rows, n) as fill's, v (rows,) of out's dtype) -> None  out[r, :] = v[r]
#include "bind_util.h"

namespace ember {

// csrc/ops/reduce.cpp (instantiated there for float and double).
template <typename T>
void sum_rows(T* y, const T* x, int64_t rows, int64_t n, bool square);
template <typename T>
void cumsum(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool reverse);
template <typename T>
void broadcast_binary(T* y, const T* x, const T* v, int64_t rows, int64_t n, int op, bool per_row,
                      bool flip);
template <typename T>
void fill(T* y, int64_t n, T value);
template <typename T>
void fill_rows(T* y, const T* v, int64_t rows, int64_t n);

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

py::array cumsum_py(const py::array& x, bool reverse) {
  const char* op = "cumsum";
  require_float(x, op, "x");
  require_ndim(x, 3, op, "x");
  require_contiguous(x, op, "x");
  const int64_t outer = x.shape(0), n = x.shape(1), inner = x.shape(2);
  py::array y = empty_like_dtype(x, {outer, n, inner});
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (f32)
      cumsum<float>(static_cast<float*>(out), static_cast<const float*>(in), outer, n, inner,
                    reverse);
    else
      cumsum<double>(static_cast<double*>(out), static_cast<const double*>(in), outer, n, inner,
                     reverse);
  }
  return y;
}

py::array broadcast_binary_py(const py::array& x, const py::array& v, int op, bool per_row,
                              bool flip) {
  const char* name = "broadcast_binary";
  require_float(x, name, "x");
  require_ndim(x, 2, name, "x");
  require_contiguous(x, name, "x");
  require_same_dtype(x, v, name);
  require_ndim(v, 1, name, "v");
  require_contiguous(v, name, "v");
  EMBER_CHECK(op >= 0 && op <= 3, name, ": op must be 0 (add), 1 (sub), 2 (mul) or 3 (div), got ",
              op);
  const int64_t rows = x.shape(0), n = x.shape(1);
  EMBER_CHECK(v.shape(0) == (per_row ? rows : n), name, ": v has ", v.shape(0),
              " values but x is (", rows, ", ", n, ") and per_row is ", per_row);
  py::array y = empty_like_dtype(x, {rows, n});
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void *in = x.data(), *vec = v.data();
  {
    py::gil_scoped_release release;
    if (f32)
      broadcast_binary<float>(static_cast<float*>(out), static_cast<const float*>(in),
                              static_cast<const float*>(vec), rows, n, op, per_row, flip);
    else
      broadcast_binary<double>(static_cast<double*>(out), static_cast<const double*>(in),
                               static_cast<const double*>(vec), rows, n, op, per_row, flip);
  }
  return y;
}

void fill_py(py::array& out, double value) {
  const char* op = "fill";
  require_float(out, op, "out");
  require_contiguous(out, op, "out");
  require_writeable(out, op, "out");
  const int64_t n = numel_checked(shape_of(out), op);
  const bool f32 = is_f32(out);
  void* y = out.mutable_data();
  py::gil_scoped_release release;
  if (f32)
    fill<float>(static_cast<float*>(y), n, static_cast<float>(value));
  else
    fill<double>(static_cast<double*>(y), n, value);
}

void fill_rows_py(py::array& out, const py::array& v) {
  const char* op = "fill_rows";
  require_float(out, op, "out");
  require_ndim(out, 2, op, "out");
  require_contiguous(out, op, "out");
  require_writeable(out, op, "out");
  require_same_dtype(out, v, op);
  const int64_t rows = out.shape(0), n = out.shape(1);
  require_shape(v, {rows}, op, "v");
  require_contiguous(v, op, "v");
  require_no_overlap(out, v, op, "out", "v", false);
  const bool f32 = is_f32(out);
  void* y = out.mutable_data();
  const void* vp = v.data();
  py::gil_scoped_release release;
  if (f32)
    fill_rows<float>(static_cast<float*>(y), static_cast<const float*>(vp), rows, n);
  else
    fill_rows<double>(static_cast<double*>(y), static_cast<const double*>(vp), rows, n);
}

}  // namespace

void bind_reduce(py::module_& m) {
  m.def("sum_rows", &sum_rows_py, py::arg("x"), py::arg("square") = false,
        "x (rows, n) float32/float64 C-contiguous -> y (rows,): each row's sum (of squares when "
        "square: each x*x rounded, then summed) in x's dtype, "
        "blocked pairwise (error ~ log2(n) ulp; the same bits for any thread count).");
  m.def("cumsum", &cumsum_py, py::arg("x"), py::arg("reverse") = false,
        "x (outer, n, inner) float32/float64 C-contiguous -> y (same): the running sum along n "
        "(from the end when reverse), one addition after another as NumPy's cumsum.");
  m.def("broadcast_binary", &broadcast_binary_py, py::arg("x"), py::arg("v"), py::arg("op"),
        py::arg("per_row") = false, py::arg("flip") = false,
        "x (rows, n) op v -> y (rows, n), float32/float64 C-contiguous; v (n,) broadcast over "
        "the rows, or (rows,) one value per row when per_row; flip: v op x. op 0 add, 1 sub, "
        "2 mul, 3 div (one IEEE operation per element: NumPy's bits).");
  m.def("fill", &fill_py, py::arg("out").noconvert(), py::arg("value"),
        "out float32/float64 C-contiguous, writeable: every element := value (rounded to out's "
        "dtype) in place, in full-width vector stores.");
  m.def("fill_rows", &fill_rows_py, py::arg("out").noconvert(), py::arg("v"),
        "out (rows, n) float32/float64 C-contiguous, writeable; v (rows,) of out's dtype, "
        "C-contiguous: out[r, :] = v[r] in place (the same bits), in full-width vector stores.");
}

}  // namespace ember
