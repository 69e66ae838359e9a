// A small persistent thread pool: parallel_for(n, fn) runs fn(0..n-1) on the pool's threads plus the caller.
// Threads: LIGO_THREADS if set, else 2 (capped at the hardware's count). Workers spin briefly after a job,
// then sleep on a condition variable, so back-to-back kernels do not pay a wake-up each.
#pragma once
#include <functional>

namespace ligo {

int num_threads();
// Runs fn(i) for i in [0, n). Nested calls (from inside a task) run inline on the calling thread.
void parallel_for(int n, const std::function<void(int)>& fn);
// Splits [0, total) into about num_threads() contiguous chunks of at least `grain` items and runs
// fn(begin, end) on each.
void parallel_range(long total, long grain, const std::function<void(long, long)>& fn);

}  // namespace ligo
