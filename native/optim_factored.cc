// CAME and Adafactor, one tensor per call, in place: the math of src/optim/came.ts and src/optim/adafactor.ts
// (which stay the reference and the fallback), in the same order of double-precision operations. As there, every
// element-wise quantity is computed in double and rounded to float32 only where the TS code stores it (an element
// of a Float32Array or a Math.fround), so the two paths agree to a few float32 ulps: the differences are FMA
// contraction in the AVX variants and the order in which the double sums are added up.
//
// A tensor of ≥ 2 dims is M matrices of R×C (row-major; leading dims batched), factored over its last two dims:
// row statistics M·R floats, column statistics M·C floats, both *means* (as the reference code keeps them).
//   pass 1  rs_i = Σ_j (g² + ε1), cs_j = Σ_i (g² + ε1); row ← β·row + (1−β)·rs/C, col ← β·col + (1−β)·cs/R
//           a_i = 1/√(row_i / mean(row)), b_j = 1/√col_j          (1/√v_ij = a_i·b_j, v = r cᵀ / mean(r))
//   pass 2  Σ (g·a_i·b_j)²  → the clip divisor max(1, RMS(u)/d) over the whole tensor
//   CAME    pass 3: û = k·g·a_i·b_j, m ← f32(β1·m + (1−β1)·û), U = (û − m)² + ε2 row/column sums → R, C EMAs (β3)
//                    and their factors a, b; pass 4: θ ← θ·decay − lr·a_i·m·b_j
//   Adafactor pass 3: θ ← θ·decay − k·g·a_i·b_j, or with β1 > 0: x = β1·m + (1−β1)·k·g·a_i·b_j, m ← x, θ ← θ·decay − x
// Vectors (biases, norm gains) keep a full second moment v ← f32(β·v + (1−β)·(g² + ε1)); see each function.
//
// Threads: each pass over a matrix runs on the pool in row blocks whose number depends on the shape only (not on
// LIGO_THREADS), and the per-block row/column sums are added in block order, so results do not depend on the
// thread count. Double sums keep 8 independent partial sums (the compiler vectorises them without reassociating).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common.h"
#include "kernels.h"
#include "threadpool.h"

