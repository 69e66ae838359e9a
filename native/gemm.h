// SGEMM: C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C, row-major, with op = identity or transpose,
// optionally batched with element strides between the batch's matrices (stride 0 broadcasts one operand).
#pragma once
#include "common.h"

namespace ligo {

struct Gemm {
  bool ta = false, tb = false;  // op(A) = Aᵀ when ta (A stored [K,M]); op(B) = Bᵀ when tb (B stored [N,K])
  int M = 0, N = 0, K = 0;
  float alpha = 1.0f, beta = 0.0f;
  const float* A = nullptr;
  const float* B = nullptr;
  float* C = nullptr;
  long lda = 0, ldb = 0, ldc = 0;  // row strides of A, B, C as stored
};

// The product C [M,N] (row stride ldc) = alpha·op(A)·op(B) + beta·C, A and B stored with row strides lda, ldb.
inline Gemm gemm_of(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, long lda, const float* B,
                    long ldb, float beta, float* C, long ldc) {
  return Gemm{ta, tb, M, N, K, alpha, beta, A, B, C, lda, ldb, ldc};  // in the struct's field order
}

// Multithreaded (over the batch, or over rows/columns of C for a single product).
void gemm_batched(const Gemm& g, int batch, long strideA, long strideB, long strideC);
// One product on the calling thread (for use inside other parallel kernels).
void gemm_st(const Gemm& g);
// The plain triple loop, accumulating in double: the reference the fast path is tested against.
void gemm_reference(const Gemm& g);

}  // namespace ligo
