#include "threadpool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

namespace ligo {
namespace {

inline void cpu_relax() {
#if LIGO_X86
  _mm_pause();
#endif
}

thread_local bool t_in_task = false;

class Pool {
 public:
  explicit Pool(int threads) : threads_(threads < 1 ? 1 : threads) {
    for (int i = 1; i < threads_; i++) workers_.emplace_back([this] { worker(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
      gen_.fetch_add(1);
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int threads() const { return threads_; }

  void run(int n, const std::function<void(int)>& fn) {
    if (n <= 0) return;
    if (n == 1 || threads_ == 1 || t_in_task) {
      for (int i = 0; i < n; i++) fn(i);
      return;
    }
    fn_ = &fn;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    active_.store((int)workers_.size(), std::memory_order_relaxed);
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_.fetch_add(1, std::memory_order_release);
      wake = sleepers_ > 0;
    }
    if (wake) cv_.notify_all();
    work();
    while (active_.load(std::memory_order_acquire) != 0) cpu_relax();
    fn_ = nullptr;
  }

 private:
  void work() {
    t_in_task = true;
    for (;;) {
      int i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_) break;
      (*fn_)(i);
    }
    t_in_task = false;
  }

  void worker() {
    uint64_t seen = 0;  // the generation at construction (a worker may start after the first job)
    for (;;) {
      // Spin ~200 µs for the next job, then sleep.
      auto t0 = std::chrono::steady_clock::now();
      int spins = 0;
      while (gen_.load(std::memory_order_acquire) == seen) {
        cpu_relax();
        if (++spins % 256 == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(200)) {
          std::unique_lock<std::mutex> lk(mu_);
          sleepers_++;
          cv_.wait(lk, [&] { return gen_.load() != seen; });
          sleepers_--;
        }
      }
      seen = gen_.load(std::memory_order_acquire);
      if (stop_) return;
      work();
      active_.fetch_sub(1, std::memory_order_release);
    }
  }

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> next_{0};
  std::atomic<int> active_{0};
  int sleepers_ = 0;
  bool stop_ = false;
  const std::function<void(int)>* fn_ = nullptr;
  int n_ = 0;
};

int threads_from_env() {
  int hw = (int)std::thread::hardware_concurrency();
  if (hw < 1) hw = 1;
  const char* s = std::getenv("LIGO_THREADS");
  if (s && *s) {
    int n = std::atoi(s);
    if (n >= 1) return n > 256 ? 256 : n;
  }
  return hw < 2 ? hw : 2;
}

Pool& pool() {
  static Pool* p = new Pool(threads_from_env());  // never destroyed: workers die with the process
  return *p;
}

}  // namespace

int num_threads() { return pool().threads(); }

void parallel_for(int n, const std::function<void(int)>& fn) { pool().run(n, fn); }

void parallel_range(long total, long grain, const std::function<void(long, long)>& fn) {
  if (total <= 0) return;
  int nt = num_threads();
  long chunks = grain > 0 ? total / grain : nt;
  if (chunks < 1) chunks = 1;
  if (chunks > nt) chunks = nt;
  if (chunks == 1) {
    fn(0, total);
    return;
  }
  long per = (total + chunks - 1) / chunks;
  parallel_for((int)chunks, [&](int c) {
    long b = c * per, e = b + per < total ? b + per : total;
    if (b < e) fn(b, e);
  });
}

}  // namespace ligo
