// Bindings for csrc/ops/conv2d.cpp: conv2d_forward, conv2d_backward, conv2d_output_size,
// conv_transpose2d_forward, conv3d_depth_taps and its backward.
#include <pybind11/stl.h>

#include <optional>
#include <tuple>

#include "bind_util.h"

namespace ember {

// csrc/ops/conv2d.cpp
void conv2d_output_size(int64_t* OH, int64_t* OW, int64_t N, int64_t C, int64_t H, int64_t W,
                        int64_t O, int64_t wC, int64_t KH, int64_t KW, int64_t sh, int64_t sw,
                        int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                        int64_t groups);
template <typename T>
void conv2d_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t H,
                    int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t sh, int64_t sw,
                    int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh, int64_t dw,
                    int64_t groups);
template <typename T>
void conv2d_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t N, int64_t C,
                     int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW, int64_t sh,
                     int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, int64_t dh,
                     int64_t dwl, int64_t groups);
template <typename T>
void conv_transpose2d_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t Cin,
                              int64_t Cout, int64_t OH, int64_t OW, int64_t KH, int64_t KW,
                              int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
                              int64_t pr, int64_t dh, int64_t dw, int64_t groups);
template <typename T>
void conv3d_depth_taps(T* out, const T* x, int64_t N, int64_t C, int64_t D, int64_t HW, int64_t KD,
                       int64_t OD, int64_t s, int64_t d, int64_t p);
template <typename T>
void conv3d_depth_taps_backward(T* dx, const T* g, int64_t N, int64_t C, int64_t D, int64_t HW,
                                int64_t KD, int64_t OD, int64_t s, int64_t d, int64_t p);
template <typename T>
void conv3d_direct_forward(T* y, const T* x, const T* w, const T* b, const int64_t* sz,
                           const int64_t* s, const int64_t* p, const int64_t* d,
                           const int64_t* out);
int conv2d_set_winograd(int mode);
int conv2d_set_batch_dw(int mode);

namespace {

// Convolution parameters as the kernels take them: padding (top, bottom, left, right).
struct ConvArgs {
  int64_t sh, sw, pt, pb, pl, pr, dh, dw, groups;
};

ConvArgs conv_args(const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                   const std::vector<int64_t>& dilation, int64_t groups) {
  EMBER_CHECK(stride.size() == 2, "conv2d: stride must be (sh, sw), got ", stride.size(),
              " values");
  EMBER_CHECK(dilation.size() == 2, "conv2d: dilation must be (dh, dw), got ", dilation.size(),
              " values");
  EMBER_CHECK(padding.size() == 2 || padding.size() == 4,
              "conv2d: padding must be (ph, pw) or (top, bottom, left, right), got ",
              padding.size(), " values");
  ConvArgs a{stride[0], stride[1], 0, 0, 0, 0, dilation[0], dilation[1], groups};
  if (padding.size() == 2) {
    a.pt = a.pb = padding[0];
    a.pl = a.pr = padding[1];
  } else {
    a.pt = padding[0];
    a.pb = padding[1];
    a.pl = padding[2];
    a.pr = padding[3];
  }
  return a;
}

// Checks x (N,C,H,W) and w (O,C/g,KH,KW) and returns (OH, OW).
std::pair<int64_t, int64_t> check_conv(const py::array& x, const py::array& w, const ConvArgs& a,
                                       const char* op) {
  require_float(x, op, "input");
  require_float(w, op, "weight");
  require_same_dtype(x, w, op);
  require_ndim(x, 4, op, "input");
  require_ndim(w, 4, op, "weight");
  require_contiguous(x, op, "input");
  require_contiguous(w, op, "weight");
  int64_t OH = 0, OW = 0;
  conv2d_output_size(&OH, &OW, x.shape(0), x.shape(1), x.shape(2), x.shape(3), w.shape(0),
                     w.shape(1), w.shape(2), w.shape(3), a.sh, a.sw, a.pt, a.pb, a.pl, a.pr, a.dh,
                     a.dw, a.groups);
  return {OH, OW};
}

template <typename T>
void run_forward(py::array& y, const py::array& x, const py::array& w, const py::array* b,
                 const ConvArgs& a) {
  T* yp = ptr<T>(y);
  const T* xp = cptr<T>(x);
  const T* wp = cptr<T>(w);
  const T* bp = b ? cptr<T>(*b) : nullptr;
  const int64_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3);
  const int64_t O = w.shape(0), KH = w.shape(2), KW = w.shape(3);
  py::gil_scoped_release release;
  conv2d_forward<T>(yp, xp, wp, bp, N, C, H, W, O, KH, KW, a.sh, a.sw, a.pt, a.pb, a.pl, a.pr, a.dh,
                    a.dw, a.groups);
}

