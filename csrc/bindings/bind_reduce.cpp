// Bindings for csrc/ops/reduce.cpp.
//
//   The reductions over dims [lo, hi) of x (any shape, float32/float64, C-contiguous), seen as
//   (outer, n, inner) with n the product of those dims; the output has x's shape without them
//   (size 1 when keepdim):
//   sum_dim(x, lo, hi, keepdim=False, square=False) -> y
//   isum_dim(x int64, lo, hi, keepdim=False) -> y int64: the exact sums, wrapping on overflow
//   nansum_dim(x, lo, hi, keepdim=False) -> y: sum_dim of x with its NaNs as 0
//   sum_dim16(x uint16, lo, hi, keepdim=False, square=False, bf16=False) -> y float32: sum_dim
//       of the float32 values of x's float16 (bfloat16) bits, without a float32 copy of x
//   dot_rows(a, b (rows, n) float32/float64 C-contiguous, one dtype) -> y (rows,): sum of a * b
//       along each row, the bits of sum_dim(a * b, 1, 2) without the products' array
//   matvec(a (m, n) float32/float64 C- or F-contiguous, v 1-D of a's dtype, vec_first=False)
//       -> a @ v (m,), or v @ a (n,) when vec_first: the products summed by sum_dim's trees
//   extreme_dim(x, lo, hi, keepdim, use_max, indices=False) -> v, or (v, idx int64); n >= 1;
//       x float32, float64, int32 or int64
//   var_dim(x, lo, hi, keepdim, denom, root=False) -> y; n >= 1
//   prod_dim(x, lo, hi, keepdim=False) -> y; an empty n gives 1
//   logsumexp_dim(x, lo, hi, keepdim=False) -> y; an empty n gives -inf
//   cumsum(x (outer, n, inner) float32/float64, C-contiguous, reverse=False) -> y (same)
//   cumprod(x (outer, n, inner) as cumsum's) -> y (same)
//   icumsum(x int32/int64/bool C-contiguous, dim) -> y int64 (x's shape): torch's integer cumsum
//   cumextreme(x (outer, n, inner) as cumsum's or int64, use_max) -> (v (same), idx int64 (same))
//   fill(out float32/float64 C-contiguous writeable, value) -> None      out[...] = value
//   fill_rows(out (rows, n) as fill's, v (rows,) of out's dtype) -> None  out[r, :] = v[r]
//   histc(x float32/float64 C-contiguous, bins, lo, hi) -> counts (bins,) int64   torch.histc's
//   bins
#include <cmath>
#include <string>
#include <vector>

#include "bind_util.h"

namespace ember {

// csrc/ops/reduce.cpp (instantiated there for float and double; sum_dim for uint64_t too).
template <typename T>
void sum_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool square);
void sum_dim16(float* y, const uint16_t* x, int64_t outer, int64_t n, int64_t inner, bool square,
               bool bf16);
template <typename T>
void nansum_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner);
template <typename T>
void dot_rows(T* y, const T* a, const T* b, int64_t rows, int64_t n);
template <typename T>
void matvec(T* y, const T* a, const T* v, int64_t rows, int64_t n);
template <typename T>
void vecmat(T* y, const T* v, const T* a, int64_t rows, int64_t n);
template <typename T>
void extreme_dim(T* v, int64_t* idx, const T* x, int64_t outer, int64_t n, int64_t inner,
                 bool use_max);
template <typename T>
void var_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, double denom, bool root);
template <typename T>
void cumsum(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool reverse);
template <typename T>
void icumsum(int64_t* y, const T* x, int64_t outer, int64_t n, int64_t inner);
template <typename T>
void cumprod(T* y, const T* x, int64_t outer, int64_t n, int64_t inner);
template <typename T>
void cumextreme(T* v, int64_t* idx, const T* x, int64_t outer, int64_t n, int64_t inner,
                bool use_max);
