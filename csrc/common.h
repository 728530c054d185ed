// Shared helpers for every kernel: argument checks, overflow-checked sizes, the thread setting.
#pragma once

#include <omp.h>

#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember {

// A failed EMBER_CHECK throws std::invalid_argument, which module.cpp turns into
// ember._errors.BadShapeOrValue (a ValueError and a RuntimeError, as torch raises).
#define EMBER_CHECK(cond, ...)                                                      \
  do {                                                                              \
    if (!(cond)) throw std::invalid_argument(::ember::detail::concat(__VA_ARGS__)); \
  } while (0)

// Wrong dtypes (integer input to a float kernel) are TypeError, not ValueError.
struct type_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failed allocation of a (valid but) huge size: ember._C.OutOfMemoryError, which is both a
// RuntimeError (PyTorch's type for it) and a MemoryError.
struct out_of_memory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

// "(2, 3, 4)" for error messages.
std::string shape_str(const std::vector<int64_t>& shape);

// Sizes are int64; products of user-given sizes are checked so a huge shape fails cleanly.
inline int64_t mul_checked(int64_t a, int64_t b, const char* what) {
  EMBER_CHECK(a >= 0 && b >= 0, what, ": negative size (", a, " x ", b, ")");
  EMBER_CHECK(a == 0 || b <= std::numeric_limits<int64_t>::max() / a, what,
              ": size overflows int64 (", a, " x ", b, ")");
  return a * b;
}
int64_t numel_checked(const std::vector<int64_t>& shape, const char* what);

// The one process-wide thread setting (ember.set_num_threads). Parallel regions use
// num_threads(ember::num_threads()), which is also capped by OMP_NUM_THREADS / threadpoolctl.
void set_num_threads(int n);
int get_num_threads();  // the setting itself
// omp_get_max_threads(), unless OMP_NUM_THREADS does not fit an int: libgomp reads
// 99999999999 as 1215752191 threads (hundreds started per region: an exp of 10^8 floats took
// 43 s), where PyTorch ignores such a value. Then the processor count.
int omp_threads_cap();
inline int num_threads() {
  int n = get_num_threads();
  int cap = omp_threads_cap();
  return n < cap ? n : cap;
}
// Threads worth using for `work` units of arithmetic: tiny problems run serially.
inline int threads_for(int64_t work, int64_t min_work_per_thread = 32768) {
  int n = num_threads();
  if (n <= 1 || work < 2 * min_work_per_thread) return 1;
  int64_t useful = work / min_work_per_thread;
  return useful < n ? static_cast<int>(useful) : n;
}

// f(i) for i in [0, n) on nt threads (static schedule). One thread runs the loop without a
// team: an inactive parallel region (`if (nt > 1)`) still costs ~0.2-0.3 us, a sixth of a
// 32x32 op.
template <typename F>
void parallel_for(int nt, int64_t n, F&& f) {
  if (nt <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < n; ++i) f(i);
}

// f(tid, nthreads) once on each thread of a team of nt; at one thread f(0, 1), without a team.
template <typename F>
void parallel_region(int nt, F&& f) {
  if (nt <= 1) {
    f(0, 1);
    return;
  }
#pragma omp parallel num_threads(nt)
  f(omp_get_thread_num(), omp_get_num_threads());
}

}  // namespace ember
