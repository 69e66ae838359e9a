// N-API bindings for the ligo kernels. Every entry point checks argument types and that each buffer is long
// enough for the shape it is given, and throws a TypeError/RangeError naming the argument otherwise, so a bad
// call from JS cannot read or write out of bounds.
#include <napi.h>

#include <string>
#include <vector>

#include "common.h"
#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace {

using namespace ligo;

struct Args {
  const Napi::CallbackInfo& info;
  const char* fn;

  [[noreturn]] void fail(const std::string& msg, bool range = false) const {
    std::string m = std::string(fn) + ": " + msg;
    if (range) throw Napi::RangeError::New(info.Env(), m);
    throw Napi::TypeError::New(info.Env(), m);
  }
  Napi::TypedArray typed(size_t i, napi_typedarray_type want, const char* name, const char* tname) const {
    if (i >= info.Length() || !info[i].IsTypedArray()) fail(std::string("argument '") + name + "' must be a " + tname);
    Napi::TypedArray t = info[i].As<Napi::TypedArray>();
    if (t.TypedArrayType() != want) fail(std::string("argument '") + name + "' must be a " + tname);
    return t;
  }
  float* f32(size_t i, const char* name, double need) const {
    Napi::Float32Array t = typed(i, napi_float32_array, name, "Float32Array").As<Napi::Float32Array>();
    if ((double)t.ElementLength() < need)
      fail(std::string("'") + name + "' has " + std::to_string(t.ElementLength()) + " elements, needs " +
               std::to_string((long long)need), true);
    return t.Data();
  }
  const int32_t* i32(size_t i, const char* name, long n, long bound) const {
    Napi::Int32Array t = typed(i, napi_int32_array, name, "Int32Array").As<Napi::Int32Array>();
    if ((long)t.ElementLength() < n)
      fail(std::string("'") + name + "' has " + std::to_string(t.ElementLength()) + " elements, needs " +
               std::to_string(n), true);
    const int32_t* p = t.Data();
    for (long k = 0; k < n; k++)
      if (p[k] < 0 || p[k] >= bound)
        fail(std::string("'") + name + "[" + std::to_string(k) + "] = " + std::to_string(p[k]) + " is outside [0, " +
                 std::to_string(bound) + ")", true);
    return p;
  }
  double num(size_t i, const char* name) const {
    if (i >= info.Length() || !info[i].IsNumber()) fail(std::string("argument '") + name + "' must be a number");
    return info[i].As<Napi::Number>().DoubleValue();
  }
  long dim(size_t i, const char* name) const {
    double v = num(i, name);
    if (v < 0 || v != (double)(long)v || v > 2147483647.0)
      fail(std::string("'") + name + "' must be a non-negative integer, got " + std::to_string(v), true);
    return (long)v;
  }
  bool flag(size_t i, const char* name) const {
    if (i >= info.Length() || !info[i].IsBoolean()) fail(std::string("argument '") + name + "' must be a boolean");
    return info[i].As<Napi::Boolean>().Value();
  }
};

// Elements an operand of `rows`×`cols` needs over `batch` items `stride` apart.
double span(long batch, long stride, long rows, long cols) {
  return batch == 0 ? 0.0 : (double)(batch - 1) * stride + (double)rows * cols;
}

// gemm(A, B, C, batch, M, N, K, transA, transB, strideA, strideB, strideC, alpha, beta)
Napi::Value Gemm_(const Napi::CallbackInfo& info) {
  Args a{info, "gemm"};
  long batch = a.dim(3, "batch"), M = a.dim(4, "M"), N = a.dim(5, "N"), K = a.dim(6, "K");
  bool ta = a.flag(7, "transA"), tb = a.flag(8, "transB");
  long sA = a.dim(9, "strideA"), sB = a.dim(10, "strideB"), sC = a.dim(11, "strideC");
  if (batch > 1 && sC < M * N) a.fail("strideC must be at least M·N (outputs may not overlap)", true);
  ligo::Gemm g;
  g.ta = ta;
  g.tb = tb;
  g.M = (int)M;
  g.N = (int)N;
  g.K = (int)K;
  g.A = a.f32(0, "A", span(batch, sA, M, K));
  g.B = a.f32(1, "B", span(batch, sB, K, N));
  g.C = a.f32(2, "C", span(batch, sC, M, N));
  g.alpha = (float)a.num(12, "alpha");
  g.beta = (float)a.num(13, "beta");
  g.lda = ta ? M : K;
  g.ldb = tb ? K : N;
  g.ldc = N;
  gemm_batched(g, (int)batch, sA, sB, sC);
  return info.Env().Undefined();
}

