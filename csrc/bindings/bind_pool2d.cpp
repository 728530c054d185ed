// Bindings for csrc/ops/pool2d.cpp: max / avg / adaptive-avg pooling forward and backward.
// Inputs are (N,C,H,W) or (C,H,W); every size argument is a 2-sequence (h, w).
#include <pybind11/stl.h>

#include <optional>

#include "bind_util.h"

namespace ember {

// csrc/ops/pool2d.cpp
void pool2d_output_size(int64_t* OH, int64_t* OW, const char* op, int64_t C, int64_t H, int64_t W,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        int64_t dh, int64_t dw, bool ceil_mode);
template <typename T>
void max_pool2d_forward(T* y, int64_t* idx, const T* x, int64_t NC, int64_t H, int64_t W,
                        int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                        int64_t dh, int64_t dw, bool ceil_mode);
template <typename T>
void max_pool1d_forward(T* y, const T* x, int64_t R, int64_t L, int64_t k, int64_t s);
template <typename T>
void max_pool2d_backward(T* dx, const T* dy, const int64_t* idx, int64_t NC, int64_t H, int64_t W,
                         int64_t OH, int64_t OW);
template <typename T>
void avg_pool2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t kh, int64_t kw,
                        int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool ceil_mode,
                        bool count_include_pad, int64_t divisor_override);
template <typename T>
void avg_pool2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t kh,
                         int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool ceil_mode,
                         bool count_include_pad, int64_t divisor_override);
template <typename T>
void adaptive_avg_pool2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t OH,
                                 int64_t OW);
template <typename T>
void adaptive_max_pool2d_forward(T* y, int64_t* idx, const T* x, int64_t NC, int64_t H, int64_t W,
                                 int64_t OH, int64_t OW);
template <typename T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t OH,
                                  int64_t OW);
template <typename T>
void max_pool3d_forward(T* y, int64_t* idx, const T* x, int64_t B, int64_t D, int64_t H, int64_t W,
                        int64_t OD, int64_t OH, int64_t OW, const int64_t* k, const int64_t* s,
                        const int64_t* p);
template <typename T>
void fractional_max_pool_forward(T* y, int64_t* idx, const T* x, int64_t B, int64_t D, int64_t H,
                                 int64_t W, const int64_t* sd, const int64_t* sh, const int64_t* sw,
                                 int64_t OD, int64_t OH, int64_t OW, int64_t kd, int64_t kh,
                                 int64_t kw);

