// SGEMM with packed panels and a register-blocked microkernel (the BLIS/GotoBLAS loop structure):
//
//   for jc in N step NC:                      B block (KC×NC) packed into NR-wide micro-panels
//     for pc in K step KC:
//       pack op(B)[pc:pc+KC, jc:jc+NC]
//       for ic in M step MC:                  A block (MC×KC) packed into MR-tall micro-panels, lives in L2
//         pack op(A)[ic:ic+MC, pc:pc+KC]
//         for jr in NC step NR: for ir in MC step MR:
//           microkernel: C[MR,NR] (+)= Ap[MR,KC] · Bp[KC,NR]   (accumulators stay in registers)
//
// Microkernels: AVX-512 12×32 (24 zmm accumulators), AVX2+FMA 6×16 (12 ymm), scalar 4×8. Panels are
// zero-padded, so a kernel always runs full NR columns and stores with a column mask; the row count of an
// edge tile is a template parameter (no wasted rows). Threads split C into independent sub-blocks (rows when
// M ≥ N, else columns) or take whole batch items; each thread packs into its own buffers.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "threadpool.h"

namespace ligo {

// ---------------------------------------------------------------------------------------------------------
// Reference
void gemm_reference(const Gemm& g) {
  for (int i = 0; i < g.M; i++) {
    for (int j = 0; j < g.N; j++) {
      double acc = 0;
      for (int k = 0; k < g.K; k++) {
        float a = g.ta ? g.A[(long)k * g.lda + i] : g.A[(long)i * g.lda + k];
        float b = g.tb ? g.B[(long)j * g.ldb + k] : g.B[(long)k * g.ldb + j];
        acc += (double)a * b;
      }
      float* c = &g.C[(long)i * g.ldc + j];
      *c = (float)(g.alpha * acc + (g.beta == 0.0f ? 0.0 : (double)g.beta * *c));
    }
  }
}

namespace {

// ---------------------------------------------------------------------------------------------------------
// Packing. Ap: ceil(mc/MR) panels of [kc][MR]; Bp: ceil(nc/NR) panels of [kc][NR]; zero padded.
template <int MR>
void pack_a(const Gemm& g, int i0, int mc, int p0, int kc, float* ap) {
  for (int ir = 0; ir < mc; ir += MR) {
    int rows = std::min(MR, mc - ir);
    float* dst = ap + (long)ir * kc;
    if (g.ta) {  // A stored [K,M]: each k gives MR contiguous values
      for (int k = 0; k < kc; k++) {
        const float* src = g.A + (long)(p0 + k) * g.lda + i0 + ir;
        int r = 0;
        for (; r < rows; r++) dst[k * MR + r] = src[r];
        for (; r < MR; r++) dst[k * MR + r] = 0.0f;
      }
    } else {  // A stored [M,K]: read MR rows side by side
      int r = 0;
      for (; r < rows; r++) {
        const float* src = g.A + (long)(i0 + ir + r) * g.lda + p0;
        for (int k = 0; k < kc; k++) dst[k * MR + r] = src[k];
      }
      for (; r < MR; r++)
        for (int k = 0; k < kc; k++) dst[k * MR + r] = 0.0f;
    }
  }
}

template <int NR>
void pack_b(const Gemm& g, int j0, int nc, int p0, int kc, float* bp) {
  for (int jr = 0; jr < nc; jr += NR) {
    int cols = std::min(NR, nc - jr);
    float* dst = bp + (long)jr * kc;
    if (!g.tb) {  // B stored [K,N]: each k gives NR contiguous values
      for (int k = 0; k < kc; k++) {
        const float* src = g.B + (long)(p0 + k) * g.ldb + j0 + jr;
        int c = 0;
        for (; c < cols; c++) dst[k * NR + c] = src[c];
        for (; c < NR; c++) dst[k * NR + c] = 0.0f;
      }
    } else {  // B stored [N,K]: column j of op(B) is row j of B
      int c = 0;
      for (; c < cols; c++) {
        const float* src = g.B + (long)(j0 + jr + c) * g.ldb + p0;
        for (int k = 0; k < kc; k++) dst[k * NR + c] = src[k];
      }
      for (; c < NR; c++)
        for (int k = 0; k < kc; k++) dst[k * NR + c] = 0.0f;
    }
  }
}

#if LIGO_X86
// AVX-512 transposing pack for the tb case: 16 rows of B at a time, 16×16 transposes through a small tile.
LIGO_AVX512 void pack_b_t32(const Gemm& g, int j0, int nc, int p0, int kc, float* bp) {
  constexpr int NR = 32;
  alignas(64) float tile[16][16];
  const __m512i rows16 = _mm512_set_epi32(240, 224, 208, 192, 176, 160, 144, 128, 112, 96, 80, 64, 48, 32, 16, 0);
  for (int jr = 0; jr < nc; jr += NR) {
    int cols = std::min(NR, nc - jr);
    float* dst = bp + (long)jr * kc;
    for (int half = 0; half < 2; half++) {
      int c0 = half * 16;
      int cn = std::max(0, std::min(16, cols - c0));
      for (int k0 = 0; k0 < kc; k0 += 16) {
        int kn = std::min(16, kc - k0);
        __mmask16 km = lanes(kn);
        for (int c = 0; c < 16; c++) {
          __m512 row = c < cn ? _mm512_maskz_loadu_ps(km, g.B + (long)(j0 + jr + c0 + c) * g.ldb + p0 + k0)
                              : _mm512_setzero_ps();
          _mm512_store_ps(tile[c], row);
        }
        for (int k = 0; k < kn; k++) {
          __m512 col = _mm512_i32gather_ps(_mm512_add_epi32(rows16, _mm512_set1_epi32(k)), &tile[0][0], 4);
          _mm512_storeu_ps(dst + (long)(k0 + k) * NR + c0, col);
        }
      }
    }
  }
}
#endif

// ---------------------------------------------------------------------------------------------------------
// Microkernels: C[R rows, cols] = alpha·Ap·Bp + beta·C (beta == 0: C is not read).
using Kernel = void (*)(int kc, const float* a, const float* b, float* c, long ldc, float alpha, float beta, int cols);

template <int R, int MR, int NR>
void k_scalar(int kc, const float* a, const float* b, float* c, long ldc, float alpha, float beta, int cols) {
  float acc[R][NR] = {};
  for (int k = 0; k < kc; k++) {
    for (int r = 0; r < R; r++)
      for (int j = 0; j < NR; j++) acc[r][j] += a[r] * b[j];
    a += MR;
    b += NR;
  }
  for (int r = 0; r < R; r++)
    for (int j = 0; j < cols; j++) {
      float* p = c + r * ldc + j;
      *p = alpha * acc[r][j] + (beta == 0.0f ? 0.0f : beta * *p);
    }
}

#if LIGO_X86
template <int R>
LIGO_AVX2 void k_avx2(int kc, const float* a, const float* b, float* c, long ldc, float alpha, float beta, int cols) {
  constexpr int MR = 6;
  __m256 c0[R], c1[R];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm256_setzero_ps();
  for (int k = 0; k < kc; k++) {
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
    for (int r = 0; r < R; r++) {
      __m256 ar = _mm256_broadcast_ss(a + r);
      c0[r] = _mm256_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm256_fmadd_ps(ar, b1, c1[r]);
    }
    a += MR;
    b += 16;
  }
  // Unrolled so c0/c1 are indexed by constants only: with a runtime index here GCC keeps the accumulators in
  // memory and stores all twelve every k step (measured: 38–53 GFLOP/s at 256³–1024³ vs ~150 for OpenBLAS).
  alignas(32) float tmp[16];
#pragma GCC unroll 8
  for (int r = 0; r < R; r++) {
    float* p = c + r * ldc;
    __m256 x0 = _mm256_mul_ps(c0[r], _mm256_set1_ps(alpha)), x1 = _mm256_mul_ps(c1[r], _mm256_set1_ps(alpha));
    if (cols == 16) {
      if (beta != 0.0f) {
        x0 = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(p), x0);
        x1 = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(p + 8), x1);
      }
      _mm256_storeu_ps(p, x0);
      _mm256_storeu_ps(p + 8, x1);
    } else {
      _mm256_store_ps(tmp, x0);
      _mm256_store_ps(tmp + 8, x1);
      for (int j = 0; j < cols; j++) p[j] = tmp[j] + (beta == 0.0f ? 0.0f : beta * p[j]);
    }
  }
}

