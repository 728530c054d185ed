// Bindings for csrc/ops/elementwise.cpp.
//
//   binary(a, b, op, per_row=False, flip=False, out=None) -> y (a's shape)   a op b (b op a);
//     b of a's shape, or 1-D: a row (n,) of a seen as (a.size / n, n), or with per_row a
//     column (rows,) of a seen as (rows, a.size / rows)
//   binary_scalar(a, s, op, flip=False, out=None) -> y (a's shape)         a op s (s op a)
//   binary_auto(a, b, op) -> y or None    a op b when one of the above takes it as it is
//   outer(a, b, op) -> y (m, n)   a (m,) and b (n,): y[i, j] = a[i] op b[j]
//   where(cond, a, b) -> y        cond ? a : b, a and b arrays of cond's shape or numbers
//   copy(x, out=None) -> y        a C-contiguous copy of any numeric dtype
//   transpose_copy(x) -> y        x (rows, cols).T as a C-contiguous (cols, rows), any numeric
//   flip_last(x) -> y             x with its last dim reversed, C-contiguous, any numeric
//   cast(x, dtype) -> y           float32 <-> float64
//   cast16(x, y, bf16)            float32 <-> float16/bfloat16 bits, into y
//   arange(start, step, n, chunk, dtype) -> y (n,)   torch's float arange, bit for bit
//   fmod(a, b, out=None) -> y      C's fmod (exact), a and b of one shape and dtype
//   remainder(a, b, out=None) -> y  torch's remainder (the divisor's sign), as fmod's
//   hypot(a, b) -> y               NumPy's hypot, a and b of one dtype, b of a's shape or one value
//   logaddexp(a, b), logaddexp2(a, b), nextafter(a, b), copysign(a, b) -> y   torch's, operands
//     as hypot's
//   lerp(a, b, w) -> y             torch's lerp, w an array or a number
//   addc(a, b, c, s, op) -> y      torch's fused add/sub alpha (op 0, c None: fma(b, s, a)),
//     addcmul (1: fma(s b, c, a)), addcdiv (2: a + s b / c); a, b, c of one dtype
//   (lerp's and addc's arrays: any strides, shapes broadcasting as NumPy's; y C-contiguous of
//   the broadcast shape, read through zero strides: no expanded copy)
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <string>

#include "bind_util.h"

