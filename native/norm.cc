// LayerNorm forward/backward (llm.c layernorm_forward/backward, with per-thread dg/db partial sums).
//   forward: mean = Σx/C, rstd = 1/√(Σ(x−mean)²/C + eps), y = (x−mean)·rstd·g + b
//   backward: x̂ = (x−mean)·rstd, d = dy·g; dx = rstd·(d − mean(d) − x̂·mean(d·x̂)); dg = Σ dy·x̂; db = Σ dy
#include <cmath>
#include <cstring>
#include <vector>

#include "common.h"
#include "kernels.h"
#include "threadpool.h"

namespace ligo {
namespace {

void ln_fwd_rows_ref(const float* x, const float* g, const float* b, long r0, long r1, int C, float eps, float* y,
                     float* mean, float* rstd) {
  for (long i = r0; i < r1; i++) {
    const float* xi = x + i * C;
    float* yi = y + i * C;
    float m = 0;
    for (int c = 0; c < C; c++) m += xi[c];
    m /= C;
    float var = 0;
    for (int c = 0; c < C; c++) var += (xi[c] - m) * (xi[c] - m);
    float rs = 1.0f / std::sqrt(var / C + eps);
    for (int c = 0; c < C; c++) yi[c] = (xi[c] - m) * rs * g[c] + b[c];
    mean[i] = m;
    rstd[i] = rs;
  }
}

void ln_bwd_rows_ref(const float* dy, const float* x, const float* g, const float* mean, const float* rstd, long r0,
                     long r1, int C, float* dx, float* dg, float* db) {
  for (long i = r0; i < r1; i++) {
    const float *dyi = dy + i * C, *xi = x + i * C;
    float m = mean[i], rs = rstd[i];
    float sd = 0, sdx = 0;
    for (int c = 0; c < C; c++) {
      float xh = (xi[c] - m) * rs, d = dyi[c] * g[c];
      sd += d;
      sdx += d * xh;
    }
    sd /= C;
    sdx /= C;
    for (int c = 0; c < C; c++) {
      float xh = (xi[c] - m) * rs, d = dyi[c] * g[c];
      dg[c] += dyi[c] * xh;
      db[c] += dyi[c];
      dx[i * C + c] = rs * (d - sd - xh * sdx);
    }
  }
}

#if LIGO_X86
LIGO_AVX512 void ln_fwd_rows_512(const float* x, const float* g, const float* b, long r0, long r1, int C, float eps,
                                 float* y, float* mean, float* rstd) {
  for (long i = r0; i < r1; i++) {
    const float* xi = x + i * C;
    float* yi = y + i * C;
    __m512 s = _mm512_setzero_ps();
    for (int c = 0; c < C; c += 16) s = _mm512_add_ps(s, _mm512_maskz_loadu_ps(lanes(C - c), xi + c));
    float m = _mm512_reduce_add_ps(s) / C;
    __m512 vm = _mm512_set1_ps(m), v = _mm512_setzero_ps();
    for (int c = 0; c < C; c += 16) {
      __mmask16 k = lanes(C - c);
      __m512 d = _mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, xi + c), vm);
      v = _mm512_fmadd_ps(d, d, v);
    }
    float rs = 1.0f / std::sqrt(_mm512_reduce_add_ps(v) / C + eps);
    __m512 vr = _mm512_set1_ps(rs);
    for (int c = 0; c < C; c += 16) {
      __mmask16 k = lanes(C - c);
      __m512 xh = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, xi + c), vm), vr);
      __m512 o = _mm512_fmadd_ps(xh, _mm512_maskz_loadu_ps(k, g + c), _mm512_maskz_loadu_ps(k, b + c));
      _mm512_mask_storeu_ps(yi + c, k, o);
    }
    mean[i] = m;
    rstd[i] = rs;
  }
}

