// Developer harness (not part of the addon): checks the GEMM against the reference and times it.
//   g++ -O3 -std=c++17 -pthread -Inative native/tools/gemm_bench.cc native/gemm.cc native/threadpool.cc native/cpu.cc
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include <cmath>

#include "../gemm.h"

using namespace ligo;

static double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

int main() {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  struct S { int batch, M, N, K; bool ta, tb; };
  std::vector<S> shapes = {{1, 1024, 1024, 1024, 0, 0}, {1, 1024, 1024, 1024, 0, 1}, {1, 1024, 1024, 1024, 1, 0},
                           {1, 2048, 384, 128, 0, 0}, {1, 2048, 128, 512, 0, 0}, {1, 2048, 128, 384, 0, 1},
                           {1, 128, 384, 2048, 1, 0}, {64, 128, 128, 32, 0, 1}, {64, 128, 32, 128, 0, 0},
                           {1, 45, 65, 33, 1, 1}};
  for (auto s : shapes) {
    long sa = (long)s.M * s.K, sb = (long)s.K * s.N, sc = (long)s.M * s.N;
    std::vector<float> A(sa * s.batch), B(sb * s.batch), C(sc * s.batch), R(sc);
    for (auto& x : A) x = (float)rand() / RAND_MAX - 0.5f;
    for (auto& x : B) x = (float)rand() / RAND_MAX - 0.5f;
    Gemm g;
    g.ta = s.ta; g.tb = s.tb; g.M = s.M; g.N = s.N; g.K = s.K;
    g.A = A.data(); g.B = B.data(); g.C = C.data();
    g.lda = s.ta ? s.M : s.K; g.ldb = s.tb ? s.K : s.N; g.ldc = s.N;
    gemm_batched(g, s.batch, sa, sb, sc);
    Gemm r = g; r.C = R.data();
    if ((double)s.M * s.N * s.K < 3e8) {
      gemm_reference(r);
      double maxd = 0;
      for (long i = 0; i < sc; i++) maxd = std::fmax(maxd, std::fabs(R[i] - C[i]));
      printf("  check maxdiff %.3g\n", maxd);
    }
    int reps = 0; double t0 = now(), t;
    do { gemm_batched(g, s.batch, sa, sb, sc); reps++; t = now() - t0; } while (t < 0.5);
    double best = 1e9;
    for (int i = 0; i < 5; i++) { double a = now(); for (int j = 0; j < reps / 5 + 1; j++) gemm_batched(g, s.batch, sa, sb, sc); best = std::fmin(best, (now() - a) / (reps / 5 + 1)); }
    printf("%3d x [%4d,%4d,%4d] ta=%d tb=%d  %7.1f GFLOP/s\n", s.batch, s.M, s.N, s.K, s.ta, s.tb, 2.0 * s.M * s.N * s.K * s.batch / best / 1e9);
  }
}
