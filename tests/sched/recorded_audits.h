// Scheduler events that record the audits it reports (and ignore the rest), for the tests of
// audits over the scripted executor and over the real engine.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#include "sched/scheduler.h"

namespace kvfuse::sched {

class RecordedAudits final : public SchedulerEvents {
 public:
  void ObservePrefill(double, const fuse::FusionStats&) override {}
  void ObserveInterToken(double) override {}
  void ObserveCompletion(int32_t) override {}
  void CountPreemption() override {}
  void SetQueueLength(size_t) override {}
  void SetKvUsage(int64_t, int64_t) override {}
  void ObserveAudit(const AuditOutcome& o) override {
    std::lock_guard<std::mutex> lock(mu_);
    audits_.push_back(o);
    cv_.notify_all();
  }
  // The audits so far once there are n (or after 60 s).
  std::vector<AuditOutcome> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(60), [&] { return audits_.size() >= n; });
    return audits_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<AuditOutcome> audits_;
};

}  // namespace kvfuse::sched