// The optional bias argument: None, or a contiguous float array of x's dtype and shape (n,).
std::optional<py::array> bias_arg(const py::object& b_obj, const py::array& x, int64_t n,
                                  const char* op) {
  if (b_obj.is_none()) return std::nullopt;
  EMBER_CHECK(py::isinstance<py::array>(b_obj), op, ": bias must be a NumPy array or None");
  auto b = py::reinterpret_borrow<py::array>(b_obj);
  require_float(b, op, "bias");
  require_same_dtype(x, b, op);
  require_contiguous(b, op, "bias");
  require_shape(b, {n}, op, "bias");
  return b;
}

py::array forward_py(const py::array& x, const py::array& w, const py::object& b_obj,
                     const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                     const std::vector<int64_t>& dilation, int64_t groups) {
  const char* op = "conv2d";
  const ConvArgs a = conv_args(stride, padding, dilation, groups);
  auto [OH, OW] = check_conv(x, w, a, op);
  std::optional<py::array> b = bias_arg(b_obj, x, w.shape(0), op);
  py::array y = empty_like_dtype(x, {x.shape(0), w.shape(0), OH, OW});
  if (is_f32(x))
    run_forward<float>(y, x, w, b ? &*b : nullptr, a);
  else
    run_forward<double>(y, x, w, b ? &*b : nullptr, a);
  return y;
}

template <typename T>
void run_backward(py::array* dx, py::array* dw, py::array* db, const py::array& dy,
                  const py::array& x, const py::array& w, const ConvArgs& a) {
  T* dxp = dx ? ptr<T>(*dx) : nullptr;
  T* dwp = dw ? ptr<T>(*dw) : nullptr;
  T* dbp = db ? ptr<T>(*db) : nullptr;
  const T* dyp = cptr<T>(dy);
  const T* xp = cptr<T>(x);
  const T* wp = cptr<T>(w);
  const int64_t N = x.shape(0), C = x.shape(1), H = x.shape(2), W = x.shape(3);
  const int64_t O = w.shape(0), KH = w.shape(2), KW = w.shape(3);
  py::gil_scoped_release release;
  conv2d_backward<T>(dxp, dwp, dbp, dyp, xp, wp, N, C, H, W, O, KH, KW, a.sh, a.sw, a.pt, a.pb,
                     a.pl, a.pr, a.dh, a.dw, a.groups);
}

py::tuple backward_py(const py::array& dy, const py::array& x, const py::array& w,
                      const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                      const std::vector<int64_t>& dilation, int64_t groups, bool need_dx,
                      bool need_dw, bool need_db) {
  const char* op = "conv2d_backward";
  const ConvArgs a = conv_args(stride, padding, dilation, groups);
  auto [OH, OW] = check_conv(x, w, a, op);
  require_float(dy, op, "grad_output");
  require_same_dtype(x, dy, op);
  require_contiguous(dy, op, "grad_output");
  require_shape(dy, {x.shape(0), w.shape(0), OH, OW}, op, "grad_output");
  py::array dx, dw, db;
  if (need_dx) dx = empty_like_dtype(x, shape_of(x));
  if (need_dw) dw = empty_like_dtype(x, shape_of(w));
  if (need_db) db = empty_like_dtype(x, {w.shape(0)});
  if (is_f32(x))
    run_backward<float>(need_dx ? &dx : nullptr, need_dw ? &dw : nullptr, need_db ? &db : nullptr,
                        dy, x, w, a);
  else
    run_backward<double>(need_dx ? &dx : nullptr, need_dw ? &dw : nullptr, need_db ? &db : nullptr,
                         dy, x, w, a);
  py::object none = py::none();
  return py::make_tuple(need_dx ? py::object(dx) : none, need_dw ? py::object(dw) : none,
                        need_db ? py::object(db) : none);
}