// layerNormForward(x, g, b, N, C, eps, y, mean, rstd)
Napi::Value LayerNormForward(const Napi::CallbackInfo& info) {
  Args a{info, "layerNormForward"};
  long N = a.dim(3, "N"), C = a.dim(4, "C");
  double NC = (double)N * C;
  layernorm_forward(a.f32(0, "x", NC), a.f32(1, "g", C), a.f32(2, "b", C), (int)N, (int)C, (float)a.num(5, "eps"),
                    a.f32(6, "y", NC), a.f32(7, "mean", N), a.f32(8, "rstd", N));
  return info.Env().Undefined();
}

// layerNormBackward(dy, x, g, mean, rstd, N, C, dx, dg, db)
Napi::Value LayerNormBackward(const Napi::CallbackInfo& info) {
  Args a{info, "layerNormBackward"};
  long N = a.dim(5, "N"), C = a.dim(6, "C");
  double NC = (double)N * C;
  layernorm_backward(a.f32(0, "dy", NC), a.f32(1, "x", NC), a.f32(2, "g", C), a.f32(3, "mean", N),
                     a.f32(4, "rstd", N), (int)N, (int)C, a.f32(7, "dx", NC), a.f32(8, "dg", C), a.f32(9, "db", C));
  return info.Env().Undefined();
}

// geluForward(x, y, n)
Napi::Value GeluForward(const Napi::CallbackInfo& info) {
  Args a{info, "geluForward"};
  long n = a.dim(2, "n");
  gelu_forward(a.f32(0, "x", n), n, a.f32(1, "y", n));
  return info.Env().Undefined();
}

// geluBackward(x, dy, dx, n)
Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Args a{info, "geluBackward"};
  long n = a.dim(3, "n");
  gelu_backward(a.f32(0, "x", n), a.f32(1, "dy", n), n, a.f32(2, "dx", n));
  return info.Env().Undefined();
}

// attentionForward(q, k, v, BH, T, HS, scale, out, P): q, k, v, out [BH,T,HS]
Napi::Value AttentionForward(const Napi::CallbackInfo& info) {
  Args a{info, "attentionForward"};
  long BH = a.dim(3, "BH"), T = a.dim(4, "T"), HS = a.dim(5, "HS");
  double n = (double)BH * T * HS, np = (double)BH * T * T;
  HeadLayout L = HeadLayout::heads(1, (int)T, (int)HS);
  attention_forward(a.f32(0, "q", n), a.f32(1, "k", n), a.f32(2, "v", n), L, (int)BH, 1, (int)T, (int)HS,
                    (float)a.num(6, "scale"), a.f32(7, "out", n), L, a.f32(8, "P", np));
  return info.Env().Undefined();
}

// attentionBackward(dout, q, k, v, P, BH, T, HS, scale, dq, dk, dv)
Napi::Value AttentionBackward(const Napi::CallbackInfo& info) {
  Args a{info, "attentionBackward"};
  long BH = a.dim(5, "BH"), T = a.dim(6, "T"), HS = a.dim(7, "HS");
  double n = (double)BH * T * HS, np = (double)BH * T * T;
  HeadLayout L = HeadLayout::heads(1, (int)T, (int)HS);
  attention_backward(a.f32(0, "dout", n), L, a.f32(1, "q", n), a.f32(2, "k", n), a.f32(3, "v", n), L,
                     a.f32(4, "P", np), (int)BH, 1, (int)T, (int)HS, (float)a.num(8, "scale"), a.f32(9, "dq", n),
                     a.f32(10, "dk", n), a.f32(11, "dv", n));
  return info.Env().Undefined();
}

// Shapes of the row-layout attention: B, T, NH, HS from argument `i` on, and ld (≥ NH·HS) at `ldi`. Returns the
// elements q, k, v (rows ld apart) need.
struct RowsShape {
  long B, T, NH, HS, ld;
  double in() const { return B * T == 0 ? 0.0 : (double)(B * T - 1) * ld + (double)NH * HS; }
  double out() const { return (double)B * T * NH * HS; }
  double probs() const { return (double)B * NH * T * T; }
};
RowsShape rows_shape(const Args& a, size_t ldi, size_t i) {
  RowsShape s{a.dim(i, "B"), a.dim(i + 1, "T"), a.dim(i + 2, "NH"), a.dim(i + 3, "HS"), a.dim(ldi, "ld")};
  if (s.ld < s.NH * s.HS) a.fail("ld must be at least NH·HS", true);
  return s;
}

