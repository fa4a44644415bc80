// The scheduler's audits against the scripted executor: an audit runs only while no request
// waits or decodes, gives its KV back before a live request's first step (in the middle of
// its fused prefill as of its full one), starts that answer over afterwards and still ends
// compared; audits beyond the waiting limit are reported as dropped; modes that reuse no
// chunk KV are not audited; reading the slots does not disturb an audit.
#include <gtest/gtest.h>


#include "sched/scheduler.h"
#include "recorded_audits.h"
#include "scripted_executor.h"

namespace kvfuse::sched {
namespace {


GenerationRequest Audited(int32_t chunk_tokens, fuse::FusionMode mode = fuse::FusionMode::kNaive) {
  GenerationRequest r = Request({0, 1}, 2, {std::vector<int32_t>(chunk_tokens, 1), std::vector<int32_t>(chunk_tokens, 2)},
                                mode);
  r.audit = AuditTag{"docs", "q", false};
  return r;
}

bool IsAuditLine(const std::string& line) { return line.find(std::to_string(kAuditSequence)) != std::string::npos; }

// An audit whose fused prefill recomputes every chunk token (query at share 1) and whose
// full prefill is as long: about 100 steps each at the budget of 8, a millisecond apiece.
GenerationRequest LongAudit() {
  GenerationRequest r = Audited(400, fuse::FusionMode::kQuery);
  r.fusion.recompute_ratio = 1;
  return r;
}

int CountLines(FakeExecutor& exec, const std::string& prefix) {
  int n = 0;
  for (const auto& line : exec.log()) n += line.rfind(prefix, 0) == 0;
  return n;
}

// A live request arrives once the audit has run 5 units of `phase` ("step": its fused
// prefill, "evaluate": its full prefill).
void LiveRequestArrivesDuring(const std::string& phase) {
  FakeExecutor exec(1'000'000);
  exec.audit_delay_ms = 1;
  RecordedAudits events;
  SchedulerOptions o = Fixed(8, 2, 8);  // audit steps of at most 8 tokens
  o.audit_tokens = 4;
  Scheduler s(exec, events, o);
  auto audited = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(LongAudit(), audited));
  Collect(*audited);
  const std::string audit_prefix = phase + " " + std::to_string(kAuditSequence);
  const auto started = std::chrono::steady_clock::now();
  while (CountLines(exec, audit_prefix) < 5 && std::chrono::steady_clock::now() - started < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_GE(CountLines(exec, audit_prefix), 5) << "the audit's " << phase << " phase started";

  auto live = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(Request(std::vector<int32_t>(20, 3), 3), live));
  EXPECT_EQ(Collect(*live).text, Expected(3, 3));
  const std::vector<AuditOutcome> audits = events.WaitFor(1);
  ASSERT_EQ(audits.size(), 1u);
  EXPECT_EQ(audits[0].result, AuditOutcome::Result::kCompared) << audits[0].error;
  EXPECT_EQ(audits[0].tag.collection, "docs");
  EXPECT_FALSE(exec.audit_held_kv_during_live_work()) << "the audit released its sequence before live work";
  EXPECT_EQ(exec.audit_releases(), 3) << "once given way, then once after each answer";

  // From the live request's first call to its last decode, no audit work ran; the phase it
  // interrupted started over after it.
  const std::vector<std::string> log = exec.log();
  size_t first_live = 0, last_live = 0, audit_after = 0;
  for (size_t i = 0; i < log.size(); ++i) {
    if (log[i].rfind("prefill 0 ", 0) == 0) first_live = i;  // only the live (plain) prompt prefills whole
    if (first_live && log[i].rfind("decode", 0) == 0) last_live = i;
  }
  ASSERT_GT(first_live, 0u);
  ASSERT_GT(last_live, first_live);
  for (size_t i = 0; i < log.size(); ++i) {
    if (!IsAuditLine(log[i])) continue;
    EXPECT_FALSE(i > first_live && i < last_live) << "audit work at line " << i << ": " << log[i];
    audit_after += i > last_live && log[i].rfind(audit_prefix, 0) == 0;
  }
  EXPECT_GT(audit_after, 5u) << "the interrupted phase ran again after the live request";
}

TEST(SchedulerAudit, GivesWayToALiveRequestInTheMiddleOfItsFusedPrefill) { LiveRequestArrivesDuring("step"); }

TEST(SchedulerAudit, GivesWayToALiveRequestInTheMiddleOfItsFullPrefill) { LiveRequestArrivesDuring("evaluate"); }

TEST(SchedulerAudit, ReadingTheSlotsDoesNotDisturbAnAudit) {
  FakeExecutor exec(1'000'000);
  exec.audit_delay_ms = 1;
  RecordedAudits events;
  SchedulerOptions o = Fixed(8, 2, 8);
  o.audit_tokens = 4;
  Scheduler s(exec, events, o);
  auto audited = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(LongAudit(), audited));
  Collect(*audited);
  int reads = 0;
  for (const auto start = std::chrono::steady_clock::now();
       exec.audit_releases() < 2 && std::chrono::steady_clock::now() - start < std::chrono::seconds(20); ++reads) {
    EXPECT_EQ(s.Slots().size(), 2u);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const std::vector<AuditOutcome> audits = events.WaitFor(1);
  ASSERT_EQ(audits.size(), 1u);
  EXPECT_EQ(audits[0].result, AuditOutcome::Result::kCompared);
  EXPECT_GT(reads, 20);
  EXPECT_EQ(exec.audit_releases(), 2) << "never abandoned: once after each answer";
}

TEST(SchedulerAudit, AuditsBeyondTheWaitingLimitAreReportedDropped) {
  FakeExecutor exec(1'000'000);
  RecordedAudits events;
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
  RecordedAudits events;
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