template <typename T>
void prod_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner);
template <typename T>
void logsumexp_dim(T* y, const T* x, int64_t outer, int64_t n, int64_t inner);
template <typename T>
void fill(T* y, int64_t n, T value);
template <typename T>
void histc_counts(int64_t* counts, const T* x, int64_t n, int64_t bins, T lo, T hi);
template <typename T>
void fill_rows(T* y, const T* v, int64_t rows, int64_t n);

namespace {

// x's dims [lo, hi) as (outer, n, inner), and the reduced shape
struct DimRun {
  int64_t outer = 1, n = 1, inner = 1;
  std::vector<int64_t> out_shape;
};

// (x float32/float64 (or int32/int64 when ints) unless bits16: uint16, the bits of float16 /
// bfloat16 values)
DimRun dim_run(const py::array& x, int64_t lo, int64_t hi, bool keepdim, const char* op,
               bool nonempty, bool bits16 = false, bool ints = false) {
  const bool is_int = same_dtype(x.dtype(), py::dtype::of<int64_t>()) ||
                      same_dtype(x.dtype(), py::dtype::of<int32_t>());
  if (ints && !is_int && !is_f32(x) && !is_f64(x))
    throw py::type_error(std::string(op) + ": x must be float32, float64, int32 or int64, got " +
                         std::string(py::str(x.dtype())));
  if (ints) {
  } else if (!bits16)
    require_float(x, op, "x");
  else if (!same_dtype(x.dtype(), py::dtype::of<uint16_t>()))
    throw py::type_error(std::string(op) + ": x must be uint16 (16-bit float bits), got " +
                         std::string(py::str(x.dtype())));
  require_contiguous(x, op, "x");
  const int64_t nd = x.ndim();
  EMBER_CHECK(0 <= lo && lo < hi && hi <= nd, op, ": dims [", lo, ", ", hi,
              ") are not a range of the dims of x, shape ", shape_str(shape_of(x)));
  DimRun r;
  for (int64_t d = 0; d < nd; ++d) {
    const int64_t s = x.shape(d);
    if (d < lo) {
      r.outer *= s;
    } else if (d >= hi) {
      r.inner *= s;
    } else {
      r.n *= s;
      if (keepdim) r.out_shape.push_back(1);
      continue;
    }
    r.out_shape.push_back(s);
  }
  EMBER_CHECK(!nonempty || r.n >= 1 || r.outer * r.inner == 0, op,
              ": cannot reduce over an empty dim, x has shape ", shape_str(shape_of(x)));
  return r;
}

py::array sum_dim_py(const py::array& x, int64_t lo, int64_t hi, bool keepdim, bool square) {
  const DimRun d = dim_run(x, lo, hi, keepdim, "sum_dim", false);
  py::array y = empty_like_dtype(x, d.out_shape);
  // Everything that touches Python objects (dtype, data pointers) before the release.
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (f32)
      sum_dim<float>(static_cast<float*>(out), static_cast<const float*>(in), d.outer, d.n, d.inner,
                     square);
    else
      sum_dim<double>(static_cast<double*>(out), static_cast<const double*>(in), d.outer, d.n,
                      d.inner, square);
  }
  return y;
}

