#include "common.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>

namespace ember {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ",";
  os << ")";
  return os.str();
}

int64_t numel_checked(const std::vector<int64_t>& shape, const char* what) {
  int64_t n = 1;
  for (int64_t d : shape) n = mul_checked(n, d, what);
  return n;
}

// Default: what OpenMP would use (OMP_NUM_THREADS or the core count).
static std::atomic<int> g_num_threads{0};

void set_num_threads(int n) {
  EMBER_CHECK(n >= 1, "set_num_threads: n must be >= 1, got ", n);
  g_num_threads.store(n);
}

int get_num_threads() {
  int n = g_num_threads.load();
  return n > 0 ? n : omp_threads_cap();
}

int omp_threads_cap() {
  static const bool env_too_big = [] {
    const char* env = std::getenv("OMP_NUM_THREADS");
    if (!env) return false;
    errno = 0;
    char* end = nullptr;
    const long long v = std::strtoll(env, &end, 10);
    return end != env && (errno == ERANGE || v > std::numeric_limits<int>::max());
  }();
  const int n = omp_get_max_threads();
  return env_too_big ? std::min(n, omp_get_num_procs()) : n;
}

}  // namespace ember
