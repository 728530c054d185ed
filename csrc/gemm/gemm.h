// The one GEMM entry: C := alpha * op(A) @ op(B) + beta * C, row-major, float32 and float64.
// op(A) is (M, K), op(B) is (K, N), C is (M, N) with leading dimension ldc.
// trans_a: A is stored (K, M) with leading dimension lda, and op(A) = A^T (no copy is made).
// beta == 0 never reads C (it may hold NaN or garbage). K == 0 gives C := beta * C.
// Callers inside their own parallel region pass threads = 1; threads = 0 means ember's setting.
#pragma once

#include <cstdint>

namespace ember {

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads = 0);

// op(B) (K x N) packed once for many products with the same B (an RNN's W_hh at every step):
// the panels gemm itself would pack, in the layout of the ISA in use when it was made (kept with
// it, so gemm_set_isa in between changes nothing). gemm_packed(M, A, lda, packed, beta, C, ldc)
// then computes exactly what gemm(false, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
// computes, without packing B again.
template <typename T>
class PackedB {
 public:
  PackedB(bool trans_b, int64_t K, int64_t N, const T* B, int64_t ldb);
  ~PackedB();
  PackedB(const PackedB&) = delete;
  PackedB& operator=(const PackedB&) = delete;
  int64_t K = 0, N = 0;
  T* data = nullptr;           // per KC block: ceil(N / NR) panels of kc x NR (64-byte aligned)
  const void* kern = nullptr;  // the gemm_detail::Kernel<T> it was packed for
  int nr = 1;                  // its panel width NR
  int mr = 1;                  // its row block MR (rows split at multiples of it get the same bits)
};

template <typename T>
void gemm_packed(int64_t M, T alpha, const T* A, int64_t lda, const PackedB<T>& B, T beta, T* C,
                 int64_t ldc, int threads = 0);

// Only columns [j0, j1) of gemm_packed's C (C still points at column 0), on the calling thread:
// for callers that split the columns among their own threads. j0 and j1 are multiples of B.nr
// (j1 may be N); every element gets exactly gemm_packed's arithmetic.
template <typename T>
void gemm_packed_cols(int64_t M, T alpha, const T* A, int64_t lda, const PackedB<T>& B, int64_t j0,
                      int64_t j1, T beta, T* C, int64_t ldc);

// Triple-loop reference with the same contract: the test oracle.
template <typename T>
void gemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
              int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// Micro-kernel family in use: "avx512", "avx2" or "generic". Chosen once at import by CPU
// detection, or forced by the environment variable EMBER_ISA.
const char* gemm_isa();
// Force a family (tests run every path); throws if the CPU cannot run it.
void gemm_set_isa(const char* name);

}  // namespace ember