template <int R>
LIGO_AVX512 void k_avx512(int kc, const float* a, const float* b, float* c, long ldc, float alpha, float beta, int cols) {
  constexpr int MR = 12;
  __m512 c0[R], c1[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) c0[r] = c1[r] = _mm512_setzero_ps();
  for (int k = 0; k < kc; k++) {
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
      __m512 ar = _mm512_set1_ps(a[r]);
      c0[r] = _mm512_fmadd_ps(ar, b0, c0[r]);
      c1[r] = _mm512_fmadd_ps(ar, b1, c1[r]);
    }
    a += MR;
    b += 32;
  }
  __mmask16 m0 = lanes(cols), m1 = lanes(cols - 16 < 0 ? 0 : cols - 16);
  __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 16
  for (int r = 0; r < R; r++) {
    float* p = c + r * ldc;
    __m512 x0 = _mm512_mul_ps(c0[r], va), x1 = _mm512_mul_ps(c1[r], va);
    if (beta != 0.0f) {
      x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, p), x0);
      x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, p + 16), x1);
    }
    _mm512_mask_storeu_ps(p, m0, x0);
    _mm512_mask_storeu_ps(p + 16, m1, x1);
  }
}
#endif

struct Config {
  int MR, NR, MC, KC, NC;
  const Kernel* kernels;  // kernels[R-1] handles R rows
  void (*pack_bt)(const Gemm&, int, int, int, int, float*);
};