// attentionRowsForward(q, k, v, ld, B, T, NH, HS, scale, out, P): q, k, v [B·T rows ld apart, head-major NH·HS
// columns]; out [B·T, NH·HS]
Napi::Value AttentionRowsForward(const Napi::CallbackInfo& info) {
  Args a{info, "attentionRowsForward"};
  RowsShape s = rows_shape(a, 3, 4);
  int T = (int)s.T, HS = (int)s.HS;
  attention_forward(a.f32(0, "q", s.in()), a.f32(1, "k", s.in()), a.f32(2, "v", s.in()),
                    HeadLayout::rows(T, HS, s.ld), (int)s.B, (int)s.NH, T, HS, (float)a.num(8, "scale"),
                    a.f32(9, "out", s.out()), HeadLayout::rows(T, HS, s.NH * s.HS), a.f32(10, "P", s.probs()));
  return info.Env().Undefined();
}

// attentionRowsBackward(dout, q, k, v, P, ld, B, T, NH, HS, scale, dq, dk, dv): dq, dk, dv rows ld apart
Napi::Value AttentionRowsBackward(const Napi::CallbackInfo& info) {
  Args a{info, "attentionRowsBackward"};
  RowsShape s = rows_shape(a, 5, 6);
  int T = (int)s.T, HS = (int)s.HS;
  attention_backward(a.f32(0, "dout", s.out()), HeadLayout::rows(T, HS, s.NH * s.HS), a.f32(1, "q", s.in()),
                     a.f32(2, "k", s.in()), a.f32(3, "v", s.in()), HeadLayout::rows(T, HS, s.ld),
                     a.f32(4, "P", s.probs()), (int)s.B, (int)s.NH, T, HS, (float)a.num(10, "scale"),
                     a.f32(11, "dq", s.in()), a.f32(12, "dk", s.in()), a.f32(13, "dv", s.in()));
  return info.Env().Undefined();
}

// crossEntropyForward(logits, targets, N, V, lse) → mean loss
Napi::Value CrossEntropyForward(const Napi::CallbackInfo& info) {
  Args a{info, "crossEntropyForward"};
  long N = a.dim(2, "N"), V = a.dim(3, "V");
  if (V < 1) a.fail("V must be ≥ 1", true);
  double loss = crossentropy_forward(a.f32(0, "logits", (double)N * V), a.i32(1, "targets", N, V), (int)N, (int)V,
                                     a.f32(4, "lse", N));
  return Napi::Number::New(info.Env(), loss);
}

// crossEntropyBackward(logits, targets, lse, N, V, dloss, dlogits)
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  Args a{info, "crossEntropyBackward"};
  long N = a.dim(3, "N"), V = a.dim(4, "V");
  if (V < 1) a.fail("V must be ≥ 1", true);
  crossentropy_backward(a.f32(0, "logits", (double)N * V), a.i32(1, "targets", N, V), a.f32(2, "lse", N), (int)N,
                        (int)V, (float)a.num(5, "dloss"), a.f32(6, "dlogits", (double)N * V));
  return info.Env().Undefined();
}

// embeddingForward(table, ids, N, C, V, out)
Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) {
  Args a{info, "embeddingForward"};
  long N = a.dim(2, "N"), C = a.dim(3, "C"), V = a.dim(4, "V");
  embedding_forward(a.f32(0, "table", (double)V * C), a.i32(1, "ids", N, V), (int)N, (int)C,
                    a.f32(5, "out", (double)N * C));
  return info.Env().Undefined();
}

// embeddingBackward(dout, ids, N, C, V, dtable)
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args a{info, "embeddingBackward"};
  long N = a.dim(2, "N"), C = a.dim(3, "C"), V = a.dim(4, "V");
  embedding_backward(a.f32(0, "dout", (double)N * C), a.i32(1, "ids", N, V), (int)N, (int)C, (int)V,
                     a.f32(5, "dtable", (double)V * C));
  return info.Env().Undefined();
}

