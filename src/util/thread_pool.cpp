#include "util/thread_pool.h"

#include <algorithm>
#include <chrono>

#if defined(__x86_64__)
#include <immintrin.h>
#define KVFUSE_CPU_RELAX() _mm_pause()
#else
#define KVFUSE_CPU_RELAX() ((void)0)
#endif

namespace kvfuse::util {

namespace {
// An idle worker spins this long for the next job, then sleeps: long enough to span the
// owner's serial work between the jobs of a forward pass (microseconds), short enough not to
// hold a core through the scheduler's work between iterations, which the server's other
// threads need on a small machine.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(200);
// The owner waits for a share another thread is running: briefly spinning (shares are short),
// then yielding, so that a thread descheduled mid-share gets the core back.
constexpr int kSpinsBeforeYield = 4000;
}

ThreadPool::ThreadPool(int n_threads)
    : n_threads_(std::max(1, n_threads)), claimed_(std::make_unique<std::atomic<bool>[]>(n_threads_)) {
  for (int i = 0; i < n_threads_; ++i) claimed_[i].store(true);
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::RunShare(int thread_index) {
  if (each_) {
    for (int64_t i; (i = next_item_.fetch_add(1, std::memory_order_relaxed)) < n_items_;) (*job_)(i, i + 1);
    return;
  }
  const int64_t n_chunks = (n_items_ + grain_ - 1) / grain_;
  const int64_t per_thread = (n_chunks + n_threads_ - 1) / n_threads_;
  const int64_t begin = std::min(n_items_, thread_index * per_thread * grain_);
  const int64_t end = std::min(n_items_, (thread_index + 1) * per_thread * grain_);
  if (begin < end) (*job_)(begin, end);
}

void ThreadPool::ParallelFor(int64_t n_items, const RangeFn& fn, int64_t grain) {
  if (n_items <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || n_items <= grain) {
    fn(0, n_items);
    return;
  }
  each_ = false;
  Run(fn, n_items, grain);
}

void ThreadPool::ParallelForEach(int64_t n_items, const RangeFn& fn) {
  if (n_items <= 0) return;
  if (n_threads_ == 1 || n_items == 1) {
    for (int64_t i = 0; i < n_items; ++i) fn(i, i + 1);
    return;
  }
  each_ = true;
  next_item_.store(0, std::memory_order_relaxed);
  Run(fn, n_items, 1);
}

void ThreadPool::Run(const RangeFn& fn, int64_t n_items, int64_t grain) {
  job_ = &fn;
  n_items_ = n_items;
  grain_ = grain;
  pending_.store(n_threads_);
  for (int i = 0; i < n_threads_; ++i) claimed_[i].store(false);  // after the job: claiming reads it
  {
    std::lock_guard<std::mutex> lock(mutex_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  if (n_sleeping_.load() > 0) wake_.notify_all();
  for (int i = 0; i < n_threads_; ++i) TryShare(i);  // its own first, then any left unclaimed
  // A share claimed and not finished: its thread is running it, or was descheduled in it.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinsBeforeYield) {
      KVFUSE_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
}

void ThreadPool::TryShare(int index) {
  if (claimed_[index].exchange(true)) return;
  RunShare(index);
  pending_.fetch_sub(1, std::memory_order_acq_rel);
}

void ThreadPool::WorkerLoop(int worker_index) {
  uint64_t seen = 0;
  while (true) {
    const auto spin_end = std::chrono::steady_clock::now() + kSpinBeforeSleep;
    uint64_t now;
    for (int spins = 1; (now = generation_.load(std::memory_order_acquire)) == seen; ++spins) {
      if (spins % 64 != 0 || std::chrono::steady_clock::now() < spin_end) {  // the clock now and then
        KVFUSE_CPU_RELAX();
        continue;
      }
      std::unique_lock<std::mutex> lock(mutex_);
      n_sleeping_.fetch_add(1);
      wake_.wait(lock, [&] { return generation_.load() != seen; });
      n_sleeping_.fetch_sub(1);
    }
    seen = now;
    if (stop_.load()) return;
    TryShare(worker_index);
  }
}

}  // namespace kvfuse::util
