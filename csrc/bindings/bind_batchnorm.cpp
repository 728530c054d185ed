// Bindings for csrc/ops/batchnorm.cpp: batch_norm_forward, batch_norm_backward.
// Input (N, C, *) is viewed as (N, C, S). weight, bias, running_mean, running_var are (C,) arrays
// of the input's dtype or None. The running statistics are updated in place, so they must be
// NumPy arrays that are C-contiguous, writeable and of the input's dtype: never a converted copy.
#include <cstring>

#include "bind_util.h"

namespace ember {

// csrc/ops/batchnorm.cpp
template <typename T>
void batch_norm_forward(T* y, T* save_mean, T* save_invstd, T* running_mean, T* running_var,
                        const T* x, const T* weight, const T* bias, int64_t N, int64_t C, int64_t S,
                        bool training, double momentum, double eps);
template <typename T>
void batch_norm_backward(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight,
                         const T* save_mean, const T* save_invstd, int64_t N, int64_t C, int64_t S,
                         bool training);

namespace {

struct NCS {
  int64_t N, C, S;
};

NCS ncs_of(const py::array& x, const char* op) {
  EMBER_CHECK(x.ndim() >= 2, op, ": input must be at least 2-D (N, C, ...), got shape ",
              shape_str(shape_of(x)));
  int64_t S = 1;
  for (py::ssize_t d = 2; d < x.ndim(); ++d) S = mul_checked(S, x.shape(d), op);
  // No values per channel: the kernels' answers are N = S = 0's, without walking N (or S) empty
  // images per channel (an empty x of shape (2^28, 2^28, 0) looped 2^56 times).
  if (x.shape(0) == 0 || S == 0) return {0, x.shape(1), 0};
  return {x.shape(0), x.shape(1), S};
}

// An optional (C,) array: None -> nullptr-like empty object. Same dtype as x (TypeError), else
// ValueError for layout/shape. inplace adds the writeable check.
bool optional_vec(const py::object& obj, const py::array& x, int64_t C, const char* op,
                  const char* name, bool inplace, py::array* out) {
  if (obj.is_none()) return false;
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(op) + ": " + name + " must be a NumPy array or None, got " +
                         std::string(py::str(py::type::of(obj))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  require_float(a, op, name);
  require_same_dtype(x, a, op);
  require_contiguous(a, op, name);
  require_shape(a, {C}, op, name);
  if (inplace) {
    require_writeable(a, op, name);
    require_no_overlap(a, x, op, name, "input", false);  // updated while the input is read
  }
  *out = a;
  return true;
}

template <typename T>
const T* cptr_or_null(bool has, const py::array& a) {
  return has ? cptr<T>(a) : nullptr;
}
template <typename T>
T* ptr_or_null(bool has, py::array& a) {
  return has ? ptr<T>(a) : nullptr;
}

template <typename T>
void run_forward(py::array& y, py::array& sm, py::array& si, bool hrm, py::array& rm, bool hrv,
                 py::array& rv, const py::array& x, bool hw, const py::array& w, bool hb,
                 const py::array& b, const NCS& s, bool training, double momentum, double eps) {
  T* yp = ptr<T>(y);
  T* smp = ptr<T>(sm);
  T* sip = ptr<T>(si);
  T* rmp = ptr_or_null<T>(hrm, rm);
  T* rvp = ptr_or_null<T>(hrv, rv);
  const T* xp = cptr<T>(x);
  const T* wp = cptr_or_null<T>(hw, w);
  const T* bp = cptr_or_null<T>(hb, b);
  py::gil_scoped_release release;
  batch_norm_forward<T>(yp, smp, sip, rmp, rvp, xp, wp, bp, s.N, s.C, s.S, training, momentum, eps);
}

py::tuple forward_py(const py::array& x, const py::object& weight, const py::object& bias,
                     const py::object& running_mean, const py::object& running_var, bool training,
                     double momentum, double eps) {
  const char* op = "batch_norm";
  require_float(x, op, "input");
  require_contiguous(x, op, "input");
  const NCS s = ncs_of(x, op);
  py::array w, b, rm, rv;
  const bool hw = optional_vec(weight, x, s.C, op, "weight", false, &w);
  const bool hb = optional_vec(bias, x, s.C, op, "bias", false, &b);
  const bool hrm = optional_vec(running_mean, x, s.C, op, "running_mean", true, &rm);
  const bool hrv = optional_vec(running_var, x, s.C, op, "running_var", true, &rv);
  EMBER_CHECK(hrm == hrv, op, ": give both running_mean and running_var or neither");
  EMBER_CHECK(training || hrm, op, ": running_mean and running_var are required when not training");
  EMBER_CHECK(!training || s.N * s.S != 1, op,
              ": Expected more than 1 value per channel when training, got input size ",
              shape_str(shape_of(x)));
  py::array y = empty_like_dtype(x, shape_of(x));
  py::array sm = empty_like_dtype(x, {s.C});
  py::array si = empty_like_dtype(x, {s.C});
  if (training && s.N * s.S == 0) {
    // An empty batch has no statistics: an empty output, the running ones left as they are
    // (PyTorch), and zeros saved so the backward's parameter gradients are 0.
    std::memset(sm.mutable_data(), 0, sm.nbytes());
    std::memset(si.mutable_data(), 0, si.nbytes());
    return py::make_tuple(y, sm, si);
  }
  if (is_f32(x))
    run_forward<float>(y, sm, si, hrm, rm, hrv, rv, x, hw, w, hb, b, s, training, momentum, eps);
  else
    run_forward<double>(y, sm, si, hrm, rm, hrv, rv, x, hw, w, hb, b, s, training, momentum, eps);
  return py::make_tuple(y, sm, si);
}

template <typename T>
void run_backward(py::array* dx, py::array* dw, py::array* db, const py::array& dy,
                  const py::array& x, bool hw, const py::array& w, const py::array& sm,
                  const py::array& si, const NCS& s, bool training) {
  T* dxp = dx ? ptr<T>(*dx) : nullptr;
  T* dwp = dw ? ptr<T>(*dw) : nullptr;
  T* dbp = db ? ptr<T>(*db) : nullptr;
  const T* dyp = cptr<T>(dy);
  const T* xp = cptr<T>(x);
  const T* wp = cptr_or_null<T>(hw, w);
  const T* smp = cptr<T>(sm);
  const T* sip = cptr<T>(si);
  py::gil_scoped_release release;
  batch_norm_backward<T>(dxp, dwp, dbp, dyp, xp, wp, smp, sip, s.N, s.C, s.S, training);
}

py::tuple backward_py(const py::array& dy, const py::array& x, const py::object& weight,
                      const py::array& save_mean, const py::array& save_invstd, bool training,
                      bool need_input, bool need_weight, bool need_bias) {
  const char* op = "batch_norm_backward";
  require_float(x, op, "input");
  require_float(dy, op, "grad_output");
  require_same_dtype(x, dy, op);
  require_contiguous(x, op, "input");
  require_contiguous(dy, op, "grad_output");
  require_shape(dy, shape_of(x), op, "grad_output");
  const NCS s = ncs_of(x, op);
  py::array w, sm, si;
  const bool hw = optional_vec(weight, x, s.C, op, "weight", false, &w);
  optional_vec(save_mean, x, s.C, op, "save_mean", false, &sm);
  optional_vec(save_invstd, x, s.C, op, "save_invstd", false, &si);
  py::array dx, dw, db;
  if (need_input) dx = empty_like_dtype(x, shape_of(x));
  if (need_weight) dw = empty_like_dtype(x, {s.C});
  if (need_bias) db = empty_like_dtype(x, {s.C});
  if (is_f32(x))
    run_backward<float>(need_input ? &dx : nullptr, need_weight ? &dw : nullptr,
                        need_bias ? &db : nullptr, dy, x, hw, w, sm, si, s, training);
  else
    run_backward<double>(need_input ? &dx : nullptr, need_weight ? &dw : nullptr,
                         need_bias ? &db : nullptr, dy, x, hw, w, sm, si, s, training);
  py::object none = py::none();
  return py::make_tuple(need_input ? py::object(dx) : none, need_weight ? py::object(dw) : none,
                        need_bias ? py::object(db) : none);
}

}  // namespace

void bind_batchnorm(py::module_& m) {
  m.def("batch_norm_forward", &forward_py, py::arg("input"), py::arg("weight"), py::arg("bias"),
        py::arg("running_mean"), py::arg("running_var"), py::arg("training"),
        py::arg("momentum") = 0.1, py::arg("eps") = 1e-5,
        "input (N,C,*) -> (output, save_mean (C), save_invstd (C)); running stats updated in "
        "place when training. Eval uses the running stats and returns them as save_mean and "
        "1/sqrt(running_var + eps).");
  m.def("batch_norm_backward", &backward_py, py::arg("grad_output"), py::arg("input"),
        py::arg("weight"), py::arg("save_mean"), py::arg("save_invstd"), py::arg("training"),
        py::arg("need_input") = true, py::arg("need_weight") = true, py::arg("need_bias") = true,
        "-> (grad_input, grad_weight, grad_bias), None for those not needed.");
}

}  // namespace ember
