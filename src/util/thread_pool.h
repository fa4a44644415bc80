// A fork-join pool for data-parallel kernels.
//
// Threading: ParallelFor and ParallelForEach must be called from one thread at a time (the
// owner); each returns when every share of the job has run. Workers spin 200 us between jobs
// (a decode step issues hundreds of small jobs) and then sleep on a condition variable. A
// share is run by the first thread to claim it: the owner, done with its own, takes the shares
// of workers that have not started (descheduled by other threads of the process, an HTTP
// server's, a disk writer's), rather than spinning until they do.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kvfuse::util {

class ThreadPool {
 public:
  // fn(begin, end): process items [begin, end).
  using RangeFn = std::function<void(int64_t begin, int64_t end)>;

  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // Splits [0, n_items) into n_threads contiguous ranges whose sizes are multiples of
  // `grain` (except the last) and runs them in parallel.
  void ParallelFor(int64_t n_items, const RangeFn& fn, int64_t grain = 1);
  // Runs fn(i, i + 1) for every i in [0, n_items), each thread taking the next item not yet
  // taken: for items of unequal cost (put the costliest first), where equal shares of the
  // items would leave one thread waiting on another.
  void ParallelForEach(int64_t n_items, const RangeFn& fn);

 private:
  void WorkerLoop(int worker_index);
  // Publishes the job, runs the owner's share and any share no worker claimed; returns when
  // every share has run.
  void Run(const RangeFn& fn, int64_t n_items, int64_t grain);
  // Runs share `index` if no thread has claimed it yet.
  void TryShare(int index);
  void RunShare(int thread_index);

  const int n_threads_;
  std::vector<std::thread> workers_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};  // shares of the current job not yet run
  // One per share: set by the thread that runs it; all set between jobs.
  std::unique_ptr<std::atomic<bool>[]> claimed_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<int> n_sleeping_{0};

  // The current job; written by the owner before the shares are unclaimed (a thread reads
  // them only after claiming one).
  const RangeFn* job_ = nullptr;
  int64_t n_items_ = 0;
  int64_t grain_ = 1;
  bool each_ = false;  // items taken one at a time from next_item_
  std::atomic<int64_t> next_item_{0};
};

}  // namespace kvfuse::util
