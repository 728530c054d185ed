// Bindings for csrc/ops/random.cpp.
//
//   normal_fill(out float32/float64 C-contiguous writeable, key uint64, mean=0, std=1) -> None
#include "bind_util.h"

namespace ember {

// csrc/ops/random.cpp (instantiated there for float and double).
template <typename T>
void normal_fill(T* y, int64_t n, uint64_t key, T mean, T std);

namespace {

void normal_fill_py(py::array& out, uint64_t key, double mean, double std) {
  const char* op = "normal_fill";
  require_float(out, op, "out");
  require_contiguous(out, op, "out");
  require_writeable(out, op, "out");
  EMBER_CHECK(std >= 0.0, op, ": std must be >= 0, got ", std);  // NaN too (all NaN samples)
  const int64_t n = numel_checked(shape_of(out), op);
  const bool f32 = is_f32(out);
  void* y = out.mutable_data();
  py::gil_scoped_release release;
  if (f32)
    normal_fill<float>(static_cast<float*>(y), n, key, static_cast<float>(mean),
                       static_cast<float>(std));
  else
    normal_fill<double>(static_cast<double*>(y), n, key, mean, std);
}

}  // namespace

void bind_random(py::module_& m) {
  m.def("normal_fill", &normal_fill_py, py::arg("out").noconvert(), py::arg("key"),
        py::arg("mean") = 0.0, py::arg("std") = 1.0,
        "out float32/float64 C-contiguous, writeable; key a uint64 (one draw from ember's "
        "generator): out := mean + std * N(0, 1) samples by Box-Muller on the SplitMix64 stream "
        "of key, element i a function of (key, i) alone (the same bits for any thread count).");
}

}  // namespace ember
