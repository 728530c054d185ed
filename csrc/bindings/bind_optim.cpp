// Bindings for csrc/ops/optim.cpp: fused, in-place optimiser updates.
//
// The parameter and every state buffer are updated in place, so each must already be a
// C-contiguous, writeable array of the parameter's dtype and shape: nothing is converted (a
// converted copy would silently lose the update, design.md section 7). The gradient is read
// only but must match too; the Python layer makes it so.
#include <initializer_list>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "bind_util.h"
#include "ops/optim.h"

namespace ember {

namespace {

// p is the parameter; checks dtype, contiguity, writeability.
void check_param(const py::array& p, const char* op) {
  require_float(p, op, "param");
  require_contiguous(p, op, "param");
  require_writeable(p, op, "param");
}

// a is a state buffer (in place, writeable) or the gradient (read only) of p's shape and dtype.
void check_like(const py::array& a, const py::array& p, const char* op, const char* name,
                bool inplace) {
  if (!same_dtype(a.dtype(), p.dtype()))
    throw py::type_error(std::string(op) + ": " + name + " has dtype " +
                         std::string(py::str(a.dtype())) + " but the parameter is " +
                         std::string(py::str(p.dtype())));
  require_shape(a, shape_of(p), op, name);
  require_contiguous(a, op, name);
  if (inplace) require_writeable(a, op, name);
  // Elementwise updates read each element before writing it: the same array is fine, a shifted
  // view of the parameter's memory would read already-updated values.
  require_no_overlap(p, a, op, "param", name, true);
}

// The buffers and the gradient of one update, pairwise: each may be the same array as another
// (every element is read before it is written), but a shifted view of another's memory would
// read values already updated (check_like covers the parameter against each).
void require_disjoint(const char* op,
                      std::initializer_list<std::pair<py::handle, const char*>> xs) {
  for (auto i = xs.begin(); i != xs.end(); ++i)
    for (auto j = std::next(i); j != xs.end(); ++j)
      if (py::isinstance<py::array>(i->first) && py::isinstance<py::array>(j->first))
        require_no_overlap(py::reinterpret_borrow<py::array>(i->first),
                           py::reinterpret_borrow<py::array>(j->first), op, i->second, j->second,
                           true);
}

// An optional state buffer: None -> nullptr.
template <typename T>
T* optional_state(const py::object& o, const py::array& p, const char* op, const char* name) {
  if (o.is_none()) return nullptr;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(op) + ": " + name + " must be a NumPy array or None");
  py::array a = py::reinterpret_borrow<py::array>(o);
  check_like(a, p, op, name, true);
  return ptr<T>(a);
}

template <typename T>
void sgd_impl(py::array& p, const py::object& buf, const py::array& g, double lr, double momentum,
              double dampening, double weight_decay, bool nesterov, bool maximize, bool first) {
  T* b = optional_state<T>(buf, p, "sgd_step", "momentum_buffer");
  require_disjoint("sgd_step", {{buf, "momentum_buffer"}, {g, "grad"}});
  EMBER_CHECK(momentum == 0.0 || b != nullptr, "sgd_step: momentum needs a momentum_buffer");
  T* pp = ptr<T>(p);
  const T* gg = cptr<T>(g);
  const int64_t n = p.size();
  py::gil_scoped_release release;
  sgd_step<T>(pp, b, gg, n, lr, momentum, dampening, weight_decay, nesterov, maximize, first);
}

template <typename T>
void adam_impl(py::array& p, py::array& m, py::array& v, const py::object& vmax, const py::array& g,
               double lr, double beta1, double beta2, double eps, double weight_decay,
               bool decoupled, bool maximize, double step) {
  check_like(m, p, "adam_step", "exp_avg", true);
  check_like(v, p, "adam_step", "exp_avg_sq", true);
  T* vm = optional_state<T>(vmax, p, "adam_step", "max_exp_avg_sq");
  require_disjoint("adam_step",
                   {{m, "exp_avg"}, {v, "exp_avg_sq"}, {vmax, "max_exp_avg_sq"}, {g, "grad"}});
  T *pp = ptr<T>(p), *mm = ptr<T>(m), *vv = ptr<T>(v);
  const T* gg = cptr<T>(g);
  const int64_t n = p.size();
  py::gil_scoped_release release;
  adam_step<T>(pp, mm, vv, vm, gg, n, lr, beta1, beta2, eps, weight_decay, decoupled, maximize,
               step);
}

template <typename T>
void rmsprop_impl(py::array& p, py::array& sq, const py::object& ga, const py::object& buf,
                  const py::array& g, double lr, double alpha, double eps, double weight_decay,
                  double momentum, bool maximize) {
  check_like(sq, p, "rmsprop_step", "square_avg", true);
  T* gap = optional_state<T>(ga, p, "rmsprop_step", "grad_avg");
  T* b = optional_state<T>(buf, p, "rmsprop_step", "momentum_buffer");
  EMBER_CHECK(momentum == 0.0 || b != nullptr, "rmsprop_step: momentum needs a momentum_buffer");
  require_disjoint("rmsprop_step",
                   {{sq, "square_avg"}, {ga, "grad_avg"}, {buf, "momentum_buffer"}, {g, "grad"}});
  T *pp = ptr<T>(p), *s = ptr<T>(sq);
  const T* gg = cptr<T>(g);
  const int64_t n = p.size();
  py::gil_scoped_release release;
  rmsprop_step<T>(pp, s, gap, b, gg, n, lr, alpha, eps, weight_decay, momentum, maximize);
}

// Three-buffer updates (p, two state buffers, g) share their argument checks.
template <typename T, typename F>
void three_buffer_impl(py::array& p, py::array& a, py::array& b, const py::array& g, const char* op,
                       const char* a_name, const char* b_name, F kernel) {
  check_param(p, op);
  check_like(a, p, op, a_name, true);
  check_like(b, p, op, b_name, true);
  check_like(g, p, op, "grad", false);
  require_disjoint(op, {{a, a_name}, {b, b_name}, {g, "grad"}});
  T *pp = ptr<T>(p), *aa = ptr<T>(a), *bb = ptr<T>(b);
  const T* gg = cptr<T>(g);
  const int64_t n = p.size();
  py::gil_scoped_release release;
  kernel(pp, aa, bb, gg, n);
}

// Dispatches a three-buffer update on p's dtype; `kernel` is a generic lambda over T*.
template <typename F>
void three_buffer(py::array& p, py::array& a, py::array& b, const py::array& g, const char* op,
                  const char* a_name, const char* b_name, F kernel) {
  require_float(p, op, "param");
  if (is_f32(p))
    three_buffer_impl<float>(p, a, b, g, op, a_name, b_name, kernel);
  else
    three_buffer_impl<double>(p, a, b, g, op, a_name, b_name, kernel);
}

}  // namespace

