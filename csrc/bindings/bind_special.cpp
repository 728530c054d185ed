// Bindings for csrc/ops/special.cpp.
//
//   special(name, x, order=0) -> y
//
// name: erf | erfc | erfinv | lgamma | digamma | polygamma (order >= 0) | i0 | i1. The
// gradients are other functions of the family (Python composes them), so there is no backward.
#include <string>

#include "bind_util.h"

namespace ember {

// csrc/ops/special.cpp (instantiated there for float and double).
template <typename T>
void special_forward(T* y, const T* x, int64_t n, int which, int order);

namespace {

constexpr int kMaxPolygammaOrder = 1000;

py::array special_py(const std::string& name, const py::array& x, int order) {
  const char* op = "special";
  static const char* names[] = {"erf",     "erfc",      "erfinv", "lgamma",
                                "digamma", "polygamma", "i0",     "i1"};
  int which = -1;
  for (int i = 0; i < 8; ++i)
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

}  // namespace

void bind_special(py::module_& m) {
  m.def("special", &special_py, py::arg("name"), py::arg("x"), py::arg("order") = 0,
        "y = f(x) elementwise for a C-contiguous float32/float64 x, f one of erf, erfc, erfinv, "
        "lgamma, digamma, polygamma (order), i0, i1. Returns a new y.");
}

}  // namespace ember
