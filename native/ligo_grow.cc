// LiGO materialisation of one grown tensor, forward and closed-form backward (src/ligo/materialize.ts; the
// operator's structure in src/ligo/operator.ts). A tensor is viewed as a matrix [r, c] (a vector as [r, 1]):
//
//   X0 = Σ_j c[j]·W_j                      [r1, c1]  depth mix over the L source blocks (L = 0: X0 = W itself)
//   X1 = N ⊙ [T_r·X0 ; M_r·X0]            [r2, c1]  rows expansion (T_r absent: identity; N absent: 1)
//   Y  = f·[X1·T_cᵀ , X1·M_cᵀ]            [r2, c2]  columns expansion, then the µP compensation factor f
//
// Backward from G = dL/dY [r2, c2] (G = [G_t | G_b] by columns, c1 | c2 − c1):
//   dM_c += f·G_bᵀ·X1        dT_c += f·G_tᵀ·X1        G1 = f·(G_t·T_c + G_b·M_c)         [r2, c1]
//   G1 ← N ⊙ G1 (rows)       dM_r += G1[r1:]·X0ᵀ       dT_r += G1[:r1]·X0ᵀ
//   G0 = T_rᵀ·G1[:r1] + M_rᵀ·G1[r1:]  [r1, c1]        dc[j] += ⟨G0, W_j⟩
// X0 and X1 are recomputed in the backward (nothing is kept between the passes). Every product is an SGEMM on
// sub-blocks (gemm.cc, its thread pool); the depth mix and the dot products stream the source blocks once.
//
// The forward performs the same float operations, in the same order, as the tfjs path through growTensor on the
// native backend (the same SGEMM shapes; the depth mix is the FMA chain of the [1,L]·[L,n] product; N and f are
// separate multiplies), so it reproduces that path bit for bit.
#include <algorithm>
#include <cstring>
#include <memory>

#include "common.h"
#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace ligo {
namespace {

using Buf = std::unique_ptr<float[]>;
Buf alloc(long n) { return Buf(new float[n > 0 ? n : 1]); }

// out[i] = Σ_j c[j]·src[j][i] over [i0, i1), accumulated in j order from 0 (as SGEMM's microkernels do).
void mix_scalar(const float* const* src, const float* c, int L, float* out, long i0, long i1) {
  for (long i = i0; i < i1; i++) {
    float acc = 0.0f;
    for (int j = 0; j < L; j++) acc += c[j] * src[j][i];
    out[i] = acc;
  }
}

#if LIGO_X86
LIGO_AVX512 void mix_avx512(const float* const* src, const float* c, int L, float* out, long i0, long i1) {
  long i = i0;
  for (; i + 16 <= i1; i += 16) {
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < L; j++) acc = _mm512_fmadd_ps(_mm512_set1_ps(c[j]), _mm512_loadu_ps(src[j] + i), acc);
    _mm512_storeu_ps(out + i, acc);
  }
  if (i < i1) {
    __mmask16 m = lanes((int)(i1 - i));
    __m512 acc = _mm512_setzero_ps();
    for (int j = 0; j < L; j++) acc = _mm512_fmadd_ps(_mm512_set1_ps(c[j]), _mm512_maskz_loadu_ps(m, src[j] + i), acc);
    _mm512_mask_storeu_ps(out + i, m, acc);
  }
}

LIGO_AVX2 void mix_avx2(const float* const* src, const float* c, int L, float* out, long i0, long i1) {
  long i = i0;
  for (; i + 8 <= i1; i += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int j = 0; j < L; j++) acc = _mm256_fmadd_ps(_mm256_set1_ps(c[j]), _mm256_loadu_ps(src[j] + i), acc);
    _mm256_storeu_ps(out + i, acc);
  }
  for (; i < i1; i++) {  // the same fused multiply-add per element
    float acc = 0.0f;
    for (int j = 0; j < L; j++) acc = __builtin_fmaf(c[j], src[j][i], acc);
    out[i] = acc;
  }
}
#endif

