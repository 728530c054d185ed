// Bindings for csrc/ops/special.cpp.
//
//   special(name, x, order=0) -> y
//   gammainc(a, x, upper) -> y       P(a, x), or Q(a, x) = 1 - P(a, x) when upper
//   zeta(x, q) -> y                  the Hurwitz zeta function sum_k (k + q)^-x
//   poly_recurrence(x, p1, deg, kind) -> r   P_deg(x) of an orthogonal polynomial family
//
// name: erf | erfc | erfinv | lgamma | digamma | polygamma (order >= 0) | i0 | i1 | frac. The
// gradients are other functions of the family (Python composes them), so there is no backward.
#include <string>

#include "bind_util.h"

namespace ember {

// csrc/ops/special.cpp (instantiated there for float and double).
template <typename T>
void special_forward(T* y, const T* x, int64_t n, int which, int order);
template <typename T>
void gammainc_forward(T* y, const T* a, const T* x, int64_t n, bool upper);
template <typename T>
void zeta_forward(T* y, const T* x, const T* q, int64_t n);
template <typename T>
void poly_recurrence(T* r, const T* x, const T* p1, const int64_t* deg, int64_t n, int kind);

namespace {

constexpr int kMaxPolygammaOrder = 1000;

py::array special_py(const std::string& name, const py::array& x, int order) {
  const char* op = "special";
  static const char* names[] = {"erf", "erfc", "erfinv", "lgamma", "digamma", "polygamma",
                                "i0",  "i1",   "frac",   "i0e",    "i1e"};
  int which = -1;
  for (int i = 0; i < 11; ++i)
    if (name == names[i]) which = i;
  EMBER_CHECK(which >= 0, op, ": unknown function '", name, "'");
  EMBER_CHECK(order >= 0, op, ": polygamma order must be >= 0, got ", order);
  // Beyond n = 170, n! overflows double and every value is +-inf or nan; the reflection for
  // negative x costs O(n^2) per element, so a huge order would run for hours.
  EMBER_CHECK(order <= kMaxPolygammaOrder, op, ": polygamma order must be <= ", kMaxPolygammaOrder,
              ", got ", order);
  require_float(x, op, "x");
  require_contiguous(x, op, "x");
  const int64_t n = numel_checked(shape_of(x), op);
  py::array y = empty_like_dtype(x, shape_of(x));
  if (is_f32(x)) {
    float* yp = ptr<float>(y);
    const float* xp = cptr<float>(x);
    py::gil_scoped_release release;
    special_forward<float>(yp, xp, n, which, order);
  } else {
    double* yp = ptr<double>(y);
    const double* xp = cptr<double>(x);
    py::gil_scoped_release release;
    special_forward<double>(yp, xp, n, which, order);
  }
  return y;
}

// Two float arrays of one shape and dtype: the elementwise binary functions' contract.
void require_float_pair(const py::array& a, const py::array& b, const char* op) {
  require_float(a, op, "first argument");
  require_float(b, op, "second argument");
  require_contiguous(a, op, "first argument");
  require_contiguous(b, op, "second argument");
  require_same_dtype(a, b, op);
  EMBER_CHECK(shape_of(a) == shape_of(b), op, ": the arguments must have one shape, got ",
              shape_str(shape_of(a)), " and ", shape_str(shape_of(b)));
}

py::array zeta_py(const py::array& x, const py::array& q) {
  const char* op = "zeta";
  require_float_pair(x, q, op);
  const int64_t n = numel_checked(shape_of(x), op);
  py::array y = empty_like_dtype(x, shape_of(x));
  if (is_f32(x)) {
    float* yp = ptr<float>(y);
    const float *xp = cptr<float>(x), *qp = cptr<float>(q);
    py::gil_scoped_release release;
    zeta_forward<float>(yp, xp, qp, n);
  } else {
    double* yp = ptr<double>(y);
    const double *xp = cptr<double>(x), *qp = cptr<double>(q);
    py::gil_scoped_release release;
    zeta_forward<double>(yp, xp, qp, n);
  }
  return y;
}

py::array gammainc_py(const py::array& a, const py::array& x, bool upper) {
  const char* op = "gammainc";
  require_float_pair(a, x, op);
  const int64_t n = numel_checked(shape_of(x), op);
  py::array y = empty_like_dtype(x, shape_of(x));
  if (is_f32(x)) {
    float* yp = ptr<float>(y);
    const float *ap = cptr<float>(a), *xp = cptr<float>(x);
    py::gil_scoped_release release;
    gammainc_forward<float>(yp, ap, xp, n, upper);
  } else {
    double* yp = ptr<double>(y);
    const double *ap = cptr<double>(a), *xp = cptr<double>(x);
    py::gil_scoped_release release;
    gammainc_forward<double>(yp, ap, xp, n, upper);
  }
  return y;
}

py::array poly_recurrence_py(const py::array& x, const py::array& p1, const py::array& deg,
                             int kind) {
  const char* op = "poly_recurrence";
  EMBER_CHECK(kind >= 0 && kind <= 4, op, ": kind must be 0..4, got ", kind);
  require_float(x, op, "x");
  require_float(p1, op, "p1");
  require_contiguous(x, op, "x");
  require_contiguous(p1, op, "p1");
  require_contiguous(deg, op, "deg");
  require_same_dtype(x, p1, op);
  if (!same_dtype(deg.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": deg must be int64");
  EMBER_CHECK(shape_of(x) == shape_of(p1) && shape_of(x) == shape_of(deg), op,
              ": x, p1 and deg must have one shape, got ", shape_str(shape_of(x)), ", ",
              shape_str(shape_of(p1)), " and ", shape_str(shape_of(deg)));
  const int64_t n = numel_checked(shape_of(x), op);
  py::array r = empty_like_dtype(x, shape_of(x));
  const int64_t* dp = cptr<int64_t>(deg);
  if (is_f32(x)) {
    float* rp = ptr<float>(r);
    const float *xp = cptr<float>(x), *pp = cptr<float>(p1);
    py::gil_scoped_release release;
    poly_recurrence<float>(rp, xp, pp, dp, n, kind);
  } else {
    double* rp = ptr<double>(r);
    const double *xp = cptr<double>(x), *pp = cptr<double>(p1);
    py::gil_scoped_release release;
    poly_recurrence<double>(rp, xp, pp, dp, n, kind);
  }
  return r;
}

}  // namespace

void bind_special(py::module_& m) {
  m.def("special", &special_py, py::arg("name"), py::arg("x"), py::arg("order") = 0,
        "y = f(x) elementwise for a C-contiguous float32/float64 x, f one of erf, erfc, erfinv, "
        "lgamma, digamma, polygamma (order), i0, i1, i0e, i1e. Returns a new y.");
  m.def("gammainc", &gammainc_py, py::arg("a"), py::arg("x"), py::arg("upper"),
        "y = P(a, x), the regularised lower incomplete gamma function, or Q(a, x) = 1 - P(a, x) "
        "when upper, elementwise for C-contiguous float arrays of one shape and dtype.");
  m.def("zeta", &zeta_py, py::arg("x"), py::arg("q"),
        "y = zeta(x, q), the Hurwitz zeta function (Cephes' algorithm, as torch.special.zeta), "
        "elementwise for C-contiguous float arrays of one shape and dtype.");
  m.def("poly_recurrence", &poly_recurrence_py, py::arg("x"), py::arg("p1"), py::arg("deg"),
        py::arg("kind"),
        "r = P_deg(x) by the three-term recurrence from P_0 = 1, P_1 = p1 (kind: 0 Chebyshev, 1 "
        "Hermite H, 2 Hermite He, 3 Laguerre, 4 Legendre) elementwise for C-contiguous float x, "
        "p1 of one dtype and int64 deg, all of one shape.");
}

}  // namespace ember
