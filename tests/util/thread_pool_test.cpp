#include "util/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace kvfuse::util {

TEST(ThreadPool, EveryItemRunsExactlyOnceForManyShapes) {
  for (int n_threads : {1, 2, 3, 5}) {
    ThreadPool pool(n_threads);
    for (int64_t n : {1, 2, 7, 16, 100, 1001}) {
      for (int64_t grain : {1, 4, 16}) {
        std::vector<std::atomic<int>> hits(n);
        pool.ParallelFor(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
        }, grain);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 1) << "threads " << n_threads << " n " << n << " grain " << grain;
      }
    }
  }
}

TEST(ThreadPool, EachItemRunsExactlyOnceAloneAndAFreeThreadTakesTheNext) {
  for (int n_threads : {1, 2, 3, 5}) {
    ThreadPool pool(n_threads);
    for (int64_t n : {1, 2, 7, 100}) {
      std::vector<std::atomic<int>> hits(n);
      pool.ParallelForEach(n, [&](int64_t b, int64_t e) {
        ASSERT_EQ(e, b + 1);
        hits[b].fetch_add(1);
      });
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "threads " << n_threads << " n " << n;
    }
  }
  // One slow first item: with equal shares its thread would also own items 1-3 and the job
  // would never end (a hang, which ctest's timeout fails); taken one at a time, the other
  // thread runs every other item meanwhile.
  ThreadPool pool(2);
  std::atomic<bool> first_done{false};
  std::atomic<int> ran_while_first{0};
  pool.ParallelForEach(8, [&](int64_t b, int64_t) {
    if (b == 0) {
      while (ran_while_first.load() < 7) std::this_thread::yield();
      first_done = true;
    } else if (!first_done) {
      ran_while_first.fetch_add(1);
    }
  });
  EXPECT_EQ(ran_while_first.load(), 7);
}

// A worker asleep (idle past its spins) wakes late; the owner, done with its own share, runs
// the worker's rather than waiting for it. At least once in 20 tries.
TEST(ThreadPool, TheOwnerRunsASleepingWorkersShare) {
  ThreadPool pool(2);
  int owner_ran_both = 0;
  for (int attempt = 0; attempt < 20 && owner_ran_both == 0; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));  // the worker goes to sleep
    std::thread::id ran[2];
    pool.ParallelFor(2, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) ran[i] = std::this_thread::get_id();
    });
    if (ran[0] == std::this_thread::get_id() && ran[1] == std::this_thread::get_id()) ++owner_ran_both;
  }
  EXPECT_GT(owner_ran_both, 0) << "the owner always waited for the worker's share";
}

TEST(ThreadPool, ManySmallJobsInARow) {
  for (int n_threads : {2, 5}) {  // 5 on this machine's 2 cores: workers often late, shares taken
    ThreadPool pool(n_threads);
    std::atomic<int64_t> sum{0};
    for (int job = 0; job < 5000; ++job) {
      if (job % 2) {
        pool.ParallelFor(4, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
      } else {
        pool.ParallelForEach(3, [&](int64_t b, int64_t e) { sum.fetch_add(e - b); });
      }
    }
    EXPECT_EQ(sum.load(), 2500 * 4 + 2500 * 3) << n_threads << " threads";
  }
}

}  // namespace kvfuse::util
