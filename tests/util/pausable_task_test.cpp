// PausableTask: the body runs only between Resume and its next Yield, in order, and an
// unfinished body is unwound (its destructors run, nothing after the pending Yield does).
#include "util/pausable_task.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace kvfuse::util {
namespace {

TEST(PausableTask, RunsTurnByTurn) {
  std::string trace;
  std::thread::id body_thread;
  PausableTask task([&] {
    body_thread = std::this_thread::get_id();
    trace = "abc";
  });
  EXPECT_EQ(trace, "");  // not before the first Resume
  EXPECT_TRUE(task.Resume());
  EXPECT_EQ(trace, "abc");
  EXPECT_NE(body_thread, std::this_thread::get_id());
  EXPECT_TRUE(task.Resume()) << "an ended task stays ended";
}

TEST(PausableTask, YieldHandsTheTurnBack) {
  std::string trace;
  PausableTask* self = nullptr;
  PausableTask task([&] {
    for (char c : std::string("abc")) {
      trace += c;
      self->Yield();
    }
    trace += '.';
  });
  self = &task;
  for (const char* expected : {"a", "ab", "abc"}) {
    EXPECT_FALSE(task.Resume());
    EXPECT_EQ(trace, expected);  // the body waits while the caller looks
  }
  EXPECT_TRUE(task.Resume());
  EXPECT_EQ(trace, "abc.");
  EXPECT_TRUE(task.done());
}

TEST(PausableTask, DestroyingAnUnfinishedTaskUnwindsItsBody) {
  struct Guard {
    bool* released;
    ~Guard() { *released = true; }
  };
  bool released = false, after_yield = false;
  {
    PausableTask* self = nullptr;
    PausableTask task([&] {
      Guard g{&released};
      self->Yield();
      after_yield = true;
    });
    self = &task;
    EXPECT_FALSE(task.Resume());
    EXPECT_FALSE(released);
  }
  EXPECT_TRUE(released);
  EXPECT_FALSE(after_yield);
}

TEST(PausableTask, NeverResumedNeverRuns) {
  bool ran = false;
  { PausableTask task([&] { ran = true; }); }
  EXPECT_FALSE(ran);
}

}  // namespace
}  // namespace kvfuse::util