void depth_mix(const float* const* src, const float* c, int L, long n, float* out) {
  parallel_range(n, 1 << 15, [&](long b, long e) {
#if LIGO_X86
    Isa isa = active_isa();
    if (isa == Isa::Avx512) return mix_avx512(src, c, L, out, b, e);
    if (isa == Isa::Avx2) return mix_avx2(src, c, L, out, b, e);
#endif
    mix_scalar(src, c, L, out, b, e);
  });
}

// Σ_i g[i]·w[i] over [i0, i1) in double.
double dot_scalar(const float* g, const float* w, long i0, long i1) {
  double acc = 0;
  for (long i = i0; i < i1; i++) acc += (double)g[i] * (double)w[i];
  return acc;
}

#if LIGO_X86
LIGO_AVX512 double dot_avx512(const float* g, const float* w, long i0, long i1) {
  __m512d a0 = _mm512_setzero_pd(), a1 = _mm512_setzero_pd();
  long i = i0;
  for (; i + 16 <= i1; i += 16) {
    __m512 x = _mm512_loadu_ps(g + i), y = _mm512_loadu_ps(w + i);
    a0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(x)), _mm512_cvtps_pd(_mm512_castps512_ps256(y)), a0);
    a1 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)), _mm512_cvtps_pd(_mm512_extractf32x8_ps(y, 1)), a1);
  }
  double acc = _mm512_reduce_add_pd(_mm512_add_pd(a0, a1));
  for (; i < i1; i++) acc += (double)g[i] * (double)w[i];
  return acc;
}
#endif

// dc[j] += ⟨g, src[j]⟩ for every j: fixed parts (thread-count independent), each one pass over g's part.
void depth_dots(const float* g, const float* const* src, int L, long n, float* dc) {
  constexpr int P = kReduceParts;
  constexpr long kBlock = 4096;  // g's block stays in L1 while the L source blocks stream past it
  double part[P][64] = {};
  double* parts = &part[0][0];
  std::unique_ptr<double[]> big;
  if (L > 64) {
    big.reset(new double[(size_t)P * L]());
    parts = big.get();
  }
  const long stride = L > 64 ? L : 64;
  parallel_for(P, [&](int p) {
    long b = n * p / P, e = n * (p + 1) / P;
    double* acc = parts + p * stride;
    for (long i0 = b; i0 < e; i0 += kBlock) {
      long i1 = std::min(e, i0 + kBlock);
      for (int j = 0; j < L; j++) {
#if LIGO_X86
        if (active_isa() == Isa::Avx512) {
          acc[j] += dot_avx512(g, src[j], i0, i1);
          continue;
        }
#endif
        acc[j] += dot_scalar(g, src[j], i0, i1);
      }
    }
  });
  for (int j = 0; j < L; j++) {
    double s = 0;
    for (int p = 0; p < P; p++) s += parts[p * stride + j];
    dc[j] += (float)s;
  }
}

// x[i] *= s over n elements (threaded).
void scale(float* x, long n, float s) {
  parallel_range(n, 1 << 16, [&](long b, long e) {
    for (long i = b; i < e; i++) x[i] *= s;
  });
}

// Rows [r0, r0+rows) of x [·, cols]: row r scaled by N[r].
void scale_rows(float* x, const float* N, long r0, long rows, long cols) {
  parallel_range(rows, std::max(1L, (1L << 16) / std::max(1L, cols)), [&](long b, long e) {
    for (long r = b; r < e; r++) {
      float v = N[r0 + r];
      float* p = x + (r0 + r) * cols;
      for (long k = 0; k < cols; k++) p[k] *= v;
    }
  });
}