py::array isum_dim_py(const py::array& x, int64_t lo, int64_t hi, bool keepdim) {
  if (!same_dtype(x.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error("isum_dim: x must be int64, got " + std::string(py::str(x.dtype())));
  const DimRun d = dim_run(x, lo, hi, keepdim, "isum_dim", false, false, true);
  py::array y = empty_like_dtype(x, d.out_shape);
  uint64_t* out = static_cast<uint64_t*>(y.mutable_data());
  const uint64_t* in = static_cast<const uint64_t*>(x.data());
  {
    py::gil_scoped_release release;
    // as uint64: wrapping on overflow is defined there, the same bits as int64's (torch's)
    sum_dim<uint64_t>(out, in, d.outer, d.n, d.inner, false);
  }
  return y;
}

py::array nansum_dim_py(const py::array& x, int64_t lo, int64_t hi, bool keepdim) {
  const DimRun d = dim_run(x, lo, hi, keepdim, "nansum_dim", false);
  py::array y = empty_like_dtype(x, d.out_shape);
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (f32)
      nansum_dim<float>(static_cast<float*>(out), static_cast<const float*>(in), d.outer, d.n,
                        d.inner);
    else
      nansum_dim<double>(static_cast<double*>(out), static_cast<const double*>(in), d.outer, d.n,
                         d.inner);
  }
  return y;
}

py::array sum_dim16_py(const py::array& x, int64_t lo, int64_t hi, bool keepdim, bool square,
                       bool bf16) {
  const DimRun d = dim_run(x, lo, hi, keepdim, "sum_dim16", false, true);
  py::array_t<float> y(std::vector<py::ssize_t>(d.out_shape.begin(), d.out_shape.end()));
  float* out = y.mutable_data();
  const uint16_t* in = static_cast<const uint16_t*>(x.data());
  py::gil_scoped_release release;
  sum_dim16(out, in, d.outer, d.n, d.inner, square, bf16);
  return y;
}

py::array dot_rows_py(const py::array& a, const py::array& b) {
  const char* op = "dot_rows";
  require_float(a, op, "a");
  require_same_dtype(a, b, op);
  require_contiguous(a, op, "a");
  require_contiguous(b, op, "b");
  require_ndim(a, 2, op, "a");
  require_shape(b, shape_of(a), op, "b");
  const int64_t rows = a.shape(0), n = a.shape(1);
  py::array y = empty_like_dtype(a, {rows});
  const bool f32 = is_f32(a);
  void* out = y.mutable_data();
  const void* pa = a.data();
  const void* pb = b.data();
  py::gil_scoped_release release;
  if (f32)
    dot_rows<float>(static_cast<float*>(out), static_cast<const float*>(pa),
                    static_cast<const float*>(pb), rows, n);
  else
    dot_rows<double>(static_cast<double*>(out), static_cast<const double*>(pa),
                     static_cast<const double*>(pb), rows, n);
  return y;
}

// a (m, n) @ v (n,) -> (m,), or v (m,) @ a (m, n) -> (n,) when vec_first. An F-contiguous a
// (a transpose's view) is read as its C-contiguous transpose with the other kernel.
py::array matvec_py(const py::array& a, const py::array& v, bool vec_first) {
  const char* op = "matvec";
  require_float(a, op, "a");
  require_same_dtype(a, v, op);
  require_ndim(a, 2, op, "a");
  require_ndim(v, 1, op, "v");
  require_contiguous(v, op, "v");
  const int64_t m = a.shape(0), n = a.shape(1);
  EMBER_CHECK(v.shape(0) == (vec_first ? m : n), op, ": shapes ",
              shape_str(vec_first ? shape_of(v) : shape_of(a)), " and ",
              shape_str(vec_first ? shape_of(a) : shape_of(v)), " cannot be multiplied");
  const bool c_order = a.flags() & py::array::c_style;
  EMBER_CHECK(c_order || (a.flags() & py::array::f_style), op,
              ": a must be C- or F-contiguous, got strides (", a.strides(0), ", ", a.strides(1),
              ")");
  // rows x cols of the C-ordered matrix the kernel reads; by_rows: its rows dotted with v
  const int64_t rows = c_order ? m : n, cols = c_order ? n : m;
  const bool by_rows = c_order != vec_first;
  py::array y = empty_like_dtype(a, {vec_first ? n : m});
  const bool f32 = is_f32(a);
  void* out = y.mutable_data();
  const void* pa = a.data();
  const void* pv = v.data();
  py::gil_scoped_release release;
  if (f32) {
    auto* o = static_cast<float*>(out);
    auto* x = static_cast<const float*>(pa);
    auto* w = static_cast<const float*>(pv);
    by_rows ? matvec<float>(o, x, w, rows, cols) : vecmat<float>(o, w, x, rows, cols);
  } else {
    auto* o = static_cast<double*>(out);
    auto* x = static_cast<const double*>(pa);
    auto* w = static_cast<const double*>(pv);
    by_rows ? matvec<double>(o, x, w, rows, cols) : vecmat<double>(o, w, x, rows, cols);
  }
  return y;
}

py::object extreme_dim_py(const py::array& x, int64_t lo, int64_t hi, bool keepdim, bool use_max,
                          bool indices) {
  const DimRun d = dim_run(x, lo, hi, keepdim, "extreme_dim", true, false, true);
  py::array v = empty_like_dtype(x, d.out_shape);
  py::array_t<int64_t> idx;
  if (indices)
    idx = py::array_t<int64_t>(std::vector<py::ssize_t>(d.out_shape.begin(), d.out_shape.end()));
  int64_t* ip = indices ? idx.mutable_data() : nullptr;
  const auto run = [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(v.mutable_data());
    const T* in = static_cast<const T*>(x.data());
    py::gil_scoped_release release;
    extreme_dim<T>(out, ip, in, d.outer, d.n, d.inner, use_max);
  };
  if (is_f32(x))
    run(float{});
  else if (is_f64(x))
    run(double{});
  else if (same_dtype(x.dtype(), py::dtype::of<int32_t>()))
    run(int32_t{});
  else
    run(int64_t{});
  if (indices) return py::make_tuple(v, idx);
  return std::move(v);
}

py::array var_dim_py(const py::array& x, int64_t lo, int64_t hi, bool keepdim, double denom,
                     bool root) {
  const DimRun d = dim_run(x, lo, hi, keepdim, "var_dim", true);
  py::array y = empty_like_dtype(x, d.out_shape);
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (f32)
      var_dim<float>(static_cast<float*>(out), static_cast<const float*>(in), d.outer, d.n, d.inner,
                     denom, root);
    else
      var_dim<double>(static_cast<double*>(out), static_cast<const double*>(in), d.outer, d.n,
                      d.inner, denom, root);
  }
  return y;
}