template <typename T>
void run_transpose(py::array& y, const py::array& x, const py::array& w, const py::array* b,
                   const ConvArgs& a) {
  T* yp = ptr<T>(y);
  const T* xp = cptr<T>(x);
  const T* wp = cptr<T>(w);
  const T* bp = b ? cptr<T>(*b) : nullptr;
  const int64_t N = x.shape(0), Cin = x.shape(1), Cout = y.shape(1), OH = y.shape(2),
                OW = y.shape(3), KH = w.shape(2), KW = w.shape(3);
  py::gil_scoped_release release;
  conv_transpose2d_forward<T>(yp, xp, wp, bp, N, Cin, Cout, OH, OW, KH, KW, a.sh, a.sw, a.pt, a.pb,
                              a.pl, a.pr, a.dh, a.dw, a.groups);
}

// x (N,Cin,H,W), w (Cin,Cout/g,KH,KW), b (Cout) or None -> y (N,Cout,OH,OW) of size out_hw, which
// conv2d (same stride, padding, dilation, groups) must map back to (H, W).
py::array transpose_forward_py(const py::array& x, const py::array& w, const py::object& b_obj,
                               const std::vector<int64_t>& stride,
                               const std::vector<int64_t>& padding,
                               const std::vector<int64_t>& dilation, int64_t groups,
                               const std::vector<int64_t>& out_hw) {
  const char* op = "conv_transpose2d";
  const ConvArgs a = conv_args(stride, padding, dilation, groups);
  require_float(x, op, "input");
  require_float(w, op, "weight");
  require_same_dtype(x, w, op);
  require_ndim(x, 4, op, "input");
  require_ndim(w, 4, op, "weight");
  require_contiguous(x, op, "input");
  require_contiguous(w, op, "weight");
  EMBER_CHECK(out_hw.size() == 2, op, ": output size must be two sizes, got ", out_hw.size(),
              " values");
  EMBER_CHECK(out_hw[0] >= 0 && out_hw[1] >= 0, op, ": output size must be >= 0, got (", out_hw[0],
              ", ", out_hw[1], ")");
  EMBER_CHECK(groups >= 1, op, ": groups must be >= 1, got ", groups);
  EMBER_CHECK(x.shape(1) == w.shape(0), op, ": input ", shape_str(shape_of(x)), " has ", x.shape(1),
              " channels but weight ", shape_str(shape_of(w)), " expects ", w.shape(0));
  const int64_t Cout = mul_checked(w.shape(1), groups, op);
  int64_t H = 0, W = 0;  // conv2d's output of y's shape: must be x's
  conv2d_output_size(&H, &W, x.shape(0), Cout, out_hw[0], out_hw[1], w.shape(0), w.shape(1),
                     w.shape(2), w.shape(3), a.sh, a.sw, a.pt, a.pb, a.pl, a.pr, a.dh, a.dw,
                     a.groups);
  EMBER_CHECK(H == x.shape(2) && W == x.shape(3), op, ": output size (", out_hw[0], ", ", out_hw[1],
              ") does not map back to input ", shape_str(shape_of(x)), " with weight ",
              shape_str(shape_of(w)), " (conv2d gives (", H, ", ", W, "))");
  std::optional<py::array> b = bias_arg(b_obj, x, Cout, op);
  py::array y = empty_like_dtype(x, {x.shape(0), Cout, out_hw[0], out_hw[1]});
  if (is_f32(x))
    run_transpose<float>(y, x, w, b ? &*b : nullptr, a);
  else
    run_transpose<double>(y, x, w, b ? &*b : nullptr, a);
  return y;
}

// An engine switch ('never' | 'auto' | 'always') by name; returns the previous mode's name.
std::string set_mode(int (*set)(int), const std::string& mode, const char* op) {
  const char* names[] = {"never", "auto", "always"};
  int m = -1;
  for (int i = 0; i < 3; ++i)
    if (mode == names[i]) m = i;
  EMBER_CHECK(m >= 0, op, ": mode must be 'auto', 'always' or 'never', got '", mode, "'");
  return names[set(m)];
}