// dst [rows, dcols] (ld ldd) ← src [rows, scols] (ld lds): the first min(dcols, scols) columns, times s.
void copy_block(float* dst, long ldd, const float* src, long lds, long rows, long cols, float s = 1.0f) {
  parallel_range(rows, std::max(1L, (1L << 16) / std::max(1L, cols)), [&](long b, long e) {
    for (long r = b; r < e; r++) {
      if (s == 1.0f) std::memcpy(dst + r * ldd, src + r * lds, sizeof(float) * cols);
      else
        for (long k = 0; k < cols; k++) dst[r * ldd + k] = s * src[r * lds + k];
    }
  });
}

// C [M,N] (ldc) = alpha·op(A)·op(B) + beta·C; A and B stored with leading dimensions lda, ldb.
void mm(float* C, long ldc, const float* A, long lda, bool ta, const float* B, long ldb, bool tb, long M, long N,
        long K, float alpha, float beta) {
  if (M == 0 || N == 0) return;
  gemm_batched(gemm_of(ta, tb, (int)M, (int)N, (int)K, alpha, A, lda, B, ldb, beta, C, ldc), 1, 0, 0, 0);
}

// X0: the depth mix into `buf` (allocated), or the global tensor itself.
const float* mixed(const GrowSpec& s, Buf& buf) {
  if (s.L == 0) return s.src[0];
  buf = alloc(s.r1 * s.c1);
  depth_mix(s.src, s.c, s.L, s.r1 * s.c1, buf.get());
  return buf.get();
}

// X1 = N ⊙ [T·X0 ; M·X0] into dst [r2, c1] (dst ≠ X0).
void expand_rows(const GrowSpec& s, const float* X0, float* dst) {
  const long r1 = s.r1, c1 = s.c1, er = s.r2 - s.r1;
  if (s.rowT) mm(dst, c1, s.rowT, r1, false, X0, c1, false, r1, c1, r1, 1.0f, 0.0f);
  else copy_block(dst, c1, X0, c1, r1, c1);
  mm(dst + r1 * c1, c1, s.rowM, r1, false, X0, c1, false, er, c1, r1, 1.0f, 0.0f);
  if (s.rowN) scale_rows(dst, s.rowN, 0, s.r2, c1);
}

}  // namespace

void ligo_grow_forward(const GrowSpec& s, float* out) {
  const long r1 = s.r1, c1 = s.c1, r2 = s.r2, c2 = s.c2;
  const bool rows = r2 > r1, cols = c2 > c1;
  Buf b0, b1;
  const float* X0;
  if (s.L > 0 && !rows && !cols) {
    depth_mix(s.src, s.c, s.L, r1 * c1, out);  // nothing grows: the mix is the tensor
    X0 = out;
  } else {
    X0 = mixed(s, b0);
  }
  const float* X1 = X0;
  if (rows) {
    float* dst = cols ? (b1 = alloc(r2 * c1)).get() : out;
    expand_rows(s, X0, dst);
    X1 = dst;
  }
  b0.reset();
  if (cols) {
    const long ec = c2 - c1;
    if (s.colT) mm(out, c2, X1, c1, false, s.colT, c1, true, r2, c1, c1, 1.0f, 0.0f);
    else copy_block(out, c2, X1, c1, r2, c1);
    mm(out + c1, c2, X1, c1, false, s.colM, c1, true, r2, ec, c1, 1.0f, 0.0f);
  } else if (X1 != out) {
    copy_block(out, c1, X1, c1, r2, c1);
  }
  if (s.f != 1.0f) scale(out, r2 * c2, s.f);
}