py::array prod_dim_py(const py::array& x, int64_t lo, int64_t hi, bool keepdim) {
  const DimRun d = dim_run(x, lo, hi, keepdim, "prod_dim", false);
  py::array y = empty_like_dtype(x, d.out_shape);
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (f32)
      prod_dim<float>(static_cast<float*>(out), static_cast<const float*>(in), d.outer, d.n,
                      d.inner);
    else
      prod_dim<double>(static_cast<double*>(out), static_cast<const double*>(in), d.outer, d.n,
                       d.inner);
  }
  return y;
}

py::array logsumexp_dim_py(const py::array& x, int64_t lo, int64_t hi, bool keepdim) {
  const DimRun d = dim_run(x, lo, hi, keepdim, "logsumexp_dim", false);
  py::array y = empty_like_dtype(x, d.out_shape);
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (f32)
      logsumexp_dim<float>(static_cast<float*>(out), static_cast<const float*>(in), d.outer, d.n,
                           d.inner);
    else
      logsumexp_dim<double>(static_cast<double*>(out), static_cast<const double*>(in), d.outer, d.n,
                            d.inner);
  }
  return y;
}

// cumsum (reverse as given) or, when prod, cumprod; along dim 1 of a 3-D x when dim is None,
// else along dim of x as it is (no (outer, n, inner) view to make in Python: ~0.4 us of a
// 32x32 cumsum).
py::array scan_py(const py::array& x, bool reverse, bool prod, const py::object& dim) {
  const char* op = prod ? "cumprod" : "cumsum";
  require_float(x, op, "x");
  if (dim.is_none()) require_ndim(x, 3, op, "x");
  require_contiguous(x, op, "x");
  int64_t outer = 1, n = 1, inner = 1;
  if (dim.is_none()) {
    outer = x.shape(0), n = x.shape(1), inner = x.shape(2);
  } else {
    // an int (NumPy's too); a bool or float is a TypeError, not True read as dim 1 or
    // pybind11's RuntimeError "Unable to cast"
    if (PyBool_Check(dim.ptr()) || !PyIndex_Check(dim.ptr()))
      throw py::type_error(std::string(op) + ": dim must be an int, got " +
                           std::string(py::str(py::type::of(dim).attr("__name__"))));
    int64_t d0 = 0;
    try {
      d0 = dim.cast<int64_t>();
    } catch (const py::cast_error&) {  // past int64: out of range of any shape
      throw py::value_error(std::string(op) + ": dim " + std::string(py::str(dim)) +
                            " is out of range for shape " + shape_str(shape_of(x)));
    }
    const int64_t nd = x.ndim();
    EMBER_CHECK(-nd <= d0 && d0 < nd, op, ": dim ", d0, " is out of range for shape ",
                shape_str(shape_of(x)));
    const int64_t d = d0 < 0 ? d0 + nd : d0;
    for (int64_t i = 0; i < nd; ++i) (i < d ? outer : i > d ? inner : n) *= x.shape(i);
  }
  py::array y = empty_like_dtype(x, shape_of(x));
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (prod && f32)
      cumprod<float>(static_cast<float*>(out), static_cast<const float*>(in), outer, n, inner);
    else if (prod)
      cumprod<double>(static_cast<double*>(out), static_cast<const double*>(in), outer, n, inner);
    else if (f32)
      cumsum<float>(static_cast<float*>(out), static_cast<const float*>(in), outer, n, inner,
                    reverse);
    else
      cumsum<double>(static_cast<double*>(out), static_cast<const double*>(in), outer, n, inner,
                     reverse);
  }
  return y;
}