// conv3d's depth-tap sizes: (kd, od, stride, dilation, padding) all in range for depth D.
void check_depth_taps(int64_t D, int64_t kd, int64_t od, int64_t s, int64_t d, int64_t p,
                      const char* op) {
  EMBER_CHECK(kd >= 1 && od >= 1 && s >= 1 && d >= 1 && p >= 0, op,
              ": need kd, od, stride, dilation >= 1 and padding >= 0, got kd=", kd, ", od=", od,
              ", stride=", s, ", dilation=", d, ", padding=", p);
  EMBER_CHECK(D >= 0, op, ": negative depth ", D);
  // The kernels index depth i*s - p + a*d for i < od, a < kd: its largest value must fit in int64
  // (stride = dilation = 2**62 wrapped round to a negative, undefined behaviour).
  const int64_t reach = mul_checked(od - 1, s, op), span = mul_checked(kd - 1, d, op);
  EMBER_CHECK(reach <= std::numeric_limits<int64_t>::max() - span, op,
              ": depth index overflows int64 (od=", od, ", stride=", s, ", kd=", kd,
              ", dilation=", d, ")");
}

// x (N, C, D, H, W) -> (N*OD, C*KD, H, W): conv3d's depth taps as conv2d input channels.
py::array depth_taps_py(const py::array& x, int64_t kd, int64_t od, int64_t s, int64_t d,
                        int64_t p) {
  const char* op = "conv3d_depth_taps";
  require_float(x, op, "input");
  require_ndim(x, 5, op, "input");
  require_contiguous(x, op, "input");
  check_depth_taps(x.shape(2), kd, od, s, d, p, op);
  const int64_t N = x.shape(0), C = x.shape(1), D = x.shape(2), H = x.shape(3), W = x.shape(4);
  const int64_t rows = mul_checked(N, od, op), chans = mul_checked(C, kd, op);
  numel_checked({rows, chans, H, W}, op);
  py::array out = empty_like_dtype(x, {rows, chans, H, W});
  if (out.size() == 0) return out;  // (an empty (2**40, C, D, H, 0) input looped 2**40 times)
  void* op_ = out.mutable_data();
  const void* xp = x.data();
  const bool f32 = is_f32(x);
  py::gil_scoped_release release;
  if (f32)
    conv3d_depth_taps<float>(static_cast<float*>(op_), static_cast<const float*>(xp), N, C, D,
                             H * W, kd, od, s, d, p);
  else
    conv3d_depth_taps<double>(static_cast<double*>(op_), static_cast<const double*>(xp), N, C, D,
                              H * W, kd, od, s, d, p);
  return out;
}

// g (N*OD, C*KD, H, W) -> dx (N, C, D, H, W), the adjoint; x_shape = (N, C, D, H, W).
py::array depth_taps_backward_py(const py::array& g, const std::vector<int64_t>& x_shape,
                                 int64_t kd, int64_t od, int64_t s, int64_t d, int64_t p) {
  const char* op = "conv3d_depth_taps_backward";
  require_float(g, op, "grad");
  require_ndim(g, 4, op, "grad");
  require_contiguous(g, op, "grad");
  EMBER_CHECK(x_shape.size() == 5, op, ": x_shape must have 5 values, got ", x_shape.size());
  for (int64_t v : x_shape) EMBER_CHECK(v >= 0, op, ": negative size in x_shape");
  const int64_t N = x_shape[0], C = x_shape[1], D = x_shape[2], H = x_shape[3], W = x_shape[4];
  check_depth_taps(D, kd, od, s, d, p, op);
  require_shape(g, {mul_checked(N, od, op), mul_checked(C, kd, op), H, W}, op, "grad");
  numel_checked({N, C, D, H, W}, op);
  py::array dx = empty_like_dtype(g, {N, C, D, H, W});
  if (dx.size() == 0) return dx;  // (as the forward: no loop over an empty dx's planes)
  void* dp = dx.mutable_data();
  const void* gp = g.data();
  const bool f32 = is_f32(g);
  py::gil_scoped_release release;
  if (f32)
    conv3d_depth_taps_backward<float>(static_cast<float*>(dp), static_cast<const float*>(gp), N, C,
                                      D, H * W, kd, od, s, d, p);
  else
    conv3d_depth_taps_backward<double>(static_cast<double*>(dp), static_cast<const double*>(gp), N,
                                       C, D, H * W, kd, od, s, d, p);
  return dx;
}

