// Bindings for csrc/ops/loss.cpp: the elementwise regression losses (mse, l1, huber, smooth_l1)
// binary cross-entropy with logits (bce_logits), the KL divergence (kl_div) and binary
// cross-entropy of probabilities (bce_probs, forward only); ctc_loss's
// recursions:
//   ctc_loss_forward(log_probs (T, N, C), ext (N, L) int64, in_len (N,), ext_len (N,))
//       -> (nll (N,) float64, alpha (T, N, L) float64)
//   ctc_loss_backward(g (N,) float64, log_probs, ext, in_len, ext_len, alpha, nll,
//       zero_infinity) -> grad (T, N, C) of log_probs' dtype
#include <iomanip>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "bind_util.h"

namespace ember {

// csrc/ops/loss.cpp (instantiated there for float and double).
template <typename T>
double regression_loss_forward(T* loss, T* diff, const T* x, const T* t, int64_t n, int kind,
                               double param);
template <typename T>
void regression_loss_backward(T* dx, const T* x, const T* t, const T* g, T scale, int64_t n,
                              int kind, double param);
template <typename T>
void ctc_loss_forward(double* nll, double* alpha, const T* lp, const int64_t* ext,
                      const int64_t* in_len, const int64_t* ext_len, int64_t Tm, int64_t N,
                      int64_t C, int64_t L);
template <typename T>
void ctc_loss_backward(T* grad, const double* g, const T* lp, const int64_t* ext,
                       const int64_t* in_len, const int64_t* ext_len, const double* alpha,
                       const double* nll, bool zero_infinity, int64_t Tm, int64_t N, int64_t C,
                       int64_t L);

namespace {

int parse_kind(const std::string& name, const char* op) {
  const char* names[] = {"mse", "l1", "huber", "smooth_l1", "bce_logits", "kl_div", "bce_probs"};
  for (int k = 0; k < 7; ++k)
    if (name == names[k]) return k;
  EMBER_CHECK(false, op, ": unknown loss '", name,
              "' (expected mse, l1, huber, smooth_l1, bce_logits, kl_div or bce_probs)");
  return -1;
}

void check_pair(const py::array& x, const py::array& t, const char* op) {
  require_float(x, op, "x");
  require_float(t, op, "t");
  require_same_dtype(x, t, op);
  require_contiguous(x, op, "x");
  require_contiguous(t, op, "t");
  require_shape(t, shape_of(x), op, "t");
}

// bce's x and t must lie in [0, 1] (NaN refused), as torch checks them: the first one outside.
template <typename T>
void check_unit_range(const T* p, int64_t n, const char* name) {
  bool ok = true;  // one branch-free pass (vectorised); the index is searched only on failure
  for (int64_t i = 0; i < n; ++i) ok &= (p[i] >= T(0)) & (p[i] <= T(1));
  if (ok) return;
  int64_t i = 0;
  while (p[i] >= T(0) && p[i] <= T(1)) ++i;
  EMBER_CHECK(
      false, "binary_cross_entropy: all elements of ", name, " should be between 0 and 1 (got ",
      std::setprecision(std::numeric_limits<T>::max_digits10), p[i], " at flat index ", i, ")");
}

py::object forward_py(const py::array& x, const py::array& t, const std::string& loss, double param,
                      const std::string& reduction, bool keep_diff) {
  const char* op = "regression_loss_forward";
  const int kind = parse_kind(loss, op);
  check_pair(x, t, op);
  EMBER_CHECK(reduction == "none" || reduction == "mean" || reduction == "sum", op,
              ": reduction must be 'none', 'mean' or 'sum', got '", reduction, "'");
  const int64_t n = numel_checked(shape_of(x), op);
  EMBER_CHECK(!(kind == 6 && keep_diff), op, ": bce keeps no diff");
  if (kind == 6) {  // bce_probs: both operands in [0, 1], as torch checks
    const bool f32 = is_f32(x);
    const void *xp = x.data(), *tp = t.data();
    py::gil_scoped_release release;  // (a failed check throws after the GIL is taken back)
    if (f32) {
      check_unit_range(static_cast<const float*>(xp), n, "input");
      check_unit_range(static_cast<const float*>(tp), n, "target");
    } else {
      check_unit_range(static_cast<const double*>(xp), n, "input");
      check_unit_range(static_cast<const double*>(tp), n, "target");
    }
  }
  const bool none = reduction == "none";
  py::array out = empty_like_dtype(x, none ? shape_of(x) : std::vector<int64_t>{});
  py::array diff = keep_diff ? empty_like_dtype(x, shape_of(x)) : py::array();
  double total;
  if (is_f32(x)) {
    float* lp = none ? ptr<float>(out) : nullptr;
    float* dp = keep_diff ? ptr<float>(diff) : nullptr;
    const float *xp = cptr<float>(x), *tp = cptr<float>(t);
    py::gil_scoped_release release;
    total = regression_loss_forward<float>(lp, dp, xp, tp, n, kind, param);
  } else {
    double* lp = none ? ptr<double>(out) : nullptr;
    double* dp = keep_diff ? ptr<double>(diff) : nullptr;
    const double *xp = cptr<double>(x), *tp = cptr<double>(t);
    py::gil_scoped_release release;
    total = regression_loss_forward<double>(lp, dp, xp, tp, n, kind, param);
  }
  if (!none) {
    const double v = reduction == "mean" ? total / double(n) : total;  // empty mean: NaN
    if (is_f32(x))
      *ptr<float>(out) = static_cast<float>(v);
    else
      *ptr<double>(out) = v;
  }
  if (keep_diff) return py::make_tuple(out, diff);
  return std::move(out);
}

template <typename T>
py::array backward_t(const py::array& x, const py::object& t, const py::object& grad, double scale,
                     int kind, double param, int64_t n) {
  py::array dx = empty_like_dtype(x, shape_of(x));
  const T *gp = nullptr, *tp = nullptr;
  if (!grad.is_none()) gp = cptr<T>(py::reinterpret_borrow<py::array>(grad));
  if (!t.is_none()) tp = cptr<T>(py::reinterpret_borrow<py::array>(t));
  T* dp = ptr<T>(dx);
  const T* xp = cptr<T>(x);
  py::gil_scoped_release release;
  regression_loss_backward<T>(dp, xp, tp, gp, static_cast<T>(scale), n, kind, param);
  return dx;
}

// t None: x holds d = x - t (forward's keep_diff output).
py::array backward_py(const py::array& x, const py::object& t, const py::object& grad,
                      const std::string& loss, double param, double scale) {
  const char* op = "regression_loss_backward";
  const int kind = parse_kind(loss, op);
  if (t.is_none()) {
    EMBER_CHECK(kind < 4, op, ": ", loss, " needs t");
    require_float(x, op, "x");
    require_contiguous(x, op, "x");
  } else {
    if (!py::isinstance<py::array>(t))
      throw py::type_error(std::string(op) + ": t must be a NumPy array or None");
    check_pair(x, py::reinterpret_borrow<py::array>(t), op);
  }
  if (!grad.is_none()) {
    if (!py::isinstance<py::array>(grad))
      throw py::type_error(std::string(op) + ": grad must be a NumPy array or None");
    const py::array g = py::reinterpret_borrow<py::array>(grad);
    require_float(g, op, "grad");
    require_same_dtype(x, g, op);
    require_contiguous(g, op, "grad");
    require_shape(g, shape_of(x), op, "grad");
  }
  const int64_t n = numel_checked(shape_of(x), op);
  return is_f32(x) ? backward_t<float>(x, t, grad, scale, kind, param, n)
                   : backward_t<double>(x, t, grad, scale, kind, param, n);
}

void require_i64(const py::array& a, const std::vector<int64_t>& shape, const char* op,
                 const char* name) {
  if (!same_dtype(a.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": " + name + " must be int64, got " +
                         std::string(py::str(a.dtype())));
  require_contiguous(a, op, name);
  require_shape(a, shape, op, name);
}

struct CtcSizes {
  int64_t T, N, C, L;
};

// log_probs (T, N, C) float, ext (N, L) int64 in [0, C), in_len in [1, T], ext_len odd, in [1, L].
CtcSizes check_ctc(const py::array& lp, const py::array& ext, const py::array& in_len,
                   const py::array& ext_len, const char* op) {
  require_float(lp, op, "log_probs");
  require_ndim(lp, 3, op, "log_probs");
  require_contiguous(lp, op, "log_probs");
  const int64_t T = lp.shape(0), N = lp.shape(1), C = lp.shape(2);
  require_ndim(ext, 2, op, "ext");
  const int64_t L = ext.shape(1);
  require_i64(ext, {N, L}, op, "ext");
  require_i64(in_len, {N}, op, "in_len");
  require_i64(ext_len, {N}, op, "ext_len");
  numel_checked({T, N, std::max(C, L)}, op);
  const int64_t *e = cptr<int64_t>(ext), *il = cptr<int64_t>(in_len), *el = cptr<int64_t>(ext_len);
  for (int64_t k = 0; k < N * L; ++k)
    EMBER_CHECK(e[k] >= 0 && e[k] < C, op, ": label ", e[k], " is out of range for ", C,
                " classes");
  for (int64_t n = 0; n < N; ++n) {
    EMBER_CHECK(il[n] >= 1 && il[n] <= T, op, ": in_len ", il[n], " is not in [1, ", T, "]");
    EMBER_CHECK(el[n] >= 1 && el[n] <= L, op, ": ext_len ", el[n], " is not in [1, ", L, "]");
    EMBER_CHECK(el[n] % 2 == 1, op, ": ext_len ", el[n],
                " is even (a blank-interleaved target has 2 * target_length + 1 labels)");
  }
  return {T, N, C, L};
}

py::tuple ctc_forward_py(const py::array& lp, const py::array& ext, const py::array& in_len,
                         const py::array& ext_len) {
  const char* op = "ctc_loss_forward";
  const CtcSizes z = check_ctc(lp, ext, in_len, ext_len, op);
  py::array_t<double> nll({z.N}), alpha({z.T, z.N, z.L});
  double *np_ = nll.mutable_data(), *ap = alpha.mutable_data();
  const int64_t *e = cptr<int64_t>(ext), *il = cptr<int64_t>(in_len), *el = cptr<int64_t>(ext_len);
  const bool f32 = is_f32(lp);
  const void* l = lp.data();
  {
    py::gil_scoped_release release;
    if (f32)
      ctc_loss_forward<float>(np_, ap, static_cast<const float*>(l), e, il, el, z.T, z.N, z.C, z.L);
    else
      ctc_loss_forward<double>(np_, ap, static_cast<const double*>(l), e, il, el, z.T, z.N, z.C,
                               z.L);
  }
  return py::make_tuple(nll, alpha);
}

py::array ctc_backward_py(const py::array& g, const py::array& lp, const py::array& ext,
                          const py::array& in_len, const py::array& ext_len, const py::array& alpha,
                          const py::array& nll, bool zero_infinity) {
  const char* op = "ctc_loss_backward";
  const CtcSizes z = check_ctc(lp, ext, in_len, ext_len, op);
  for (const auto& [a, name, shape] :
       {std::tuple<const py::array&, const char*, std::vector<int64_t>>{g, "g", {z.N}},
        {alpha, "alpha", {z.T, z.N, z.L}},
        {nll, "nll", {z.N}}}) {
    if (!same_dtype(a.dtype(), py::dtype::of<double>()))
      throw py::type_error(std::string(op) + ": " + name + " must be float64, got " +
                           std::string(py::str(a.dtype())));
    require_contiguous(a, op, name);
    require_shape(a, shape, op, name);
  }
  py::array grad = empty_like_dtype(lp, {z.T, z.N, z.C});
  const int64_t *e = cptr<int64_t>(ext), *il = cptr<int64_t>(in_len), *el = cptr<int64_t>(ext_len);
  const double *gp = cptr<double>(g), *ap = cptr<double>(alpha), *np_ = cptr<double>(nll);
  const bool f32 = is_f32(lp);
  const void* l = lp.data();
  void* out = grad.mutable_data();
  py::gil_scoped_release release;
  if (f32)
    ctc_loss_backward<float>(static_cast<float*>(out), gp, static_cast<const float*>(l), e, il, el,
                             ap, np_, zero_infinity, z.T, z.N, z.C, z.L);
  else
    ctc_loss_backward<double>(static_cast<double*>(out), gp, static_cast<const double*>(l), e, il,
                              el, ap, np_, zero_infinity, z.T, z.N, z.C, z.L);
  return grad;
}

}  // namespace

void bind_loss(py::module_& m) {
  m.def(
      "regression_loss_forward", &forward_py, py::arg("x"), py::arg("t"), py::arg("loss"),
      py::arg("param") = 0.0, py::arg("reduction") = "mean", py::arg("keep_diff") = false,
      "Elementwise loss of d = x - t for C-contiguous float x, t of one shape and dtype: loss "
      "'mse' | 'l1' | 'huber' (param = delta > 0) | 'smooth_l1' (param = beta >= 0) | "
      "'bce_logits' (x logits, t targets: (1 - t) x + softplus(-x)) | 'kl_div' (x log-"
      "probabilities, t probabilities: t log t - t x, 0 log 0 = 0) | 'bce_probs' (x, t in [0, 1], "
      "else an error; -(t log x + (1 - t) log(1 - x)), logs clamped to >= -100) -> the "
      "per-element losses ('none') or their 0-d mean / sum (summed in double, in a fixed "
      "order); keep_diff: (that, d) with d = x - t written in the same pass, for "
      "regression_loss_backward with t None.");
  m.def("regression_loss_backward", &backward_py, py::arg("x"), py::arg("t"), py::arg("grad"),
        py::arg("loss"), py::arg("param") = 0.0, py::arg("scale") = 1.0,
        "dx = scale * grad * dl/dd (grad None: scale * dl/dd), dl/dd = d (mse: the 2 is in "
        "scale), sign(d) (l1), clamp(d, -delta, delta) (huber), clamp(d / beta, -1, 1) "
        "(smooth_l1; beta 0: sign(d)), sigmoid(x) - t (bce_logits), -t (kl_div); t None: x holds "
        "d (not for bce_logits and kl_div). Returns a new dx of x's shape.");
  m.def("ctc_loss_forward", &ctc_forward_py, py::arg("log_probs"), py::arg("ext"),
        py::arg("in_len"), py::arg("ext_len"),
        "log_probs (T, N, C) float, ext (N, L) int64 blank-interleaved targets, in_len (N,) in "
        "[1, T], ext_len (N,) in [1, L] -> (nll (N,), alpha (T, N, L)), both float64: the CTC "
        "forward recursion in log space.");
  m.def("ctc_loss_backward", &ctc_backward_py, py::arg("g"), py::arg("log_probs"), py::arg("ext"),
        py::arg("in_len"), py::arg("ext_len"), py::arg("alpha"), py::arg("nll"),
        py::arg("zero_infinity"),
        "g (N,) float64 and ctc_loss_forward's inputs and outputs -> grad (T, N, C): PyTorch's "
        "CTC gradient (exp(lp) - the posterior of each class), times g, 0 past in_len.");
}

}  // namespace ember