// torch.cumsum of an int32 / int64 / bool x along dim (in range; as NumPy's axis) -> int64,
// wrapping on overflow as torch's
py::array icumsum_py(const py::array& x, int64_t dim) {
  const char* op = "icumsum";
  require_contiguous(x, op, "x");
  const int64_t nd = x.ndim();
  EMBER_CHECK(-nd <= dim && dim < nd, op, ": dim ", dim, " is out of range for shape ",
              shape_str(shape_of(x)));
  const int64_t d = dim < 0 ? dim + nd : dim;
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t i = 0; i < nd; ++i) (i < d ? outer : i > d ? inner : n) *= x.shape(i);
  py::array_t<int64_t> y(std::vector<py::ssize_t>(x.shape(), x.shape() + nd));
  int64_t* out = y.mutable_data();
  const py::dtype dt = x.dtype();
  const void* in = x.data();
  if (same_dtype(dt, py::dtype::of<int32_t>())) {
    py::gil_scoped_release release;
    icumsum<int32_t>(out, static_cast<const int32_t*>(in), outer, n, inner);
  } else if (same_dtype(dt, py::dtype::of<int64_t>())) {
    py::gil_scoped_release release;
    icumsum<int64_t>(out, static_cast<const int64_t*>(in), outer, n, inner);
  } else if (same_dtype(dt, py::dtype::of<bool>())) {
    py::gil_scoped_release release;
    icumsum<uint8_t>(out, static_cast<const uint8_t*>(in), outer, n, inner);
  } else {
    throw py::type_error(std::string(op) + ": x must be int32, int64 or bool, got " +
                         std::string(py::str(dt)));
  }
  return y;
}

// cummax (use_max) / cummin along dim 1 of a 3-D x: the running values and their positions
py::tuple cumextreme_py(const py::array& x, bool use_max) {
  const char* op = use_max ? "cummax" : "cummin";
  const bool i64 = same_dtype(x.dtype(), py::dtype::of<int64_t>());
  if (!i64) require_float(x, op, "x");
  require_ndim(x, 3, op, "x");
  require_contiguous(x, op, "x");
  const int64_t outer = x.shape(0), n = x.shape(1), inner = x.shape(2);
  py::array v = empty_like_dtype(x, shape_of(x));
  py::array_t<int64_t> idx(std::vector<py::ssize_t>{x.shape(0), x.shape(1), x.shape(2)});
  const bool f32 = is_f32(x);
  void* out = v.mutable_data();
  int64_t* ip = idx.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (i64)
      cumextreme<int64_t>(static_cast<int64_t*>(out), ip, static_cast<const int64_t*>(in), outer, n,
                          inner, use_max);
    else if (f32)
      cumextreme<float>(static_cast<float*>(out), ip, static_cast<const float*>(in), outer, n,
                        inner, use_max);
    else
      cumextreme<double>(static_cast<double*>(out), ip, static_cast<const double*>(in), outer, n,
                         inner, use_max);
  }
  return py::make_tuple(v, idx);
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