// conv3d without groups: x (N,C,D,H,W), w (O,C,KD,KH,KW), b (O) or None -> (N,O,OD,OH,OW).
py::array conv3d_direct_py(const py::array& x, const py::array& w, const py::object& bias,
                           const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                           const std::vector<int64_t>& dilation) {
  const char* op = "conv3d_direct_forward";
  require_float(x, op, "input");
  require_float(w, op, "weight");
  require_same_dtype(x, w, op);
  require_ndim(x, 5, op, "input");
  require_ndim(w, 5, op, "weight");
  require_contiguous(x, op, "input");
  require_contiguous(w, op, "weight");
  EMBER_CHECK(stride.size() == 3 && padding.size() == 3 && dilation.size() == 3, op,
              ": stride, padding and dilation must have 3 values each");
  const int64_t N = x.shape(0), C = x.shape(1), O = w.shape(0);
  EMBER_CHECK(w.shape(1) == C && O >= 1 && C >= 1, op, ": input ", C,
              " channels, weight (O, C) = (", O, ", ", w.shape(1), "): need O, C >= 1, equal C");
  int64_t sz[9] = {N, C, x.shape(2), x.shape(3), x.shape(4), O, w.shape(2), w.shape(3), w.shape(4)};
  int64_t out[3];
  for (int a = 0; a < 3; ++a) {
    const int64_t n = sz[2 + a], k = sz[6 + a], s = stride[size_t(a)], p = padding[size_t(a)],
                  d = dilation[size_t(a)];
    EMBER_CHECK(s >= 1 && d >= 1 && p >= 0 && k >= 1 && p <= (int64_t(1) << 30) &&
                    d <= (int64_t(1) << 30) && k <= (int64_t(1) << 30),
                op, ": axis ", a,
                ": need stride, dilation, kernel >= 1 and 0 <= padding, sizes "
                "below 2**30, got stride ",
                s, ", padding ", p, ", dilation ", d, ", kernel ", k);
    out[a] = (n + 2 * p - d * (k - 1) - 1) / s + 1;
    EMBER_CHECK(n + 2 * p - d * (k - 1) - 1 >= 0, op, ": kernel ", k, " (dilation ", d,
                ") larger than the padded input ", n + 2 * p, " on axis ", a);
  }
  numel_checked({N, C, sz[2] + 2 * padding[0], sz[3] + 2 * padding[1], sz[4] + 2 * padding[2]}, op);
  py::array y = empty_like_dtype(x, {N, O, out[0], out[1], out[2]});
  const void* bp = nullptr;
  py::array b;
  if (!bias.is_none()) {
    b = bias.cast<py::array>();
    require_same_dtype(x, b, op);
    require_shape(b, {O}, op, "bias");
    require_contiguous(b, op, "bias");
    bp = b.data();
  }
  if (y.size() == 0) return y;
  void* yp = y.mutable_data();
  const void *xp = x.data(), *wp = w.data();
  const bool f32 = is_f32(x);
  py::gil_scoped_release release;
  if (f32)
    conv3d_direct_forward<float>(static_cast<float*>(yp), static_cast<const float*>(xp),
                                 static_cast<const float*>(wp), static_cast<const float*>(bp), sz,
                                 stride.data(), padding.data(), dilation.data(), out);
  else
    conv3d_direct_forward<double>(static_cast<double*>(yp), static_cast<const double*>(xp),
                                  static_cast<const double*>(wp), static_cast<const double*>(bp),
                                  sz, stride.data(), padding.data(), dilation.data(), out);
  return y;
}

}  // namespace