void ligo_grow_backward(const GrowSpec& s, const float* G, const GrowGrads& d) {
  const long r1 = s.r1, c1 = s.c1, r2 = s.r2, c2 = s.c2;
  const bool rows = r2 > r1, cols = c2 > c1;
  const bool wantDepth = d.dc && s.L > 0;
  const bool wantRows = rows && (d.dRowM || d.dRowT);
  const bool wantCols = cols && (d.dColM || d.dColT);
  if (!wantDepth && !wantRows && !wantCols) return;
  const float f = s.f;

  Buf b0, b1, bg1, bg0;
  const float* X0 = mixed(s, b0);  // [r1, c1]

  // Columns stage: G [r2, c2] → G1 [r2, c1].
  const float* G1 = G;
  if (cols) {
    const long ec = c2 - c1;
    if (wantCols) {
      const float* X1 = X0;
      if (rows) {
        b1 = alloc(r2 * c1);
        expand_rows(s, X0, b1.get());
        X1 = b1.get();
      }
      if (d.dColM) mm(d.dColM, c1, G + c1, c2, true, X1, c1, false, ec, c1, r2, f, 1.0f);  // G_bᵀ·X1
      if (d.dColT) mm(d.dColT, c1, G, c2, true, X1, c1, false, c1, c1, r2, f, 1.0f);       // G_tᵀ·X1
      b1.reset();
    }
    if (wantRows || wantDepth) {
      bg1 = alloc(r2 * c1);
      if (s.colT) mm(bg1.get(), c1, G, c2, false, s.colT, c1, false, r2, c1, c1, f, 0.0f);  // G_t·T_c
      else copy_block(bg1.get(), c1, G, c2, r2, c1, f);
      mm(bg1.get(), c1, G + c1, c2, false, s.colM, c1, false, r2, c1, ec, f, 1.0f);  // + G_b·M_c
      G1 = bg1.get();
    }
  } else if ((wantRows || wantDepth) && (f != 1.0f || (rows && s.rowN))) {
    bg1 = alloc(r2 * c1);  // G is the caller's: scale a copy
    copy_block(bg1.get(), c1, G, c1, r2, c1, f);
    G1 = bg1.get();
  }
  if (!wantRows && !wantDepth) return;

  // Rows stage: G1 [r2, c1] → G0 [r1, c1].
  const float* G0 = G1;
  if (rows) {
    const long er = r2 - r1;
    if (s.rowN) scale_rows(bg1.get(), s.rowN, 0, r2, c1);  // G1 is our own buffer here
    if (d.dRowM) mm(d.dRowM, r1, G1 + r1 * c1, c1, false, X0, c1, true, er, r1, c1, 1.0f, 1.0f);  // G1_b·X0ᵀ
    if (d.dRowT) mm(d.dRowT, r1, G1, c1, false, X0, c1, true, r1, r1, c1, 1.0f, 1.0f);            // G1_t·X0ᵀ
    if (wantDepth) {
      bg0 = alloc(r1 * c1);
      if (s.rowT) mm(bg0.get(), c1, s.rowT, r1, true, G1, c1, false, r1, c1, r1, 1.0f, 0.0f);  // T_rᵀ·G1_t
      else copy_block(bg0.get(), c1, G1, c1, r1, c1);
      mm(bg0.get(), c1, s.rowM, r1, true, G1 + r1 * c1, c1, false, r1, c1, er, 1.0f, 1.0f);  // + M_rᵀ·G1_b
      G0 = bg0.get();
    }
  }
  bg1.reset();
  b0.reset();
  if (wantDepth) depth_dots(G0, s.src, s.L, r1 * c1, d.dc);
}

namespace {
// A separate product and sum (never a fused multiply-add, which would round once instead of twice).
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
void accumulate_range(float* acc, const float* g, long b, long e, double scale) {
  for (long i = b; i < e; i++) {
    double p = scale * (double)g[i];
    acc[i] = (float)((double)acc[i] + p);
  }
}
}  // namespace

// acc[i] = float(acc[i] + scale·g[i]), evaluated in double: exactly JavaScript's `acc[i] += scale * g[i]` on
// Float32Arrays.
void accumulate_scaled(float* acc, const float* g, long n, double scale) {
  parallel_range(n, 1 << 16, [&](long b, long e) { accumulate_range(acc, g, b, e, scale); });
}

}  // namespace ligo
