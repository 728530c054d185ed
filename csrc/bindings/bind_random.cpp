// Bindings for csrc/ops/random.cpp.
//
//   normal_fill(out float32/float64 C-contiguous writeable, key uint64, mean=0, std=1) -> None
//   randperm_fill(out int64 (n,) C-contiguous writeable, key uint64) -> None
//   integers(bit_generator, low, high, size) -> int64 array, or None (NumPy's own path)
//   multinomial_check(w float32/float64 (rows, n) C-contiguous) -> None, or ValueError
//   multinomial_draw(w as above, u float64 (rows, k) C-contiguous) -> int64 (rows, k)
#include "bind_util.h"

namespace ember {

// csrc/ops/random.cpp (instantiated there for float and double).
template <typename T>
void normal_fill(T* y, int64_t n, uint64_t key, T mean, T std);
void randperm_fill(int64_t* y, int64_t n, uint64_t key);
void integers_fill(int64_t* y, int64_t n, uint32_t (*next_uint32)(void*), void* state, int64_t low,
                   uint32_t rng);
template <typename T>
std::pair<int64_t, int> multinomial_check(const T* w, int64_t rows, int64_t n);
template <typename T>
void multinomial_draw(const T* w, int64_t rows, int64_t n, const double* u, int64_t k,
                      int64_t* out);

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

void randperm_fill_py(py::array& out, uint64_t key) {
  const char* op = "randperm_fill";
  if (!same_dtype(out.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": out must be int64, got " +
                         std::string(py::str(out.dtype())));
  require_ndim(out, 1, op, "out");
  require_contiguous(out, op, "out");
  require_writeable(out, op, "out");
  const int64_t n = out.shape(0);
  int64_t* y = static_cast<int64_t*>(out.mutable_data());
  py::gil_scoped_release release;
  randperm_fill(y, n, key);
}

// NumPy's bitgen_t (numpy/random/bitgen.h): a BitGenerator's capsule "BitGenerator" holds one.
struct BitGen {
  void* state;
  uint64_t (*next_uint64)(void*);
  uint32_t (*next_uint32)(void*);
  double (*next_double)(void*);
  uint64_t (*next_raw)(void*);
};

// Generator.integers(low, high, size, dtype=int64) of bit_generator's stream for
// 1 < high - low < 2^32 and size a tuple of ints with elements, by integers_fill (NumPy's
// draws, ~7 us of its Python-level steps less); None for anything else (NumPy's own call) or
// when bit_generator's lock is held (another thread draws: NumPy waits for it, without the GIL).
py::object integers_py(const py::object& bg, int64_t low, int64_t high, const py::tuple& size) {
  const uint64_t rng = static_cast<uint64_t>(high) - static_cast<uint64_t>(low) - 1;
  if (high <= low || rng == 0 || rng >= 0xFFFFFFFFULL) return py::none();
  std::vector<int64_t> shape;
  for (const py::handle& s : size) {
    int overflow = 0;
    const long long v =
        PyLong_CheckExact(s.ptr()) ? PyLong_AsLongLongAndOverflow(s.ptr(), &overflow) : -1;
    if (v <= 0 || overflow) return py::none();  // (NumPy's refusals, or nothing to draw)
    shape.push_back(v);
  }
  const int64_t n = numel_checked(shape, "integers");
  auto* gen = static_cast<BitGen*>(PyCapsule_GetPointer(bg.attr("capsule").ptr(), "BitGenerator"));
  if (!gen) throw py::error_already_set();
  py::array_t<int64_t> out(shape);
  const py::object lock = bg.attr("lock");
  if (!lock.attr("acquire")(false).cast<bool>()) return py::none();
  int64_t* o = out.mutable_data();
  {  // (no Python call, so nothing throws, until the release; the lock guards the generator
     // without the GIL, as NumPy's own draw)
    py::gil_scoped_release release;
    integers_fill(o, n, gen->next_uint32, gen->state, low, static_cast<uint32_t>(rng));
  }
  lock.attr("release")();
  return std::move(out);
}

void require_weights(const py::array& w, const char* op) {
  require_float(w, op, "weights");
  require_contiguous(w, op, "weights");
  require_ndim(w, 2, op, "weights");
  EMBER_CHECK(w.shape(1) > 0, op, ": weights of shape (", w.shape(0), ", 0) have no categories");
}

void multinomial_check_py(const py::array& w) {
  const char* op = "multinomial";
  require_weights(w, op);
  const int64_t rows = w.shape(0), n = w.shape(1);
  const bool f32 = is_f32(w);  // (dtype checks need the GIL)
  std::pair<int64_t, int> bad;
  {
    py::gil_scoped_release release;
    bad = f32 ? multinomial_check(static_cast<const float*>(w.data()), rows, n)
              : multinomial_check(static_cast<const double*>(w.data()), rows, n);
  }
  EMBER_CHECK(bad.second != 1, op,
              ": weights must be finite and non-negative, with a finite total (row ", bad.first,
              " of ", rows, ")");
  EMBER_CHECK(bad.second != 2, op, ": every row must have a positive total weight (row ", bad.first,
              " of ", rows, " sums to 0)");
}

py::array multinomial_draw_py(const py::array& w, const py::array& u) {
  const char* op = "multinomial_draw";
  require_weights(w, op);
  if (!is_f64(u))
    throw py::type_error(std::string(op) + ": u must be float64, got " +
                         std::string(py::str(u.dtype())));
  require_contiguous(u, op, "u");
  require_ndim(u, 2, op, "u");
  const int64_t rows = w.shape(0), n = w.shape(1), k = u.shape(1);
  EMBER_CHECK(u.shape(0) == rows, op, ": u has ", u.shape(0), " rows, weights ", rows);
  py::array_t<int64_t> out({rows, k});
  const auto* ud = static_cast<const double*>(u.data());
  int64_t* o = out.mutable_data();
  const bool f32 = is_f32(w);
  {
    py::gil_scoped_release release;
    if (f32)
      multinomial_draw(static_cast<const float*>(w.data()), rows, n, ud, k, o);
    else
      multinomial_draw(static_cast<const double*>(w.data()), rows, n, ud, k, o);
  }
  return out;
}

}  // namespace

void bind_random(py::module_& m) {
  m.def("normal_fill", &normal_fill_py, py::arg("out").noconvert(), py::arg("key"),
        py::arg("mean") = 0.0, py::arg("std") = 1.0,
        "out float32/float64 C-contiguous, writeable; key a uint64 (one draw from ember's "
        "generator): out := mean + std * N(0, 1) samples by Box-Muller on the SplitMix64 stream "
        "of key, element i a function of (key, i) alone (the same bits for any thread count).");
  m.def("randperm_fill", &randperm_fill_py, py::arg("out").noconvert(), py::arg("key"),
        "out int64 (n,) C-contiguous, writeable; key a uint64 (one draw from ember's generator): "
        "out := a uniformly random permutation of 0..n-1 (Fisher-Yates on the Philox stream of "
        "key, Lemire's bounded integers), a function of (key, n) alone.");
  m.def("integers", &integers_py, py::arg("bit_generator"), py::arg("low"), py::arg("high"),
        py::arg("size"),
        "numpy.random.Generator(bit_generator).integers(low, high, size, dtype=int64) -- the "
        "same values, the generator left in the same state -- for 1 < high - low < 2**32 and a "
        "non-empty size of ints; None where it does not take the call (NumPy's own then).");
  m.def("multinomial_check", &multinomial_check_py, py::arg("w").noconvert(),
        "w float32/float64 (rows, n > 0) C-contiguous: ValueError naming the first row with a "
        "negative or non-finite weight, or a zero total.");
  m.def("multinomial_draw", &multinomial_draw_py, py::arg("w").noconvert(),
        py::arg("u").noconvert(),
        "w as multinomial_check passes it, u float64 (rows, k) uniforms in [0, 1): int64 "
        "(rows, k), row r's draw j the first category whose running total (in double) passes "
        "u[r, j] times the row's total.");
}

}  // namespace ember