namespace ember {

// csrc/ops/elementwise.cpp (instantiated there for float and double).
template <typename T>
void binary_forward(T* y, const T* a, const T* b, int64_t rows, int64_t n, int op, int form,
                    bool flip);
template <typename T>
void where_forward(T* y, const uint8_t* cond, const T* a, const T* b, int64_t n, bool a_one,
                   bool b_one);
void copy_bytes(char* y, const char* x, int64_t nbytes);
template <typename T>
void transpose_copy(T* y, const T* x, int64_t rows, int64_t cols);
template <typename T>
void flip_last(T* y, const T* x, int64_t rows, int64_t n);
template <typename From, typename To>
void cast_forward(To* y, const From* x, int64_t n);
void cast16_forward(uint16_t* y, const float* x, int64_t n, bool bf16);
void cast16_forward(float* y, const uint16_t* x, int64_t n, bool bf16);
template <typename T>
void arange_forward(T* y, double start, double step, int64_t n, int64_t chunk);
template <typename T>
void mod_forward(T* y, const T* a, const T* b, int64_t n, bool rem);
template <typename T>
void math2_forward(T* y, const T* a, const T* b, int64_t n, bool b_one, int op);
template <typename T>
void lerp_forward(T* y, const T* a, const T* b, const T* w, double ws, int64_t n);
template <typename T>
void addc_forward(T* y, const T* a, const T* b, const T* c, double s, int64_t n, int op);
template <typename T>
void lerp_bcast(T* y, const std::vector<int64_t>& shape, const T* a, const T* b, const T* w,
                const std::vector<int64_t>* st, double ws);
template <typename T>
void addc_bcast(T* y, const std::vector<int64_t>& shape, const T* a, const T* b, const T* c,
                const std::vector<int64_t>* st, double s, int op);

namespace {

const char* const kOpNames[] = {"add", "sub", "mul", "div", "maximum", "minimum"};

void check_op(int op, const char* name) {
  EMBER_CHECK(op >= 0 && op <= 5, name,
              ": op must be 0 (add), 1 (sub), 2 (mul), 3 (div), 4 (maximum) or 5 (minimum), got ",
              op);
}

// `out` (if given) as the result: a's dtype and shape, C-contiguous, writeable, and either
// disjoint from each input or that input itself (an elementwise kernel reads each element
// before writing it). Otherwise a fresh array of a's dtype and shape.
py::array output_for(const py::object& out, const py::array& a, const char* name,
                     const py::array* b = nullptr, bool b_may_alias = false) {
  if (out.is_none()) return empty_like_dtype(a, shape_of(a));
  if (!py::isinstance<py::array>(out))
    throw py::type_error(std::string(name) + ": out must be a NumPy array, got " +
                         Py_TYPE(out.ptr())->tp_name);
  py::array y = py::reinterpret_borrow<py::array>(out);
  require_same_dtype(y, a, name);
  require_shape(y, shape_of(a), name, "out");
  require_contiguous(y, name, "out");
  require_writeable(y, name, "out");
  require_no_overlap(y, a, name, "out", "a", true);
  if (b) require_no_overlap(y, *b, name, "out", "b", b_may_alias);
  return y;
}

template <typename T>
void run_binary(py::array& y, const py::array& a, const T* b, int64_t rows, int64_t n, int op,
                int form, bool flip) {
  T* yp = ptr<T>(y);
  const T* ap = cptr<T>(a);
  py::gil_scoped_release release;
  binary_forward<T>(yp, ap, b, rows, n, op, form, flip);
}

py::array binary_py(const py::array& a, const py::array& b, int op, bool per_row, bool flip,
                    const py::object& out) {
  const char* name = "binary";
  check_op(op, name);
  require_float(a, name, "a");
  require_same_dtype(a, b, name);
  require_contiguous(a, name, "a");
  require_contiguous(b, name, "b");
  const std::vector<int64_t> sa = shape_of(a), sb = shape_of(b);
  const int64_t size = numel_checked(sa, name);
  int64_t rows = 1, n = size;
  int form = 0;
  if (sa != sb) {  // a (any shape) seen as (rows, n): b (n,) a row, or (rows,) a column
    EMBER_CHECK(b.ndim() == 1, name, " (", kOpNames[op], "): b ", shape_str(sb),
                " must have a's shape ", shape_str(sa), ", or be 1-D (a row or column of a)");
    const int64_t len = sb[0];
    EMBER_CHECK(len > 0 ? size % len == 0 : size == 0, name, " (", kOpNames[op], "): b ",
                shape_str(sb), " does not fit a ", shape_str(sa), " as a ",
                per_row ? "column" : "row", " (per_row=", per_row ? "True" : "False",
                "): a's size must be a multiple of b's");
    rows = per_row ? len : (len ? size / len : 0);
    n = per_row ? (len ? size / len : 0) : len;
    form = per_row ? 3 : 2;
  }
  py::array y = output_for(out, a, name, &b, form == 0);
  if (size == 0) return y;
  if (is_f32(a))
    run_binary<float>(y, a, cptr<float>(b), rows, n, op, form, flip);
  else
    run_binary<double>(y, a, cptr<double>(b), rows, n, op, form, flip);
  return y;
}

py::array outer_py(const py::array& a, const py::array& b, int op) {
  const char* name = "outer";
  check_op(op, name);
  require_float(a, name, "a");
  require_same_dtype(a, b, name);
  require_ndim(a, 1, name, "a");
  require_ndim(b, 1, name, "b");
  require_contiguous(a, name, "a");
  require_contiguous(b, name, "b");
  const int64_t rows = a.shape(0), n = b.shape(0);
  numel_checked({rows, n}, name);
  py::array y = empty_like_dtype(a, {rows, n});
  if (rows * n == 0) return y;
  if (is_f32(a))
    run_binary<float>(y, a, cptr<float>(b), rows, n, op, 4, false);
  else
    run_binary<double>(y, a, cptr<double>(b), rows, n, op, 4, false);
  return y;
}

// a and b: one float dtype, C-contiguous, one shape (mod, lerp and addc's operands).
void require_float_pair(const py::array& a, const py::array& b, const char* name) {
  require_float(a, name, "a");
  require_same_dtype(a, b, name);
  require_contiguous(a, name, "a");
  require_contiguous(b, name, "b");
  require_shape(b, shape_of(a), name, "b");
}

py::array mod_py(const py::array& a, const py::array& b, const py::object& out, bool rem) {
  const char* name = rem ? "remainder" : "fmod";
  require_float_pair(a, b, name);
  const int64_t size = numel_checked(shape_of(a), name);
  py::array y = output_for(out, a, name, &b, true);
  if (size == 0) return y;
  const bool f32 = is_f32(a);
  void* yp = y.mutable_data();
  const void* ap = a.data();
  const void* bp = b.data();
  py::gil_scoped_release release;
  if (f32)
    mod_forward<float>(static_cast<float*>(yp), static_cast<const float*>(ap),
                       static_cast<const float*>(bp), size, rem);
  else
    mod_forward<double>(static_cast<double*>(yp), static_cast<const double*>(ap),
                        static_cast<const double*>(bp), size, rem);
  return y;
}

// op as math2_forward's: 0 hypot, 1 logaddexp, 2 logaddexp2, 3 nextafter, 4 copysign, 5 pow.
py::array math2_py(const py::array& a, const py::array& b, int op, const char* name) {
  require_float(a, name, "a");
  require_same_dtype(a, b, name);
  require_contiguous(a, name, "a");
  const bool b_one = b.size() == 1 && b.ndim() <= a.ndim();
  if (!b_one) {
    require_contiguous(b, name, "b");
    require_shape(b, shape_of(a), name, "b");
  }
  const int64_t size = numel_checked(shape_of(a), name);
  py::array y = empty_like_dtype(a, shape_of(a));
  if (size == 0) return y;
  const bool f32 = is_f32(a);
  void* yp = y.mutable_data();
  const void* ap = a.data();
  const void* bp = b.data();  // (one value: its only element, whatever its strides)
  py::gil_scoped_release release;
  if (f32)
    math2_forward<float>(static_cast<float*>(yp), static_cast<const float*>(ap),
                         static_cast<const float*>(bp), size, b_one, op);
  else
    math2_forward<double>(static_cast<double*>(yp), static_cast<const double*>(ap),
                          static_cast<const double*>(bp), size, b_one, op);
  return y;
}

// The arrays' broadcast shape (NumPy's rule) and each one's element strides over it (0 along a
// broadcast dim); a float dtype shared by all.
std::vector<int64_t> broadcast_views(const std::vector<py::array>& xs, const char* name,
                                     std::vector<int64_t>* st) {
  require_float(xs[0], name, "input");
  size_t nd = 0;
  for (const auto& x : xs) {
    require_same_dtype(xs[0], x, name);
    nd = std::max(nd, static_cast<size_t>(x.ndim()));
  }
  std::vector<int64_t> shape(nd, 1);
  for (const auto& x : xs)
    for (py::ssize_t d = 0; d < x.ndim(); ++d) {
      int64_t& v = shape[nd - x.ndim() + d];
      const int64_t e = x.shape(d);
      EMBER_CHECK(v == e || v == 1 || e == 1, name,
                  ": shapes do not broadcast: ", shape_str(shape_of(xs[0])), " and ",
                  shape_str(shape_of(x)));
      if (v == 1) v = e;
    }
  for (size_t k = 0; k < xs.size(); ++k) {
    const py::array& x = xs[k];
    st[k].assign(nd, 0);
    for (py::ssize_t d = 0; d < x.ndim(); ++d) {
      EMBER_CHECK(x.strides(d) % x.itemsize() == 0, name, ": unaligned strides");
      if (x.shape(d) != 1) st[k][nd - x.ndim() + d] = x.strides(d) / x.itemsize();
    }
  }
  return shape;
}

// whether every array is C-contiguous of shape (the flat kernels)
bool all_flat(const std::vector<py::array>& xs, const std::vector<int64_t>& shape) {
  for (const auto& x : xs)
    if (!(x.flags() & py::array::c_style) || shape_of(x) != shape) return false;
  return true;
}

py::array lerp_py(const py::array& a, const py::array& b, const py::object& w) {
  const char* name = "lerp";
  const bool f32 = is_f32(a);
  std::vector<py::array> xs{a, b};
  const bool w_array = py::isinstance<py::array>(w);
  double ws = 0;
  if (w_array) {
    xs.push_back(py::reinterpret_borrow<py::array>(w));
  } else if (py::isinstance<py::float_>(w) || py::isinstance<py::int_>(w)) {
    ws = w.cast<double>();
    // (a finite double beyond float's range has no float32 value to round to)
    EMBER_CHECK(!f32 || !std::isfinite(ws) || std::fabs(ws) <= FLT_MAX, name, ": the weight ", ws,
                " is out of float32's range");
  } else {
    throw py::type_error(std::string(name) + ": weight must be an array or a number, got " +
                         Py_TYPE(w.ptr())->tp_name);
  }
  std::vector<int64_t> st[3];
  const std::vector<int64_t> shape = broadcast_views(xs, name, st);
  const int64_t size = numel_checked(shape, name);
  py::array y = empty_like_dtype(a, shape);
  if (size == 0) return y;
  const bool flat = all_flat(xs, shape);
  void* yp = y.mutable_data();
  const void* ap = a.data();
  const void* bp = b.data();
  const void* wp = w_array ? xs[2].data() : nullptr;
  py::gil_scoped_release release;
  if (f32 && flat)
    lerp_forward<float>(static_cast<float*>(yp), static_cast<const float*>(ap),
                        static_cast<const float*>(bp), static_cast<const float*>(wp), ws, size);
  else if (flat)
    lerp_forward<double>(static_cast<double*>(yp), static_cast<const double*>(ap),
                         static_cast<const double*>(bp), static_cast<const double*>(wp), ws, size);
  else if (f32)
    lerp_bcast<float>(static_cast<float*>(yp), shape, static_cast<const float*>(ap),
                      static_cast<const float*>(bp), static_cast<const float*>(wp), st, ws);
  else
    lerp_bcast<double>(static_cast<double*>(yp), shape, static_cast<const double*>(ap),
                       static_cast<const double*>(bp), static_cast<const double*>(wp), st, ws);
  return y;
}

py::array addc_py(const py::array& a, const py::array& b, const py::object& c, double s, int op) {
  const char* name = "addc";
  EMBER_CHECK(op >= 0 && op <= 2, name, ": unknown op ", op);
  const bool f32 = is_f32(a);
  EMBER_CHECK(!f32 || !std::isfinite(s) || std::fabs(s) <= FLT_MAX, name, ": the scalar ", s,
              ": value cannot be converted to type float without overflow");
  std::vector<py::array> xs{a, b};
  if (op != 0) {
    EMBER_CHECK(py::isinstance<py::array>(c), name, ": op ", op, " needs a third array");
    xs.push_back(py::reinterpret_borrow<py::array>(c));
  }
  std::vector<int64_t> st[3];
  const std::vector<int64_t> shape = broadcast_views(xs, name, st);
  const int64_t size = numel_checked(shape, name);
  py::array y = empty_like_dtype(a, shape);
  if (size == 0) return y;
  const bool flat = all_flat(xs, shape);
  void* yp = y.mutable_data();
  const void* ap = a.data();
  const void* bp = b.data();
  const void* cp = op != 0 ? xs[2].data() : nullptr;
  py::gil_scoped_release release;
  if (f32 && flat)
    addc_forward<float>(static_cast<float*>(yp), static_cast<const float*>(ap),
                        static_cast<const float*>(bp), static_cast<const float*>(cp), s, size, op);
  else if (flat)
    addc_forward<double>(static_cast<double*>(yp), static_cast<const double*>(ap),
                         static_cast<const double*>(bp), static_cast<const double*>(cp), s, size,
                         op);
  else if (f32)
    addc_bcast<float>(static_cast<float*>(yp), shape, static_cast<const float*>(ap),
                      static_cast<const float*>(bp), static_cast<const float*>(cp), st, s, op);
  else
    addc_bcast<double>(static_cast<double*>(yp), shape, static_cast<const double*>(ap),
                       static_cast<const double*>(bp), static_cast<const double*>(cp), st, s, op);
  return y;
}

py::array binary_scalar_py(const py::array& a, double s, int op, bool flip, const py::object& out) {
  const char* name = "binary_scalar";
  check_op(op, name);
  require_float(a, name, "a");
  require_contiguous(a, name, "a");
  const bool f32 = is_f32(a);
  // (a finite double beyond float's range has no float32 value to round to)
  EMBER_CHECK(!f32 || !std::isfinite(s) || std::fabs(s) <= FLT_MAX, name, " (", kOpNames[op],
              "): the scalar ", s, " is out of float32's range");
  const int64_t size = numel_checked(shape_of(a), name);
  py::array y = output_for(out, a, name);
  if (size == 0) return y;
  if (f32) {
    const float c = static_cast<float>(s);
    run_binary<float>(y, a, &c, 1, size, op, 1, flip);
  } else {
    run_binary<double>(y, a, &s, 1, size, op, 1, flip);
  }
  return y;
}

// binary_auto: how the smaller operand s (padded with leading 1s to big's rank) repeats over
// big: a row (form 2) over big's leading dims, or one value per row (form 3) of big's leading
// dims; rows x n is big seen as a matrix. false when it is neither, or rows are under 8 long
// (ops._row_or_col's rule, which this mirrors: the Python fallback runs the same test).
bool row_or_col(const std::vector<int64_t>& big, const std::vector<int64_t>& small, int& form) {
  const size_t nd = big.size();
  if (small.size() > nd) return false;
  std::vector<int64_t> s(nd - small.size(), 1);
  s.insert(s.end(), small.begin(), small.end());
  size_t last = nd;
  while (last && s[last - 1] == 1) --last;
  int64_t n = 1;
  if (std::equal(s.begin(), s.begin() + last, big.begin())) {  // a column
    for (size_t d = last; d < nd; ++d) n *= big[d];
    form = 3;
  } else {
    size_t first = 0;
    while (first < nd && s[first] == 1) ++first;
    if (!std::equal(s.begin() + first, s.end(), big.begin() + first)) return false;
    for (size_t d = first; d < nd; ++d) n *= big[d];
    form = 2;
  }
  return n >= 8;
}

// ops._binary_kernel's test for two arrays, in one call (its Python tests cost ~1 us of a 32x32
// broadcast op): a op b by binary / binary_scalar's kernel when both are float32 or both
// float64, the larger (or a) C-contiguous with at least 16 elements, and the other of its shape
// (C-contiguous), one value, or a C-contiguous row or column of it; else None (the caller's
// general path, which gives the same bits where it takes the same kernel).
py::object binary_auto_py(const py::array& a, const py::array& b, int op) {
  const char* name = "binary_auto";
  check_op(op, name);
  const bool f32 = is_f32(a);
  if (!(f32 || is_f64(a)) || !same_dtype(a.dtype(), b.dtype())) return py::none();
  const std::vector<int64_t> sa = shape_of(a), sb = shape_of(b);
  const bool flip = a.size() < b.size();
  const py::array& big = flip ? b : a;
  const py::array& small = flip ? a : b;
  const int64_t size = big.size();
  if (size < 16 || !(big.flags() & py::array::c_style)) return py::none();
  int64_t rows = 1, n = size;
  int form = 0;
  if (sa == sb) {
    if (!(small.flags() & py::array::c_style)) return py::none();
  } else if (small.size() == 1 && small.ndim() <= big.ndim()) {
    form = 1;  // one value (its only element: any strides)
  } else {
    if (!(small.flags() & py::array::c_style) || !row_or_col(flip ? sb : sa, flip ? sa : sb, form))
      return py::none();
    const int64_t len = small.size();
    rows = form == 3 ? len : size / len;
    n = form == 3 ? size / len : len;
  }
  py::array y = empty_like_dtype(big, shape_of(big));
  if (f32)
    run_binary<float>(y, big, cptr<float>(small), rows, n, op, form, flip);
  else
    run_binary<double>(y, big, cptr<double>(small), rows, n, op, form, flip);
  return std::move(y);
}

// One side of where: an array of cond's shape (its data) or a Python number (into *one).
template <typename T>
const T* where_side(const py::object& v, T* one) {
  if (py::isinstance<py::array>(v)) return cptr<T>(py::reinterpret_borrow<py::array>(v));
  *one = static_cast<T>(v.cast<double>());
  return one;
}

template <typename T>
py::array run_where(const py::array& cond, const py::object& a, const py::object& b,
                    const py::array& like) {
  py::array y = empty_like_dtype(like, shape_of(cond));
  T a1 = 0, b1 = 0;
  const T* ap = where_side<T>(a, &a1);
  const T* bp = where_side<T>(b, &b1);
  const bool a_one = ap == &a1, b_one = bp == &b1;
  T* yp = ptr<T>(y);
  const uint8_t* cp = cptr<uint8_t>(cond);
  const int64_t n = static_cast<int64_t>(cond.size());
  py::gil_scoped_release release;
  where_forward<T>(yp, cp, ap, bp, n, a_one, b_one);
  return y;
}

py::array where_py(const py::array& cond, const py::object& a, const py::object& b) {
  const char* name = "where";
  if (!same_dtype(cond.dtype(), py::dtype::of<bool>()))
    throw py::type_error(std::string(name) + ": cond must be bool, got " +
                         std::string(py::str(cond.dtype())));
  require_contiguous(cond, name, "cond");
  const std::vector<int64_t> shape = shape_of(cond);
  numel_checked(shape, name);
  const py::array* like = nullptr;  // the first array operand: the result's dtype
  py::array arrays[2];
  const py::object* sides[2] = {&a, &b};
  for (int k = 0; k < 2; ++k) {
    const char* side = k == 0 ? "a" : "b";
    const py::object& v = *sides[k];
    if (py::isinstance<py::array>(v)) {
      arrays[k] = py::reinterpret_borrow<py::array>(v);
      require_float(arrays[k], name, side);
      require_contiguous(arrays[k], name, side);
      EMBER_CHECK(shape_of(arrays[k]) == shape, name, ": ", side, " ",
                  shape_str(shape_of(arrays[k])), " must have cond's shape ", shape_str(shape));
      if (like)
        require_same_dtype(*like, arrays[k], name);
      else
        like = &arrays[k];
    } else if (!PyFloat_Check(v.ptr()) && !PyLong_Check(v.ptr())) {
      throw py::type_error(std::string(name) + ": " + side +
                           " must be a float32/float64 array or a Python number, got " +
                           Py_TYPE(v.ptr())->tp_name);
    }
  }
  if (!like)
    throw py::type_error(std::string(name) + ": a or b must be an array (both are numbers)");
  if (is_f32(*like)) {
    for (const py::object* v : sides)  // (a finite number beyond float's range has no value)
      if (!py::isinstance<py::array>(*v)) {
        const double d = v->cast<double>();
        EMBER_CHECK(!std::isfinite(d) || std::fabs(d) <= FLT_MAX, name, ": the number ", d,
                    " is out of float32's range");
      }
    return run_where<float>(cond, a, b, *like);
  }
  return run_where<double>(cond, a, b, *like);
}

py::array copy_py(const py::array& x, const py::object& out) {
  const char* name = "copy";
  const char kind = x.dtype().kind();
  // (a memcpy of object arrays would copy references without counting them)
  if (kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f' && kind != 'c')
    throw py::type_error(std::string(name) + ": x must have a numeric dtype, got " +
                         std::string(py::str(x.dtype())));
  require_contiguous(x, name, "x");
  numel_checked(shape_of(x), name);
  py::array y = output_for(out, x, name);
  const int64_t nbytes = static_cast<int64_t>(x.nbytes());
  if (y.data() == x.data() || nbytes == 0) return y;
  char* yp = static_cast<char*>(y.mutable_data());
  const char* xp = static_cast<const char*>(x.data());
  py::gil_scoped_release release;
  copy_bytes(yp, xp, nbytes);
  return y;
}

// The element width of x, which the byte-moving kernels (transpose, flip) take as any numeric
// dtype of 1, 2, 4 or 8 bytes.
inline int64_t require_plain_elements(const py::array& x, const char* name) {
  const char kind = x.dtype().kind();
  const auto width = x.itemsize();
  if ((kind != 'b' && kind != 'i' && kind != 'u' && kind != 'f' && kind != 'c') ||
      (width != 1 && width != 2 && width != 4 && width != 8))
    throw py::type_error(std::string(name) + ": x must be numeric of 1 to 8 byte elements, got " +
                         std::string(py::str(x.dtype())));
  return width;
}

template <typename T>
void transpose_as(py::array& y, const py::array& x, int64_t rows, int64_t cols) {
  T* yp = static_cast<T*>(y.mutable_data());
  const T* xp = static_cast<const T*>(x.data());
  py::gil_scoped_release release;
  transpose_copy<T>(yp, xp, rows, cols);
}

py::array transpose_py(const py::array& x) {
  const char* name = "transpose_copy";
  const auto width = require_plain_elements(x, name);
  require_ndim(x, 2, name, "x");
  require_contiguous(x, name, "x");
  numel_checked(shape_of(x), name);
  const int64_t rows = x.shape(0), cols = x.shape(1);
  py::array y = empty_like_dtype(x, {cols, rows});
  if (rows * cols == 0) return y;
  if (width == 1) transpose_as<uint8_t>(y, x, rows, cols);
  if (width == 2) transpose_as<uint16_t>(y, x, rows, cols);
  if (width == 4) transpose_as<uint32_t>(y, x, rows, cols);
  if (width == 8) transpose_as<uint64_t>(y, x, rows, cols);
  return y;
}

template <typename T>
void flip_as(py::array& y, const py::array& x, int64_t rows, int64_t n) {
  T* yp = static_cast<T*>(y.mutable_data());
  const T* xp = static_cast<const T*>(x.data());
  py::gil_scoped_release release;
  flip_last<T>(yp, xp, rows, n);
}

py::array flip_py(const py::array& x) {
  const char* name = "flip_last";
  const auto width = require_plain_elements(x, name);
  EMBER_CHECK(x.ndim() >= 1, name, ": x must have at least 1 dim, got a 0-d array");
  require_contiguous(x, name, "x");
  const int64_t size = numel_checked(shape_of(x), name);
  py::array y = empty_like_dtype(x, shape_of(x));
  const int64_t n = x.shape(x.ndim() - 1);
  if (size == 0) return y;
  const int64_t rows = size / n;
  if (width == 1) flip_as<uint8_t>(y, x, rows, n);
  if (width == 2) flip_as<uint16_t>(y, x, rows, n);
  if (width == 4) flip_as<uint32_t>(y, x, rows, n);
  if (width == 8) flip_as<uint64_t>(y, x, rows, n);
  return y;
}

// x float32 -> y uint16 (16-bit float bits), or x uint16 -> y float32; same size, C-contiguous.
void cast16_py(const py::array& x, py::array& y, bool bf16) {
  const char* name = "cast16";
  require_contiguous(x, name, "x");
  require_contiguous(y, name, "y");
  require_writeable(y, name, "y");
  const bool narrow = is_f32(x) && same_dtype(y.dtype(), py::dtype::of<uint16_t>());
  if (!narrow && !(same_dtype(x.dtype(), py::dtype::of<uint16_t>()) && is_f32(y)))
    throw py::type_error(
        std::string(name) + ": needs float32 x and uint16 y, or the reverse, got " +
        std::string(py::str(x.dtype())) + " and " + std::string(py::str(y.dtype())));
  const int64_t n = numel_checked(shape_of(x), name);
  EMBER_CHECK(n == numel_checked(shape_of(y), name), name, ": x has ", n, " elements, y ",
              y.size());
  if (n == 0) return;
  void* yp = y.mutable_data();
  const void* xp = x.data();
  py::gil_scoped_release release;
  if (narrow)
    cast16_forward(static_cast<uint16_t*>(yp), static_cast<const float*>(xp), n, bf16);
  else
    cast16_forward(static_cast<float*>(yp), static_cast<const uint16_t*>(xp), n, bf16);
}

py::array cast_py(const py::array& x, const py::object& dtype) {
  const char* name = "cast";
  require_float(x, name, "x");
  require_contiguous(x, name, "x");
  const py::dtype to = py::dtype::from_args(dtype);
  const bool to_f64 = same_dtype(to, py::dtype::of<double>());
  if (!to_f64 && !same_dtype(to, py::dtype::of<float>()))
    throw py::type_error(std::string(name) + ": dtype must be float32 or float64, got " +
                         std::string(py::str(to)));
  const std::vector<int64_t> shape = shape_of(x);
  const int64_t n = numel_checked(shape, name);
  std::vector<py::ssize_t> s(shape.begin(), shape.end());
  py::array y = py::array(to, s);
  if (is_f32(x) == !to_f64) {  // the same dtype: a copy
    if (n) {
      char* yp = static_cast<char*>(y.mutable_data());
      const char* xp = static_cast<const char*>(x.data());
      py::gil_scoped_release release;
      copy_bytes(yp, xp, static_cast<int64_t>(x.nbytes()));
    }
    return y;
  }
  void* yp = y.mutable_data();
  const void* xp = x.data();
  py::gil_scoped_release release;
  if (to_f64)
    cast_forward<float, double>(static_cast<double*>(yp), static_cast<const float*>(xp), n);
  else
    cast_forward<double, float>(static_cast<float*>(yp), static_cast<const double*>(xp), n);
  return y;
}

py::array arange_py(double start, double step, int64_t n, int64_t chunk, const py::object& dtype) {
  const char* name = "arange";
  const py::dtype dt = py::dtype::from_args(dtype);
  const bool f64 = same_dtype(dt, py::dtype::of<double>());
  if (!f64 && !same_dtype(dt, py::dtype::of<float>()))
    throw py::type_error(std::string(name) + ": dtype must be float32 or float64, got " +
                         std::string(py::str(dt)));
  EMBER_CHECK(n >= 0, name, ": n must be >= 0, got ", n);
  EMBER_CHECK(chunk >= 1, name, ": chunk must be >= 1, got ", chunk);
  EMBER_CHECK(std::isfinite(start) && std::isfinite(step), name,
              ": start and step must be finite, got ", start, " and ", step);
  py::array y = py::array(dt, std::vector<py::ssize_t>{static_cast<py::ssize_t>(n)});
  void* yp = y.mutable_data();
  py::gil_scoped_release release;
  if (f64)
    arange_forward<double>(static_cast<double*>(yp), start, step, n, chunk);
  else
    arange_forward<float>(static_cast<float*>(yp), start, step, n, chunk);
  return y;
}

}  // namespace

void bind_elementwise(py::module_& m) {
  m.def("binary", &binary_py, py::arg("a"), py::arg("b"), py::arg("op"), py::arg("per_row") = false,
        py::arg("flip") = false, py::arg("out") = py::none(),
        "a op b (b op a when flip), float32/float64 C-contiguous of one dtype: b of a's shape, "
        "or 1-D with a seen as (rows, n): b (n,) repeated over the rows, or (rows,) one value "
        "per row (per_row). op 0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum (NaN-propagating). "
        "One IEEE operation per element: NumPy's bits. out: a's dtype and shape, may be a or b.");
  m.def(
      "fmod",
      [](const py::array& a, const py::array& b, const py::object& out) {
        return mod_py(a, b, out, false);
      },
      py::arg("a"), py::arg("b"), py::arg("out") = py::none(),
      "a, b float32/float64 of one shape, C-contiguous -> y: C's fmod(a, b), exact (the "
      "dividend's sign; NaN for b == 0 or a infinite). out as binary's.");
  m.def(
      "remainder",
      [](const py::array& a, const py::array& b, const py::object& out) {
        return mod_py(a, b, out, true);
      },
      py::arg("a"), py::arg("b"), py::arg("out") = py::none(),
      "as fmod, then + b where the result is nonzero and its sign differs from b's: torch's "
      "remainder (the divisor's sign) bit for bit.");
  m.def(
      "hypot", [](const py::array& a, const py::array& b) { return math2_py(a, b, 0, "hypot"); },
      py::arg("a"), py::arg("b"),
      "a, b float of one dtype (b of a's shape or one value) -> hypot(a, b), NumPy's bits.");
  m.def(
      "logaddexp",
      [](const py::array& a, const py::array& b) { return math2_py(a, b, 1, "logaddexp"); },
      py::arg("a"), py::arg("b"), "as hypot -> torch's logaddexp (float32 within ~0.5 ulp).");
  m.def(
      "logaddexp2",
      [](const py::array& a, const py::array& b) { return math2_py(a, b, 2, "logaddexp2"); },
      py::arg("a"), py::arg("b"), "as hypot -> torch's logaddexp2 (float32 within ~0.5 ulp).");
  m.def(
      "nextafter",
      [](const py::array& a, const py::array& b) { return math2_py(a, b, 3, "nextafter"); },
      py::arg("a"), py::arg("b"), "as hypot -> C's nextafter(a, b), bit for bit.");
  m.def(
      "copysign",
      [](const py::array& a, const py::array& b) { return math2_py(a, b, 4, "copysign"); },
      py::arg("a"), py::arg("b"), "as hypot -> C's copysign(a, b), bit for bit.");
  m.def(
      "pow", [](const py::array& a, const py::array& b) { return math2_py(a, b, 5, "pow"); },
      py::arg("a"), py::arg("b"),
      "as hypot -> a ** b by C99's special cases (float32 in double, rounded once; float64 "
      "within 0.74 ulp).");
  m.def("addc", &addc_py, py::arg("a"), py::arg("b"), py::arg("c"), py::arg("s"), py::arg("op"),
        "torch's fused add/sub alpha (op 0), addcmul (1), addcdiv (2).");
  m.def("lerp", &lerp_py, py::arg("a"), py::arg("b"), py::arg("weight"),
        "a, b float of one shape and dtype, weight an array of theirs or a number -> torch's "
        "lerp (a + w (b - a) for |w| < 0.5, else b - (b - a) (1 - w)).");
  m.def("binary_scalar", &binary_scalar_py, py::arg("a"), py::arg("s"), py::arg("op"),
        py::arg("flip") = false, py::arg("out") = py::none(),
        "a op s (s op a when flip), a float32/float64 C-contiguous, s rounded to a's dtype; "
        "op as binary's. out: a's dtype and shape, may be a.");
  m.def("binary_auto", &binary_auto_py, py::arg("a"), py::arg("b"), py::arg("op"),
        "a op b as binary or binary_scalar compute it when they take a and b as they are: one "
        "float dtype, the larger C-contiguous with >= 16 elements, the other of its shape, one "
        "value, or a C-contiguous row or column of it (rows of >= 8); else None. op as binary's.");
  m.def("outer", &outer_py, py::arg("a"), py::arg("b"), py::arg("op"),
        "a (m,), b (n,) float32/float64 C-contiguous of one dtype -> y (m, n) = a[i] op b[j]; "
        "op as binary's, one IEEE operation per element.");
  m.def("where", &where_py, py::arg("cond"), py::arg("a"), py::arg("b"),
        "cond bool C-contiguous; a and b float32/float64 C-contiguous arrays of cond's shape "
        "and one dtype, or Python numbers (rounded to the arrays' dtype; not both) -> "
        "y = cond ? a : b, branch-free.");
  m.def("copy", &copy_py, py::arg("x"), py::arg("out") = py::none(),
        "x C-contiguous, any numeric dtype -> a C-contiguous copy (into out when given: x's "
        "dtype and shape), threads over the bytes.");
  m.def("transpose_copy", &transpose_py, py::arg("x"),
        "x (rows, cols) C-contiguous, numeric of 1 to 8 byte elements -> x.T as a new "
        "C-contiguous (cols, rows) array (tiled, threads over bands of rows).");
  m.def("flip_last", &flip_py, py::arg("x"),
        "x (..., n) C-contiguous, numeric of 1 to 8 byte elements, >= 1 dim -> a new "
        "C-contiguous copy with the last dim reversed (threads over rows).");
  m.def("cast", &cast_py, py::arg("x"), py::arg("dtype"),
        "x float32/float64 C-contiguous -> x as dtype (float32 or float64; round to nearest "
        "as NumPy's astype).");
  m.def("cast16", &cast16_py, py::arg("x"), py::arg("y"), py::arg("bf16"),
        "x float32 -> y uint16 as float16 (or bfloat16) bits, or x uint16 bits -> y float32, "
        "written into y: torch's conversions bit for bit (round to nearest even).");
  m.def("arange", &arange_py, py::arg("start"), py::arg("step"), py::arg("n"), py::arg("chunk"),
        py::arg("dtype"),
        "-> y (n,) float32/float64: start + step * i bit for bit as torch's CPU arange, its "
        "threads taking `chunk` indices each.");
}

}  // namespace ember