// binary(op, a, na, b, nb, out, n): out[i] = a[i % na] op b[i % nb]; op 0 add, 1 sub, 2 mul, 3 div.
Napi::Value Binary(const Napi::CallbackInfo& info) {
  Args a{info, "binary"};
  long op = a.dim(0, "op"), na = a.dim(2, "na"), nb = a.dim(4, "nb"), n = a.dim(6, "n");
  if (op > 3) a.fail("op must be 0..3", true);
  if (n > 0 && (na == 0 || nb == 0 || n % na != 0 || n % nb != 0)) a.fail("na and nb must divide n", true);
  binary((BinOp)op, a.f32(1, "a", na), na, a.f32(3, "b", nb), nb, a.f32(5, "out", n), n);
  return info.Env().Undefined();
}

// biasAdd(y, b, N, D): y[N,D] += b[D]
Napi::Value BiasAdd(const Napi::CallbackInfo& info) {
  Args a{info, "biasAdd"};
  long N = a.dim(2, "N"), D = a.dim(3, "D");
  if (D == 0) return info.Env().Undefined();
  bias_add(a.f32(0, "y", (double)N * D), a.f32(1, "b", D), N, (int)D);
  return info.Env().Undefined();
}

// colSum(dy, N, D, db)
Napi::Value ColSum(const Napi::CallbackInfo& info) {
  Args a{info, "colSum"};
  long N = a.dim(1, "N"), D = a.dim(2, "D");
  col_sum(a.f32(0, "dy", (double)N * D), N, (int)D, a.f32(3, "db", D));
  return info.Env().Undefined();
}

// softmax(x, N, D, y)
Napi::Value Softmax(const Napi::CallbackInfo& info) {
  Args a{info, "softmax"};
  long N = a.dim(1, "N"), D = a.dim(2, "D");
  if (D == 0) return info.Env().Undefined();
  softmax_rows(a.f32(0, "x", (double)N * D), N, (int)D, a.f32(3, "y", (double)N * D));
  return info.Env().Undefined();
}

// transpose(x, shape: number[], perm: number[], out)
Napi::Value Transpose(const Napi::CallbackInfo& info) {
  Args a{info, "transpose"};
  if (info.Length() < 4 || !info[1].IsArray() || !info[2].IsArray()) a.fail("shape and perm must be arrays");
  Napi::Array sh = info[1].As<Napi::Array>(), pe = info[2].As<Napi::Array>();
  int rank = (int)sh.Length();
  if (rank > 8 || (int)pe.Length() != rank) a.fail("rank must be ≤ 8 and perm must match shape", true);
  std::vector<int> shape(rank), perm(rank), seen(rank, 0);
  double total = 1;
  for (int i = 0; i < rank; i++) {
    Napi::Value s = sh[(uint32_t)i], p = pe[(uint32_t)i];
    if (!s.IsNumber() || !p.IsNumber()) a.fail("shape and perm entries must be numbers");
    shape[i] = s.As<Napi::Number>().Int32Value();
    perm[i] = p.As<Napi::Number>().Int32Value();
    if (shape[i] < 0 || perm[i] < 0 || perm[i] >= rank || seen[perm[i]]++) a.fail("bad shape or perm", true);
    total *= shape[i];
  }
  transpose(a.f32(0, "x", total), shape.data(), perm.data(), rank, a.f32(3, "out", total));
  return info.Env().Undefined();
}

// adamwUpdate(param, grad, m, v, lr, beta1, beta2, eps, weightDecay, step)
Napi::Value AdamwUpdate(const Napi::CallbackInfo& info) {
  Args a{info, "adamwUpdate"};
  if (!info[0].IsTypedArray()) a.fail("argument 'param' must be a Float32Array");
  long n = (long)info[0].As<Napi::TypedArray>().ElementLength();
  float* p = a.f32(0, "param", n);
  adamw_update(p, a.f32(1, "grad", n), a.f32(2, "m", n), a.f32(3, "v", n), n, (float)a.num(4, "lr"),
               (float)a.num(5, "beta1"), (float)a.num(6, "beta2"), (float)a.num(7, "eps"),
               (float)a.num(8, "weightDecay"), (int)a.dim(9, "step"));
  return info.Env().Undefined();
}

