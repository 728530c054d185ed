// Bindings for csrc/ops/gather.cpp.
//
//   gather_forward(x, index int64, dim) -> y (index's shape)        any numeric x, same ndim
//   gather_forward_or_none(x, index, dim) -> y or None   (None: not one gather_forward takes)
//   gather_backward(grad, index int64, dim, size, out=None) -> dx (grad's shape with `size`
//       at dim); with out (that shape, grad's dtype, contiguous) grad is scatter-added into it
//   index_select(x, index int64 (k,), dim) -> y (x's shape with k at dim)   any numeric x
//   index_select_backward(grad, index, dim, size, out=None) -> dx (grad's shape with `size`
//       at dim): grad's slices added at index along dim (into out when given: index_add)
//   scatter(out, src, index int64, dim) -> None: out[..., index[j], ...] = src[j] along dim in
//       place (torch.scatter_; a repeated index keeps the last value), any numeric dtype;
//       index and src of one shape, out's outside dim
//   bincount(x int64 (n,), weights=None, minlength=0) -> counts int64 or sums float64
//   concat(arrays, dim, stack) -> (y, sizes)     torch.cat / torch.stack of one dtype
//   nonzero(m bool, ndim >= 1, C-contiguous) -> (count, ndim) int64: torch.nonzero's indices
//   scatter_reduce(x, src, index int64, dim, reduce, include_self, counts) -> (out, count):
//       x's C-order copy with src reduced in at index along dim (index and src of one shape,
//       x's outside dim; reduce 'sum', 'prod', 'mean', 'amax' or 'amin'), count (int64, or
//       None unless counts) the number of src values each entry took. The adding kernels
//       (gather_backward, index_select_backward, scatter_reduce) take float32, float64, int32
//       and int64 (integers wrap around, as torch's)
#include <algorithm>
#include <cstring>
#include <string>

#include "bind_util.h"

