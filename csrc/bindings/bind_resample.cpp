// Bindings for csrc/ops/resample.cpp: gather along one axis with taps, and its adjoint.
#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "bind_util.h"

namespace ember {

// csrc/ops/resample.cpp (instantiated there for float and double).
template <typename T>
void gather_axis_forward(T* y, const T* x, const int64_t* idx, const T* w, int64_t outer,
                         int64_t n_in, int64_t inner, int64_t n_out, int64_t taps);
template <typename T>
void gather_axis_backward(T* dx, const T* g, const int64_t* idx, const T* w, int64_t outer,
                          int64_t n_in, int64_t inner, int64_t n_out, int64_t taps);

template <typename T>
void pad_forward(T* y, const T* x, const int64_t* maps, const int64_t* xshape,
                 const int64_t* yshape, int64_t ndim, T v);
template <typename T>
void point_taps_forward(T* y, const T* x, const int64_t* idx, const T* w, int64_t N, int64_t C,
                        int64_t M, int64_t K, int64_t P);
template <typename T>
void point_taps_backward(T* dx, const T* g, const int64_t* idx, const T* w, int64_t N, int64_t C,
                         int64_t M, int64_t K, int64_t P);
template <typename T>
void grid_sample_taps(int64_t* idx, T* w, T* frac, T* slope, const T* grid, int64_t N, int64_t P,
                      const int64_t* sizes, int nd, bool nearest, int padding, bool align);
template <typename T>
void grid_sample_forward(T* y, const T* x, const T* grid, int64_t N, int64_t C, int64_t P,
                         const int64_t* sizes, int nd, bool nearest, int padding, bool align);
template <typename T>
void point_taps_dot(T* d, const T* x, const T* g, const int64_t* idx, int64_t N, int64_t C,
                    int64_t M, int64_t K, int64_t P);

namespace {

struct Split {
  int64_t outer = 1, inner = 1, axis = 0;
};

// a viewed as (outer, a.shape[axis], inner); idx (taps, n_out) int64 and w (same shape, a's
// dtype) or None checked.
Split check_args(const py::array& a, int64_t axis, const py::array& idx, const py::object& w,
                 const char* op) {
  require_float(a, op, "x");
  require_contiguous(a, op, "x");
  const int64_t nd = a.ndim();
  if (axis < -nd || axis >= nd || nd == 0)
    throw py::index_error(std::string(op) + ": axis " + std::to_string(axis) +
                          " is out of range for an array of shape " + shape_str(shape_of(a)));
  Split s;
  s.axis = axis < 0 ? axis + nd : axis;
  for (int64_t d = 0; d < s.axis; ++d) s.outer = mul_checked(s.outer, a.shape(d), op);
  for (int64_t d = s.axis + 1; d < nd; ++d) s.inner = mul_checked(s.inner, a.shape(d), op);
  if (!same_dtype(idx.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": idx must be int64, got " +
                         std::string(py::str(idx.dtype())));
  require_contiguous(idx, op, "idx");
  require_ndim(idx, 2, op, "idx");
  EMBER_CHECK(idx.shape(0) >= 1, op, ": idx needs at least one tap, got shape ",
              shape_str(shape_of(idx)));
  if (!w.is_none()) {
    if (!py::isinstance<py::array>(w))
      throw py::type_error(std::string(op) + ": w must be a NumPy array or None");
    const py::array wa = py::reinterpret_borrow<py::array>(w);
    require_float(wa, op, "w");
    require_same_dtype(a, wa, op);
    require_contiguous(wa, op, "w");
    require_shape(wa, shape_of(idx), op, "w");
  }
  return s;
}

template <typename T>
const T* w_ptr(const py::object& w) {
  return w.is_none() ? nullptr : cptr<T>(py::reinterpret_borrow<py::array>(w));
}

template <typename T>
void run(bool fwd, py::array& out, const py::array& in, const py::array& idx, const py::object& w,
         const Split& s, int64_t n_in, int64_t n_out) {
  T* op = ptr<T>(out);
  const T* ip = cptr<T>(in);
  const int64_t* xp = cptr<int64_t>(idx);
  const T* wp = w_ptr<T>(w);
  const int64_t taps = idx.shape(0);
  py::gil_scoped_release release;
  if (fwd)
    gather_axis_forward<T>(op, ip, xp, wp, s.outer, n_in, s.inner, n_out, taps);
  else
    gather_axis_backward<T>(op, ip, xp, wp, s.outer, n_in, s.inner, n_out, taps);
}

py::array forward_py(const py::array& x, int64_t axis, const py::array& idx, const py::object& w) {
  const Split s = check_args(x, axis, idx, w, "gather_axis_forward");
  std::vector<int64_t> shape = shape_of(x);
  const int64_t n_in = shape[s.axis], n_out = idx.shape(1);
  shape[s.axis] = n_out;
  py::array y = empty_like_dtype(x, shape);
  // Nothing to write: the kernel would still walk every outer slice and tap (an empty x of
  // shape (2^19, 2^19, 2^19, 0), or idx (2^56, 0), looped for hours).
  if (y.size() == 0) return y;
  if (is_f32(x))
    run<float>(true, y, x, idx, w, s, n_in, n_out);
  else
    run<double>(true, y, x, idx, w, s, n_in, n_out);
  return y;
}

py::array backward_py(const py::array& g, int64_t axis, const py::array& idx, const py::object& w,
                      int64_t n_in) {
  const char* op = "gather_axis_backward";
  const Split s = check_args(g, axis, idx, w, op);
  std::vector<int64_t> shape = shape_of(g);
  const int64_t n_out = shape[s.axis];
  EMBER_CHECK(idx.shape(1) == n_out, op, ": idx has ", idx.shape(1), " outputs, grad ", n_out,
              " along axis ", s.axis);
  EMBER_CHECK(n_in >= 0, op, ": n_in must be >= 0, got ", n_in);
  shape[s.axis] = n_in;
  py::array dx = empty_like_dtype(g, shape);
  if (dx.size() == 0) return dx;  // (as forward: no loop over slices with nothing to write)
  if (g.size() == 0) {            // no gradient flows back: zeros
    std::memset(dx.mutable_data(), 0, static_cast<size_t>(dx.nbytes()));
    return dx;
  }
  if (is_f32(g))
    run<float>(false, dx, g, idx, w, s, n_in, n_out);
  else
    run<double>(false, dx, g, idx, w, s, n_in, n_out);
  return dx;
}

// The output of a pad: y of yshape, x's dtype (value checked against it).
py::array pad_output(const py::array& x, const std::vector<int64_t>& yshape, double value,
                     const char* op) {
  numel_checked(yshape, op);
  // A finite value past float's range would round to inf (a cast C++ leaves undefined): refused,
  // as PyTorch refuses it.
  EMBER_CHECK(
      !is_f32(x) || !std::isfinite(value) || std::fabs(value) <= std::numeric_limits<float>::max(),
      op, ": value ", value, " cannot be converted to float32 without overflow");
  return empty_like_dtype(x, yshape);
}

py::array run_pad(const py::array& x, py::array& y, const std::vector<int64_t>& all, double value) {
  const std::vector<int64_t> xshape = shape_of(x), yshape = shape_of(y);
  const int64_t nd = x.ndim();
  const bool f32 = is_f32(x);
  void* out = y.mutable_data();
  const void* in = x.data();
  {
    py::gil_scoped_release release;
    if (f32)
      pad_forward<float>(static_cast<float*>(out), static_cast<const float*>(in), all.data(),
                         xshape.data(), yshape.data(), nd, static_cast<float>(value));
    else
      pad_forward<double>(static_cast<double*>(out), static_cast<const double*>(in), all.data(),
                          xshape.data(), yshape.data(), nd, value);
  }
  return y;
}

void require_pad_input(const py::array& x, size_t n, const char* op, const char* what) {
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  EMBER_CHECK(x.ndim() >= 1 && static_cast<size_t>(x.ndim()) == n, op, ": one ", what,
              " per dim of x ", shape_str(shape_of(x)), " expected, got ", n);
}

py::array pad_py(const py::array& x, const std::vector<py::array>& maps, double value) {
  const char* op = "pad_forward";
  require_pad_input(x, maps.size(), op, "map");
  std::vector<int64_t> yshape, all;
  for (size_t d = 0; d < maps.size(); ++d) {
    const py::array& m = maps[d];
    if (!same_dtype(m.dtype(), py::dtype::of<int64_t>()))
      throw py::type_error(std::string(op) + ": maps must be int64, got " +
                           std::string(py::str(m.dtype())));
    require_ndim(m, 1, op, "map");
    require_contiguous(m, op, "map");
    yshape.push_back(m.shape(0));
    const int64_t* mp = cptr<int64_t>(m);
    for (int64_t j = 0; j < yshape[d]; ++j)
      EMBER_CHECK(mp[j] >= -1 && mp[j] < x.shape(d), op, ": map ", d, " has index ", mp[j],
                  " outside [-1, ", x.shape(d), ")");
    all.insert(all.end(), mp, mp + yshape[d]);
  }
  py::array y = pad_output(x, yshape, value, op);
  return run_pad(x, y, all, value);
}

// Constant padding by (lo, hi) per dim (negative: crop): the maps y[j] <- x[j - lo].
py::array pad_constant_py(const py::array& x, const std::vector<std::pair<int64_t, int64_t>>& pads,
                          double value) {
  const char* op = "pad_constant";
  require_pad_input(x, pads.size(), op, "(lo, hi) pair");
  std::vector<int64_t> yshape, all;
  for (size_t d = 0; d < pads.size(); ++d) {
    const auto [lo, hi] = pads[d];
    const int64_t n = x.shape(d);
    EMBER_CHECK(std::abs(lo) <= (int64_t(1) << 40) && std::abs(hi) <= (int64_t(1) << 40) &&
                    n + std::min<int64_t>(lo, 0) + std::min<int64_t>(hi, 0) >= 0,
                op, ": padding (", lo, ", ", hi, ") of dim ", d, " does not fit input ",
                shape_str(shape_of(x)));
    yshape.push_back(n + lo + hi);
  }
  // The output first: the maps are as long as its dims together, so a padding of 2^40 must fail
  // its allocation here rather than grow a map through all the memory there is.
  py::array y = pad_output(x, yshape, value, op);
  if (y.size() == 0) return y;
  for (size_t d = 0; d < pads.size(); ++d) {
    const int64_t n = x.shape(d), lo = pads[d].first;
    for (int64_t j = 0; j < yshape[d]; ++j) all.push_back(j - lo >= 0 && j - lo < n ? j - lo : -1);
  }
  return run_pad(x, y, all, value);
}

// idx (N, K, P) int64 in [-1, M), contiguous; returns (N, K, P).
std::vector<int64_t> check_point_taps(const py::array& idx, int64_t M, const char* op) {
  if (!same_dtype(idx.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": idx must be int64, got " +
                         std::string(py::str(idx.dtype())));
  require_ndim(idx, 3, op, "idx");
  require_contiguous(idx, op, "idx");
  const int64_t* ip = cptr<int64_t>(idx);
  for (int64_t k = 0; k < static_cast<int64_t>(idx.size()); ++k)
    EMBER_CHECK(ip[k] >= -1 && ip[k] < M, op, ": index ", ip[k], " is out of range for ", M,
                " input positions");
  return shape_of(idx);
}

// x (N, C, M), idx (N, K, P), w (N, K, P) -> y (N, C, P)
py::array point_taps_forward_py(const py::array& x, const py::array& idx, const py::array& w) {
  const char* op = "point_taps_forward";
  require_float(x, op, "x");
  require_ndim(x, 3, op, "x");
  require_contiguous(x, op, "x");
  const int64_t N = x.shape(0), C = x.shape(1), M = x.shape(2);
  const auto s = check_point_taps(idx, M, op);
  EMBER_CHECK(s[0] == N, op, ": idx ", shape_str(s), " does not match x ", shape_str(shape_of(x)));
  require_float(w, op, "w");
  require_same_dtype(x, w, op);
  require_contiguous(w, op, "w");
  require_shape(w, s, op, "w");
  const int64_t K = s[1], P = s[2];
  py::array y = empty_like_dtype(x, {N, C, P});
  const bool f32 = is_f32(x);
  void* yp = y.mutable_data();
  const void *xp = x.data(), *wp = w.data();
  const int64_t* ip = cptr<int64_t>(idx);
  py::gil_scoped_release release;
  if (f32)
    point_taps_forward<float>(static_cast<float*>(yp), static_cast<const float*>(xp), ip,
                              static_cast<const float*>(wp), N, C, M, K, P);
  else
    point_taps_forward<double>(static_cast<double*>(yp), static_cast<const double*>(xp), ip,
                               static_cast<const double*>(wp), N, C, M, K, P);
  return y;
}

// g (N, C, P), idx (N, K, P), w (N, K, P), M -> dx (N, C, M)
py::array point_taps_backward_py(const py::array& g, const py::array& idx, const py::array& w,
                                 int64_t M) {
  const char* op = "point_taps_backward";
  require_float(g, op, "g");
  require_ndim(g, 3, op, "g");
  require_contiguous(g, op, "g");
  EMBER_CHECK(M >= 0, op, ": M must be >= 0, got ", M);
  const int64_t N = g.shape(0), C = g.shape(1), P = g.shape(2);
  const auto s = check_point_taps(idx, M, op);
  EMBER_CHECK(s[0] == N && s[2] == P, op, ": idx ", shape_str(s), " does not match g ",
              shape_str(shape_of(g)));
  require_float(w, op, "w");
  require_same_dtype(g, w, op);
  require_contiguous(w, op, "w");
  require_shape(w, s, op, "w");
  const int64_t K = s[1];
  numel_checked({N, C, M}, op);
  py::array dx = empty_like_dtype(g, {N, C, M});
  const bool f32 = is_f32(g);
  void* dp = dx.mutable_data();
  const void *gp = g.data(), *wp = w.data();
  const int64_t* ip = cptr<int64_t>(idx);
  py::gil_scoped_release release;
  if (f32)
    point_taps_backward<float>(static_cast<float*>(dp), static_cast<const float*>(gp), ip,
                               static_cast<const float*>(wp), N, C, M, K, P);
  else
    point_taps_backward<double>(static_cast<double*>(dp), static_cast<const double*>(gp), ip,
                                static_cast<const double*>(wp), N, C, M, K, P);
  return dx;
}

// x (N, C, M), g (N, C, P), idx (N, K, P) -> d (N, K, P)
py::array point_taps_dot_py(const py::array& x, const py::array& g, const py::array& idx) {
  const char* op = "point_taps_dot";
  require_float(x, op, "x");
  require_ndim(x, 3, op, "x");
  require_contiguous(x, op, "x");
  require_float(g, op, "g");
  require_same_dtype(x, g, op);
  require_ndim(g, 3, op, "g");
  require_contiguous(g, op, "g");
  const int64_t N = x.shape(0), C = x.shape(1), M = x.shape(2), P = g.shape(2);
  EMBER_CHECK(g.shape(0) == N && g.shape(1) == C, op, ": g ", shape_str(shape_of(g)),
              " does not match x ", shape_str(shape_of(x)));
  const auto s = check_point_taps(idx, M, op);
  EMBER_CHECK(s[0] == N && s[2] == P, op, ": idx ", shape_str(s), " does not match g ",
              shape_str(shape_of(g)));
  const int64_t K = s[1];
  py::array d = empty_like_dtype(x, {N, K, P});
  const bool f32 = is_f32(x);
  void* dp = d.mutable_data();
  const void *xp = x.data(), *gp = g.data();
  const int64_t* ip = cptr<int64_t>(idx);
  py::gil_scoped_release release;
  if (f32)
    point_taps_dot<float>(static_cast<float*>(dp), static_cast<const float*>(xp),
                          static_cast<const float*>(gp), ip, N, C, M, K, P);
  else
    point_taps_dot<double>(static_cast<double*>(dp), static_cast<const double*>(xp),
                           static_cast<const double*>(gp), ip, N, C, M, K, P);
  return d;
}

// grid_sample's mode ("bilinear" / "nearest") and padding_mode -> (nearest, padding code)
std::pair<bool, int> grid_modes(const std::string& mode, const std::string& padding,
                                const char* op) {
  if (mode != "bilinear" && mode != "nearest")
    throw py::value_error(std::string(op) + ": mode must be 'bilinear' or 'nearest', got '" + mode +
                          "'");
  int pad = -1;
  if (padding == "zeros") pad = 0;
  if (padding == "border") pad = 1;
  if (padding == "reflection") pad = 2;
  if (pad < 0)
    throw py::value_error(std::string(op) +
                          ": padding_mode must be 'zeros', 'border' or 'reflection', got '" +
                          padding + "'");
  return {mode == "nearest", pad};
}

// grid (N, *O, nd) float, contiguous, nd 2 or 3 -> (N, P = prod O)
std::pair<int64_t, int64_t> check_grid(const py::array& grid, int64_t nd, const char* op) {
  require_float(grid, op, "grid");
  require_contiguous(grid, op, "grid");
  EMBER_CHECK((nd == 2 || nd == 3) && grid.ndim() == nd + 2 && grid.shape(nd + 1) == nd, op,
              ": expected a grid (N, H_out, W_out, 2) or (N, D_out, H_out, W_out, 3), got ",
              shape_str(shape_of(grid)));
  int64_t P = 1;
  for (int64_t d = 1; d <= nd; ++d) P = mul_checked(P, grid.shape(d), op);
  return {grid.shape(0), P};
}

// x (N, C, *S), grid (N, *O, nd) -> y (N, C, *O)
py::array grid_sample_forward_py(const py::array& x, const py::array& grid, const std::string& mode,
                                 const std::string& padding, bool align) {
  const char* op = "grid_sample_forward";
  const auto [nearest, pad] = grid_modes(mode, padding, op);
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  require_same_dtype(x, grid, op);
  const int64_t nd = x.ndim() - 2;
  EMBER_CHECK(nd == 2 || nd == 3, op, ": expected a 4-D or 5-D input, got ",
              shape_str(shape_of(x)));
  const auto [N, P] = check_grid(grid, nd, op);
  EMBER_CHECK(N == x.shape(0), op, ": grid ", shape_str(shape_of(grid)), " does not match input ",
              shape_str(shape_of(x)));
  std::vector<int64_t> sizes(nd), yshape{N, x.shape(1)};
  for (int64_t a = 0; a < nd; ++a) {
    sizes[a] = x.shape(a + 2);
    EMBER_CHECK(sizes[a] >= 1, op, ": input ", shape_str(shape_of(x)), " has an empty spatial dim");
    yshape.push_back(grid.shape(a + 1));
  }
  const int64_t C = x.shape(1);
  numel_checked(yshape, op);
  py::array y = empty_like_dtype(x, yshape);
  const bool f32 = is_f32(x);
  void* yp = y.mutable_data();
  const void *xp = x.data(), *gp = grid.data();
  const int nd_i = static_cast<int>(nd);
  py::gil_scoped_release release;
  if (f32)
    grid_sample_forward<float>(static_cast<float*>(yp), static_cast<const float*>(xp),
                               static_cast<const float*>(gp), N, C, P, sizes.data(), nd_i, nearest,
                               pad, align);
  else
    grid_sample_forward<double>(static_cast<double*>(yp), static_cast<const double*>(xp),
                                static_cast<const double*>(gp), N, C, P, sizes.data(), nd_i,
                                nearest, pad, align);
  return y;
}

// grid (N, *O, nd), sizes (nd) -> idx (N, K, P) int64, w (N, K, P), frac (N, nd, P),
// slope (N, nd, P)
py::tuple grid_sample_taps_py(const py::array& grid, const std::vector<int64_t>& sizes,
                              const std::string& mode, const std::string& padding, bool align) {
  const char* op = "grid_sample_taps";
  const auto [nearest, pad] = grid_modes(mode, padding, op);
  const int64_t nd = static_cast<int64_t>(sizes.size());
  const auto [N, P] = check_grid(grid, nd, op);
  int64_t M = 1;
  for (int64_t s : sizes) {
    EMBER_CHECK(s >= 1, op, ": sizes ", shape_str(sizes), " has an empty dim");
    M = mul_checked(M, s, op);
  }
  const int64_t K = nearest ? 1 : int64_t(1) << nd;
  numel_checked({N, K, P}, op);
  py::array idx(py::dtype::of<int64_t>(), std::vector<int64_t>{N, K, P});
  py::array w = empty_like_dtype(grid, {N, K, P});
  py::array frac = empty_like_dtype(grid, {N, nd, P});
  py::array slope = empty_like_dtype(grid, {N, nd, P});
  int64_t* ip = static_cast<int64_t*>(idx.mutable_data());
  void *wp = w.mutable_data(), *fp = frac.mutable_data(), *sp = slope.mutable_data();
  const void* gp = grid.data();
  const bool f32 = is_f32(grid);
  const int nd_i = static_cast<int>(nd);
  {
    py::gil_scoped_release release;
    if (f32)
      grid_sample_taps<float>(ip, static_cast<float*>(wp), static_cast<float*>(fp),
                              static_cast<float*>(sp), static_cast<const float*>(gp), N, P,
                              sizes.data(), nd_i, nearest, pad, align);
    else
      grid_sample_taps<double>(ip, static_cast<double*>(wp), static_cast<double*>(fp),
                               static_cast<double*>(sp), static_cast<const double*>(gp), N, P,
                               sizes.data(), nd_i, nearest, pad, align);
  }
  return py::make_tuple(idx, w, frac, slope);
}

}  // namespace

void bind_resample(py::module_& m) {
  m.def("gather_axis_forward", &forward_py, py::arg("x"), py::arg("axis"), py::arg("idx"),
        py::arg("w") = py::none(),
        "y[.., j, ..] = sum_t w[t, j] * x[.., idx[t, j], ..] along axis; idx (taps, n_out) int64 "
        "in [0, x.shape[axis]), w (taps, n_out) of x's dtype or None (weight 1).");
  m.def("gather_axis_backward", &backward_py, py::arg("g"), py::arg("axis"), py::arg("idx"),
        py::arg("w"), py::arg("n_in"),
        "The adjoint of gather_axis_forward: g (.., n_out, ..) -> dx (.., n_in, ..), each tap's "
        "terms summed in output order, then the taps added in order.");
  m.def("pad_forward", &pad_py, py::arg("x"), py::arg("maps"), py::arg("value") = 0.0,
        "x float, maps: one int64 array per dim with values in [-1, x.shape[d]) -> y of shape "
        "(len(map) per dim): y[j..] = x[map_0[j_0], ..], or value where a map is -1.");
  m.def("pad_constant", &pad_constant_py, py::arg("x"), py::arg("pads"), py::arg("value") = 0.0,
        "x float, pads: one (lo, hi) per dim (negative: crop) -> y: x shifted by lo, new cells "
        "= value (pad_forward with the maps j - lo).");
  m.def("point_taps_forward", &point_taps_forward_py, py::arg("x"), py::arg("idx"), py::arg("w"),
        "x (N, C, M), idx (N, K, P) int64 in [-1, M), w (N, K, P) -> y (N, C, P): y[n, c, p] = "
        "sum_k w[n, k, p] x[n, c, idx[n, k, p]] in k order, idx -1 reading 0 (grid_sample).");
  m.def("point_taps_backward", &point_taps_backward_py, py::arg("g"), py::arg("idx"), py::arg("w"),
        py::arg("M"), "The adjoint of point_taps_forward in x: g (N, C, P) -> dx (N, C, M).");
  m.def("point_taps_dot", &point_taps_dot_py, py::arg("x"), py::arg("g"), py::arg("idx"),
        "x (N, C, M), g (N, C, P), idx (N, K, P) -> (N, K, P): sum_c x[n, c, idx] g[n, c, p] "
        "(0 where idx is -1): each tap's value dotted with the output gradient.");
  m.def("grid_sample_forward", &grid_sample_forward_py, py::arg("x"), py::arg("grid"),
        py::arg("mode"), py::arg("padding_mode"), py::arg("align_corners"),
        "x (N, C, *S), grid (N, *O, nd) of normalised (x, y[, z]), nd 2 or 3 -> y (N, C, *O): "
        "grid_sample 'bilinear' / 'nearest' with padding 'zeros' / 'border' / 'reflection'.");
  m.def("grid_sample_taps", &grid_sample_taps_py, py::arg("grid"), py::arg("sizes"),
        py::arg("mode"), py::arg("padding_mode"), py::arg("align_corners"),
        "grid (N, *O, nd), the input's spatial sizes -> (idx (N, K, P) int64 in [-1, M), w "
        "(N, K, P), frac (N, nd, P), slope (N, nd, P)): grid_sample's taps (K = 2^nd bilinear, 1 "
        "nearest), each axis's fraction past the lower tap and d coordinate / d grid.");
}

}  // namespace ember
