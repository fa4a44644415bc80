#include "sched/generation.h"

#include <algorithm>

namespace kvfuse::sched {

void GenerationChannel::Push(std::string piece, std::optional<TokenLogprob> logprob) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    pieces_.emplace_back(std::move(piece), std::move(logprob));
  }
  cv_.notify_all();
}

void GenerationChannel::Finish(GenerationResult result) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    result_ = std::move(result);
    done_ = true;
  }
  cv_.notify_all();
}

std::optional<std::string> GenerationChannel::Next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !pieces_.empty() || done_; });
  if (pieces_.empty()) return std::nullopt;
  std::string piece = std::move(pieces_.front().first);
  piece_logprob_ = std::move(pieces_.front().second);
  pieces_.pop_front();
  return piece;
}

bool GenerationChannel::WaitPiece(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return !pieces_.empty() || done_; });
}

bool GenerationChannel::WaitDone(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const bool done = cv_.wait_for(lock, timeout, [&] { return done_; });
  pieces_.clear();  // its reader wants the result only: a long answer is not held twice
  return done;
}

std::string StopMatcher::Push(const std::string& text) {
  if (stopped_) return "";
  held_ += text;
  size_t first = std::string::npos;
  for (const std::string& s : stops_)
    if (!s.empty() && held_.find(s) < first) {
      first = held_.find(s);
      matched_ = s;
    }
  if (first != std::string::npos) {
    stopped_ = true;
    std::string out = held_.substr(0, first);
    held_.clear();
    return out;
  }
  // Keep the longest tail that is a proper prefix of some stop string.
  size_t keep = 0;
  for (const std::string& s : stops_) {
    if (s.empty()) continue;
    for (size_t n = std::min(s.size() - 1, held_.size()); n > keep; --n)
      if (held_.compare(held_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

std::string StopMatcher::Flush() {
  std::string out = stopped_ ? "" : held_;
  held_.clear();
  return out;
}

}  // namespace kvfuse::sched