void bind_conv2d(py::module_& m) {
  using V = std::vector<int64_t>;
  m.def("conv2d_forward", &forward_py, py::arg("input"), py::arg("weight"),
        py::arg("bias") = py::none(), py::arg("stride") = V{1, 1}, py::arg("padding") = V{0, 0},
        py::arg("dilation") = V{1, 1}, py::arg("groups") = 1,
        "input (N,C,H,W), weight (O,C/groups,KH,KW), bias (O) or None -> (N,O,OH,OW). padding is "
        "(ph, pw) or (top, bottom, left, right). float32/float64, C-contiguous, same dtype.");
  m.def("conv2d_backward", &backward_py, py::arg("grad_output"), py::arg("input"),
        py::arg("weight"), py::arg("stride") = V{1, 1}, py::arg("padding") = V{0, 0},
        py::arg("dilation") = V{1, 1}, py::arg("groups") = 1, py::arg("need_input") = true,
        py::arg("need_weight") = true, py::arg("need_bias") = true,
        "grad_output (N,O,OH,OW), input, weight -> (grad_input, grad_weight, grad_bias), each a "
        "fresh array or None when not needed.");
  m.def("conv_transpose2d_forward", &transpose_forward_py, py::arg("input"), py::arg("weight"),
        py::arg("bias"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        py::arg("groups"), py::arg("out_hw"),
        "input (N,Cin,H,W), weight (Cin,Cout/groups,KH,KW), bias (Cout) or None -> (N,Cout,OH,OW), "
        "(OH, OW) = out_hw: conv2d's input gradient with input as its output gradient, plus bias.");
  m.def("conv3d_depth_taps", &depth_taps_py, py::arg("input"), py::arg("kd"), py::arg("od"),
        py::arg("stride"), py::arg("dilation"), py::arg("padding"),
        "input (N,C,D,H,W) -> (N*OD, C*KD, H, W): out[n*OD + i, c*KD + a] = input[n, c, i*stride "
        "- padding + a*dilation] (zero outside [0, D)), conv3d's depth taps as conv2d channels.");
  m.def("conv3d_depth_taps_backward", &depth_taps_backward_py, py::arg("grad"), py::arg("x_shape"),
        py::arg("kd"), py::arg("od"), py::arg("stride"), py::arg("dilation"), py::arg("padding"),
        "The adjoint of conv3d_depth_taps: grad (N*OD, C*KD, H, W) -> (N, C, D, H, W), each "
        "input depth's taps added in order of the tap.");
  m.def("conv3d_direct_forward", &conv3d_direct_py, py::arg("input"), py::arg("weight"),
        py::arg("bias"), py::arg("stride"), py::arg("padding"), py::arg("dilation"),
        "conv3d of one group without im2col: input (N,C,D,H,W), weight (O,C,KD,KH,KW), bias (O) "
        "or None; stride, padding (both sides), dilation per axis -> (N,O,OD,OH,OW).");
  m.def(
      "conv2d_set_winograd",
      [](const std::string& mode) {
        return set_mode(conv2d_set_winograd, mode, "conv2d_set_winograd");
      },
      py::arg("mode"),
      "Where 3x3 stride-1 convolutions run the Winograd F(2x2, 3x3) engine: 'auto' (where it is "
      "faster, the default), 'always' (wherever it applies: tests) or 'never'. Returns the "
      "previous mode.");
  m.def(
      "conv2d_set_batch_dw",
      [](const std::string& mode) {
        return set_mode(conv2d_set_batch_dw, mode, "conv2d_set_batch_dw");
      },
      py::arg("mode"),
      "Where the weight gradient of a one-group convolution runs the batch engine (a block of "
      "images' im2col side by side, one GEMM): 'auto' (output planes of at most 64 positions, the "
      "default), 'always' (wherever it applies: tests) or 'never'. Returns the previous mode.");
  m.def(
      "conv2d_output_size",
      [](const V& input_shape, const V& weight_shape, const V& stride, const V& padding,
         const V& dilation, int64_t groups) {
        EMBER_CHECK(input_shape.size() == 4 && weight_shape.size() == 4,
                    "conv2d_output_size: shapes must be 4-D");
        const ConvArgs a = conv_args(stride, padding, dilation, groups);
        int64_t OH = 0, OW = 0;
        conv2d_output_size(&OH, &OW, input_shape[0], input_shape[1], input_shape[2], input_shape[3],
                           weight_shape[0], weight_shape[1], weight_shape[2], weight_shape[3], a.sh,
                           a.sw, a.pt, a.pb, a.pl, a.pr, a.dh, a.dw, a.groups);
        return std::make_tuple(OH, OW);
      },
      py::arg("input_shape"), py::arg("weight_shape"), py::arg("stride") = V{1, 1},
      py::arg("padding") = V{0, 0}, py::arg("dilation") = V{1, 1}, py::arg("groups") = 1,
      "Validates a convolution's configuration (ValueError as conv2d_forward) and returns "
      "(OH, OW).");
}

}  // namespace ember