// sumSquares(x) → Σ x² (double)
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Args a{info, "sumSquares"};
  if (!info[0].IsTypedArray()) a.fail("argument 'x' must be a Float32Array");
  long n = (long)info[0].As<Napi::TypedArray>().ElementLength();
  return Napi::Number::New(info.Env(), sum_squares(a.f32(0, "x", n), n));
}

// Length of the Float32Array argument i (the tensor size the other buffers are checked against).
long f32_length(const Args& a, size_t i, const char* name) {
  a.typed(i, napi_float32_array, name, "Float32Array");
  return (long)a.info[i].As<Napi::TypedArray>().ElementLength();
}

// An optional Float32Array: null/undefined gives nullptr.
float* f32_or_null(const Args& a, size_t i, const char* name, double need) {
  if (i < a.info.Length() && (a.info[i].IsNull() || a.info[i].IsUndefined())) return nullptr;
  return a.f32(i, name, need);
}

// cameUpdateMatrix(w, g, m, vRow, vCol, resRow, resCol, M, R, C, lr, decay, beta1, beta2, beta3, eps1, eps2, clip)
Napi::Value CameUpdateMatrix(const Napi::CallbackInfo& info) {
  Args a{info, "cameUpdateMatrix"};
  long M = a.dim(7, "M"), R = a.dim(8, "R"), C = a.dim(9, "C");
  double n = (double)M * R * C, rows = (double)M * R, cols = (double)M * C;
  float* w = a.f32(0, "w", n);
  const float* g = a.f32(1, "g", n);
  float* m = a.f32(2, "m", n);
  float* v_row = a.f32(3, "vRow", rows);
  float* v_col = a.f32(4, "vCol", cols);
  float* res_row = a.f32(5, "resRow", rows);
  float* res_col = a.f32(6, "resCol", cols);
  double lr = a.num(10, "lr"), decay = a.num(11, "decay"), b1 = a.num(12, "beta1"), b2 = a.num(13, "beta2"),
         b3 = a.num(14, "beta3"), eps1 = a.num(15, "eps1"), eps2 = a.num(16, "eps2"), clip = a.num(17, "clip");
  came_update_matrix(w, g, m, v_row, v_col, res_row, res_col, M, R, C, lr, decay, b1, b2, b3, eps1, eps2, clip);
  return info.Env().Undefined();
}

// cameUpdateVector(w, g, m, v, lr, decay, beta1, beta2, eps1, clip)
Napi::Value CameUpdateVector(const Napi::CallbackInfo& info) {
  Args a{info, "cameUpdateVector"};
  long n = f32_length(a, 0, "w");
  float* w = a.f32(0, "w", n);
  const float* g = a.f32(1, "g", n);
  float* m = a.f32(2, "m", n);
  float* v = a.f32(3, "v", n);
  double lr = a.num(4, "lr"), decay = a.num(5, "decay"), b1 = a.num(6, "beta1"), b2 = a.num(7, "beta2"),
         eps1 = a.num(8, "eps1"), clip = a.num(9, "clip");
  came_update_vector(w, g, m, v, n, lr, decay, b1, b2, eps1, clip);
  return info.Env().Undefined();
}

// adafactorUpdateMatrix(w, g, m | null, vRow, vCol, M, R, C, lr, decay, beta1, beta2, eps1, eps2, clip,
//                       scaleParameter)
Napi::Value AdafactorUpdateMatrix(const Napi::CallbackInfo& info) {
  Args a{info, "adafactorUpdateMatrix"};
  long M = a.dim(5, "M"), R = a.dim(6, "R"), C = a.dim(7, "C");
  double n = (double)M * R * C;
  float* w = a.f32(0, "w", n);
  const float* g = a.f32(1, "g", n);
  float* m = f32_or_null(a, 2, "m", n);
  float* v_row = a.f32(3, "vRow", (double)M * R);
  float* v_col = a.f32(4, "vCol", (double)M * C);
  double lr = a.num(8, "lr"), decay = a.num(9, "decay"), b1 = a.num(10, "beta1"), b2 = a.num(11, "beta2"),
         eps1 = a.num(12, "eps1"), eps2 = a.num(13, "eps2"), clip = a.num(14, "clip");
  bool scale = a.flag(15, "scaleParameter");
  adafactor_update_matrix(w, g, m, v_row, v_col, M, R, C, lr, decay, b1, b2, eps1, eps2, clip, scale);
  return info.Env().Undefined();
}

