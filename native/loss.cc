// Cross-entropy, mean over rows: loss = (1/N)·Σ_i (lse_i − logits[i, t_i]), lse_i = log Σ_j exp(logits[i, j]).
// backward: dlogits[i, j] = dloss/N · (exp(logits[i, j] − lse_i) − [j = t_i]).
// A row holding a NaN or ±Inf logit gets lse NaN, so the loss is NaN as on the tfjs reference path (whose one-hot
// product turns any non-finite logit into NaN): a corrupted model never evaluates as healthy.
#include <cmath>
#include <vector>

#include "common.h"
#include "kernels.h"
#include "threadpool.h"

namespace ligo {
namespace {

float row_lse_ref(const float* x, int V) {
  float mx = x[0];
  for (int j = 0; j < V; j++) {
    if (!std::isfinite(x[j])) return NAN;
    mx = x[j] > mx ? x[j] : mx;
  }
  double s = 0;
  for (int j = 0; j < V; j++) s += std::exp((double)x[j] - mx);
  return mx + (float)std::log(s);
}

void row_grad_ref(const float* x, float lse, int t, int V, float k, float* d) {
  for (int j = 0; j < V; j++) d[j] = k * (std::exp(x[j] - lse) - (j == t ? 1.0f : 0.0f));
}

#if LIGO_X86
LIGO_AVX512 float row_lse_512(const float* x, int V) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  __mmask16 bad = 0;
  for (int j = 0; j < V; j += 16) {
    __mmask16 k = lanes(V - j);
    __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, x + j);
    mx = _mm512_max_ps(mx, v);
    bad |= _mm512_mask_cmp_ps_mask(k, _mm512_sub_ps(v, v), _mm512_setzero_ps(), _CMP_UNORD_Q);  // v − v is NaN for NaN, ±Inf
  }
  if (bad) return NAN;
  float m = _mm512_reduce_max_ps(mx);
  __m512 vm = _mm512_set1_ps(m), s = _mm512_setzero_ps();
  for (int j = 0; j < V; j += 16) {
    __mmask16 k = lanes(V - j);
    s = _mm512_add_ps(s, _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm))));
  }
  return m + std::log(_mm512_reduce_add_ps(s));
}

LIGO_AVX512 void row_grad_512(const float* x, float lse, int t, int V, float kk, float* d) {
  __m512 vl = _mm512_set1_ps(lse), vk = _mm512_set1_ps(kk);
  for (int j = 0; j < V; j += 16) {
    __mmask16 k = lanes(V - j);
    __m512 p = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vl));
    _mm512_mask_storeu_ps(d + j, k, _mm512_mul_ps(vk, p));
  }
  d[t] -= kk;
}

LIGO_AVX2 float row_lse_256(const float* x, int V) {
  __m256 mx = _mm256_set1_ps(-INFINITY);
  int bad = 0;
  for (int j = 0; j < V; j += 8) {
    __m256i k = lanes8(V - j);
    __m256 v = _mm256_maskload_ps(x + j, k);  // 0 in the lanes past V
    mx = _mm256_max_ps(mx, _mm256_blendv_ps(mx, v, _mm256_castsi256_ps(k)));
    bad |= _mm256_movemask_ps(_mm256_cmp_ps(_mm256_sub_ps(v, v), _mm256_setzero_ps(), _CMP_UNORD_Q));
  }
  if (bad) return NAN;
  float m = hmax256(mx);
  __m256 vm = _mm256_set1_ps(m), s = _mm256_setzero_ps();
  for (int j = 0; j < V; j += 8) {
    __m256i k = lanes8(V - j);
    s = _mm256_add_ps(s, _mm256_and_ps(_mm256_castsi256_ps(k), exp256(_mm256_sub_ps(_mm256_maskload_ps(x + j, k), vm))));
  }
  return m + std::log(hsum256(s));
}

LIGO_AVX2 void row_grad_256(const float* x, float lse, int t, int V, float kk, float* d) {
  __m256 vl = _mm256_set1_ps(lse), vk = _mm256_set1_ps(kk);
  for (int j = 0; j < V; j += 8) {
    __m256i k = lanes8(V - j);
    __m256 p = exp256(_mm256_sub_ps(_mm256_maskload_ps(x + j, k), vl));
    _mm256_maskstore_ps(d + j, k, _mm256_mul_ps(vk, p));
  }
  d[t] -= kk;
}
#endif

bool fast() { return active_isa() == Isa::Avx512; }
bool avx2() { return active_isa() == Isa::Avx2; }

}  // namespace

double crossentropy_forward(const float* logits, const int32_t* targets, int N, int V, float* lse) {
  const int nt = kReduceParts;
  std::vector<double> part(nt, 0.0);
  long per = (N + nt - 1) / nt;
  parallel_for(nt, [&](int t) {
    double acc = 0;
    for (long i = t * per; i < N && i < (t + 1) * per; i++) {
      const float* x = logits + i * (long)V;
#if LIGO_X86
      float l = fast() ? row_lse_512(x, V) : avx2() ? row_lse_256(x, V) : row_lse_ref(x, V);
#else
      float l = row_lse_ref(x, V);
#endif
      lse[i] = l;
      acc += (double)l - x[targets[i]];
    }
    part[t] = acc;
  });
  double s = 0;
  for (double p : part) s += p;
  return N > 0 ? s / N : 0.0;
}

void crossentropy_backward(const float* logits, const int32_t* targets, const float* lse, int N, int V, float dloss,
                           float* dlogits) {
  float k = N > 0 ? dloss / N : 0.0f;
  parallel_range(N, 32, [&](long r0, long r1) {
    for (long i = r0; i < r1; i++) {
#if LIGO_X86
      if (fast()) {
        row_grad_512(logits + i * (long)V, lse[i], targets[i], V, k, dlogits + i * (long)V);
        continue;
      }
      if (avx2()) {
        row_grad_256(logits + i * (long)V, lse[i], targets[i], V, k, dlogits + i * (long)V);
        continue;
      }
#endif
      row_grad_ref(logits + i * (long)V, lse[i], targets[i], V, k, dlogits + i * (long)V);
    }
  });
}

}  // namespace ligo