LIGO_AVX512 void ln_bwd_rows_512(const float* dy, const float* x, const float* g, const float* mean,
                                 const float* rstd, long r0, long r1, int C, float* dx, float* dg, float* db) {
  for (long i = r0; i < r1; i++) {
    const float *dyi = dy + i * C, *xi = x + i * C;
    __m512 vm = _mm512_set1_ps(mean[i]), vr = _mm512_set1_ps(rstd[i]);
    __m512 sd = _mm512_setzero_ps(), sdx = _mm512_setzero_ps();
    for (int c = 0; c < C; c += 16) {
      __mmask16 k = lanes(C - c);
      __m512 xh = _mm512_mul_ps(_mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, xi + c), vm), vr);
      __m512 d = _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dyi + c), _mm512_maskz_loadu_ps(k, g + c));
      sd = _mm512_add_ps(sd, d);
      sdx = _mm512_fmadd_ps(d, xh, sdx);
    }
    __m512 msd = _mm512_set1_ps(_mm512_reduce_add_ps(sd) / C), msdx = _mm512_set1_ps(_mm512_reduce_add_ps(sdx) / C);
    for (int c = 0; c < C; c += 16) {
      __mmask16 k = lanes(C - c);
      __m512 xh = _mm512_mul_ps(_mm512_maskz_sub_ps(k, _mm512_maskz_loadu_ps(k, xi + c), vm), vr);
      __m512 dyv = _mm512_maskz_loadu_ps(k, dyi + c);
      __m512 d = _mm512_mul_ps(dyv, _mm512_maskz_loadu_ps(k, g + c));
      _mm512_mask_storeu_ps(dg + c, k, _mm512_fmadd_ps(dyv, xh, _mm512_maskz_loadu_ps(k, dg + c)));
      _mm512_mask_storeu_ps(db + c, k, _mm512_add_ps(dyv, _mm512_maskz_loadu_ps(k, db + c)));
      __m512 o = _mm512_mul_ps(vr, _mm512_sub_ps(_mm512_sub_ps(d, msd), _mm512_mul_ps(xh, msdx)));
      _mm512_mask_storeu_ps(dx + i * C + c, k, o);
    }
  }
}

LIGO_AVX2 void ln_fwd_rows_256(const float* x, const float* g, const float* b, long r0, long r1, int C, float eps,
                               float* y, float* mean, float* rstd) {
  for (long i = r0; i < r1; i++) {
    const float* xi = x + i * C;
    float* yi = y + i * C;
    __m256 s = _mm256_setzero_ps();
    for (int c = 0; c < C; c += 8) s = _mm256_add_ps(s, _mm256_maskload_ps(xi + c, lanes8(C - c)));
    float m = hsum256(s) / C;
    __m256 vm = _mm256_set1_ps(m), v = _mm256_setzero_ps();
    for (int c = 0; c < C; c += 8) {
      __m256i k = lanes8(C - c);
      __m256 d = _mm256_and_ps(_mm256_castsi256_ps(k), _mm256_sub_ps(_mm256_maskload_ps(xi + c, k), vm));
      v = _mm256_fmadd_ps(d, d, v);
    }
    float rs = 1.0f / std::sqrt(hsum256(v) / C + eps);
    __m256 vr = _mm256_set1_ps(rs);
    for (int c = 0; c < C; c += 8) {
      __m256i k = lanes8(C - c);
      __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(xi + c, k), vm), vr);
      __m256 o = _mm256_fmadd_ps(xh, _mm256_maskload_ps(g + c, k), _mm256_maskload_ps(b + c, k));
      _mm256_maskstore_ps(yi + c, k, o);
    }
    mean[i] = m;
    rstd[i] = rs;
  }
}