// adafactorUpdateVector(w, g, m | null, v, lr, decay, beta1, beta2, eps1, eps2, clip, scaleParameter)
Napi::Value AdafactorUpdateVector(const Napi::CallbackInfo& info) {
  Args a{info, "adafactorUpdateVector"};
  long n = f32_length(a, 0, "w");
  float* w = a.f32(0, "w", n);
  const float* g = a.f32(1, "g", n);
  float* m = f32_or_null(a, 2, "m", n);
  float* v = a.f32(3, "v", n);
  double lr = a.num(4, "lr"), decay = a.num(5, "decay"), b1 = a.num(6, "beta1"), b2 = a.num(7, "beta2"),
         eps1 = a.num(8, "eps1"), eps2 = a.num(9, "eps2"), clip = a.num(10, "clip");
  bool scale = a.flag(11, "scaleParameter");
  adafactor_update_vector(w, g, m, v, n, lr, decay, b1, b2, eps1, eps2, clip, scale);
  return info.Env().Undefined();
}

// The tensor spec shared by ligoGrowForward/Backward: arguments 0..11 are
// (srcs: Float32Array[], c: Float32Array | null, r1, c1, r2, c2, rowM, rowT, rowN, colM, colT, f); the row/column
// arrays may be null (rowM/colM only when that side does not grow). `srcs` is kept alive by the caller.
GrowSpec grow_spec(const Args& a, std::vector<const float*>& ptrs) {
  const Napi::CallbackInfo& info = a.info;
  if (info.Length() < 12 || !info[0].IsArray()) a.fail("argument 'srcs' must be an array of Float32Array");
  GrowSpec s;
  s.r1 = a.dim(2, "r1");
  s.c1 = a.dim(3, "c1");
  s.r2 = a.dim(4, "r2");
  s.c2 = a.dim(5, "c2");
  if (s.r2 < s.r1 || s.c2 < s.c1) a.fail("the grown shape [r2, c2] must be at least [r1, c1]", true);
  double n1 = (double)s.r1 * s.c1;
  Napi::Array arr = info[0].As<Napi::Array>();
  uint32_t L = arr.Length();
  bool mix = !(info[1].IsNull() || info[1].IsUndefined());
  if (mix ? L < 1 : L != 1) a.fail(mix ? "'srcs' must hold at least one block" : "'srcs' must hold exactly one tensor without 'c'", true);
  ptrs.resize(L);
  for (uint32_t j = 0; j < L; j++) {
    Napi::Value v = arr[j];
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      a.fail("'srcs[" + std::to_string(j) + "]' must be a Float32Array");
    Napi::Float32Array t = v.As<Napi::Float32Array>();
    if ((double)t.ElementLength() < n1)
      a.fail("'srcs[" + std::to_string(j) + "]' has " + std::to_string(t.ElementLength()) + " elements, needs " +
             std::to_string((long long)n1), true);
    ptrs[j] = t.Data();
  }
  s.src = ptrs.data();
  s.L = mix ? (int)L : 0;
  s.c = mix ? a.f32(1, "c", L) : nullptr;
  long er = s.r2 - s.r1, ec = s.c2 - s.c1;
  s.rowM = er > 0 ? a.f32(6, "rowM", (double)er * s.r1) : nullptr;
  s.rowT = er > 0 ? f32_or_null(a, 7, "rowT", (double)s.r1 * s.r1) : nullptr;
  s.rowN = f32_or_null(a, 8, "rowN", (double)s.r2);
  s.colM = ec > 0 ? a.f32(9, "colM", (double)ec * s.c1) : nullptr;
  s.colT = ec > 0 ? f32_or_null(a, 10, "colT", (double)s.c1 * s.c1) : nullptr;
  s.f = (float)a.num(11, "f");
  return s;
}

// ligoGrowForward(srcs, c, r1, c1, r2, c2, rowM, rowT, rowN, colM, colT, f, out)
Napi::Value LigoGrowForward(const Napi::CallbackInfo& info) {
  Args a{info, "ligoGrowForward"};
  std::vector<const float*> ptrs;
  GrowSpec s = grow_spec(a, ptrs);
  ligo_grow_forward(s, a.f32(12, "out", (double)s.r2 * s.c2));
  return info.Env().Undefined();
}

