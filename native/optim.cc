// AdamW, in place (torch.optim.AdamW): p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²;
// p ← p − lr·(m/(1−β1^t)) / (√(v/(1−β2^t)) + eps).
#include <cmath>

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
#endif

}  // namespace

void adamw_update(float* p, const float* g, float* m, float* v, long n, float lr, float beta1, float beta2, float eps,
                  float wd, int step) {
  Coef c{lr, beta1, beta2, eps, 1.0f - lr * wd, (float)(1.0 - std::pow((double)beta1, step)),
         (float)(1.0 - std::pow((double)beta2, step))};
  parallel_range(n, 65536, [&](long i0, long i1) {
#if LIGO_X86
    if (active_isa() == Isa::Avx512) return adamw_512(p, g, m, v, i0, i1, c);
#endif
    adamw_base(p, g, m, v, i0, i1, c);
  });
}

}  // namespace ligo