const Kernel kScalar[4] = {k_scalar<1, 4, 8>, k_scalar<2, 4, 8>, k_scalar<3, 4, 8>, k_scalar<4, 4, 8>};
#if LIGO_X86
const Kernel kAvx2[6] = {k_avx2<1>, k_avx2<2>, k_avx2<3>, k_avx2<4>, k_avx2<5>, k_avx2<6>};
const Kernel kAvx512[12] = {k_avx512<1>, k_avx512<2>, k_avx512<3>, k_avx512<4>,  k_avx512<5>,  k_avx512<6>,
                            k_avx512<7>, k_avx512<8>, k_avx512<9>, k_avx512<10>, k_avx512<11>, k_avx512<12>};
#endif

int env_int(const char* name, int dflt) {
  const char* s = std::getenv(name);
  return s && *s ? std::atoi(s) : dflt;
}

const Config& config() {
  static Config cfg = [] {
    Config c{4, 8, 128, 256, 2048, kScalar, pack_b<8>};
#if LIGO_X86
    Isa isa = active_isa();
    if (isa == Isa::Avx512) c = Config{12, 32, 144, 384, 3072, kAvx512, pack_b_t32};
    else if (isa == Isa::Avx2) c = Config{6, 16, 120, 256, 2048, kAvx2, pack_b<16>};
#endif
    // Block sizes can be overridden for tuning (bench only).
    c.MC = env_int("LIGO_GEMM_MC", c.MC) / c.MR * c.MR;
    c.KC = env_int("LIGO_GEMM_KC", c.KC);
    c.NC = env_int("LIGO_GEMM_NC", c.NC) / c.NR * c.NR;
    return c;
  }();
  return cfg;
}

struct Buffers {
  float* a = nullptr;
  float* b = nullptr;
  size_t an = 0, bn = 0;
  ~Buffers() {
    std::free(a);
    std::free(b);
  }
  static float* grow(float*& p, size_t& have, size_t need) {
    if (need > have) {
      std::free(p);
      p = static_cast<float*>(std::aligned_alloc(64, (need * sizeof(float) + 63) / 64 * 64));
      have = need;
    }
    return p;
  }
};
thread_local Buffers t_buf;

void scale_c(const Gemm& g, int m0, int m1, int n0, int n1) {
  for (int i = m0; i < m1; i++)
    for (int j = n0; j < n1; j++) {
      float* p = g.C + (long)i * g.ldc + j;
      *p = g.beta == 0.0f ? 0.0f : g.beta * *p;
    }
}

