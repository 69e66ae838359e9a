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

// Job protocol. A job is published by storing (job id << 32 | 0) into `claim_`; any thread takes item i by a
// CAS that increments the low half while the high half still names its job, so a worker that wakes late can
// never take an item of a later job. The caller runs items too and returns once `done_` counts all n items:
// it does not wait for workers that found nothing left to do. That matters on a busy machine, where a worker
// may not be scheduled for a whole time slice (~4 ms): the caller then simply runs every item itself instead of
// spinning for the worker to check in. While it waits on items a worker is running, the caller spins briefly,
// then yields its CPU (the worker may be queued behind it).
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
    uint32_t job = ++job_;
    fn_ = &fn;
    n_.store(n, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    claim_.store((uint64_t)job << 32, std::memory_order_release);
    bool wake;
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_.fetch_add(1, std::memory_order_release);
      wake = sleepers_ > 0;
    }
    if (wake) cv_.notify_all();
    work(job);
    int spins = 0;
    while (done_.load(std::memory_order_acquire) < n) {
      cpu_relax();
      if (++spins > 4096) std::this_thread::yield();
    }
    fn_ = nullptr;
  }

 private:
  // Takes the next item of job `job`; false when the job is finished or superseded.
  bool claim(uint32_t job, int& item) {
    uint64_t w = claim_.load(std::memory_order_acquire);
    for (;;) {
      if ((uint32_t)(w >> 32) != job) return false;
      int i = (int)(uint32_t)w;
      if (i >= n_.load(std::memory_order_relaxed)) return false;
      if (claim_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
        item = i;
        return true;
      }
    }
  }

  void work(uint32_t job) {
    t_in_task = true;
    int i;
    while (claim(job, i)) {
      (*fn_)(i);  // fn_ stays valid: the job cannot finish before this item is counted done
      done_.fetch_add(1, std::memory_order_acq_rel);
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
      work((uint32_t)(claim_.load(std::memory_order_acquire) >> 32));
    }
  }

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> gen_{0};
  std::atomic<uint64_t> claim_{0};
  std::atomic<int> n_{0};
  std::atomic<int> done_{0};
  uint32_t job_ = 0;  // written by the calling thread only
  int sleepers_ = 0;
  bool stop_ = false;
  const std::function<void(int)>* fn_ = nullptr;
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
