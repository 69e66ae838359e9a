// AdamW, in place (torch.optim.AdamW): p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
// p ← p − lr·(m/(1−β1^t)) / (√(v/(1−β2^t)) + eps).
#include <cmath>
#include <vector>

#include "common.h"
#include "kernels.h"
#include "threadpool.h"

namespace ligo {
namespace {

struct Coef {
  float lr, b1, b2, eps, decay, bc1, bc2;
};

__attribute__((always_inline)) inline void adamw_body(float* __restrict p, const float* __restrict g,
                                                      float* __restrict m, float* __restrict v, long i0, long i1,
                                                      Coef c) {
  for (long i = i0; i < i1; i++) {
    float gi = g[i];
    float mi = c.b1 * m[i] + (1.0f - c.b1) * gi;
    float vi = c.b2 * v[i] + (1.0f - c.b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * c.decay - c.lr * (mi / c.bc1) / (std::sqrt(vi / c.bc2) + c.eps);
  }
}

void adamw_base(float* p, const float* g, float* m, float* v, long i0, long i1, Coef c) { adamw_body(p, g, m, v, i0, i1, c); }
#if LIGO_X86
LIGO_AVX512 void adamw_512(float* p, const float* g, float* m, float* v, long i0, long i1, Coef c) {
  adamw_body(p, g, m, v, i0, i1, c);
}
LIGO_AVX2 void adamw_256(float* p, const float* g, float* m, float* v, long i0, long i1, Coef c) {
  adamw_body(p, g, m, v, i0, i1, c);
}
#endif

// Σ x² over [i0, i1) in double, 8 independent partial sums (vectorisable; the order depends only on i0, i1).
__attribute__((always_inline)) inline double sumsq_body(const float* __restrict x, long i0, long i1) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  long i = i0;
  for (; i + 8 <= i1; i += 8)
    for (int k = 0; k < 8; k++) acc[k] += (double)x[i + k] * (double)x[i + k];
  double s = 0;
  for (int k = 0; k < 8; k++) s += acc[k];
  for (; i < i1; i++) s += (double)x[i] * (double)x[i];
  return s;
}

double sumsq_base(const float* x, long i0, long i1) { return sumsq_body(x, i0, i1); }
#if LIGO_X86
LIGO_AVX512 double sumsq_512(const float* x, long i0, long i1) { return sumsq_body(x, i0, i1); }
LIGO_AVX2 double sumsq_256(const float* x, long i0, long i1) { return sumsq_body(x, i0, i1); }
#endif

}  // namespace

double sum_squares(const float* x, long n) {
  // Fixed blocks summed in block order: the result does not depend on the number of threads.
  const long block = 65536;
  const long nb = (n + block - 1) / block;
  std::vector<double> part((size_t)nb, 0.0);
  parallel_for((int)nb, [&](int b) {
    const long i0 = (long)b * block, i1 = i0 + block < n ? i0 + block : n;
#if LIGO_X86
    if (active_isa() == Isa::Avx512) {
      part[(size_t)b] = sumsq_512(x, i0, i1);
      return;
    }
    if (active_isa() == Isa::Avx2) {
      part[(size_t)b] = sumsq_256(x, i0, i1);
      return;
    }
#endif
    part[(size_t)b] = sumsq_base(x, i0, i1);
  });
  double s = 0;
  for (double v : part) s += v;
  return s;
}

void adamw_update(float* p, const float* g, float* m, float* v, long n, float lr, float beta1, float beta2, float eps,
                  float wd, int step) {
  Coef c{lr, beta1, beta2, eps, 1.0f - lr * wd, (float)(1.0 - std::pow((double)beta1, step)),
         (float)(1.0 - std::pow((double)beta2, step))};
  parallel_range(n, 65536, [&](long i0, long i1) {
#if LIGO_X86
    if (active_isa() == Isa::Avx512) return adamw_512(p, g, m, v, i0, i1, c);
    if (active_isa() == Isa::Avx2) return adamw_256(p, g, m, v, i0, i1, c);
#endif
    adamw_base(p, g, m, v, i0, i1, c);
  });
}

}  // namespace ligo
