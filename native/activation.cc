// GELU, tanh approximation (GPT-2 gelu_new):
//   y  = 0.5·x·(1 + tanh(u)),  u = s·(x + 0.044715·x³),  s = √(2/π)
//   y' = 0.5·(1 + tanh(u)) + 0.5·x·(1 − tanh²(u))·s·(1 + 3·0.044715·x²)
#include <cmath>

#include "common.h"
#include "kernels.h"
#include "threadpool.h"

namespace ligo {
namespace {

constexpr float kS = 0.7978845608028654f, kA = 0.044715f;

void gelu_fwd_ref(const float* x, long i0, long i1, float* y) {
  for (long i = i0; i < i1; i++) {
    float v = x[i];
    y[i] = 0.5f * v * (1.0f + std::tanh(kS * (v + kA * v * v * v)));
  }
}

void gelu_bwd_ref(const float* x, const float* dy, long i0, long i1, float* dx) {
  for (long i = i0; i < i1; i++) {
    float v = x[i], t = std::tanh(kS * (v + kA * v * v * v));
    dx[i] = dy[i] * (0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * kS * (1.0f + 3.0f * kA * v * v));
  }
}

#if LIGO_X86
LIGO_AVX512 void gelu_fwd_512(const float* x, long i0, long i1, float* y) {
  const __m512 s = _mm512_set1_ps(kS), a = _mm512_set1_ps(kA), half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  for (long i = i0; i < i1; i += 16) {
    __mmask16 k = lanes((int)(i1 - i < 16 ? i1 - i : 16));
    __m512 v = _mm512_maskz_loadu_ps(k, x + i);
    __m512 u = _mm512_mul_ps(s, _mm512_fmadd_ps(_mm512_mul_ps(a, v), _mm512_mul_ps(v, v), v));
    __m512 t = tanh512(u);
    _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, t)));
  }
}

LIGO_AVX512 void gelu_bwd_512(const float* x, const float* dy, long i0, long i1, float* dx) {
  const __m512 s = _mm512_set1_ps(kS), a = _mm512_set1_ps(kA), a3 = _mm512_set1_ps(3.0f * kA);
  const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  for (long i = i0; i < i1; i += 16) {
    __mmask16 k = lanes((int)(i1 - i < 16 ? i1 - i : 16));
    __m512 v = _mm512_maskz_loadu_ps(k, x + i);
    __m512 v2 = _mm512_mul_ps(v, v);
    __m512 u = _mm512_mul_ps(s, _mm512_fmadd_ps(_mm512_mul_ps(a, v), v2, v));
    __m512 t = tanh512(u);
    __m512 left = _mm512_mul_ps(half, _mm512_add_ps(one, t));
    __m512 sech2 = _mm512_fnmadd_ps(t, t, one);
    __m512 right = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(half, v), sech2), _mm512_mul_ps(s, _mm512_fmadd_ps(a3, v2, one)));
    _mm512_mask_storeu_ps(dx + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, dy + i), _mm512_add_ps(left, right)));
  }
}

LIGO_AVX2 void gelu_fwd_256(const float* x, long i0, long i1, float* y) {
  const __m256 s = _mm256_set1_ps(kS), a = _mm256_set1_ps(kA), half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  for (long i = i0; i < i1; i += 8) {
    __m256i k = lanes8((int)(i1 - i < 8 ? i1 - i : 8));
    __m256 v = _mm256_maskload_ps(x + i, k);
    __m256 u = _mm256_mul_ps(s, _mm256_fmadd_ps(_mm256_mul_ps(a, v), _mm256_mul_ps(v, v), v));
    __m256 t = tanh256(u);
    _mm256_maskstore_ps(y + i, k, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, t)));
  }
}

LIGO_AVX2 void gelu_bwd_256(const float* x, const float* dy, long i0, long i1, float* dx) {
  const __m256 s = _mm256_set1_ps(kS), a = _mm256_set1_ps(kA), a3 = _mm256_set1_ps(3.0f * kA);
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  for (long i = i0; i < i1; i += 8) {
    __m256i k = lanes8((int)(i1 - i < 8 ? i1 - i : 8));
    __m256 v = _mm256_maskload_ps(x + i, k);
    __m256 v2 = _mm256_mul_ps(v, v);
    __m256 u = _mm256_mul_ps(s, _mm256_fmadd_ps(_mm256_mul_ps(a, v), v2, v));
    __m256 t = tanh256(u);
    __m256 left = _mm256_mul_ps(half, _mm256_add_ps(one, t));
    __m256 sech2 = _mm256_fnmadd_ps(t, t, one);
    __m256 right = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(half, v), sech2), _mm256_mul_ps(s, _mm256_fmadd_ps(a3, v2, one)));
    _mm256_maskstore_ps(dx + i, k, _mm256_mul_ps(_mm256_maskload_ps(dy + i, k), _mm256_add_ps(left, right)));
  }
}
#endif

}  // namespace

void gelu_forward(const float* x, long n, float* y) {
  parallel_range(n, 16384, [&](long i0, long i1) {
#if LIGO_X86
    if (active_isa() == Isa::Avx512) return gelu_fwd_512(x, i0, i1, y);
    if (active_isa() == Isa::Avx2) return gelu_fwd_256(x, i0, i1, y);
#endif
    gelu_fwd_ref(x, i0, i1, y);
  });
}

void gelu_backward(const float* x, const float* dy, long n, float* dx) {
  parallel_range(n, 16384, [&](long i0, long i1) {
#if LIGO_X86
    if (active_isa() == Isa::Avx512) return gelu_bwd_512(x, dy, i0, i1, dx);
    if (active_isa() == Isa::Avx2) return gelu_bwd_256(x, dy, i0, i1, dx);
#endif
    gelu_bwd_ref(x, dy, i0, i1, dx);
  });
}

}  // namespace ligo
