// Embedding lookup: out[n, :] = table[ids[n], :]; backward scatter-adds dout rows into dtable[V,C].
// The backward splits the C columns between threads, so no two threads touch the same element.
#include <cstring>

#include "kernels.h"
#include "threadpool.h"

namespace ligo {

void embedding_forward(const float* table, const int32_t* ids, int N, int C, float* out) {
  parallel_range(N, 256, [&](long r0, long r1) {
    for (long n = r0; n < r1; n++) std::memcpy(out + n * C, table + (long)ids[n] * C, sizeof(float) * C);
  });
}

void embedding_backward(const float* dout, const int32_t* ids, int N, int C, int V, float* dtable) {
  std::memset(dtable, 0, sizeof(float) * (size_t)V * C);
  parallel_range(C, 64, [&](long c0, long c1) {
    for (long n = 0; n < N; n++) {
      float* dst = dtable + (long)ids[n] * C;
      const float* src = dout + n * C;
      for (long c = c0; c < c1; c++) dst[c] += src[c];
    }
  });
}

}  // namespace ligo
