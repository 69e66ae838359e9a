// Causal self-attention per (batch, head), on q, k, v viewed as [T,HS] matrices:
//   S = scale·Q·Kᵀ [T,T];  P = softmax over j ≤ i (0 above the diagonal);  O = P·V [T,HS]
// backward (P saved):
//   dV = Pᵀ·dO;  dP = dO·Vᵀ;  dS = scale·P⊙(dP − rowsum(P⊙dP));  dQ = dS·K;  dK = dSᵀ·Q
// Rows go in blocks of RB so each block's products stop at the causal edge (about half the FLOPs of the
// full T×T products for long T). (b, h) pairs run in parallel; the small products use the single-thread GEMM.
// Where each (b, h) matrix lives is a HeadLayout (kernels.h), so the same loops serve q,k,v as [B,NH,T,HS] and
// as the rows of a projection [B·T, …] (head-major columns, rows ld apart; the GEMM takes strided rows), which
// spares the model the transposes into and out of the per-head layout.
#include <cmath>
#include <vector>

#include "common.h"
#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace ligo {
namespace {

constexpr int RB = 48;

// P[i, 0..n) = softmax(S[i, 0..n)) in place; P[i, n..T) = 0.
void softmax_causal_row_ref(float* row, int n, int T) {
  float mx = row[0];
  for (int j = 1; j < n; j++) mx = row[j] > mx ? row[j] : mx;
  float sum = 0;
  for (int j = 0; j < n; j++) sum += (row[j] = std::exp(row[j] - mx));
  float inv = 1.0f / sum;
  for (int j = 0; j < n; j++) row[j] *= inv;
  for (int j = n; j < T; j++) row[j] = 0.0f;
}

// dS[i, 0..n) = scale·P·(dP − Σ P·dP) in place over dP; 0 for [n, T).
void softmax_bwd_row_ref(const float* p, float* d, int n, int T, float scale) {
  float dot = 0;
  for (int j = 0; j < n; j++) dot += p[j] * d[j];
  for (int j = 0; j < n; j++) d[j] = scale * p[j] * (d[j] - dot);
  for (int j = n; j < T; j++) d[j] = 0.0f;
}

#if LIGO_X86
LIGO_AVX512 void softmax_causal_row_512(float* row, int n, int T) {
  softmax_row_512(row, row, n);
  for (int j = n; j < T; j++) row[j] = 0.0f;
}

LIGO_AVX512 void softmax_bwd_row_512(const float* p, float* d, int n, int T, float scale) {
  __m512 acc = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    __mmask16 k = lanes(n - j);
    acc = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, p + j), _mm512_maskz_loadu_ps(k, d + j), acc);
  }
  __m512 dot = _mm512_set1_ps(_mm512_reduce_add_ps(acc)), vs = _mm512_set1_ps(scale);
  for (int j = 0; j < n; j += 16) {
    __mmask16 k = lanes(n - j);
    __m512 pv = _mm512_maskz_loadu_ps(k, p + j);
    __m512 o = _mm512_mul_ps(_mm512_mul_ps(vs, pv), _mm512_sub_ps(_mm512_maskz_loadu_ps(k, d + j), dot));
    _mm512_mask_storeu_ps(d + j, k, o);
  }
  for (int j = n; j < T; j++) d[j] = 0.0f;
}

LIGO_AVX2 void softmax_causal_row_256(float* row, int n, int T) {
  softmax_row_256(row, row, n);
  for (int j = n; j < T; j++) row[j] = 0.0f;
}

LIGO_AVX2 void softmax_bwd_row_256(const float* p, float* d, int n, int T, float scale) {
  __m256 acc = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8) {
    __m256i k = lanes8(n - j);
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(p + j, k), _mm256_maskload_ps(d + j, k), acc);
  }
  __m256 dot = _mm256_set1_ps(hsum256(acc)), vs = _mm256_set1_ps(scale);
  for (int j = 0; j < n; j += 8) {
    __m256i k = lanes8(n - j);
    __m256 pv = _mm256_maskload_ps(p + j, k);
    __m256 o = _mm256_mul_ps(_mm256_mul_ps(vs, pv), _mm256_sub_ps(_mm256_maskload_ps(d + j, k), dot));
    _mm256_maskstore_ps(d + j, k, o);
  }
  for (int j = n; j < T; j++) d[j] = 0.0f;
}
#endif