// C[m0:m1, n0:n1] on the calling thread.
void gemm_block(const Gemm& g, int m0, int m1, int n0, int n1) {
  if (m1 <= m0 || n1 <= n0) return;
  if (g.K == 0 || g.alpha == 0.0f) {
    scale_c(g, m0, m1, n0, n1);
    return;
  }
  const Config& cf = config();
  const int MR = cf.MR, NR = cf.NR;
  int KC = std::min(cf.KC, g.K);
  int NC = std::min(cf.NC, (n1 - n0 + NR - 1) / NR * NR);
  int MC = std::min(cf.MC, (m1 - m0 + MR - 1) / MR * MR);
  float* ap = Buffers::grow(t_buf.a, t_buf.an, (size_t)MC * KC);
  float* bp = Buffers::grow(t_buf.b, t_buf.bn, (size_t)NC * KC);
  for (int jc = n0; jc < n1; jc += NC) {
    int nc = std::min(NC, n1 - jc);
    for (int pc = 0; pc < g.K; pc += KC) {
      int kc = std::min(KC, g.K - pc);
      if (g.tb) cf.pack_bt(g, jc, nc, pc, kc, bp);
      else if (NR == 32) pack_b<32>(g, jc, nc, pc, kc, bp);
      else if (NR == 16) pack_b<16>(g, jc, nc, pc, kc, bp);
      else pack_b<8>(g, jc, nc, pc, kc, bp);
      float beta = pc == 0 ? g.beta : 1.0f;
      for (int ic = m0; ic < m1; ic += MC) {
        int mc = std::min(MC, m1 - ic);
        if (MR == 12) pack_a<12>(g, ic, mc, pc, kc, ap);
        else if (MR == 6) pack_a<6>(g, ic, mc, pc, kc, ap);
        else pack_a<4>(g, ic, mc, pc, kc, ap);
        for (int jr = 0; jr < nc; jr += NR) {
          int cols = std::min(NR, nc - jr);
          const float* b = bp + (long)jr * kc;
          for (int ir = 0; ir < mc; ir += MR) {
            int rows = std::min(MR, mc - ir);
            float* c = g.C + (long)(ic + ir) * g.ldc + jc + jr;
            cf.kernels[rows - 1](kc, ap + (long)ir * kc, b, c, g.ldc, g.alpha, beta, cols);
          }
        }
      }
    }
  }
}

}  // namespace

void gemm_st(const Gemm& g) { gemm_block(g, 0, g.M, 0, g.N); }

void gemm_batched(const Gemm& g0, int batch, long strideA, long strideB, long strideC) {
  if (batch <= 0 || g0.M <= 0 || g0.N <= 0) return;
  const Config& cf = config();
  const int nt = num_threads();
  const double flops = 2.0 * g0.M * g0.N * (double)g0.K;
  auto item = [&](int b) {
    Gemm g = g0;
    g.A += b * strideA;
    g.B += b * strideB;
    g.C += b * strideC;
    return g;
  };
  // Small work: one thread. Many items: one item per task. Else split each item's C into nt blocks.
  if (nt == 1 || flops * batch < 2.0e5) {
    for (int b = 0; b < batch; b++) gemm_st(item(b));
    return;
  }
  if (batch >= 2 * nt || (batch >= nt && batch % nt == 0)) {
    parallel_for(batch, [&](int b) { gemm_st(item(b)); });
    return;
  }
  bool split_rows = g0.M >= g0.N;
  int extent = split_rows ? g0.M : g0.N;
  int unit = split_rows ? cf.MR : cf.NR;
  int units = (extent + unit - 1) / unit;
  int parts = std::min(nt, units);
  int tasks = batch * parts;
  parallel_for(tasks, [&](int t) {
    int b = t / parts, p = t % parts;
    int u0 = (int)((long)units * p / parts), u1 = (int)((long)units * (p + 1) / parts);
    int lo = std::min(extent, u0 * unit), hi = std::min(extent, u1 * unit);
    Gemm g = item(b);
    if (split_rows) gemm_block(g, lo, hi, 0, g.N);
    else gemm_block(g, 0, g.M, lo, hi);
  });
}

}  // namespace ligo
