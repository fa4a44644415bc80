#include "util/pausable_task.h"

#include "util/status.h"

namespace kvfuse::util {

PausableTask::PausableTask(std::function<void()> body) : body_(std::move(body)) {}

PausableTask::~PausableTask() {
  if (!thread_.joinable()) return;
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!done_) {
      abort_ = true;
      Pass(lock, Turn::kBody, Turn::kCaller);
    }
  }
  thread_.join();
}

void PausableTask::Pass(std::unique_lock<std::mutex>& lock, Turn to, Turn self) {
  turn_ = to;
  cv_.notify_all();
  cv_.wait(lock, [&] { return turn_ == self; });
}

bool PausableTask::Resume() {
  if (done_) return true;
  std::unique_lock<std::mutex> lock(mu_);
  if (!thread_.joinable()) {
    turn_ = Turn::kBody;
    thread_ = std::thread([this] { BodyThread(); });
    cv_.wait(lock, [&] { return turn_ == Turn::kCaller; });
  } else {
    Pass(lock, Turn::kBody, Turn::kCaller);
  }
  return done_;
}

void PausableTask::Yield() {
  std::unique_lock<std::mutex> lock(mu_);
  KVFUSE_CHECK(turn_ == Turn::kBody);
  Pass(lock, Turn::kCaller, Turn::kBody);
  if (abort_) throw Aborted{};
}

void PausableTask::BodyThread() {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return turn_ == Turn::kBody; });
  }
  try {
    body_();
  } catch (const Aborted&) {
  }
  std::lock_guard<std::mutex> lock(mu_);
  done_ = true;
  turn_ = Turn::kCaller;
  cv_.notify_all();
}

}  // namespace kvfuse::util
