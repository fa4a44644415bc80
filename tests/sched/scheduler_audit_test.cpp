// The scheduler's audits against the scripted executor: an audit runs only while no request
// waits or decodes, gives its KV back before a live request's first step, starts its answer
// over afterwards and still ends compared; audits beyond the waiting limit are reported as
// dropped; modes that reuse no chunk KV are not audited.
#include <gtest/gtest.h>

#include <condition_variable>

#include "sched/scheduler.h"
#include "scripted_executor.h"

namespace kvfuse::sched {
namespace {

class AuditEvents final : public SchedulerEvents {
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
  std::vector<AuditOutcome> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(30), [&] { return audits_.size() >= n; });
    return audits_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<AuditOutcome> audits_;
};

GenerationRequest Audited(int32_t chunk_tokens, fuse::FusionMode mode = fuse::FusionMode::kNaive) {
  GenerationRequest r = Request({0, 1}, 2, {std::vector<int32_t>(chunk_tokens, 1), std::vector<int32_t>(chunk_tokens, 2)},
                                mode);
  r.audit = AuditTag{"docs", "q", false};
  return r;
}

bool IsAuditLine(const std::string& line) { return line.find(std::to_string(kAuditSequence)) != std::string::npos; }

TEST(SchedulerAudit, RunsOnlyWhileNothingLiveWaitsOrDecodesAndGivesWayAtOnce) {
  FakeExecutor exec(1'000'000);
  exec.audit_delay_ms = 1;  // an audit of about 100 pieces: a live request arrives during it
  AuditEvents events;
  SchedulerOptions o = Fixed(8, 2, 8);  // audit steps of at most 8 tokens
  o.audit_tokens = 4;
  Scheduler s(exec, events, o);
  auto audited = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Audited(400), audited));
  Collect(*audited);
  const auto audit_lines = [&] {
    int n = 0;
    for (const auto& line : exec.log()) n += IsAuditLine(line);
    return n;
  };
  const auto started = std::chrono::steady_clock::now();
  while (audit_lines() < 5 && std::chrono::steady_clock::now() - started < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_GE(audit_lines(), 5) << "the audit started once the request was done";

  auto live = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(20, 3), 3), live));
  EXPECT_EQ(Collect(*live).text, Expected(3, 3));
  const std::vector<AuditOutcome> audits = events.WaitFor(1);
  ASSERT_EQ(audits.size(), 1u);
  EXPECT_EQ(audits[0].result, AuditOutcome::Result::kCompared) << audits[0].error;
  EXPECT_TRUE(audits[0].comparison.answer_agrees());
  EXPECT_EQ(audits[0].tag.collection, "docs");
  EXPECT_FALSE(exec.audit_held_kv_during_live_work()) << "the audit released its sequence before live work";

  // From the live request's first call to its last decode, no audit work ran.
  const std::vector<std::string> log = exec.log();
  size_t first_live = 0, last_live = 0, audit_before = 0, audit_after = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].rfind("prefill 0 ", 0) == 0) first_live = i;  // only the live (plain) prompt prefills whole
    if (first_live && log[i].rfind("decode", 0) == 0) last_live = i;
  }
  ASSERT_GT(first_live, 0u);
  ASSERT_GT(last_live, first_live);
  for (size_t i = 0; i < log.size(); ++i) {
    if (!IsAuditLine(log[i])) continue;
    EXPECT_FALSE(i > first_live && i < last_live) << "audit work at line " << i << ": " << log[i];
    (i < first_live ? audit_before : audit_after) += 1;
  }
  EXPECT_GT(audit_before, 0u);
  EXPECT_GT(audit_after, 0u) << "the audit resumed after the live request";
}

TEST(SchedulerAudit, AuditsBeyondTheWaitingLimitAreReportedDropped) {
  FakeExecutor exec(1'000'000);
  AuditEvents events;
  SchedulerOptions o = Fixed(8, 4, 64);
  o.max_pending_audits = 1;
  Scheduler s(exec, events, o);
  std::vector<std::shared_ptr<GenerationChannel>> channels;
  {
    auto hold = exec.HoldPrefills();  // the three start together: no idle moment between them
    for (int i = 0; i < 3; ++i) {
      channels.push_back(std::make_shared<GenerationChannel>());
      ASSERT_TRUE(s.Submit(Audited(16), channels.back()));
    }
  }
  for (auto& c : channels) Collect(*c);
  const std::vector<AuditOutcome> audits = events.WaitFor(3);
  ASSERT_EQ(audits.size(), 3u);
  int dropped = 0, compared = 0;
  for (const auto& a : audits) {
    dropped += a.result == AuditOutcome::Result::kDropped;
    compared += a.result == AuditOutcome::Result::kCompared;
  }
  EXPECT_EQ(dropped, 2);
  EXPECT_EQ(compared, 1);
}

TEST(SchedulerAudit, ModesThatReuseNoChunkKvAreNotAudited) {
  FakeExecutor exec(1'000'000);
  AuditEvents events;
  Scheduler s(exec, events, Fixed(8, 2, 64));
  for (fuse::FusionMode mode : {fuse::FusionMode::kFull, fuse::FusionMode::kPrefix, fuse::FusionMode::kNaive}) {
    auto c = std::make_shared<GenerationChannel>();
    ASSERT_TRUE(s.Submit(Audited(16, mode), c));
    Collect(*c);
  }
  const std::vector<AuditOutcome> audits = events.WaitFor(1);
  ASSERT_EQ(audits.size(), 1u);
  EXPECT_EQ(audits[0].fusion.mode, fuse::FusionMode::kNaive);
}

}  // namespace
}  // namespace kvfuse::sched