namespace ligo {
namespace {

#define LIGO_INLINE __attribute__((always_inline)) inline

constexpr int kLanes = 8;

LIGO_INLINE double sum_lanes(const double* l) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

// ---- Loop bodies (instantiated for baseline x86-64, AVX2 and AVX-512 below) ----

// rs[r] = Σ_j (g² + eps) and cp[j] += g² + eps over rows [r0, r1) of a matrix with C columns.
LIGO_INLINE void sq_sums_body(const float* __restrict g, long r0, long r1, long C, double eps, double* __restrict rs,
                              double* __restrict cp) {
  for (long r = r0; r < r1; r++) {
    const float* __restrict x = g + r * C;
    double lane[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    long j = 0;
    for (; j + kLanes <= C; j += kLanes)
      for (int l = 0; l < kLanes; l++) {
        double q = (double)x[j + l] * (double)x[j + l] + eps;
        lane[l] += q;
        cp[j + l] += q;
      }
    double acc = 0;
    for (; j < C; j++) {
      double q = (double)x[j] * (double)x[j] + eps;
      acc += q;
      cp[j] += q;
    }
    rs[r] = sum_lanes(lane) + acc;
  }
}

// Σ_r a_r²·Σ_j (g·b_j)² over rows [r0, r1) (the squared norm of u = g·a_i·b_j), as sumSqFactored.
LIGO_INLINE double sumsq_scaled_body(const float* __restrict g, long r0, long r1, long C, const double* __restrict a,
                                     const double* __restrict b) {
  double total = 0;
  for (long r = r0; r < r1; r++) {
    const float* __restrict x = g + r * C;
    double lane[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    long j = 0;
    for (; j + kLanes <= C; j += kLanes)
      for (int l = 0; l < kLanes; l++) {
        double u = (double)x[j + l] * b[j + l];
        lane[l] += u * u;
      }
    double acc = 0;
    for (; j < C; j++) {
      double u = (double)x[j] * b[j];
      acc += u * u;
    }
    total += (sum_lanes(lane) + acc) * a[r] * a[r];
  }
  return total;
}

// Σ x² over [i0, i1).
LIGO_INLINE double sumsq_body(const float* __restrict x, long i0, long i1) {
  double lane[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  long i = i0;
  for (; i + kLanes <= i1; i += kLanes)
    for (int l = 0; l < kLanes; l++) lane[l] += (double)x[i + l] * (double)x[i + l];
  double acc = 0;
  for (; i < i1; i++) acc += (double)x[i] * (double)x[i];
  return sum_lanes(lane) + acc;
}

// CAME pass 3 over rows [r0, r1): û = k·a_r·g·b_j, m ← f32(β1·m + (1−β1)·û), q = (û − m)² + eps2; rs[r] = Σ_j q,
// cp[j] += q.
LIGO_INLINE void came_moment_body(const float* __restrict g, float* __restrict m, long r0, long r1, long C, double k,
                                  const double* __restrict a, const double* __restrict b, double b1, double eps2,
                                  double* __restrict rs, double* __restrict cp) {
  const double c1 = 1 - b1;
  for (long r = r0; r < r1; r++) {
    const double ka = k * a[r];
    const float* __restrict x = g + r * C;
    float* __restrict mr = m + r * C;
    double lane[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
    long j = 0;
    for (; j + kLanes <= C; j += kLanes)
      for (int l = 0; l < kLanes; l++) {
        double u = ka * (double)x[j + l] * b[j + l];
        float mj = (float)(b1 * (double)mr[j + l] + c1 * u);
        mr[j + l] = mj;
        double d = u - (double)mj;
        double q = d * d + eps2;
        lane[l] += q;
        cp[j + l] += q;
      }
    double acc = 0;
    for (; j < C; j++) {
      double u = ka * (double)x[j] * b[j];
      float mj = (float)(b1 * (double)mr[j] + c1 * u);
      mr[j] = mj;
      double d = u - (double)mj;
      double q = d * d + eps2;
      acc += q;
      cp[j] += q;
    }
    rs[r] = sum_lanes(lane) + acc;
  }
}

// w ← f32(w·decay − s·a_r·src·b_j) over rows [r0, r1): CAME's final step (src = m, s = lr) and Adafactor's
// step without momentum (src = g, s = k).
LIGO_INLINE void scaled_step_body(float* __restrict w, const float* __restrict src, long r0, long r1, long C, double s,
                                  const double* __restrict a, const double* __restrict b, double decay) {
  for (long r = r0; r < r1; r++) {
    const double sa = s * a[r];
    float* __restrict wr = w + r * C;
    const float* __restrict x = src + r * C;
    for (long j = 0; j < C; j++) wr[j] = (float)((double)wr[j] * decay - sa * (double)x[j] * b[j]);
  }
}

// Adafactor with β1 > 0 over rows [r0, r1): x = β1·m + (1−β1)·k·a_r·g·b_j; m ← f32(x); w ← f32(w·decay − x).
LIGO_INLINE void momentum_step_body(float* __restrict w, const float* __restrict g, float* __restrict m, long r0,
                                    long r1, long C, double k, const double* __restrict a,
                                    const double* __restrict b, double b1, double decay) {
  for (long r = r0; r < r1; r++) {
    const double ca = (1 - b1) * (k * a[r]);
    float* __restrict wr = w + r * C;
    float* __restrict mr = m + r * C;
    const float* __restrict x = g + r * C;
    for (long j = 0; j < C; j++) {
      double v = b1 * (double)mr[j] + ca * (double)x[j] * b[j];
      mr[j] = (float)v;
      wr[j] = (float)((double)wr[j] * decay - v);
    }
  }
}

// v ← f32(β·v + (1−β)·(g² + eps)) elementwise; returns Σ g²/v (as emaSqVector).
LIGO_INLINE double ema_sq_vector_body(const float* __restrict g, float* __restrict v, long n, double beta,
                                      double eps) {
  const double c = 1 - beta;
  double lane[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  long i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; l++) {
      double gi = g[i + l];
      float vi = (float)(beta * (double)v[i + l] + c * (gi * gi + eps));
      v[i + l] = vi;
      lane[l] += gi * gi / (double)vi;
    }
  double acc = 0;
  for (; i < n; i++) {
    double gi = g[i];
    float vi = (float)(beta * (double)v[i] + c * (gi * gi + eps));
    v[i] = vi;
    acc += gi * gi / (double)vi;
  }
  return sum_lanes(lane) + acc;
}

// CAME, vector: m ← f32(β1·m + (1−β1)·k·g/√v); w ← f32(w·decay − lr·m).
LIGO_INLINE void came_vector_body(float* __restrict w, const float* __restrict g, float* __restrict m,
                                  const float* __restrict v, long n, double k, double b1, double lr, double decay) {
  const double ck = (1 - b1) * k;
  for (long i = 0; i < n; i++) {
    float mi = (float)(b1 * (double)m[i] + ck * (double)g[i] / std::sqrt((double)v[i]));
    m[i] = mi;
    w[i] = (float)((double)w[i] * decay - lr * (double)mi);
  }
}

// Adafactor, vector: u = k·g/√v; w ← f32(w·decay − u), or x = β1·m + (1−β1)·u, m ← f32(x), w ← f32(w·decay − x).
LIGO_INLINE void adafactor_vector_body(float* __restrict w, const float* __restrict g, float* __restrict m,
                                       const float* __restrict v, long n, double k, double b1, double decay) {
  if (m) {
    for (long i = 0; i < n; i++) {
      double u = k * (double)g[i] / std::sqrt((double)v[i]);
      double x = b1 * (double)m[i] + (1 - b1) * u;
      m[i] = (float)x;
      w[i] = (float)((double)w[i] * decay - x);
    }
  } else {
    for (long i = 0; i < n; i++) {
      double u = k * (double)g[i] / std::sqrt((double)v[i]);
      w[i] = (float)((double)w[i] * decay - u);
    }
  }
}

// One function per body and ISA, dispatched on active_isa() (AVX-512 → AVX2+FMA → baseline x86-64).
#if LIGO_X86
#define LIGO_ISA_VARIANTS(ret, name, params, args)                          \
  ret name##_base params { return name##_body args; }                     \
  LIGO_AVX2 ret name##_256 params { return name##_body args; }            \
  LIGO_AVX512 ret name##_512 params { return name##_body args; }          \
  ret name params {                                                       \
    Isa isa = active_isa();                                               \
    if (isa == Isa::Avx512) return name##_512 args;                       \
    if (isa == Isa::Avx2) return name##_256 args;                         \
    return name##_base args;                                              \
  }
#else
#define LIGO_ISA_VARIANTS(ret, name, params, args) \
  ret name params { return name##_body args; }
#endif

LIGO_ISA_VARIANTS(void, sq_sums, (const float* g, long r0, long r1, long C, double eps, double* rs, double* cp),
                  (g, r0, r1, C, eps, rs, cp))
LIGO_ISA_VARIANTS(double, sumsq_scaled, (const float* g, long r0, long r1, long C, const double* a, const double* b),
                  (g, r0, r1, C, a, b))
LIGO_ISA_VARIANTS(double, sumsq, (const float* x, long i0, long i1), (x, i0, i1))
LIGO_ISA_VARIANTS(void, came_moment,
                  (const float* g, float* m, long r0, long r1, long C, double k, const double* a, const double* b,
                   double b1, double eps2, double* rs, double* cp),
                  (g, m, r0, r1, C, k, a, b, b1, eps2, rs, cp))
LIGO_ISA_VARIANTS(void, scaled_step,
                  (float* w, const float* src, long r0, long r1, long C, double s, const double* a, const double* b,
                   double decay),
                  (w, src, r0, r1, C, s, a, b, decay))
LIGO_ISA_VARIANTS(void, momentum_step,
                  (float* w, const float* g, float* m, long r0, long r1, long C, double k, const double* a,
                   const double* b, double b1, double decay),
                  (w, g, m, r0, r1, C, k, a, b, b1, decay))
LIGO_ISA_VARIANTS(double, ema_sq_vector, (const float* g, float* v, long n, double beta, double eps),
                  (g, v, n, beta, eps))
LIGO_ISA_VARIANTS(void, came_vector,
                  (float* w, const float* g, float* m, const float* v, long n, double k, double b1, double lr,
                   double decay),
                  (w, g, m, v, n, k, b1, lr, decay))
LIGO_ISA_VARIANTS(void, adafactor_vector,
                  (float* w, const float* g, float* m, const float* v, long n, double k, double b1, double decay),
                  (w, g, m, v, n, k, b1, decay))

// ---- Drivers ----

constexpr long kBlockElems = 32768;  // about this many elements per task
constexpr long kMaxBlocks = 16;

// Fixed row blocks of a rows×C matrix: their number depends on the shape only.
struct Blocks {
  long n, per;
};
Blocks blocks_of(long rows, long C) {
  long n = rows * C / kBlockElems;
  n = std::min(std::max(n, 1L), std::min(kMaxBlocks, rows));
  long per = (rows + n - 1) / n;
  return {(rows + per - 1) / per, per};
}

// Runs body(r0, r1, colPart) over the row blocks of one R×C matrix on the pool (colPart: that block's zeroed
// column sums) and then cs[j] = Σ_blocks colPart[j] in block order.
template <class Body>
void row_col_pass(long R, long C, double* cs, Body&& body) {
  if (R <= 0) {
    std::fill(cs, cs + C, 0.0);
    return;
  }
  Blocks bl = blocks_of(R, C);
  std::vector<double> part((size_t)(bl.n * C), 0.0);
  double* pp = part.data();
  parallel_for((int)bl.n, [&](int i) {
    long r0 = i * bl.per, r1 = std::min(R, r0 + bl.per);
    if (r0 < r1) body(r0, r1, pp + (size_t)i * C);
  });
  for (long j = 0; j < C; j++) cs[j] = pp[j];
  for (long i = 1; i < bl.n; i++) {
    const double* p = pp + (size_t)i * C;
    for (long j = 0; j < C; j++) cs[j] += p[j];
  }
}

// Σ over the row blocks of body(r0, r1) → double, added in block order.
template <class Body>
double row_sum_pass(long R, long C, Body&& body) {
  if (R <= 0) return 0;
  Blocks bl = blocks_of(R, C);
  std::vector<double> part((size_t)bl.n, 0.0);
  double* pp = part.data();
  parallel_for((int)bl.n, [&](int i) {
    long r0 = i * bl.per, r1 = std::min(R, r0 + bl.per);
    if (r0 < r1) pp[i] = body(r0, r1);
  });
  double total = 0;
  for (long i = 0; i < bl.n; i++) total += pp[i];
  return total;
}

// Element-wise pass over the rows of an R×C matrix (no sums: any split gives the same result).
template <class Body>
void row_pass(long R, long C, Body&& body) {
  parallel_range(R, kBlockElems / (C > 0 ? C : 1) + 1, body);
}

// Σ x² over n elements, in blocks fixed by n.
double sum_sq(const float* x, long n) {
  const long C = 1024;
  return row_sum_pass((n + C - 1) / C, C, [&](long r0, long r1) { return sumsq(x, r0 * C, std::min(n, r1 * C)); });
}

double clip_divisor(double sum_sq, double n, double d) { return std::max(1.0, std::sqrt(sum_sq / n) / d); }

// Scratch and factors for one factored tensor (float64, as the TS Scratch).
struct Factored {
  long M, R, C;
  std::vector<double> rs, cs, a, b;
  Factored(long M_, long R_, long C_)
      : M(M_), R(R_), C(C_), rs((size_t)(M_ * R_)), cs((size_t)(M_ * C_)), a((size_t)(M_ * R_)), b((size_t)(M_ * C_)) {}
  long n() const { return M * R * C; }
};

// row ← β·row + (1−β)·rs/C, col ← β·col + (1−β)·cs/R (emaFromSums).
void ema_from_sums(float* row, float* col, const Factored& f, double beta) {
  for (long r = 0; r < f.M * f.R; r++) row[r] = (float)(beta * (double)row[r] + ((1 - beta) * f.rs[r]) / (double)f.C);
  for (long c = 0; c < f.M * f.C; c++) col[c] = (float)(beta * (double)col[c] + ((1 - beta) * f.cs[c]) / (double)f.R);
}

// a_i = 1/√(row_i / mean(row)) per matrix, b_j = 1/√col_j (rsqrtFactors).
void rsqrt_factors(const float* row, const float* col, Factored& f) {
  for (long mi = 0; mi < f.M; mi++) {
    const float* rr = row + mi * f.R;
    double mean = 0;
    for (long i = 0; i < f.R; i++) mean += (double)rr[i];
    mean /= (double)f.R;
    for (long i = 0; i < f.R; i++) f.a[mi * f.R + i] = 1 / std::sqrt((double)rr[i] / mean);
  }
  for (long c = 0; c < f.M * f.C; c++) f.b[c] = 1 / std::sqrt((double)col[c]);
}

// The factored second moment of g: EMA of the row/column means of g² + eps into row/col, then the factors a, b.
void second_moment(const float* g, float* row, float* col, Factored& f, double beta, double eps) {
  const long R = f.R, C = f.C;
  for (long mi = 0; mi < f.M; mi++) {
    const float* gm = g + mi * R * C;
    double* rs = f.rs.data() + mi * R;
    row_col_pass(R, C, f.cs.data() + mi * C,
                 [&](long r0, long r1, double* cp) { sq_sums(gm, r0, r1, C, eps, rs, cp); });
  }
  ema_from_sums(row, col, f, beta);
  rsqrt_factors(row, col, f);
}

// Σ (g·a_i·b_j)² over all matrices.
double sum_sq_factored(const float* g, const Factored& f) {
  const long R = f.R, C = f.C;
  double total = 0;
  for (long mi = 0; mi < f.M; mi++) {
    const float* gm = g + mi * R * C;
    const double* a = f.a.data() + mi * R;
    const double* b = f.b.data() + mi * C;
    total += row_sum_pass(R, C, [&](long r0, long r1) { return sumsq_scaled(gm, r0, r1, C, a, b); });
  }
  return total;
}

// w ← w·decay − s·a_i·src·b_j over all matrices.
void scaled_step_all(float* w, const float* src, const Factored& f, double s, double decay) {
  const long R = f.R, C = f.C;
  for (long mi = 0; mi < f.M; mi++) {
    float* wm = w + mi * R * C;
    const float* xm = src + mi * R * C;
    const double* a = f.a.data() + mi * R;
    const double* b = f.b.data() + mi * C;
    row_pass(R, C, [&](long r0, long r1) { scaled_step(wm, xm, r0, r1, C, s, a, b, decay); });
  }
}

}  // namespace

void came_update_matrix(float* w, const float* g, float* m, float* v_row, float* v_col, float* res_row,
                        float* res_col, long M, long R, long C, double lr, double decay, double beta1, double beta2,
                        double beta3, double eps1, double eps2, double clip) {
  Factored f(M, R, C);
  if (f.n() == 0) return;
  second_moment(g, v_row, v_col, f, beta2, eps1);
  const double k = 1 / clip_divisor(sum_sq_factored(g, f), (double)f.n(), clip);
  // Momentum of û and the row/column sums of the instability U = (û − m)² + ε2.
  for (long mi = 0; mi < M; mi++) {
    const float* gm = g + mi * R * C;
    float* mm = m + mi * R * C;
    const double* a = f.a.data() + mi * R;
    const double* b = f.b.data() + mi * C;
    double* rs = f.rs.data() + mi * R;
    row_col_pass(R, C, f.cs.data() + mi * C,
                 [&](long r0, long r1, double* cp) { came_moment(gm, mm, r0, r1, C, k, a, b, beta1, eps2, rs, cp); });
  }
  ema_from_sums(res_row, res_col, f, beta3);
  rsqrt_factors(res_row, res_col, f);  // now a, b factor 1/√S
  scaled_step_all(w, m, f, lr, decay);
}

void came_update_vector(float* w, const float* g, float* m, float* v, long n, double lr, double decay, double beta1,
                        double beta2, double eps1, double clip) {
  if (n == 0) return;
  const double k = 1 / clip_divisor(ema_sq_vector(g, v, n, beta2, eps1), (double)n, clip);
  came_vector(w, g, m, v, n, k, beta1, lr, decay);
}

void adafactor_update_matrix(float* w, const float* g, float* m, float* v_row, float* v_col, long M, long R, long C,
                             double lr, double decay, double beta1, double beta2, double eps1, double eps2,
                             double clip, bool scale_parameter) {
  Factored f(M, R, C);
  if (f.n() == 0) return;
  const double alpha = scale_parameter ? lr * std::max(eps2, std::sqrt(sum_sq(w, f.n()) / (double)f.n())) : lr;
  second_moment(g, v_row, v_col, f, beta2, eps1);
  const double k = alpha / clip_divisor(sum_sq_factored(g, f), (double)f.n(), clip);
  if (!m) {
    scaled_step_all(w, g, f, k, decay);
    return;
  }
  for (long mi = 0; mi < M; mi++) {
    float* wm = w + mi * R * C;
    float* mm = m + mi * R * C;
    const float* gm = g + mi * R * C;
    const double* a = f.a.data() + mi * R;
    const double* b = f.b.data() + mi * C;
    row_pass(R, C, [&](long r0, long r1) { momentum_step(wm, gm, mm, r0, r1, C, k, a, b, beta1, decay); });
  }
}

void adafactor_update_vector(float* w, const float* g, float* m, float* v, long n, double lr, double decay,
                             double beta1, double beta2, double eps1, double eps2, double clip, bool scale_parameter) {
  if (n == 0) return;
  const double alpha = scale_parameter ? lr * std::max(eps2, std::sqrt(sum_sq(w, n) / (double)n)) : lr;
  const double k = alpha / clip_divisor(ema_sq_vector(g, v, n, beta2, eps1), (double)n, clip);
  adafactor_vector(w, g, m, v, n, k, beta1, decay);
}

}  // namespace ligo
