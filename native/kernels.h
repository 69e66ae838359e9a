// Fused kernels with hand-written backward passes. Every array is a contiguous row-major float32 buffer
// unless stated. Shape letters: B batch, T time, C channels, NH heads, HS head size, V vocab, N = B·T rows,
// D any last-axis width. Each kernel has a plain `_reference` twin in the same .cc file (used by tests and as
// the fallback when the CPU lacks AVX-512).
#pragma once
#include <cstdint>

namespace ligo {

// norm.cc — LayerNorm over the last axis. x[N,C], g[C], b[C] → y[N,C]; saves mean[N], rstd[N].
void layernorm_forward(const float* x, const float* g, const float* b, int N, int C, float eps, float* y,
                       float* mean, float* rstd);
// dy[N,C] → dx[N,C], dg[C], db[C] (dg, db are overwritten).
void layernorm_backward(const float* dy, const float* x, const float* g, const float* mean, const float* rstd, int N,
                        int C, float* dx, float* dg, float* db);

// activation.cc — GELU, tanh approximation. n elements.
void gelu_forward(const float* x, long n, float* y);
void gelu_backward(const float* x, const float* dy, long n, float* dx);

// attention.cc — causal softmax(scale·q·kᵀ)·v per (batch, head); saves probs P [B,NH,T,T] (zero above the
// diagonal). Each (b, h) matrix [T,HS] starts at element layout.at(b, h) and its rows are layout.row apart:
//   per-head tensors [B,NH,T,HS]:                       {NH·T·HS, T·HS, HS}  (HeadLayout::heads)
//   projection rows [B·T, ld], head h in columns h·HS…:  {T·ld, HS, ld}       (HeadLayout::rows)
// q, k, v (and dq, dk, dv) share the layout `in`; out (and dout) use `lo`. Every element of out, dq, dk, dv
// inside the layout is overwritten; columns a layout skips are left alone (so dq, dk, dv may be column
// ranges of one buffer, as with a fused qkv [B·T, 3·NH·HS]).
struct HeadLayout {
  long batch, head, row;
  long at(int b, int h) const { return b * batch + h * head; }
  static HeadLayout heads(int NH, int T, int HS) { return {(long)NH * T * HS, (long)T * HS, HS}; }
  static HeadLayout rows(int T, int HS, long ld) { return {T * ld, HS, ld}; }
};
void attention_forward(const float* q, const float* k, const float* v, const HeadLayout& in, int B, int NH, int T,
                       int HS, float scale, float* out, const HeadLayout& lo, float* P);
void attention_backward(const float* dout, const HeadLayout& lo, const float* q, const float* k, const float* v,
                        const HeadLayout& in, const float* P, int B, int NH, int T, int HS, float scale, float* dq,
                        float* dk, float* dv);

// loss.cc — mean cross-entropy of logits[N,V] vs targets[N]; saves lse[N]. Returns the mean loss.
double crossentropy_forward(const float* logits, const int32_t* targets, int N, int V, float* lse);
// dlogits[N,V] = (softmax − onehot) · dloss / N.
void crossentropy_backward(const float* logits, const int32_t* targets, const float* lse, int N, int V, float dloss,
                           float* dlogits);

// embedding.cc — out[N,C] = table[ids[N], :]; backward dtable[V,C] = scatter-add of dout rows (overwritten).
void embedding_forward(const float* table, const int32_t* ids, int N, int C, float* out);
void embedding_backward(const float* dout, const int32_t* ids, int N, int C, int V, float* dtable);

// elementwise.cc
enum class BinOp { Add = 0, Sub = 1, Mul = 2, Div = 3 };
// out[i] = a[i % na] op b[i % nb] for i < n (na, nb divide n).
void binary(BinOp op, const float* a, long na, const float* b, long nb, float* out, long n);
// y[N,D] (+)= b[D] broadcast over rows.
void bias_add(float* y, const float* b, long N, int D);
// db[D] = Σ_rows dy[N,D].
void col_sum(const float* dy, long N, int D, float* db);
// Softmax over the last axis of x[N,D].
void softmax_rows(const float* x, long N, int D, float* y);
// out = x transposed by perm (rank ≤ 8).
void transpose(const float* x, const int* shape, const int* perm, int rank, float* out);

// optim.cc — AdamW in place (decoupled weight decay, bias correction at 1-based `step`).
void adamw_update(float* p, const float* g, float* m, float* v, long n, float lr, float beta1, float beta2, float eps,
                  float wd, int step);
// optim.cc — Σ x² in double (gradient clipping's global norm), threaded over fixed blocks (thread-count independent).
double sum_squares(const float* x, long n);

// optim_factored.cc — CAME and Adafactor, one tensor in place, as src/optim/came.ts and adafactor.ts (all scalars
// in double, as the TS code computes them). Matrices: M matrices of R×C, factored row/column statistics (means) of
// M·R and M·C floats. decay = 1 − lr·wd (1 for tensors that do not decay). Adafactor: m may be null (β1 = 0).
void came_update_matrix(float* w, const float* g, float* m, float* v_row, float* v_col, float* res_row,
                        float* res_col, long M, long R, long C, double lr, double decay, double beta1, double beta2,
                        double beta3, double eps1, double eps2, double clip);
void came_update_vector(float* w, const float* g, float* m, float* v, long n, double lr, double decay, double beta1,
                        double beta2, double eps1, double clip);
void adafactor_update_matrix(float* w, const float* g, float* m, float* v_row, float* v_col, long M, long R, long C,
                             double lr, double decay, double beta1, double beta2, double eps1, double eps2,
                             double clip, bool scale_parameter);
void adafactor_update_vector(float* w, const float* g, float* m, float* v, long n, double lr, double decay,
                             double beta1, double beta2, double eps1, double eps2, double clip, bool scale_parameter);

// ligo_grow.cc — LiGO materialisation of one grown tensor viewed as [r, c] (a vector as [r, 1]), and its
// closed-form backward (see the file's header). Operator arrays: rowM [r2−r1, r1], rowT [r1, r1] (null: the
// identity), rowN [r2] (null: no in-dimension scaling), colM [c2−c1, c1], colT [c1, c1] (null: identity).
struct GrowSpec {
  int L = 0;                       // source blocks mixed (0: a global tensor, src[0] is used as it is)
  const float* const* src = nullptr;  // max(L, 1) source tensors of r1·c1 values
  const float* c = nullptr;        // depth coefficients [L]
  long r1 = 0, c1 = 0, r2 = 0, c2 = 0;
  const float* rowM = nullptr;
  const float* rowT = nullptr;
  const float* rowN = nullptr;
  const float* colM = nullptr;
  const float* colT = nullptr;
  float f = 1.0f;                  // µP compensation factor
};
// out [r2, c2] (overwritten).
void ligo_grow_forward(const GrowSpec& s, float* out);
// Gradients from G = dL/dout [r2, c2], added into the non-null outputs: dc [L], dRowM, dRowT, dColM, dColT (the
// shapes of the operator arrays).
struct GrowGrads {
  float* dc = nullptr;
  float* dRowM = nullptr;
  float* dRowT = nullptr;
  float* dColM = nullptr;
  float* dColT = nullptr;
};
void ligo_grow_backward(const GrowSpec& s, const float* G, const GrowGrads& d);
// acc[i] = float(acc[i] + scale·g[i]) computed in double (JavaScript's `acc[i] += scale * g[i]`, bit for bit).
void accumulate_scaled(float* acc, const float* g, long n, double scale);

}  // namespace ligo