namespace {

using V = std::vector<int64_t>;

struct Pair {
  int64_t h, w;
};

Pair pair_of(const V& v, const char* op, const char* name) {
  EMBER_CHECK(v.size() == 2, op, ": ", name, " must be (h, w), got ", v.size(), " values");
  return {v[0], v[1]};
}

// (N, C, H, W) from a 3-D or 4-D shape.
struct Planes {
  int64_t N, C, H, W;
};

Planes planes_of(const V& shape, const char* op, const char* name) {
  EMBER_CHECK(shape.size() == 3 || shape.size() == 4, op, ": ", name,
              " must be 3-D (C, H, W) or 4-D (N, C, H, W), got shape ", shape_str(shape));
  for (int64_t d : shape) EMBER_CHECK(d >= 0, op, ": negative size in ", shape_str(shape));
  if (shape.size() == 3) return {1, shape[0], shape[1], shape[2]};
  return {shape[0], shape[1], shape[2], shape[3]};
}

V out_shape(const V& in, int64_t OH, int64_t OW) {
  V s = in;
  s[s.size() - 2] = OH;
  s[s.size() - 1] = OW;
  return s;
}

void check_input(const py::array& x, const char* op, const char* name) {
  require_float(x, op, name);
  require_contiguous(x, op, name);
}

// ---- max pooling ----

template <typename T>
void run_max_fwd(py::array& y, py::array& idx, const py::array& x, const Planes& p, Pair k, Pair s,
                 Pair pad, Pair d, bool ceil_mode) {
  T* yp = ptr<T>(y);
  int64_t* ip = ptr<int64_t>(idx);
  const T* xp = cptr<T>(x);
  py::gil_scoped_release release;
  max_pool2d_forward<T>(yp, ip, xp, p.N * p.C, p.H, p.W, k.h, k.w, s.h, s.w, pad.h, pad.w, d.h, d.w,
                        ceil_mode);
}

py::tuple max_fwd_py(const py::array& x, const V& kernel_size, const V& stride, const V& padding,
                     const V& dilation, bool ceil_mode) {
  const char* op = "max_pool2d";
  check_input(x, op, "input");
  const V xs = shape_of(x);
  const Planes p = planes_of(xs, op, "input");
  const Pair k = pair_of(kernel_size, op, "kernel_size"), s = pair_of(stride, op, "stride"),
             pad = pair_of(padding, op, "padding"), d = pair_of(dilation, op, "dilation");
  int64_t OH = 0, OW = 0;
  pool2d_output_size(&OH, &OW, op, p.C, p.H, p.W, k.h, k.w, s.h, s.w, pad.h, pad.w, d.h, d.w,
                     ceil_mode);
  const V ys = out_shape(xs, OH, OW);
  numel_checked(ys, op);
  py::array y = empty_like_dtype(x, ys);
  py::array idx =
      py::array(py::dtype::of<int64_t>(), std::vector<py::ssize_t>(ys.begin(), ys.end()));
  if (is_f32(x))
    run_max_fwd<float>(y, idx, x, p, k, s, pad, d, ceil_mode);
  else
    run_max_fwd<double>(y, idx, x, p, k, s, pad, d, ceil_mode);
  return py::make_tuple(y, idx);
}

// x (..., L) -> (..., n): windows of kernel_size at stride along the last axis, no padding
py::array max1d_fwd_py(const py::array& x, int64_t k, int64_t s) {
  const char* op = "max_pool1d";
  check_input(x, op, "input");
  EMBER_CHECK(x.ndim() >= 1, op, ": input must have at least one dim, got a 0-d array");
  const V xs = shape_of(x);
  const int64_t L = xs.back();
  EMBER_CHECK(k >= 1 && s >= 1, op, ": kernel_size and stride must be >= 1, got ", k, " and ", s);
  EMBER_CHECK(L >= k, op, ": input ", shape_str(xs), " is shorter than kernel_size ", k);
  const int64_t n = (L - k) / s + 1, R = L > 0 ? static_cast<int64_t>(x.size()) / L : 0;
  V ys = xs;
  ys.back() = n;
  py::array y = empty_like_dtype(x, ys);
  const bool f32 = is_f32(x);
  void* yp = y.mutable_data();
  const void* xp = x.data();
  py::gil_scoped_release release;
  if (f32)
    max_pool1d_forward<float>(static_cast<float*>(yp), static_cast<const float*>(xp), R, L, k, s);
  else
    max_pool1d_forward<double>(static_cast<double*>(yp), static_cast<const double*>(xp), R, L, k,
                               s);
  return y;
}

template <typename T>
void run_max_bwd(py::array& dx, const py::array& dy, const py::array& idx, const Planes& p,
                 int64_t OH, int64_t OW) {
  T* dxp = ptr<T>(dx);
  const T* dyp = cptr<T>(dy);
  const int64_t* ip = cptr<int64_t>(idx);
  py::gil_scoped_release release;
  max_pool2d_backward<T>(dxp, dyp, ip, p.N * p.C, p.H, p.W, OH, OW);
}

py::array max_bwd_py(const py::array& dy, const py::array& idx, const V& input_shape) {
  const char* op = "max_pool2d_backward";
  check_input(dy, op, "grad_output");
  if (!same_dtype(idx.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": indices must be int64, got " +
                         std::string(py::str(idx.dtype())));
  require_contiguous(idx, op, "indices");
  const Planes p = planes_of(input_shape, op, "input_shape");
  const V ds = shape_of(dy);
  EMBER_CHECK(ds.size() == input_shape.size(), op, ": grad_output ", shape_str(ds),
              " and input_shape ", shape_str(input_shape), " differ in rank");
  require_shape(idx, ds, op, "indices");
  const int64_t OH = ds[ds.size() - 2], OW = ds[ds.size() - 1];
  EMBER_CHECK(out_shape(input_shape, OH, OW) == ds, op, ": grad_output ", shape_str(ds),
              " does not match input_shape ", shape_str(input_shape));
  numel_checked(input_shape, op);
  py::array dx = empty_like_dtype(dy, input_shape);
  if (is_f32(dy))
    run_max_bwd<float>(dx, dy, idx, p, OH, OW);
  else
    run_max_bwd<double>(dx, dy, idx, p, OH, OW);
  return dx;
}

// ---- average pooling ----

int64_t divisor_of(const std::optional<int64_t>& divisor_override, const char* op) {
  if (!divisor_override) return 0;
  EMBER_CHECK(*divisor_override != 0, op, ": divisor must be not zero");
  return *divisor_override;
}

template <typename T>
void run_avg_fwd(py::array& y, const py::array& x, const Planes& p, Pair k, Pair s, Pair pad,
                 bool ceil_mode, bool cip, int64_t div) {
  T* yp = ptr<T>(y);
  const T* xp = cptr<T>(x);
  py::gil_scoped_release release;
  avg_pool2d_forward<T>(yp, xp, p.N * p.C, p.H, p.W, k.h, k.w, s.h, s.w, pad.h, pad.w, ceil_mode,
                        cip, div);
}

py::array avg_fwd_py(const py::array& x, const V& kernel_size, const V& stride, const V& padding,
                     bool ceil_mode, bool count_include_pad,
                     std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d";
  check_input(x, op, "input");
  const V xs = shape_of(x);
  const Planes p = planes_of(xs, op, "input");
  const Pair k = pair_of(kernel_size, op, "kernel_size"), s = pair_of(stride, op, "stride"),
             pad = pair_of(padding, op, "padding");
  const int64_t div = divisor_of(divisor_override, op);
  int64_t OH = 0, OW = 0;
  pool2d_output_size(&OH, &OW, op, p.C, p.H, p.W, k.h, k.w, s.h, s.w, pad.h, pad.w, 1, 1,
                     ceil_mode);
  const V ys = out_shape(xs, OH, OW);
  numel_checked(ys, op);
  py::array y = empty_like_dtype(x, ys);
  if (is_f32(x))
    run_avg_fwd<float>(y, x, p, k, s, pad, ceil_mode, count_include_pad, div);
  else
    run_avg_fwd<double>(y, x, p, k, s, pad, ceil_mode, count_include_pad, div);
  return y;
}

template <typename T>
void run_avg_bwd(py::array& dx, const py::array& dy, const Planes& p, Pair k, Pair s, Pair pad,
                 bool ceil_mode, bool cip, int64_t div) {
  T* dxp = ptr<T>(dx);
  const T* dyp = cptr<T>(dy);
  py::gil_scoped_release release;
  avg_pool2d_backward<T>(dxp, dyp, p.N * p.C, p.H, p.W, k.h, k.w, s.h, s.w, pad.h, pad.w, ceil_mode,
                         cip, div);
}

py::array avg_bwd_py(const py::array& dy, const V& input_shape, const V& kernel_size,
                     const V& stride, const V& padding, bool ceil_mode, bool count_include_pad,
                     std::optional<int64_t> divisor_override) {
  const char* op = "avg_pool2d_backward";
  check_input(dy, op, "grad_output");
  const Planes p = planes_of(input_shape, op, "input_shape");
  const Pair k = pair_of(kernel_size, op, "kernel_size"), s = pair_of(stride, op, "stride"),
             pad = pair_of(padding, op, "padding");
  const int64_t div = divisor_of(divisor_override, op);
  int64_t OH = 0, OW = 0;
  pool2d_output_size(&OH, &OW, op, p.C, p.H, p.W, k.h, k.w, s.h, s.w, pad.h, pad.w, 1, 1,
                     ceil_mode);
  require_shape(dy, out_shape(input_shape, OH, OW), op, "grad_output");
  numel_checked(input_shape, op);
  py::array dx = empty_like_dtype(dy, input_shape);
  if (is_f32(dy))
    run_avg_bwd<float>(dx, dy, p, k, s, pad, ceil_mode, count_include_pad, div);
  else
    run_avg_bwd<double>(dx, dy, p, k, s, pad, ceil_mode, count_include_pad, div);
  return dx;
}

// ---- adaptive average pooling ----

// Adaptive pooling's input, output size and output shape (..., OH, OW), checked in torch's words.
struct Adaptive {
  Planes p;
  Pair o;
  V ys;
};

Adaptive adaptive_of(const py::array& x, const V& output_size, const char* op) {
  check_input(x, op, "input");
  const V xs = shape_of(x);
  const Planes p = planes_of(xs, op, "input");
  const Pair o = pair_of(output_size, op, "output_size");
  EMBER_CHECK(p.C > 0 && p.H > 0 && p.W > 0, op,
              ": expected non-empty (C, H, W) for non-batch dimensions, got input ", shape_str(xs));
  EMBER_CHECK(o.h >= 0 && o.w >= 0, op, ": output_size must be non-negative, got (", o.h, ", ", o.w,
              ")");
  V ys = out_shape(xs, o.h, o.w);
  numel_checked(ys, op);
  return {p, o, std::move(ys)};
}

template <typename T>
void run_adapt_fwd(py::array& y, const py::array& x, const Planes& p, int64_t OH, int64_t OW) {
  T* yp = ptr<T>(y);
  const T* xp = cptr<T>(x);
  py::gil_scoped_release release;
  adaptive_avg_pool2d_forward<T>(yp, xp, p.N * p.C, p.H, p.W, OH, OW);
}

py::array adapt_fwd_py(const py::array& x, const V& output_size) {
  const char* op = "adaptive_avg_pool2d";
  const Adaptive a = adaptive_of(x, output_size, op);
  py::array y = empty_like_dtype(x, a.ys);
  if (is_f32(x))
    run_adapt_fwd<float>(y, x, a.p, a.o.h, a.o.w);
  else
    run_adapt_fwd<double>(y, x, a.p, a.o.h, a.o.w);
  return y;
}

template <typename T>
void run_adapt_max_fwd(py::array& y, py::array& idx, const py::array& x, const Planes& p,
                       int64_t OH, int64_t OW) {
  T* yp = ptr<T>(y);
  int64_t* ip = ptr<int64_t>(idx);
  const T* xp = cptr<T>(x);
  py::gil_scoped_release release;
  adaptive_max_pool2d_forward<T>(yp, ip, xp, p.N * p.C, p.H, p.W, OH, OW);
}

py::tuple adapt_max_fwd_py(const py::array& x, const V& output_size) {
  const char* op = "adaptive_max_pool2d";
  const Adaptive a = adaptive_of(x, output_size, op);
  py::array y = empty_like_dtype(x, a.ys);
  py::array idx = py::array(py::dtype::of<int64_t>(), a.ys);
  if (is_f32(x))
    run_adapt_max_fwd<float>(y, idx, x, a.p, a.o.h, a.o.w);
  else
    run_adapt_max_fwd<double>(y, idx, x, a.p, a.o.h, a.o.w);
  return py::make_tuple(y, idx);
}

template <typename T>
void run_adapt_bwd(py::array& dx, const py::array& dy, const Planes& p, int64_t OH, int64_t OW) {
  T* dxp = ptr<T>(dx);
  const T* dyp = cptr<T>(dy);
  py::gil_scoped_release release;
  adaptive_avg_pool2d_backward<T>(dxp, dyp, p.N * p.C, p.H, p.W, OH, OW);
}

py::array adapt_bwd_py(const py::array& dy, const V& input_shape) {
  const char* op = "adaptive_avg_pool2d_backward";
  check_input(dy, op, "grad_output");
  const Planes p = planes_of(input_shape, op, "input_shape");
  EMBER_CHECK(p.C > 0 && p.H > 0 && p.W > 0, op, ": expected non-empty (C, H, W), got ",
              shape_str(input_shape));
  const V ds = shape_of(dy);
  EMBER_CHECK(ds.size() == input_shape.size(), op, ": grad_output ", shape_str(ds),
              " and input_shape ", shape_str(input_shape), " differ in rank");
  const int64_t OH = ds[ds.size() - 2], OW = ds[ds.size() - 1];
  EMBER_CHECK(out_shape(input_shape, OH, OW) == ds, op, ": grad_output ", shape_str(ds),
              " does not match input_shape ", shape_str(input_shape));
  numel_checked(input_shape, op);
  py::array dx = empty_like_dtype(dy, input_shape);
  if (is_f32(dy))
    run_adapt_bwd<float>(dx, dy, p, OH, OW);
  else
    run_adapt_bwd<double>(dx, dy, p, OH, OW);
  return dx;
}

// ---- fractional max pooling ----

// x (B, *S) with nd = starts.size() (2 or 3) spatial dims; starts[a] (B, O_a) int64, each in
// [0, S_a - k_a] -> (y, idx) (B, *O).
py::tuple frac_max_fwd_py(const py::array& x, const std::vector<py::array>& starts,
                          const V& kernel) {
  const char* op = "fractional_max_pool_forward";
  check_input(x, op, "input");
  const size_t nd = starts.size();
  EMBER_CHECK((nd == 2 || nd == 3) && kernel.size() == nd, op,
              ": need 2 or 3 start arrays and as many kernel sizes, got ", nd, " and ",
              kernel.size());
  require_ndim(x, static_cast<py::ssize_t>(nd + 1), op, "input");
  const V xs = shape_of(x);
  const int64_t B = xs[0];
  int64_t S[3] = {1, 1, 1}, K[3] = {1, 1, 1}, O[3] = {1, 1, 1};
  const int64_t* st[3] = {nullptr, nullptr, nullptr};
  const std::vector<int64_t> zeros(static_cast<size_t>(B), 0);  // (2-D: the depth's starts)
  st[0] = zeros.data();
  for (size_t a = 0; a < nd; ++a) {
    const size_t ax = a + 3 - nd;
    const py::array& sa = starts[a];
    S[ax] = xs[a + 1];
    K[ax] = kernel[a];
    EMBER_CHECK(K[ax] >= 1 && K[ax] <= S[ax], op, ": kernel size ", K[ax], " must be in [1, ",
                S[ax], "] (input ", shape_str(xs), ")");
    EMBER_CHECK(same_dtype(sa.dtype(), py::dtype::of<int64_t>()), op, ": starts must be int64");
    require_contiguous(sa, op, "starts");
    require_ndim(sa, 2, op, "starts");
    EMBER_CHECK(sa.shape(0) == B, op, ": starts ", shape_str(shape_of(sa)), " must have ", B,
                " rows");
    O[ax] = sa.shape(1);
    st[ax] = cptr<int64_t>(sa);
    for (int64_t i = 0; i < B * O[ax]; ++i)
      EMBER_CHECK(st[ax][i] >= 0 && st[ax][i] <= S[ax] - K[ax], op, ": start ", st[ax][i],
                  " out of [0, ", S[ax] - K[ax], "]");
  }
  V ys{B};
  for (size_t a = 0; a < nd; ++a) ys.push_back(O[a + 3 - nd]);
  numel_checked(ys, op);
  py::array y = empty_like_dtype(x, ys);
  py::array idx = py::array(py::dtype::of<int64_t>(), ys);
  const void* xp = x.data();
  void* yp = y.mutable_data();
  int64_t* ip = ptr<int64_t>(idx);
  const bool f32 = is_f32(x);
  {
    py::gil_scoped_release release;
    if (f32)
      fractional_max_pool_forward<float>(static_cast<float*>(yp), ip, static_cast<const float*>(xp),
                                         B, S[0], S[1], S[2], st[0], st[1], st[2], O[0], O[1], O[2],
                                         K[0], K[1], K[2]);
    else
      fractional_max_pool_forward<double>(static_cast<double*>(yp), ip,
                                          static_cast<const double*>(xp), B, S[0], S[1], S[2],
                                          st[0], st[1], st[2], O[0], O[1], O[2], K[0], K[1], K[2]);
  }
  return py::make_tuple(y, idx);
}

// ---- 3-D max pooling (dilation 1) ----

// x (B, D, H, W), kernel / stride / padding per axis -> (y, idx) (B, OD, OH, OW), idx flat
// into D*H*W; padding at most half the kernel, as max_pool2d's.
py::tuple max3d_fwd_py(const py::array& x, const V& kernel, const V& stride, const V& padding,
                       bool ceil_mode) {
  const char* op = "max_pool3d_forward";
  check_input(x, op, "input");
  require_ndim(x, 4, op, "input");
  EMBER_CHECK(kernel.size() == 3 && stride.size() == 3 && padding.size() == 3, op,
              ": kernel_size, stride and padding must have 3 values each");
  const V xs = shape_of(x);
  int64_t O[3];
  for (int a = 0; a < 3; ++a) {
    const int64_t n = xs[a + 1], k = kernel[a], s = stride[a], p = padding[a];
    EMBER_CHECK(n >= 1 && k >= 1 && s >= 1 && k < (int64_t{1} << 31) && s < (int64_t{1} << 31) &&
                    p >= 0 && 2 * p <= k,
                op,
                ": need a non-empty input, kernel and stride >= 1 and 0 <= padding <= "
                "kernel / 2, got size ",
                n, ", kernel ", k, ", stride ", s, ", padding ", p);
    // PyTorch's pooling_output_shape: a ceil_mode window starting in the right padding dropped
    int64_t o = (n + 2 * p - k + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (o - 1) * s >= n + p) --o;
    EMBER_CHECK(n + 2 * p >= k && o >= 1, op, ": input ", shape_str(xs), " gives an empty output",
                " (kernel ", k, ", padding ", p, ")");
    O[a] = o;
  }
  const V ys{xs[0], O[0], O[1], O[2]};
  numel_checked(ys, op);
  py::array y = empty_like_dtype(x, ys);
  py::array idx = py::array(py::dtype::of<int64_t>(), ys);
  const void* xp = x.data();
  void* yp = y.mutable_data();
  int64_t* ip = ptr<int64_t>(idx);
  const bool f32 = is_f32(x);
  {
    py::gil_scoped_release release;
    if (f32)
      max_pool3d_forward<float>(static_cast<float*>(yp), ip, static_cast<const float*>(xp), xs[0],
                                xs[1], xs[2], xs[3], O[0], O[1], O[2], kernel.data(), stride.data(),
                                padding.data());
    else
      max_pool3d_forward<double>(static_cast<double*>(yp), ip, static_cast<const double*>(xp),
                                 xs[0], xs[1], xs[2], xs[3], O[0], O[1], O[2], kernel.data(),
                                 stride.data(), padding.data());
  }
  return py::make_tuple(y, idx);
}

// PyTorch's generate_intervals in u's dtype: samples u (B,) -> starts (B, n_out), start i
// int((i + u) alpha) - int(u alpha) with alpha = (n_in - k) / (n_out - 1), the last n_in - k.
template <typename T>
void frac_intervals(int64_t* seq, const T* u, int64_t B, int64_t n_in, int64_t n_out, int64_t k) {
  const T alpha = n_out > 1 ? static_cast<T>(n_in - k) / static_cast<T>(n_out - 1) : T(0);
  for (int64_t b = 0; b < B; ++b) {
    int64_t* row = seq + b * n_out;
    const int64_t base = static_cast<int64_t>(u[b] * alpha);
    for (int64_t i = 0; i + 1 < n_out; ++i)
      row[i] = static_cast<int64_t>((static_cast<T>(i) + u[b]) * alpha) - base;
    row[n_out - 1] = n_in - k;
  }
}

py::array frac_intervals_py(const py::array& u, int64_t n_in, int64_t n_out, int64_t k) {
  const char* op = "fractional_intervals";
  check_input(u, op, "samples");
  require_ndim(u, 1, op, "samples");
  EMBER_CHECK(k >= 1 && k <= n_in && n_out >= 0 && n_out < (int64_t{1} << 31), op,
              ": need 1 <= kernel size <= input size and 0 <= output size < 2^31, got kernel ", k,
              ", input ", n_in, ", output ", n_out);
  const int64_t B = u.shape(0);
  py::array seq = py::array(py::dtype::of<int64_t>(), V{B, n_out});
  if (B * n_out == 0) return seq;
  int64_t* sp = ptr<int64_t>(seq);
  if (is_f32(u))
    frac_intervals<float>(sp, cptr<float>(u), B, n_in, n_out, k);
  else
    frac_intervals<double>(sp, cptr<double>(u), B, n_in, n_out, k);
  return seq;
}

}  // namespace

void bind_pool2d(py::module_& m) {
  m.def("max_pool3d_forward", &max3d_fwd_py, py::arg("input"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding"), py::arg("ceil_mode") = false,
        "input (B, D, H, W), kernel_size / stride / padding (d, h, w), dilation 1 -> (y, idx) "
        "(B, OD, OH, OW), idx flat into D*H*W (the first maximum, or the last NaN).");
  m.def("fractional_intervals", &frac_intervals_py, py::arg("samples"), py::arg("input_size"),
        py::arg("output_size"), py::arg("kernel_size"),
        "samples (B,) float32/float64 -> int64 (B, output_size): PyTorch's fractional max "
        "pooling window starts along one axis, computed in the samples' dtype.");
  m.def("fractional_max_pool_forward", &frac_max_fwd_py, py::arg("input"), py::arg("starts"),
        py::arg("kernel_size"),
        "input (B, *S) (2 or 3 spatial dims), starts: one int64 (B, O_a) array per axis, "
        "kernel_size per axis -> (y, idx) (B, *O): each window's max and its flat index into "
        "prod(S) (the first maximum, or the last NaN).");
  m.def("max_pool2d_forward", &max_fwd_py, py::arg("input"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding") = V{0, 0}, py::arg("dilation") = V{1, 1},
        py::arg("ceil_mode") = false,
        "input (N,C,H,W) or (C,H,W) -> (output, indices): indices int64, PyTorch's flat argmax "
        "into H*W (-1 for a window holding no input element).");
  m.def("max_pool1d_forward", &max1d_fwd_py, py::arg("input"), py::arg("kernel_size"),
        py::arg("stride"),
        "input (..., L) -> (..., (L - kernel_size) // stride + 1): the max of each window along "
        "the last axis (a NaN wins), no indices, no padding (max_pool1d without a graph).");
  m.def("max_pool2d_backward", &max_bwd_py, py::arg("grad_output"), py::arg("indices"),
        py::arg("input_shape"),
        "grad_output and indices (.., OH, OW) -> grad_input of input_shape.");
  m.def("avg_pool2d_forward", &avg_fwd_py, py::arg("input"), py::arg("kernel_size"),
        py::arg("stride"), py::arg("padding") = V{0, 0}, py::arg("ceil_mode") = false,
        py::arg("count_include_pad") = true, py::arg("divisor_override") = py::none(),
        "input (N,C,H,W) or (C,H,W) -> output, PyTorch's divisor rules.");
  m.def("avg_pool2d_backward", &avg_bwd_py, py::arg("grad_output"), py::arg("input_shape"),
        py::arg("kernel_size"), py::arg("stride"), py::arg("padding") = V{0, 0},
        py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
        py::arg("divisor_override") = py::none(), "grad_output -> grad_input of input_shape.");
  m.def("adaptive_avg_pool2d_forward", &adapt_fwd_py, py::arg("input"), py::arg("output_size"),
        "input (N,C,H,W) or (C,H,W) -> (.., OH, OW) with PyTorch's adaptive windows.");
  m.def("adaptive_max_pool2d_forward", &adapt_max_fwd_py, py::arg("input"), py::arg("output_size"),
        "input (N,C,H,W) or (C,H,W) -> (output, indices) (.., OH, OW) with PyTorch's adaptive "
        "windows; indices int64, the flat argmax into H*W (max_pool2d_backward takes them).");
  m.def("adaptive_avg_pool2d_backward", &adapt_bwd_py, py::arg("grad_output"),
        py::arg("input_shape"), "grad_output (.., OH, OW) -> grad_input of input_shape.");
}

}  // namespace ember