LIGO_AVX2 void ln_bwd_rows_256(const float* dy, const float* x, const float* g, const float* mean, const float* rstd,
                               long r0, long r1, int C, float* dx, float* dg, float* db) {
  for (long i = r0; i < r1; i++) {
    const float *dyi = dy + i * C, *xi = x + i * C;
    __m256 vm = _mm256_set1_ps(mean[i]), vr = _mm256_set1_ps(rstd[i]);
    __m256 sd = _mm256_setzero_ps(), sdx = _mm256_setzero_ps();
    for (int c = 0; c < C; c += 8) {
      __m256i k = lanes8(C - c);
      __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(xi + c, k), vm), vr);
      __m256 d = _mm256_mul_ps(_mm256_maskload_ps(dyi + c, k), _mm256_maskload_ps(g + c, k));  // 0 in masked lanes
      sd = _mm256_add_ps(sd, d);
      sdx = _mm256_fmadd_ps(d, xh, sdx);
    }
    __m256 msd = _mm256_set1_ps(hsum256(sd) / C), msdx = _mm256_set1_ps(hsum256(sdx) / C);
    for (int c = 0; c < C; c += 8) {
      __m256i k = lanes8(C - c);
      __m256 xh = _mm256_mul_ps(_mm256_sub_ps(_mm256_maskload_ps(xi + c, k), vm), vr);
      __m256 dyv = _mm256_maskload_ps(dyi + c, k);
      __m256 d = _mm256_mul_ps(dyv, _mm256_maskload_ps(g + c, k));
      _mm256_maskstore_ps(dg + c, k, _mm256_fmadd_ps(dyv, xh, _mm256_maskload_ps(dg + c, k)));
      _mm256_maskstore_ps(db + c, k, _mm256_add_ps(dyv, _mm256_maskload_ps(db + c, k)));
      __m256 o = _mm256_mul_ps(vr, _mm256_sub_ps(_mm256_sub_ps(d, msd), _mm256_mul_ps(xh, msdx)));
      _mm256_maskstore_ps(dx + i * C + c, k, o);
    }
  }
}
#endif

bool fast() { return active_isa() == Isa::Avx512; }
bool avx2() { return active_isa() == Isa::Avx2; }

}  // namespace

void layernorm_forward(const float* x, const float* g, const float* b, int N, int C, float eps, float* y, float* mean,
                       float* rstd) {
  parallel_range(N, 64, [&](long r0, long r1) {
#if LIGO_X86
    if (fast()) return ln_fwd_rows_512(x, g, b, r0, r1, C, eps, y, mean, rstd);
    if (avx2()) return ln_fwd_rows_256(x, g, b, r0, r1, C, eps, y, mean, rstd);
#endif
    ln_fwd_rows_ref(x, g, b, r0, r1, C, eps, y, mean, rstd);
  });
}

void layernorm_backward(const float* dy, const float* x, const float* g, const float* mean, const float* rstd, int N,
                        int C, float* dx, float* dg, float* db) {
  const int nt = kReduceParts;
  std::vector<float> part((size_t)nt * 2 * C, 0.0f);  // per-chunk dg, db partial sums
  long per = (N + nt - 1) / nt;
  parallel_for(nt, [&](int t) {
    long r0 = t * per, r1 = r0 + per < N ? r0 + per : N;
    if (r0 >= r1) return;
    float *pg = &part[(size_t)t * 2 * C], *pb = pg + C;
#if LIGO_X86
    if (fast()) return ln_bwd_rows_512(dy, x, g, mean, rstd, r0, r1, C, dx, pg, pb);
    if (avx2()) return ln_bwd_rows_256(dy, x, g, mean, rstd, r0, r1, C, dx, pg, pb);
#endif
    ln_bwd_rows_ref(dy, x, g, mean, rstd, r0, r1, C, dx, pg, pb);
  });
  for (int c = 0; c < C; c++) {
    float sg = 0, sb = 0;
    for (int t = 0; t < nt; t++) {
      sg += part[(size_t)t * 2 * C + c];
      sb += part[(size_t)t * 2 * C + C + c];
    }
    dg[c] = sg;
    db[c] = sb;
  }
}

}  // namespace ligo
