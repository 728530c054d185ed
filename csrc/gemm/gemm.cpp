// PLACEHOLDER until the blocked GEMM lands: forwards to the reference.
#include "gemm/gemm.h"

#include <string>

#include "common.h"

namespace ember {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads) {
  (void)threads;
  gemm_ref(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t, int);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t, int);

const char* gemm_isa() { return "generic"; }
void gemm_set_isa(const char* name) {
  EMBER_CHECK(std::string(name) == "generic", "gemm_set_isa: unknown ISA ", name);
}

}  // namespace ember
