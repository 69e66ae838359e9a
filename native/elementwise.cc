// Elementwise and row kernels used by the `native` tfjs backend's overrides and by the fused ops.
// Simple loops are written once as inline templates and instantiated three times: for baseline x86-64 and
// under an AVX-512 and an AVX2 target attribute (where GCC vectorises them with 16 and 8 lanes).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common.h"
#include "kernels.h"
#include "threadpool.h"

namespace ligo {
namespace {

template <int OP>
__attribute__((always_inline)) inline float apply(float a, float b) {
  return OP == 0 ? a + b : OP == 1 ? a - b : OP == 2 ? a * b : a / b;
}

// out[i] = a[i % na] op b[i % nb] over [i0, i1): walks runs where both operands are contiguous.
template <int OP>
__attribute__((always_inline)) inline void binary_body(const float* __restrict a, long na, const float* __restrict b,
                                                       long nb, float* __restrict out, long i0, long i1) {
  if (nb == 1) {
    float s = b[0];
    if (na == 1) {
      for (long i = i0; i < i1; i++) out[i] = apply<OP>(a[0], s);
      return;
    }
    // na divides n; iterate a's rows
    for (long i = i0; i < i1; i++) out[i] = apply<OP>(a[i % na], s);
    return;
  }
  if (na == 1) {
    float s = a[0];
    for (long i = i0; i < i1; i++) out[i] = apply<OP>(s, b[i % nb]);
    return;
  }
  {
    long i = i0;
    while (i < i1) {
      long ob = i % nb, oa = i % na;
      long run = na - oa;
      if (nb - ob < run) run = nb - ob;
      if (i1 - i < run) run = i1 - i;
      const float* pa = a + oa;
      const float* pb = b + ob;
      float* po = out + i;
      for (long j = 0; j < run; j++) po[j] = apply<OP>(pa[j], pb[j]);
      i += run;
    }
  }
}

template <int OP>
void binary_base(const float* a, long na, const float* b, long nb, float* out, long i0, long i1) {
  binary_body<OP>(a, na, b, nb, out, i0, i1);
}
#if LIGO_X86
template <int OP>
LIGO_AVX512 void binary_512(const float* a, long na, const float* b, long nb, float* out, long i0, long i1) {
  binary_body<OP>(a, na, b, nb, out, i0, i1);
}
template <int OP>
LIGO_AVX2 void binary_256(const float* a, long na, const float* b, long nb, float* out, long i0, long i1) {
  binary_body<OP>(a, na, b, nb, out, i0, i1);
}
#endif

using BinFn = void (*)(const float*, long, const float*, long, float*, long, long);

BinFn pick(BinOp op) {
#if LIGO_X86
  if (active_isa() == Isa::Avx512) {
    static const BinFn t[4] = {binary_512<0>, binary_512<1>, binary_512<2>, binary_512<3>};
    return t[(int)op];
  }
  if (active_isa() == Isa::Avx2) {
    static const BinFn t[4] = {binary_256<0>, binary_256<1>, binary_256<2>, binary_256<3>};
    return t[(int)op];
  }
#endif
  static const BinFn t[4] = {binary_base<0>, binary_base<1>, binary_base<2>, binary_base<3>};
  return t[(int)op];
}

__attribute__((always_inline)) inline void colsum_body(const float* __restrict dy, long r0, long r1, int D,
                                                       float* __restrict acc) {
  for (long i = r0; i < r1; i++) {
    const float* row = dy + i * D;
    for (int j = 0; j < D; j++) acc[j] += row[j];
  }
}
void colsum_base(const float* dy, long r0, long r1, int D, float* acc) { colsum_body(dy, r0, r1, D, acc); }
#if LIGO_X86
LIGO_AVX512 void colsum_512(const float* dy, long r0, long r1, int D, float* acc) { colsum_body(dy, r0, r1, D, acc); }
LIGO_AVX2 void colsum_256(const float* dy, long r0, long r1, int D, float* acc) { colsum_body(dy, r0, r1, D, acc); }
#endif

void softmax_rows_ref(const float* x, long r0, long r1, int D, float* y) {
  for (long i = r0; i < r1; i++) {
    const float* xi = x + i * D;
    float* yi = y + i * D;
    float mx = xi[0];
    for (int j = 1; j < D; j++) mx = xi[j] > mx ? xi[j] : mx;
    float s = 0;
    for (int j = 0; j < D; j++) s += (yi[j] = std::exp(xi[j] - mx));
    for (int j = 0; j < D; j++) yi[j] /= s;
  }
}

#if LIGO_X86
LIGO_AVX512 void softmax_rows_512(const float* x, long r0, long r1, int D, float* y) {
  for (long i = r0; i < r1; i++) softmax_row_512(x + i * D, y + i * D, D);
}

LIGO_AVX2 void softmax_rows_256(const float* x, long r0, long r1, int D, float* y) {
  for (long i = r0; i < r1; i++) softmax_row_256(x + i * D, y + i * D, D);
}
#endif

}  // namespace

void binary(BinOp op, const float* a, long na, const float* b, long nb, float* out, long n) {
  BinFn f = pick(op);
  parallel_range(n, 32768, [&](long i0, long i1) { f(a, na, b, nb, out, i0, i1); });
}

void bias_add(float* y, const float* b, long N, int D) { binary(BinOp::Add, y, N * D, b, D, y, N * D); }

void col_sum(const float* dy, long N, int D, float* db) {
  int nt = kReduceParts;
  long per = (N + nt - 1) / nt;
  if ((long)N * D < 65536) nt = 1, per = N;
  std::vector<float> part((size_t)nt * D, 0.0f);
  parallel_for(nt, [&](int t) {
    long r0 = t * per, r1 = r0 + per < N ? r0 + per : N;
    if (r0 >= r1) return;
#if LIGO_X86
    if (active_isa() == Isa::Avx512) return colsum_512(dy, r0, r1, D, &part[(size_t)t * D]);
    if (active_isa() == Isa::Avx2) return colsum_256(dy, r0, r1, D, &part[(size_t)t * D]);
#endif
    colsum_base(dy, r0, r1, D, &part[(size_t)t * D]);
  });
  for (int j = 0; j < D; j++) {
    float s = 0;
    for (int t = 0; t < nt; t++) s += part[(size_t)t * D + j];
    db[j] = s;
  }
}

void softmax_rows(const float* x, long N, int D, float* y) {
  parallel_range(N, 16384 / (D > 0 ? D : 1) + 1, [&](long r0, long r1) {
#if LIGO_X86
    if (active_isa() == Isa::Avx512) return softmax_rows_512(x, r0, r1, D, y);
    if (active_isa() == Isa::Avx2) return softmax_rows_256(x, r0, r1, D, y);
#endif
    softmax_rows_ref(x, r0, r1, D, y);
  });
}

// Transpose by perm: out[idx_out] = x[idx_in], with out's axis a = x's axis perm[a]. Dimensions of size 1 are
// dropped and adjacent input axes that stay adjacent are merged first, so [B,T,NH,HS]→[B,NH,T,HS] becomes a
// copy of HS-long runs.
void transpose(const float* x, const int* shape, const int* perm, int rank, float* out) {
  long total = 1;
  for (int a = 0; a < rank; a++) total *= shape[a];
  if (total == 0) return;
  // Drop size-1 axes, then merge axes that are consecutive both in x and in out.
  std::vector<int> p, s;  // perm over kept axes, in out order; sizes in x order
  std::vector<int> keep(rank, -1);
  int r = 0;
  for (int a = 0; a < rank; a++)
    if (shape[a] != 1) keep[a] = r++, s.push_back(shape[a]);
  for (int a = 0; a < rank; a++)
    if (keep[perm[a]] >= 0) p.push_back(keep[perm[a]]);
  std::vector<std::vector<int>> groups;
  for (size_t a = 0; a < p.size(); a++) {
    if (!groups.empty() && groups.back().back() + 1 == p[a]) groups.back().push_back(p[a]);
    else groups.push_back({p[a]});
  }
  // Sizes of groups and their order in x.
  int G = (int)groups.size();
  if (G <= 1) {
    std::memcpy(out, x, sizeof(float) * total);
    return;
  }
  std::vector<int> order(G);  // order[k] = group index of the k-th group in x order
  for (int g = 0; g < G; g++) order[g] = g;
  std::sort(order.begin(), order.end(), [&](int u, int v) { return groups[u][0] < groups[v][0]; });
  std::vector<long> gsize(G), xstride(G);
  for (int g = 0; g < G; g++) {
    long sz = 1;
    for (int ax : groups[g]) sz *= s[ax];
    gsize[g] = sz;
  }
  long st = 1;
  for (int k = G - 1; k >= 0; k--) xstride[order[k]] = st, st *= gsize[order[k]];
  // Walk out in order; the innermost out group is contiguous in x when it is also x's last group.
  long inner = gsize[G - 1], istride = xstride[G - 1];
  long outer = total / inner;
  parallel_range(outer, 64, [&](long o0, long o1) {
    std::vector<long> idx(G, 0);
    long rem = o0;
    for (int g = G - 2; g >= 0; g--) idx[g] = rem % gsize[g], rem /= gsize[g];
    for (long o = o0; o < o1; o++) {
      long src = 0;
      for (int g = 0; g < G - 1; g++) src += idx[g] * xstride[g];
      float* dst = out + o * inner;
      if (istride == 1) std::memcpy(dst, x + src, sizeof(float) * inner);
      else
        for (long i = 0; i < inner; i++) dst[i] = x[src + i * istride];
      for (int g = G - 2; g >= 0; g--) {
        if (++idx[g] < gsize[g]) break;
        idx[g] = 0;
      }
    }
  });
}

}  // namespace ligo