py::array_t<int64_t> histc_py(const py::array& x, int64_t bins, double lo, double hi) {
  const char* op = "histc";
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  EMBER_CHECK(bins > 0, op, ": bins must be positive, got ", bins);
  const int64_t n = numel_checked(shape_of(x), op);
  const bool f32 = is_f32(x);
  // the range in x's dtype, as torch's bin edges (a float32 range must stay ordered there)
  const double l = f32 ? static_cast<float>(lo) : lo, h = f32 ? static_cast<float>(hi) : hi;
  EMBER_CHECK(std::isfinite(l) && std::isfinite(h) && l < h, op, ": range [", lo, ", ", hi,
              "] must be finite and increasing in x's dtype");
  py::array_t<int64_t> counts(std::vector<py::ssize_t>{bins});
  int64_t* c = counts.mutable_data();
  const void* in = x.data();
  py::gil_scoped_release release;
  if (f32)
    histc_counts<float>(c, static_cast<const float*>(in), n, bins, static_cast<float>(l),
                        static_cast<float>(h));
  else
    histc_counts<double>(c, static_cast<const double*>(in), n, bins, l, h);
  return counts;
}

}  // namespace

void bind_reduce(py::module_& m) {
  m.def("sum_dim", &sum_dim_py, py::arg("x"), py::arg("lo"), py::arg("hi"),
        py::arg("keepdim") = false, py::arg("square") = false,
        "x float32/float64 C-contiguous -> y: the sum over dims [lo, hi) (of squares when "
        "square: each x*x rounded, then summed) in x's dtype, those dims dropped (size 1 when "
        "keepdim); blocked pairwise (error ~ log2(n) ulp; the same bits for any thread count).");
  m.def("dot_rows", &dot_rows_py, py::arg("a"), py::arg("b"),
        "a, b (rows, n) float32/float64 C-contiguous of one dtype -> y (rows,): the sum of "
        "a * b along each row (einsum's 'ij,ij->i'): sum_dim's bits for the products' array, "
        "without that array.");
  m.def("matvec", &matvec_py, py::arg("a"), py::arg("v"), py::arg("vec_first") = false,
        "a (m, n) float32/float64, C- or F-contiguous; v 1-D contiguous of a's dtype -> a @ v "
        "(m,), or v @ a (n,) when vec_first: each product rounded, then summed by sum_dim's "
        "pairwise trees (the same bits for any thread count).");
  m.def("isum_dim", &isum_dim_py, py::arg("x"), py::arg("lo"), py::arg("hi"),
        py::arg("keepdim") = false,
        "x int64 C-contiguous -> y int64: the sum over dims [lo, hi), wrapping on overflow "
        "(torch's int64 sums), those dims dropped (size 1 when keepdim).");
  m.def("nansum_dim", &nansum_dim_py, py::arg("x"), py::arg("lo"), py::arg("hi"),
        py::arg("keepdim") = false,
        "x float32/float64 C-contiguous -> y: sum_dim of x with its NaNs as 0 (nansum), the "
        "bits of sum_dim(where(isnan(x), 0, x)) without that array.");
  m.def("sum_dim16", &sum_dim16_py, py::arg("x"), py::arg("lo"), py::arg("hi"),
        py::arg("keepdim") = false, py::arg("square") = false, py::arg("bf16") = false,
        "x uint16 C-contiguous, the bits of float16 (bfloat16 when bf16) values -> y float32: "
        "sum_dim of x's float32 values, bit for bit, widened a block at a time (no float32 "
        "copy of x); the caller rounds to 16 bits.");
  m.def("extreme_dim", &extreme_dim_py, py::arg("x"), py::arg("lo"), py::arg("hi"),
        py::arg("keepdim"), py::arg("use_max"), py::arg("indices") = false,
        "x float32/float64 C-contiguous, dims [lo, hi) not empty -> v the max (min unless "
        "use_max) over them, shaped as sum_dim's y, or (v, idx int64) when indices: the first "
        "(flat) index over those dims holding it; NaN wins, as PyTorch's.");
  m.def("var_dim", &var_dim_py, py::arg("x"), py::arg("lo"), py::arg("hi"), py::arg("keepdim"),
        py::arg("denom"), py::arg("root") = false,
        "x float32/float64 C-contiguous, dims [lo, hi) not empty -> y shaped as sum_dim's: "
        "sum((x - mean)^2) / denom over those dims (its square root when root), two passes in "
        "double, rounded once to x's dtype.");
  m.def("logsumexp_dim", &logsumexp_dim_py, py::arg("x"), py::arg("lo"), py::arg("hi"),
        py::arg("keepdim") = false,
        "x float32/float64 C-contiguous -> y shaped as sum_dim's: log(sum(exp(x - m))) + m over "
        "dims [lo, hi), m the largest value (0 if not finite); -inf when they are empty. The "
        "same bits for any thread count.");
  m.def("prod_dim", &prod_dim_py, py::arg("x"), py::arg("lo"), py::arg("hi"),
        py::arg("keepdim") = false,
        "x float32/float64 C-contiguous -> y shaped as sum_dim's: the product over dims [lo, hi) "
        "in x's dtype (1 when they are empty); in lanes over a row, row after row over columns "
        "(the same bits for any thread count).");
  m.def("icumsum", &icumsum_py, py::arg("x"), py::arg("dim"),
        "x int32/int64/bool C-contiguous, dim -> y int64 (x's shape): the running sum along "
        "dim, wrapping on overflow (torch.cumsum of integers).");
  m.def(
      "cumsum",
      [](const py::array& x, bool reverse, const py::object& dim) {
        return scan_py(x, reverse, false, dim);
      },
      py::arg("x"), py::arg("reverse") = false, py::arg("dim") = py::none(),
      "x (outer, n, inner) float32/float64 C-contiguous -> y (same): the running sum along n "
      "(from the end when reverse), one addition after another in double, as PyTorch's. With "
      "dim (an int): x of any shape, the running sum along dim.");
  m.def(
      "cumprod", [](const py::array& x) { return scan_py(x, false, true, py::none()); },
      py::arg("x"),
      "x (outer, n, inner) float32/float64 C-contiguous -> y (same): the running product along "
      "n, one multiplication after another in double, rounded per entry, as PyTorch's.");
  m.def("cumextreme", &cumextreme_py, py::arg("x"), py::arg("use_max"),
        "x (outer, n, inner) float32/float64 C-contiguous -> (v, idx int64), both x's shape: "
        "the running max (min unless use_max) along dim 1 and the position it was last taken "
        "at; a tie moves the position on and a NaN sticks, as PyTorch's cummax/cummin.");
  m.def("histc", &histc_py, py::arg("x"), py::arg("bins"), py::arg("lo"), py::arg("hi"),
        "torch.histc's counts of x over [lo, hi] in `bins` equal bins, as int64 (bins,).");
  m.def("fill", &fill_py, py::arg("out").noconvert(), py::arg("value"),
        "out float32/float64 C-contiguous, writeable: every element := value (rounded to out's "
        "dtype) in place, in full-width vector stores.");
  m.def("fill_rows", &fill_rows_py, py::arg("out").noconvert(), py::arg("v"),
        "out (rows, n) float32/float64 C-contiguous, writeable; v (rows,) of out's dtype, "
        "C-contiguous: out[r, :] = v[r] in place (the same bits), in full-width vector stores.");
}

}  // namespace ember