// ligoGrowBackward(srcs, c, r1, c1, r2, c2, rowM, rowT, rowN, colM, colT, f, G, dc, dRowM, dRowT, dColM, dColT):
// the gradient outputs may be null (not wanted) and are added into.
Napi::Value LigoGrowBackward(const Napi::CallbackInfo& info) {
  Args a{info, "ligoGrowBackward"};
  std::vector<const float*> ptrs;
  GrowSpec s = grow_spec(a, ptrs);
  const float* G = a.f32(12, "G", (double)s.r2 * s.c2);
  long er = s.r2 - s.r1, ec = s.c2 - s.c1;
  GrowGrads d;
  d.dc = s.L > 0 ? f32_or_null(a, 13, "dc", s.L) : nullptr;
  d.dRowM = er > 0 ? f32_or_null(a, 14, "dRowM", (double)er * s.r1) : nullptr;
  d.dRowT = er > 0 ? f32_or_null(a, 15, "dRowT", (double)s.r1 * s.r1) : nullptr;
  d.dColM = ec > 0 ? f32_or_null(a, 16, "dColM", (double)ec * s.c1) : nullptr;
  d.dColT = ec > 0 ? f32_or_null(a, 17, "dColT", (double)s.c1 * s.c1) : nullptr;
  ligo_grow_backward(s, G, d);
  return info.Env().Undefined();
}

// accumulateScaled(acc, g, scale): acc += scale·g, in double per element (JavaScript's arithmetic).
Napi::Value AccumulateScaled(const Napi::CallbackInfo& info) {
  Args a{info, "accumulateScaled"};
  long n = f32_length(a, 0, "acc");
  accumulate_scaled(a.f32(0, "acc", n), a.f32(1, "g", n), n, a.num(2, "scale"));
  return info.Env().Undefined();
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("isa", isa_name(active_isa()));
  o.Set("threads", num_threads());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("info", Napi::Function::New(env, Info, "info"));
  exports.Set("gemm", Napi::Function::New(env, Gemm_, "gemm"));
  exports.Set("layerNormForward", Napi::Function::New(env, LayerNormForward, "layerNormForward"));
  exports.Set("layerNormBackward", Napi::Function::New(env, LayerNormBackward, "layerNormBackward"));
  exports.Set("geluForward", Napi::Function::New(env, GeluForward, "geluForward"));
  exports.Set("geluBackward", Napi::Function::New(env, GeluBackward, "geluBackward"));
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward, "attentionForward"));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward, "attentionBackward"));
  exports.Set("attentionRowsForward", Napi::Function::New(env, AttentionRowsForward, "attentionRowsForward"));
  exports.Set("attentionRowsBackward", Napi::Function::New(env, AttentionRowsBackward, "attentionRowsBackward"));
  exports.Set("crossEntropyForward", Napi::Function::New(env, CrossEntropyForward, "crossEntropyForward"));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward, "crossEntropyBackward"));
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward, "embeddingForward"));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward, "embeddingBackward"));
  exports.Set("binary", Napi::Function::New(env, Binary, "binary"));
  exports.Set("biasAdd", Napi::Function::New(env, BiasAdd, "biasAdd"));
  exports.Set("colSum", Napi::Function::New(env, ColSum, "colSum"));
  exports.Set("softmax", Napi::Function::New(env, Softmax, "softmax"));
  exports.Set("transpose", Napi::Function::New(env, Transpose, "transpose"));
  exports.Set("adamwUpdate", Napi::Function::New(env, AdamwUpdate, "adamwUpdate"));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares, "sumSquares"));
  exports.Set("cameUpdateMatrix", Napi::Function::New(env, CameUpdateMatrix, "cameUpdateMatrix"));
  exports.Set("cameUpdateVector", Napi::Function::New(env, CameUpdateVector, "cameUpdateVector"));
  exports.Set("adafactorUpdateMatrix", Napi::Function::New(env, AdafactorUpdateMatrix, "adafactorUpdateMatrix"));
  exports.Set("adafactorUpdateVector", Napi::Function::New(env, AdafactorUpdateVector, "adafactorUpdateVector"));
  exports.Set("ligoGrowForward", Napi::Function::New(env, LigoGrowForward, "ligoGrowForward"));
  exports.Set("ligoGrowBackward", Napi::Function::New(env, LigoGrowBackward, "ligoGrowBackward"));
  exports.Set("accumulateScaled", Napi::Function::New(env, AccumulateScaled, "accumulateScaled"));
  return exports;
}

}  // namespace

NODE_API_MODULE(ligo_native, Init)