namespace ember {

// csrc/ops/gather.cpp
int64_t count_nonzero_bytes(const uint8_t* m, int64_t n);
void nonzero_indices(int64_t* out, const uint8_t* m, const int64_t* shape, int64_t nd,
                     int64_t count);
int64_t gather_bad_index(const int64_t* idx, int64_t n, int64_t nx);
template <typename T>
void gather_forward(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t nx, int64_t ni,
                    int64_t inner);
template <typename T>
void gather_backward(T* dx, const T* dy, const int64_t* idx, int64_t outer, int64_t nx, int64_t ni,
                     int64_t inner, bool accumulate);
template <typename T>
void index_select_forward(T* y, const T* x, const int64_t* idx, int64_t outer, int64_t nx,
                          int64_t ni, int64_t inner);
template <typename T>
void index_select_backward(T* dx, const T* dy, const int64_t* idx, int64_t outer, int64_t nx,
                           int64_t ni, int64_t inner, bool accumulate);
template <typename T>
void scatter_forward(T* out, const T* src, const int64_t* idx, int64_t outer, int64_t nx,
                     int64_t ni, int64_t inner);
template <typename T>
void scatter_reduce_forward(T* out, int64_t* count, const T* src, const int64_t* idx, int64_t outer,
                            int64_t nx, int64_t ni, int64_t inner, char op, bool include_self);
void int64_range(int64_t* lo, int64_t* hi, const int64_t* x, int64_t n);
void bincount_counts(int64_t* counts, const int64_t* x, int64_t n, int64_t bins);
template <typename W>
void bincount_weights(double* sums, const int64_t* x, const W* w, int64_t n);
void concat_forward(char* out, const char* const* in, const int64_t* block, int64_t n,
                    int64_t outer);

namespace {

struct Fibres {
  int64_t outer = 1, inner = 1;
};

// Checks index (int64, contiguous) against `shape` (x's, or dx's) and returns the (outer, inner)
// view around `dim`; an index outside [0, shape[dim]) is IndexError, as PyTorch.
Fibres check_index(const py::array& index, const std::vector<int64_t>& shape, int64_t dim,
                   const char* op) {
  if (!same_dtype(index.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": index must be int64, got " +
                         std::string(py::str(index.dtype())));
  require_contiguous(index, op, "index");
  const int64_t nd = static_cast<int64_t>(shape.size());
  EMBER_CHECK(nd >= 1 && index.ndim() == nd, op, ": index ", shape_str(shape_of(index)),
              " and input ", shape_str(shape), " must have the same number of dims (>= 1)");
  EMBER_CHECK(dim >= 0 && dim < nd, op, ": dim ", dim, " is out of range for ", nd, " dims");
  Fibres f;
  for (int64_t d = 0; d < nd; ++d) {
    EMBER_CHECK(d == dim || index.shape(d) == shape[d], op, ": index ", shape_str(shape_of(index)),
                " and input ", shape_str(shape), " differ outside dim ", dim);
    if (d < dim) f.outer *= shape[d];
    if (d > dim) f.inner *= shape[d];
  }
  numel_checked(shape, op);
  const int64_t bad = gather_bad_index(cptr<int64_t>(index), index.size(), shape[dim]);
  if (bad >= 0)
    throw py::index_error(detail::concat(op == std::string("gather_forward") ? "gather" : op,
                                         ": index out of range [0, ", shape[dim], ") for dim ", dim,
                                         " of shape ", shape_str(shape), " (got ",
                                         cptr<int64_t>(index)[bad], ")"));
  return f;
}

// The kernels move elements by width only: any numeric dtype of 1, 2, 4 or 8 bytes (returned).
py::ssize_t require_element_bytes(const py::array& x, const char* op) {
  const char kind = x.dtype().kind();
  const auto width = x.itemsize();
  if ((kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b' && kind != 'c') ||
      (width != 1 && width != 2 && width != 4 && width != 8))
    throw py::type_error(std::string(op) + ": x must be a numeric array of 1 to 8 byte elements, " +
                         "got " + std::string(py::str(x.dtype())));
  return width;
}

// A backward's dx (shape, grad's dtype): fresh when out_arg is None, else out_arg itself, to be
// added into in place (checked, never converted: a silent copy would lose the sums).
py::array backward_out(const py::object& out_arg, const py::array& grad, const py::array& index,
                       const std::vector<int64_t>& shape, const char* op) {
  if (out_arg.is_none()) return empty_like_dtype(grad, shape);
  if (!py::isinstance<py::array>(out_arg) ||
      !same_dtype(py::reinterpret_borrow<py::array>(out_arg).dtype(), grad.dtype()))
    throw py::type_error(std::string(op) + ": out must be an array of grad's dtype");
  py::array dx = py::reinterpret_borrow<py::array>(out_arg);
  require_contiguous(dx, op, "out");
  require_shape(dx, shape, op, "out");
  EMBER_CHECK(dx.writeable(), op, ": out must be writeable");
  // Rows added into out must not change the grad still to be read, nor the indices that were
  // range-checked (a changed index would write out of bounds).
  require_no_overlap(dx, grad, op, "out", "grad", false);
  require_no_overlap(dx, index, op, "out", "index", false);
  return dx;
}

// The adding kernels' element types: float32, float64, int32, int64 (TypeError otherwise);
// calls f with a value of the C++ type.
template <typename F>
void by_add_dtype(const py::array& a, const char* op, const char* name, F&& f) {
  const py::dtype dt = a.dtype();
  if (same_dtype(dt, py::dtype::of<float>()))
    f(float{});
  else if (same_dtype(dt, py::dtype::of<double>()))
    f(double{});
  else if (same_dtype(dt, py::dtype::of<int32_t>()))
    f(int32_t{});
  else if (same_dtype(dt, py::dtype::of<int64_t>()))
    f(int64_t{});
  else
    throw py::type_error(std::string(op) + ": " + name +
                         " must be float32, float64, int32 or int64, got " +
                         std::string(py::str(dt)));
}

template <typename T>
void forward_as(py::array& y, const py::array& x, const int64_t* ip, Fibres f, int64_t nx,
                int64_t ni) {
  T* out = static_cast<T*>(y.mutable_data());
  const T* in = static_cast<const T*>(x.data());
  py::gil_scoped_release release;
  gather_forward<T>(out, in, ip, f.outer, nx, ni, f.inner);
}

py::array forward_py(const py::array& x, const py::array& index, int64_t dim) {
  const char* op = "gather_forward";
  const auto width = require_element_bytes(x, op);
  require_contiguous(x, op, "x");
  const std::vector<int64_t> shape = shape_of(x);
  const Fibres f = check_index(index, shape, dim, op);
  const int64_t nx = shape[dim], ni = index.shape(dim);
  py::array y = empty_like_dtype(x, shape_of(index));
  const int64_t* ip = cptr<int64_t>(index);
  if (width == 1) forward_as<uint8_t>(y, x, ip, f, nx, ni);
  if (width == 2) forward_as<uint16_t>(y, x, ip, f, nx, ni);
  if (width == 4) forward_as<uint32_t>(y, x, ip, f, nx, ni);
  if (width == 8) forward_as<uint64_t>(y, x, ip, f, nx, ni);
  return y;
}

// ember.gather's common call in one step: forward_py's result, or None (nothing raised) when
// the kernel does not take these arrays as they are (the caller's general path then decides:
// an exception's round trip cost more than the checks it saves). An index out of range is
// still forward_py's IndexError.
py::object forward_or_none_py(const py::array& x, const py::array& index, int64_t dim) {
  const py::ssize_t nd = x.ndim();
  if (nd < 1 || index.ndim() != nd || dim < 0 || dim >= nd) return py::none();
  const char kind = x.dtype().kind();
  const auto width = x.itemsize();
  if ((kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b' && kind != 'c') ||
      (width != 1 && width != 2 && width != 4 && width != 8))
    return py::none();
  if (!(x.flags() & py::array::c_style) || !(index.flags() & py::array::c_style) ||
      !same_dtype(index.dtype(), py::dtype::of<int64_t>()))
    return py::none();
  for (py::ssize_t d = 0; d < nd; ++d)
    if (d != dim && index.shape(d) != x.shape(d)) return py::none();
  return forward_py(x, index, dim);
}

py::array backward_py(const py::array& grad, const py::array& index, int64_t dim, int64_t size,
                      const py::object& out_arg) {
  const char* op = "gather_backward";
  by_add_dtype(grad, op, "grad", [](auto) {});
  require_contiguous(grad, op, "grad");
  EMBER_CHECK(size >= 0, op, ": size must be >= 0, got ", size);
  std::vector<int64_t> shape = shape_of(grad);
  EMBER_CHECK(dim >= 0 && dim < static_cast<int64_t>(shape.size()), op, ": dim ", dim,
              " is out of range for ", shape.size(), " dims");
  require_shape(index, shape, op, "index");
  shape[dim] = size;
  const Fibres f = check_index(index, shape, dim, op);
  const int64_t ni = grad.shape(dim);
  const bool accumulate = !out_arg.is_none();
  py::array dx = backward_out(out_arg, grad, index, shape, op);
  const int64_t* ip = cptr<int64_t>(index);
  by_add_dtype(grad, op, "grad", [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(dx.mutable_data());
    const T* g = static_cast<const T*>(grad.data());
    py::gil_scoped_release release;
    gather_backward<T>(out, g, ip, f.outer, size, ni, f.inner, accumulate);
  });
  return dx;
}

// index_select's index: 1-D int64, C-contiguous, every value in [0, n) (IndexError otherwise,
// as PyTorch: no negative indices). One vectorised scan in C++ instead of NumPy's min and max.
const int64_t* check_select_index(const py::array& index, int64_t n, int64_t dim, const char* op) {
  if (!same_dtype(index.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": index must be int64, got " +
                         std::string(py::str(index.dtype())));
  require_contiguous(index, op, "index");
  EMBER_CHECK(index.ndim() == 1, op, ": index must be 1-D, got ", shape_str(shape_of(index)));
  const int64_t* ip = cptr<int64_t>(index);
  const int64_t bad = gather_bad_index(ip, index.size(), n);
  if (bad >= 0)
    throw py::index_error(detail::concat(op, ": index ", ip[bad], " out of range [0, ", n,
                                         ") for dim ", dim, " of size ", n));
  return ip;
}

// x's (outer, inner) around dim (checked: 0 <= dim < ndim)
Fibres fibres(const std::vector<int64_t>& shape, int64_t dim, const char* op) {
  const int64_t nd = static_cast<int64_t>(shape.size());
  if (dim < 0 || dim >= nd)
    throw py::index_error(detail::concat(op, ": dim ", dim, " is out of range for ", nd, " dims"));
  numel_checked(shape, op);
  Fibres f;
  for (int64_t d = 0; d < nd; ++d) {
    if (d < dim) f.outer *= shape[d];
    if (d > dim) f.inner *= shape[d];
  }
  return f;
}

template <typename T>
void select_as(py::array& y, const py::array& x, const int64_t* ip, Fibres f, int64_t nx,
               int64_t ni) {
  T* out = static_cast<T*>(y.mutable_data());
  const T* in = static_cast<const T*>(x.data());
  py::gil_scoped_release release;
  index_select_forward<T>(out, in, ip, f.outer, nx, ni, f.inner);
}

template <typename T>
void scatter_as(py::array& out, const py::array& src, const int64_t* ip, Fibres f, int64_t nx,
                int64_t ni) {
  T* o = static_cast<T*>(out.mutable_data());
  const T* s = static_cast<const T*>(src.data());
  py::gil_scoped_release release;
  scatter_forward<T>(o, s, ip, f.outer, nx, ni, f.inner);
}

void scatter_py(py::array out, const py::array& src, const py::array& index, int64_t dim) {
  const char* op = "scatter";
  const auto width = require_element_bytes(out, op);
  require_same_dtype(out, src, op);
  require_contiguous(out, op, "out");
  require_contiguous(src, op, "src");
  EMBER_CHECK(out.writeable(), op, ": out must be writeable");
  require_shape(src, shape_of(index), op, "src");
  const std::vector<int64_t> shape = shape_of(out);
  const Fibres f = check_index(index, shape, dim, op);  // (int64, contiguous, in range)
  // the writes must not change src or the range-checked indices while they are read
  require_no_overlap(out, src, op, "out", "src", false);
  require_no_overlap(out, index, op, "out", "index", false);
  const int64_t ni = index.shape(dim), nx = shape[dim];
  const int64_t* ip = cptr<int64_t>(index);
  if (width == 1) scatter_as<uint8_t>(out, src, ip, f, nx, ni);
  if (width == 2) scatter_as<uint16_t>(out, src, ip, f, nx, ni);
  if (width == 4) scatter_as<uint32_t>(out, src, ip, f, nx, ni);
  if (width == 8) scatter_as<uint64_t>(out, src, ip, f, nx, ni);
}

py::tuple scatter_reduce_py(const py::array& x, const py::array& src, const py::array& index,
                            int64_t dim, const std::string& reduce, bool include_self,
                            bool counts) {
  const char* op = "scatter_reduce";
  by_add_dtype(x, op, "x", [](auto) {});
  require_same_dtype(x, src, op);
  require_contiguous(src, op, "src");
  char code = 0;
  if (reduce == "sum")
    code = '+';
  else if (reduce == "prod")
    code = '*';
  else if (reduce == "amax")
    code = '>';
  else if (reduce == "amin")
    code = '<';
  else if (reduce == "mean")
    code = 'm';
  EMBER_CHECK(code != 0, op, ": reduce must be 'sum', 'prod', 'mean', 'amax' or 'amin', got '",
              reduce, "'");
  const std::vector<int64_t> shape = shape_of(x);
  require_shape(src, shape_of(index), op, "src");
  const Fibres f = check_index(index, shape, dim, op);  // (int64, contiguous, in range)
  const int64_t ni = index.shape(dim), nx = shape[dim];
  py::array out = py::array(x.dtype(), std::vector<py::ssize_t>(shape.begin(), shape.end()));
  out[py::make_tuple(py::ellipsis())] = x;  // (x's copy, whatever its strides)
  // (else the kernel counts in its scratch where it needs to)
  py::array_t<int64_t> count(counts ? std::vector<py::ssize_t>(shape.begin(), shape.end())
                                    : std::vector<py::ssize_t>{0});
  int64_t* c = counts ? count.mutable_data() : nullptr;
  if (counts) std::fill(c, c + count.size(), int64_t(0));
  const int64_t* ip = cptr<int64_t>(index);
  by_add_dtype(x, op, "x", [&](auto tag) {
    using T = decltype(tag);
    T* o = static_cast<T*>(out.mutable_data());
    const T* s = static_cast<const T*>(src.data());
    py::gil_scoped_release release;
    scatter_reduce_forward<T>(o, c, s, ip, f.outer, nx, ni, f.inner, code, include_self);
  });
  if (!counts) return py::make_tuple(out, py::none());
  return py::make_tuple(out, count);
}

py::array index_select_py(const py::array& x, const py::array& index, int64_t dim) {
  const char* op = "index_select";
  const auto width = require_element_bytes(x, op);
  require_contiguous(x, op, "x");
  std::vector<int64_t> shape = shape_of(x);
  const Fibres f = fibres(shape, dim, op);
  const int64_t nx = shape[dim];
  const int64_t* ip = check_select_index(index, nx, dim, op);
  shape[dim] = index.size();
  py::array y = empty_like_dtype(x, shape);
  if (width == 1) select_as<uint8_t>(y, x, ip, f, nx, index.size());
  if (width == 2) select_as<uint16_t>(y, x, ip, f, nx, index.size());
  if (width == 4) select_as<uint32_t>(y, x, ip, f, nx, index.size());
  if (width == 8) select_as<uint64_t>(y, x, ip, f, nx, index.size());
  return y;
}

py::array index_select_backward_py(const py::array& grad, const py::array& index, int64_t dim,
                                   int64_t size, const py::object& out_arg) {
  const char* op = "index_select_backward";
  by_add_dtype(grad, op, "grad", [](auto) {});
  require_contiguous(grad, op, "grad");
  EMBER_CHECK(size >= 0, op, ": size must be >= 0, got ", size);
  std::vector<int64_t> shape = shape_of(grad);
  const Fibres f = fibres(shape, dim, op);
  const int64_t* ip = check_select_index(index, size, dim, op);
  const int64_t ni = grad.shape(dim);
  EMBER_CHECK(index.size() == ni, op, ": grad ", shape_str(shape), " has ", ni, " entries at dim ",
              dim, " for ", index.size(), " indices");
  shape[dim] = size;
  const bool accumulate = !out_arg.is_none();
  py::array dx = backward_out(out_arg, grad, index, shape, op);
  by_add_dtype(grad, op, "grad", [&](auto tag) {
    using T = decltype(tag);
    T* out = static_cast<T*>(dx.mutable_data());
    const T* g = static_cast<const T*>(grad.data());
    py::gil_scoped_release release;
    index_select_backward<T>(out, g, ip, f.outer, size, ni, f.inner, accumulate);
  });
  return dx;
}

// out[..., index[j], ...] = src[..., j, ...] along dim, in place (torch.index_copy_; a repeated
// index keeps its last slice, as NumPy's assignment): out and src C-contiguous of one dtype,
// src out's shape but index.size() at dim, index 1-D int64 in [0, out.shape[dim]) (IndexError,
// checked before any write). One memcpy per (outer, j) slice: a copy, no arithmetic.
void index_copy_py(py::array out, const py::array& src, const py::array& index, int64_t dim) {
  const char* op = "index_copy";
  const auto width = require_element_bytes(out, op);
  require_same_dtype(out, src, op);
  require_contiguous(out, op, "out");
  require_contiguous(src, op, "src");
  EMBER_CHECK(out.writeable(), op, ": out must be writeable");
  std::vector<int64_t> shape = shape_of(out);
  const Fibres f = fibres(shape, dim, op);
  const int64_t nx = shape[dim], ni = index.size();
  const int64_t* ip = check_select_index(index, nx, dim, op);
  shape[dim] = ni;
  require_shape(src, shape, op, "src");
  require_no_overlap(out, src, op, "out", "src", false);
  require_no_overlap(out, index, op, "out", "index", false);
  const size_t slice = static_cast<size_t>(f.inner * width);
  char* o = static_cast<char*>(out.mutable_data());
  const char* s = static_cast<const char*>(src.data());
  if (!slice) return;
  py::gil_scoped_release release;
  for (int64_t k = 0; k < f.outer; ++k)
    for (int64_t j = 0; j < ni; ++j)
      std::memcpy(o + (k * nx + ip[j]) * slice, s + (k * ni + j) * slice, slice);
}

// torch.cat (stack=false) or torch.stack (stack=true) of `arrays` along `dim`; non-contiguous
// inputs are copied first. cat skips the legacy empty tensors of shape (0,) when others are
// not, as PyTorch. Returns y and each input's extent along dim (the slice of y its gradient
// is; -1 for a skipped input).
py::tuple concat_py(const py::sequence& arrays, int64_t dim, bool stack) {
  const char* op = stack ? "stack" : "cat";
  std::vector<py::array> xs;
  xs.reserve(arrays.size());
  bool all_legacy = true;
  for (const py::handle h : arrays) {
    if (!py::isinstance<py::array>(h))
      throw py::type_error(
          detail::concat(op, ": expected arrays, got ", Py_TYPE(h.ptr())->tp_name));
    xs.push_back(py::reinterpret_borrow<py::array>(h));
    all_legacy = all_legacy && xs.back().ndim() == 1 && xs.back().shape(0) == 0;
  }
  EMBER_CHECK(!xs.empty(), op, ": expected a non-empty list of tensors");
  auto skipped = [&](const py::array& a) {
    return !stack && !all_legacy && a.ndim() == 1 && a.shape(0) == 0;
  };
  const py::array& first = *std::find_if_not(xs.begin(), xs.end(), skipped);
  const std::vector<int64_t> ref = shape_of(first);
  const int64_t nd = static_cast<int64_t>(ref.size()) + (stack ? 1 : 0);
  EMBER_CHECK(nd > 0, op, ": zero-dimensional tensors cannot be concatenated (stack them)");
  if (dim < -nd || dim >= nd)
    throw py::index_error(detail::concat(op, ": dim ", dim, " is out of range for ", nd, " dims"));
  const int64_t axis = dim < 0 ? dim + nd : dim;
  int64_t outer = 1, inner = 1;  // elements before the axis, and after it (cat) / from it (stack)
  for (int64_t d = 0; d < static_cast<int64_t>(ref.size()); ++d) {
    if (d < axis) outer = mul_checked(outer, ref[d], op);
    if (d > axis || (stack && d == axis)) inner = mul_checked(inner, ref[d], op);
  }
  std::vector<int64_t> block;
  std::vector<const char*> ptr;
  py::list sizes;
  int64_t total = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    py::array& a = xs[k];
    if (skipped(a)) {
      sizes.append(-1);
      continue;
    }
    if (!same_dtype(a.dtype(), first.dtype()))
      throw py::type_error(detail::concat(op, ": expected all tensors of dtype ",
                                          std::string(py::str(first.dtype())), ", got ",
                                          std::string(py::str(a.dtype())), " at position ", k));
    const std::vector<int64_t> s = shape_of(a);
    bool fits = s.size() == ref.size();
    for (size_t d = 0; fits && d < s.size(); ++d)
      fits = s[d] == ref[d] || (!stack && static_cast<int64_t>(d) == axis);
    EMBER_CHECK(fits, op, ": shapes ", shape_str(ref), " and ", shape_str(s), " differ",
                stack ? "" : detail::concat(" outside dim ", axis));
    a = c_contiguous(a);
    const int64_t extent = stack ? 1 : s[axis];
    block.push_back(mul_checked(mul_checked(extent, inner, op), a.itemsize(), op));
    ptr.push_back(static_cast<const char*>(a.data()));
    total += extent;
    sizes.append(extent);
  }
  std::vector<int64_t> out_shape = ref;
  if (stack)
    out_shape.insert(out_shape.begin() + axis, total);
  else
    out_shape[axis] = total;
  numel_checked(out_shape, op);
  py::array y = empty_like_dtype(first, out_shape);
  char* out = static_cast<char*>(y.mutable_data());
  {
    py::gil_scoped_release release;
    concat_forward(out, ptr.data(), block.data(), static_cast<int64_t>(ptr.size()), outer);
  }
  return py::make_tuple(y, sizes);
}

}  // namespace

py::array_t<int64_t> nonzero_py(const py::array& m) {
  if (!same_dtype(m.dtype(), py::dtype::of<bool>()))
    throw py::type_error("nonzero: m must be bool, got " + std::string(py::str(m.dtype())));
  require_contiguous(m, "nonzero", "m");
  EMBER_CHECK(m.ndim() >= 1, "nonzero: m must have at least one dim, got a 0-d array");
  const std::vector<int64_t> shape = shape_of(m);
  const int64_t nd = m.ndim();
  const auto* p = static_cast<const uint8_t*>(m.data());
  int64_t count;
  {
    py::gil_scoped_release release;
    count = count_nonzero_bytes(p, m.size());
  }
  py::array_t<int64_t> out({static_cast<py::ssize_t>(count), static_cast<py::ssize_t>(nd)});
  int64_t* o = out.mutable_data();
  py::gil_scoped_release release;
  nonzero_indices(o, p, shape.data(), nd, count);
  return out;
}

// x (n,) int64 >= 0, weights (n,) float32/float64 or None -> the count (int64) or the weights'
// sum (float64) of each value in [0, max(x.max() + 1, minlength))
py::array bincount_py(const py::array& x, const py::object& weights, int64_t minlength) {
  if (!same_dtype(x.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error("bincount: x must be int64, got " + std::string(py::str(x.dtype())));
  require_contiguous(x, "bincount", "x");
  EMBER_CHECK(x.ndim() == 1, "bincount: x must be 1-D, got shape ", shape_str(shape_of(x)));
  EMBER_CHECK(minlength >= 0, "bincount: minlength must be non-negative, got ", minlength);
  const int64_t n = x.size();
  const auto* px = static_cast<const int64_t*>(x.data());
  py::array w;
  if (!weights.is_none()) {
    if (!py::isinstance<py::array>(weights))
      throw py::type_error("bincount: weights must be a NumPy array or None, got " +
                           std::string(py::str(py::type::of(weights))));
    w = py::reinterpret_borrow<py::array>(weights);
    if (!same_dtype(w.dtype(), py::dtype::of<float>()) &&
        !same_dtype(w.dtype(), py::dtype::of<double>()))
      throw py::type_error("bincount: weights must be float32 or float64, got " +
                           std::string(py::str(w.dtype())));
    require_contiguous(w, "bincount", "weights");
    EMBER_CHECK(w.ndim() == 1 && w.size() == n, "bincount: weights ", shape_str(shape_of(w)),
                " must match x ", shape_str(shape_of(x)));
  }
  int64_t lo = 0, hi = -1;
  if (n) {
    py::gil_scoped_release release;
    int64_range(&lo, &hi, px, n);
  }
  EMBER_CHECK(lo >= 0, "bincount: x must be non-negative, got a value ", lo);
  // (hi + 1 must not overflow: torch's refusal)
  EMBER_CHECK(hi < INT64_MAX, "bincount: maximum value of input overflowed, it should be < ",
              INT64_MAX, " but got ", hi);
  const int64_t bins = std::max(hi + 1, minlength);
  if (weights.is_none()) {
    py::array_t<int64_t> out(static_cast<py::ssize_t>(bins));
    int64_t* o = out.mutable_data();
    py::gil_scoped_release release;
    std::fill(o, o + bins, int64_t(0));
    bincount_counts(o, px, n, bins);
    return std::move(out);
  }
  py::array_t<double> out(static_cast<py::ssize_t>(bins));
  double* o = out.mutable_data();
  const bool single = same_dtype(w.dtype(), py::dtype::of<float>());
  const void* pw = w.data();
  py::gil_scoped_release release;
  std::fill(o, o + bins, 0.0);
  if (single)
    bincount_weights(o, px, static_cast<const float*>(pw), n);
  else
    bincount_weights(o, px, static_cast<const double*>(pw), n);
  return std::move(out);
}

void bind_gather(py::module_& m) {
  m.def("bincount", &bincount_py, py::arg("x"), py::arg("weights") = py::none(),
        py::arg("minlength") = 0,
        "x (n,) int64 >= 0 contiguous, weights None or (n,) float32/float64 -> the count "
        "(int64) or the weights' sum in float64 (in order: NumPy's bits) of each value in "
        "[0, max(x.max() + 1, minlength)) (torch.bincount).");
  m.def("nonzero", &nonzero_py, py::arg("m"),
        "m bool C-contiguous, ndim >= 1 -> (count, ndim) int64: the index of each True entry "
        "in C order (torch.nonzero), written in one pass.");
  m.def("gather_forward", &forward_py, py::arg("x"), py::arg("index"), py::arg("dim"),
        "x (any numeric dtype), index int64 of x's shape except at dim, values in [0, "
        "x.shape[dim]) -> y (index's shape): y[..., j, ...] = x[..., index[..., j, ...], ...].");
  m.def("gather_forward_or_none", &forward_or_none_py, py::arg("x"), py::arg("index"),
        py::arg("dim"),
        "gather_forward's result, or None when it does not take x and index as they are (a "
        "layout, dtype or shape outside dim it refuses); an index out of range: IndexError.");
  m.def("gather_backward", &backward_py, py::arg("grad"), py::arg("index"), py::arg("dim"),
        py::arg("size"), py::arg("out") = py::none(),
        "grad float32/float64/int32/int64 (index's shape), index int64, size = x.shape[dim] "
        "-> dx: zeros with grad added at the indexed positions (in index order: deterministic; "
        "integers wrap around).");
  m.def("scatter_reduce", &scatter_reduce_py, py::arg("x"), py::arg("src"), py::arg("index"),
        py::arg("dim"), py::arg("reduce"), py::arg("include_self") = true, py::arg("counts") = true,
        "x float32/float64/int32/int64, src (x's dtype, index's shape, contiguous), index "
        "int64 (x's shape outside dim, in [0, x.shape[dim])), reduce "
        "'sum'/'prod'/'mean'/'amax'/'amin' -> (out, count int64): torch.scatter_reduce's "
        "result in C order (in index order: deterministic; integers wrap around, an integer "
        "mean rounds down) and the number of src values each entry took (None unless counts).");
  m.def("scatter", &scatter_py, py::arg("out").noconvert(), py::arg("src"), py::arg("index"),
        py::arg("dim"),
        "out[..., index[j], ...] = src[j] along dim in place (torch.scatter_), any numeric dtype; "
        "a repeated index keeps the last value.");
  m.def("index_copy", &index_copy_py, py::arg("out").noconvert(), py::arg("src"), py::arg("index"),
        py::arg("dim"),
        "out[..., index[j], ...] = src[..., j, ...] along dim, in place (torch.index_copy_): "
        "C-contiguous arrays of one dtype, index 1-D int64 in range (checked before any write).");
  m.def("index_select", &index_select_py, py::arg("x"), py::arg("index"), py::arg("dim"),
        "x (any numeric dtype, contiguous), index int64 (k,) in [0, x.shape[dim]) -> y: x's "
        "slices at index along dim (torch.index_select).");
  m.def("index_select_backward", &index_select_backward_py, py::arg("grad"), py::arg("index"),
        py::arg("dim"), py::arg("size"), py::arg("out") = py::none(),
        "grad float32/float64/int32/int64, index int64 (grad.shape[dim],), size -> dx: zeros "
        "(or out, in place) with grad's slices added at index along dim, in index order "
        "(deterministic; integers wrap around).");
  m.def("concat", &concat_py, py::arg("arrays"), py::arg("dim"), py::arg("stack") = false,
        "arrays of one dtype -> (y, sizes): torch.cat along dim (stack=False; legacy (0,) "
        "tensors skipped) or torch.stack (a new dim); sizes are each input's extent along dim.");
}

}  // namespace ember