void softmax_causal_row(float* row, int n, int T) {
#if LIGO_X86
  if (active_isa() == Isa::Avx512) return softmax_causal_row_512(row, n, T);
  if (active_isa() == Isa::Avx2) return softmax_causal_row_256(row, n, T);
#endif
  softmax_causal_row_ref(row, n, T);
}

void softmax_bwd_row(const float* p, float* d, int n, int T, float scale) {
#if LIGO_X86
  if (active_isa() == Isa::Avx512) return softmax_bwd_row_512(p, d, n, T, scale);
  if (active_isa() == Isa::Avx2) return softmax_bwd_row_256(p, d, n, T, scale);
#endif
  softmax_bwd_row_ref(p, d, n, T, scale);
}

Gemm product(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, long lda, const float* B, long ldb,
             float* C, long ldc) {
  return gemm_of(ta, tb, M, N, K, alpha, A, lda, B, ldb, 0.0f, C, ldc);
}

}  // namespace

void attention_forward(const float* q, const float* k, const float* v, const HeadLayout& in, int B, int NH, int T,
                       int HS, float scale, float* out, const HeadLayout& lo, float* P) {
  parallel_for(B * NH, [&](int bh) {
    const int b = bh / NH, h = bh % NH;
    const long off = in.at(b, h), ld = in.row, oo = lo.at(b, h), ldo = lo.row;
    const float *Q = q + off, *K = k + off, *V = v + off;
    float *O = out + oo, *Pb = P + (long)bh * T * T;
    for (int i0 = 0; i0 < T; i0 += RB) {
      int i1 = i0 + RB < T ? i0 + RB : T, rb = i1 - i0;
      gemm_st(product(false, true, rb, i1, HS, scale, Q + i0 * ld, ld, K, ld, Pb + (long)i0 * T, T));
      for (int i = i0; i < i1; i++) softmax_causal_row(Pb + (long)i * T, i + 1, T);
      gemm_st(product(false, false, rb, HS, i1, 1.0f, Pb + (long)i0 * T, T, V, ld, O + i0 * ldo, ldo));
    }
  });
}

void attention_backward(const float* dout, const HeadLayout& lo, const float* q, const float* k, const float* v,
                        const HeadLayout& in, const float* P, int B, int NH, int T, int HS, float scale, float* dq,
                        float* dk, float* dv) {
  parallel_for(B * NH, [&](int bh) {
    thread_local std::vector<float> scratch;
    if (scratch.size() < (size_t)T * T) scratch.resize((size_t)T * T);
    float* dS = scratch.data();
    const int b = bh / NH, h = bh % NH;
    const long off = in.at(b, h), ld = in.row, oo = lo.at(b, h), ldo = lo.row;
    const float *Q = q + off, *K = k + off, *V = v + off, *dO = dout + oo, *Pb = P + (long)bh * T * T;
    float *dQ = dq + off, *dK = dk + off, *dV = dv + off;
    for (int i0 = 0; i0 < T; i0 += RB) {
      int i1 = i0 + RB < T ? i0 + RB : T, rb = i1 - i0;
      gemm_st(product(false, true, rb, i1, HS, 1.0f, dO + i0 * ldo, ldo, V, ld, dS + (long)i0 * T, T));  // dP
      for (int i = i0; i < i1; i++) softmax_bwd_row(Pb + (long)i * T, dS + (long)i * T, i + 1, i1, scale);
      gemm_st(product(false, false, rb, HS, i1, 1.0f, dS + (long)i0 * T, T, K, ld, dQ + i0 * ld, ld));
    }
    // Columns j ∈ [j0, j1) collect rows i ≥ j0 (rows i < j contribute zeros: P and dS vanish above the diagonal).
    for (int j0 = 0; j0 < T; j0 += RB) {
      int j1 = j0 + RB < T ? j0 + RB : T, jb = j1 - j0;
      gemm_st(product(true, false, jb, HS, T - j0, 1.0f, Pb + (long)j0 * T + j0, T, dO + j0 * ldo, ldo,
                      dV + j0 * ld, ld));
      gemm_st(product(true, false, jb, HS, T - j0, 1.0f, dS + (long)j0 * T + j0, T, Q + j0 * ld, ld,
                      dK + j0 * ld, ld));
    }
  });
}

}  // namespace ligo
