// A function run a step at a time on a thread of its own, taking turns with its caller:
// Resume() lets the body run until it calls Yield() or returns, and waits for that. Exactly
// one of the two threads runs at any moment, and each turn hands over under a mutex, so
// the body may use what the caller uses between turns without further locking. This is
// how straight-line code (a fused prefill) is divided into budgeted steps without being
// rewritten as a state machine.
//
// Destroying an unfinished task unwinds its body: the pending Yield() throws
// PausableTask::Aborted, which the body must let pass (RAII undoes what it holds).
//
// Threading: Resume, done and the destructor belong to one caller thread; Yield to the body.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace kvfuse::util {

class PausableTask {
 public:
  struct Aborted {};

  // The body does not start before the first Resume.
  explicit PausableTask(std::function<void()> body);
  ~PausableTask();
  PausableTask(const PausableTask&) = delete;
  PausableTask& operator=(const PausableTask&) = delete;

  // Caller: runs the body until it yields or ends; true once it has ended.
  bool Resume();
  bool done() const { return done_; }

  // Body: hands the turn back to the caller until the next Resume.
  void Yield();

 private:
  enum class Turn { kCaller, kBody };
  void BodyThread();
  // Gives the turn to `to` and waits until it comes back to `self`.
  void Pass(std::unique_lock<std::mutex>& lock, Turn to, Turn self);

  std::function<void()> body_;
  std::mutex mu_;
  std::condition_variable cv_;
  Turn turn_ = Turn::kCaller;
  bool abort_ = false;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace kvfuse::util
