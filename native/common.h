// Shared helpers for the ligo native kernels: ISA dispatch macros, CPU feature detection, vector exp.
//
// The addon is compiled for baseline x86-64 (no -march=native); fast paths carry a per-function
// target attribute and are chosen at run time from the CPU's features (AVX-512 → AVX2+FMA → scalar).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cmath>

#if defined(__x86_64__) || defined(__i386__)
#define LIGO_X86 1
#include <immintrin.h>
#define LIGO_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define LIGO_AVX2 __attribute__((target("avx2,fma")))
#else
#define LIGO_X86 0
#define LIGO_AVX512
#define LIGO_AVX2
#endif

namespace ligo {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// The ISA the kernels use: the best the CPU supports, capped by LIGO_ISA=scalar|avx2|avx512 (for tests).
Isa active_isa();
const char* isa_name(Isa isa);

#if LIGO_X86
// e^x for 16 lanes, Cephes-style: x = n·ln2 + r, e^r by a degree-6 polynomial, 2^n by scalef. ~1 ulp.
LIGO_AVX512 static inline __m512 exp512(__m512 x) {
  // Clamp with x as the second operand: max/min return it when it is NaN, so NaN propagates (never a clamp bound).
  x = _mm512_min_ps(_mm512_set1_ps(88.7f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
  __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500E-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
  __m512 r2 = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_scalef_ps(p, n);
}

// tanh(u) = 1 − 2/(e^{2u}+1); absolute error ~1e-7.
LIGO_AVX512 static inline __m512 tanh512(__m512 u) {
  __m512 e = exp512(_mm512_add_ps(u, u));
  return _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(e, _mm512_set1_ps(1.0f))));
}

// AVX2 counterparts (8 lanes). Tails use maskload/maskstore with the low n lanes set (masked lanes read 0).
LIGO_AVX2 static inline __m256i lanes8(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
LIGO_AVX2 static inline float hsum256(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
LIGO_AVX2 static inline float hmax256(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}
// e^x for 8 lanes: exp512's reduction and polynomial; 2^n built in the exponent bits, so x is clamped to
// [−87.33, 88.3] (n ∈ [−126, 127], normal floats) and lanes below −87.33 return 0 (where e^x underflows anyway).
LIGO_AVX2 static inline __m256 exp256(__m256 x) {
  __m256 under = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33f), _CMP_LT_OQ);
  x = _mm256_min_ps(_mm256_set1_ps(88.3f), _mm256_max_ps(_mm256_set1_ps(-87.33f), x)); // NaN propagates, as in exp512
  __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                             _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500E-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073E-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894E-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459E-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201E-1f));
  __m256 r2 = _mm256_mul_ps(r, r);
  p = _mm256_fmadd_ps(p, r2, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
  __m256 two_n = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23));
  return _mm256_andnot_ps(under, _mm256_mul_ps(p, two_n));
}
LIGO_AVX2 static inline __m256 tanh256(__m256 u) {
  __m256 e = exp256(_mm256_add_ps(u, u));
  return _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
}

// Mask with the low n (0..16) lanes set.
static inline __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u); }
// y[0..n) = softmax(x[0..n)); x may equal y (each pass reads what the previous one wrote). The row kernels of
// attention (causal rows) and of the softmax op share these.
LIGO_AVX512 static inline void softmax_row_512(const float* x, float* y, int n) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  for (int j = 0; j < n; j += 16) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), lanes(n - j), x + j));
  __m512 vm = _mm512_set1_ps(_mm512_reduce_max_ps(mx)), s = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    __mmask16 k = lanes(n - j);
    __m512 e = _mm512_maskz_mov_ps(k, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), vm)));
    s = _mm512_add_ps(s, e);
    _mm512_mask_storeu_ps(y + j, k, e);
  }
  __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(s));
  for (int j = 0; j < n; j += 16) {
    __mmask16 k = lanes(n - j);
    _mm512_mask_storeu_ps(y + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + j), inv));
  }
}

LIGO_AVX2 static inline void softmax_row_256(const float* x, float* y, int n) {
  __m256 mx = _mm256_set1_ps(-INFINITY);
  for (int j = 0; j < n; j += 8) {
    __m256i k = lanes8(n - j);
    mx = _mm256_max_ps(mx, _mm256_blendv_ps(mx, _mm256_maskload_ps(x + j, k), _mm256_castsi256_ps(k)));
  }
  __m256 vm = _mm256_set1_ps(hmax256(mx)), s = _mm256_setzero_ps();
  for (int j = 0; j < n; j += 8) {
    __m256i k = lanes8(n - j);
    __m256 e = _mm256_and_ps(_mm256_castsi256_ps(k), exp256(_mm256_sub_ps(_mm256_maskload_ps(x + j, k), vm)));
    s = _mm256_add_ps(s, e);
    _mm256_maskstore_ps(y + j, k, e);
  }
  __m256 inv = _mm256_set1_ps(1.0f / hsum256(s));
  for (int j = 0; j < n; j += 8) {
    __m256i k = lanes8(n - j);
    _mm256_maskstore_ps(y + j, k, _mm256_mul_ps(_mm256_maskload_ps(y + j, k), inv));
  }
}
#endif

}  // namespace ligo
