// A small persistent thread pool: parallel_for(n, fn) runs fn(0..n-1) on the pool's threads plus the caller.
// Threads: LIGO_THREADS if set, else 2 (capped at the hardware's count). Workers spin briefly after a job,
// then sleep on a condition variable, so back-to-back kernels do not pay a wake-up each.
#pragma once
#include <functional>

namespace ligo {

int num_threads();
// Reductions over rows (column sums, layer-norm parameter gradients, the cross-entropy total) add per-part partial
// sums in part order over this many fixed parts, whatever the thread count, so a run's numbers do not depend on
// LIGO_THREADS or the machine's cores. 2 is the default thread count: every run made with the default keeps its
// numbers bit for bit.
constexpr int kReduceParts = 2;
// Runs fn(i) for i in [0, n). Nested calls (from inside a task) run inline on the calling thread.
void parallel_for(int n, const std::function<void(int)>& fn);
// Splits [0, total) into about num_threads() contiguous chunks of at least `grain` items and runs
// fn(begin, end) on each.
void parallel_range(long total, long grain, const std::function<void(long, long)>& fn);

}  // namespace ligo