void bind_optim(py::module_& m) {
  m.def(
      "sgd_step",
      [](py::array& p, const py::object& buf, const py::array& g, double lr, double momentum,
         double dampening, double weight_decay, bool nesterov, bool maximize, bool first) {
        check_param(p, "sgd_step");
        check_like(g, p, "sgd_step", "grad", false);
        if (is_f32(p))
          sgd_impl<float>(p, buf, g, lr, momentum, dampening, weight_decay, nesterov, maximize,
                          first);
        else
          sgd_impl<double>(p, buf, g, lr, momentum, dampening, weight_decay, nesterov, maximize,
                           first);
      },
      py::arg("param").noconvert(), py::arg("momentum_buffer"), py::arg("grad").noconvert(),
      py::arg("lr"), py::arg("momentum") = 0.0, py::arg("dampening") = 0.0,
      py::arg("weight_decay") = 0.0, py::arg("nesterov") = false, py::arg("maximize") = false,
      py::arg("first") = false,
      "SGD update of param (and momentum_buffer, or None) in place; first: the buffer is "
      "initialised from this gradient.");
  m.def(
      "adam_step",
      [](py::array& p, py::array& exp_avg, py::array& exp_avg_sq, const py::object& max_sq,
         const py::array& g, double lr, double beta1, double beta2, double eps, double weight_decay,
         bool decoupled, bool maximize, double step) {
        check_param(p, "adam_step");
        check_like(g, p, "adam_step", "grad", false);
        EMBER_CHECK(step > 0, "adam_step: step must be > 0, got ", step);
        if (is_f32(p))
          adam_impl<float>(p, exp_avg, exp_avg_sq, max_sq, g, lr, beta1, beta2, eps, weight_decay,
                           decoupled, maximize, step);
        else
          adam_impl<double>(p, exp_avg, exp_avg_sq, max_sq, g, lr, beta1, beta2, eps, weight_decay,
                            decoupled, maximize, step);
      },
      py::arg("param").noconvert(), py::arg("exp_avg").noconvert(),
      py::arg("exp_avg_sq").noconvert(), py::arg("max_exp_avg_sq"), py::arg("grad").noconvert(),
      py::arg("lr"), py::arg("beta1"), py::arg("beta2"), py::arg("eps"),
      py::arg("weight_decay") = 0.0, py::arg("decoupled") = false, py::arg("maximize") = false,
      py::arg("step") = 1,
      "Adam (decoupled: AdamW) update in place; max_exp_avg_sq is an array for amsgrad, else "
      "None; step counts this update.");
  m.def(
      "adagrad_step",
      [](py::array& p, py::array& sum, const py::array& g, double clr, double eps,
         double weight_decay, bool maximize) {
        check_param(p, "adagrad_step");
        check_like(sum, p, "adagrad_step", "sum", true);
        check_like(g, p, "adagrad_step", "grad", false);
        require_disjoint("adagrad_step", {{sum, "sum"}, {g, "grad"}});
        const int64_t n = p.size();
        if (is_f32(p)) {
          float *pp = ptr<float>(p), *s = ptr<float>(sum);
          const float* gg = cptr<float>(g);
          py::gil_scoped_release release;
          adagrad_step<float>(pp, s, gg, n, clr, eps, weight_decay, maximize);
        } else {
          double *pp = ptr<double>(p), *s = ptr<double>(sum);
          const double* gg = cptr<double>(g);
          py::gil_scoped_release release;
          adagrad_step<double>(pp, s, gg, n, clr, eps, weight_decay, maximize);
        }
      },
      py::arg("param").noconvert(), py::arg("sum").noconvert(), py::arg("grad").noconvert(),
      py::arg("clr"), py::arg("eps"), py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
      "Adagrad update in place with the decayed learning rate clr.");
  m.def(
      "adadelta_step",
      [](py::array& p, py::array& square_avg, py::array& acc_delta, const py::array& g, double lr,
         double rho, double eps, double weight_decay, bool maximize) {
        check_param(p, "adadelta_step");
        check_like(square_avg, p, "adadelta_step", "square_avg", true);
        check_like(acc_delta, p, "adadelta_step", "acc_delta", true);
        check_like(g, p, "adadelta_step", "grad", false);
        require_disjoint("adadelta_step",
                         {{square_avg, "square_avg"}, {acc_delta, "acc_delta"}, {g, "grad"}});
        const int64_t n = p.size();
        if (is_f32(p)) {
          float *pp = ptr<float>(p), *s = ptr<float>(square_avg), *a = ptr<float>(acc_delta);
          const float* gg = cptr<float>(g);
          py::gil_scoped_release release;
          adadelta_step<float>(pp, s, a, gg, n, lr, rho, eps, weight_decay, maximize);
        } else {
          double *pp = ptr<double>(p), *s = ptr<double>(square_avg), *a = ptr<double>(acc_delta);
          const double* gg = cptr<double>(g);
          py::gil_scoped_release release;
          adadelta_step<double>(pp, s, a, gg, n, lr, rho, eps, weight_decay, maximize);
        }
      },
      py::arg("param").noconvert(), py::arg("square_avg").noconvert(),
      py::arg("acc_delta").noconvert(), py::arg("grad").noconvert(), py::arg("lr"), py::arg("rho"),
      py::arg("eps"), py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
      "Adadelta update in place.");
  m.def(
      "rmsprop_step",
      [](py::array& p, py::array& square_avg, const py::object& grad_avg,
         const py::object& momentum_buffer, const py::array& g, double lr, double alpha, double eps,
         double weight_decay, double momentum, bool maximize) {
        check_param(p, "rmsprop_step");
        check_like(g, p, "rmsprop_step", "grad", false);
        if (is_f32(p))
          rmsprop_impl<float>(p, square_avg, grad_avg, momentum_buffer, g, lr, alpha, eps,
                              weight_decay, momentum, maximize);
        else
          rmsprop_impl<double>(p, square_avg, grad_avg, momentum_buffer, g, lr, alpha, eps,
                               weight_decay, momentum, maximize);
      },
      py::arg("param").noconvert(), py::arg("square_avg").noconvert(), py::arg("grad_avg"),
      py::arg("momentum_buffer"), py::arg("grad").noconvert(), py::arg("lr"), py::arg("alpha"),
      py::arg("eps"), py::arg("weight_decay") = 0.0, py::arg("momentum") = 0.0,
      py::arg("maximize") = false,
      "RMSprop update in place; grad_avg (centered) and momentum_buffer (momentum > 0) are "
      "arrays or None.");
  m.def(
      "adamax_step",
      [](py::array& p, py::array& exp_avg, py::array& exp_inf, const py::array& g, double lr,
         double beta1, double beta2, double eps, double weight_decay, bool maximize, double step) {
        EMBER_CHECK(step > 0, "adamax_step: step must be > 0, got ", step);
        three_buffer(p, exp_avg, exp_inf, g, "adamax_step", "exp_avg", "exp_inf",
                     [=](auto* pp, auto* m, auto* u, const auto* gg, int64_t n) {
                       adamax_step(pp, m, u, gg, n, lr, beta1, beta2, eps, weight_decay, maximize,
                                   step);
                     });
      },
      py::arg("param").noconvert(), py::arg("exp_avg").noconvert(), py::arg("exp_inf").noconvert(),
      py::arg("grad").noconvert(), py::arg("lr"), py::arg("beta1"), py::arg("beta2"),
      py::arg("eps"), py::arg("weight_decay") = 0.0, py::arg("maximize") = false,
      py::arg("step") = 1, "Adamax update in place; step counts this update.");
  m.def(
      "nadam_step",
      [](py::array& p, py::array& exp_avg, py::array& exp_avg_sq, const py::array& g, double lr,
         double beta1, double beta2, double eps, double weight_decay, bool decoupled, bool maximize,
         double bc2, double cg, double cm) {
        three_buffer(p, exp_avg, exp_avg_sq, g, "nadam_step", "exp_avg", "exp_avg_sq",
                     [=](auto* pp, auto* m, auto* v, const auto* gg, int64_t n) {
                       nadam_step(pp, m, v, gg, n, lr, beta1, beta2, eps, weight_decay, decoupled,
                                  maximize, bc2, cg, cm);
                     });
      },
      py::arg("param").noconvert(), py::arg("exp_avg").noconvert(),
      py::arg("exp_avg_sq").noconvert(), py::arg("grad").noconvert(), py::arg("lr"),
      py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay"),
      py::arg("decoupled"), py::arg("maximize"), py::arg("bc2"), py::arg("cg"), py::arg("cm"),
      "NAdam update in place with the step's coefficients cg (gradient), cm (momentum) and "
      "bias correction bc2 computed by the caller.");
  m.def(
      "radam_step",
      [](py::array& p, py::array& exp_avg, py::array& exp_avg_sq, const py::array& g, double lr,
         double beta1, double beta2, double eps, double weight_decay, bool decoupled, bool maximize,
         double step) {
        EMBER_CHECK(step > 0, "radam_step: step must be > 0, got ", step);
        three_buffer(p, exp_avg, exp_avg_sq, g, "radam_step", "exp_avg", "exp_avg_sq",
                     [=](auto* pp, auto* m, auto* v, const auto* gg, int64_t n) {
                       radam_step(pp, m, v, gg, n, lr, beta1, beta2, eps, weight_decay, decoupled,
                                  maximize, step);
                     });
      },
      py::arg("param").noconvert(), py::arg("exp_avg").noconvert(),
      py::arg("exp_avg_sq").noconvert(), py::arg("grad").noconvert(), py::arg("lr"),
      py::arg("beta1"), py::arg("beta2"), py::arg("eps"), py::arg("weight_decay") = 0.0,
      py::arg("decoupled") = false, py::arg("maximize") = false, py::arg("step") = 1,
      "RAdam update in place (rectified once rho_t > 5); step counts this update.");
  m.def(
      "rprop_step",
      [](py::array& p, py::array& prev, py::array& step_size, const py::array& g, double etaminus,
         double etaplus, double step_size_min, double step_size_max, bool maximize) {
        three_buffer(p, prev, step_size, g, "rprop_step", "prev", "step_size",
                     [=](auto* pp, auto* pv, auto* ss, const auto* gg, int64_t n) {
                       rprop_step(pp, pv, ss, gg, n, etaminus, etaplus, step_size_min,
                                  step_size_max, maximize);
                     });
      },
      py::arg("param").noconvert(), py::arg("prev").noconvert(), py::arg("step_size").noconvert(),
      py::arg("grad").noconvert(), py::arg("etaminus"), py::arg("etaplus"),
      py::arg("step_size_min"), py::arg("step_size_max"), py::arg("maximize") = false,
      "Rprop update in place of param, prev (the last gradient kept) and step_size.");
  m.def(
      "asgd_step",
      [](py::array& p, py::array& ax, const py::array& g, double eta, double lambd, double mu,
         double weight_decay, bool maximize) {
        check_param(p, "asgd_step");
        check_like(ax, p, "asgd_step", "ax", true);
        check_like(g, p, "asgd_step", "grad", false);
        require_disjoint("asgd_step", {{ax, "ax"}, {g, "grad"}});
        const int64_t n = p.size();
        if (is_f32(p)) {
          float *pp = ptr<float>(p), *a = ptr<float>(ax);
          const float* gg = cptr<float>(g);
          py::gil_scoped_release release;
          asgd_step<float>(pp, a, gg, n, eta, lambd, mu, weight_decay, maximize);
        } else {
          double *pp = ptr<double>(p), *a = ptr<double>(ax);
          const double* gg = cptr<double>(g);
          py::gil_scoped_release release;
          asgd_step<double>(pp, a, gg, n, eta, lambd, mu, weight_decay, maximize);
        }
      },
      py::arg("param").noconvert(), py::arg("ax").noconvert(), py::arg("grad").noconvert(),
      py::arg("eta"), py::arg("lambd"), py::arg("mu"), py::arg("weight_decay") = 0.0,
      py::arg("maximize") = false,
      "ASGD update in place of param and its average ax with this step's eta and mu.");
  m.def(
      "lerp_",
      [](py::array& start, const py::array& end, double weight) {
        check_param(start, "lerp_");
        check_like(end, start, "lerp_", "end", false);
        const int64_t n = start.size();
        if (is_f32(start)) {
          float* a = ptr<float>(start);
          const float* b = cptr<float>(end);
          py::gil_scoped_release release;
          lerp_inplace<float>(a, b, n, weight);
        } else {
          double* a = ptr<double>(start);
          const double* b = cptr<double>(end);
          py::gil_scoped_release release;
          lerp_inplace<double>(a, b, n, weight);
        }
      },
      py::arg("start").noconvert(), py::arg("end").noconvert(), py::arg("weight"),
      "start = torch.lerp(start, end, weight) in place (one fused multiply-add, as torch's).");
  m.def(
      "sum_squares",
      [](const py::list& arrays) {
        // Check and collect every pointer first (with the GIL), then sum without it.
        const char* op = "sum_squares";
        const size_t k = arrays.size();
        std::vector<const void*> data(k);
        std::vector<int64_t> sizes(k);
        std::vector<char> f32(k);
        for (size_t i = 0; i < k; ++i) {
          if (!py::isinstance<py::array>(arrays[i]))
            throw py::type_error(std::string(op) + ": item " + std::to_string(i) +
                                 " is not a NumPy array");
          py::array a = py::reinterpret_borrow<py::array>(arrays[i]);
          require_float(a, op, "array");
          require_contiguous(a, op, "array");
          data[i] = a.data();
          sizes[i] = a.size();
          f32[i] = is_f32(a);
        }
        std::vector<double> out(k);
        {
          py::gil_scoped_release release;
          for (size_t i = 0; i < k; ++i)
            out[i] = f32[i] ? sum_squares(static_cast<const float*>(data[i]), sizes[i])
                            : sum_squares(static_cast<const double*>(data[i]), sizes[i]);
        }
        py::list result;
        for (double v : out) result.append(v);
        return result;
      },
      py::arg("arrays"),
      "[x (any shape) float32/float64 C-contiguous, ...] -> [sum of x^2 in float64, ...]: one "
      "call for all of clip_grad_norm_'s gradients (deterministic for any thread count).");
}

}  // namespace ember
