// Shadow audits of fused prefills: a fused request's prompt is prefilled again by its fusion
// mode and by a full prefill, each followed by greedy tokens, and the two answers compared
// (sched/answer_agreement). The scheduler runs audits as its lowest-priority work: Step only
// while no request waits or decodes, Abandon as soon as one comes (the audit's sequence is
// released at once; the answer it was computing starts over later). The full prefill runs in
// token pieces of the step's budget, so a step ends within about a budget of work.
//
// Threading: one thread (the scheduler's; `kvfuse ask --audit` calls Run on its own).
#pragma once

#include <cstddef>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fuse/fusion_options.h"
#include "fuse/fusion_stats.h"
#include "fuse/segmented_prompt.h"
#include "sched/answer_agreement.h"
#include "sched/executor.h"
#include "sched/generation.h"

namespace kvfuse::sched {

struct AuditJob {
  fuse::SegmentedPrompt prompt;
  fuse::FusionOptions fusion;  // the fused prefill's, as the request ran it
  AuditTag tag;
};

struct AuditOutcome {
  enum class Result {
    kCompared,  // both answers computed and compared
    kFailed,    // a prefill or decode failed (`error`)
    kDropped,   // not run: too many audits were waiting
  };
  Result result = Result::kCompared;
  AuditTag tag;
  fuse::FusionOptions fusion;
  AnswerComparison comparison;  // full prefill the reference, the fused one the candidate
  std::string fused_answer, full_answer;  // the greedy tokens' text
  fuse::FusionStats fused_stats;          // the audit's fused prefill
  std::string error;
};

// What one Step ran, and the audit's outcome when it ended there.
struct AuditStepResult {
  int32_t prefill_tokens = 0;  // prompt tokens of work (through every layer)
  int32_t answer_tokens = 0;   // greedy tokens generated (one forward pass each)
  std::optional<AuditOutcome> outcome;
};

class AuditRunner {
 public:
  // An audit abandoned this often for live work is dropped: the server is never idle long
  // enough to finish it, and it would hold the queue.
  static constexpr int kMaxRestarts = 16;

  // answer_tokens: greedy tokens generated after each prefill (the first from its logits);
  // max_pending: audits that may wait; seq: the sequence id audits use (no request's).
  AuditRunner(Executor& executor, int32_t answer_tokens, size_t max_pending, int32_t seq);
  ~AuditRunner();

  // Queues an audit; false (and nothing queued) when max_pending are waiting.
  bool Offer(AuditJob job);
  bool HasWork() const { return !pending_.empty(); }
  size_t pending() const { return pending_.size(); }
  // Runs the oldest audit's work until about `budget` tokens of prefill are done or
  // `deadline` passes, checked between units (a layer of the fused prefill, a piece of the
  // full one of at most the budget, one greedy token); at least one unit runs.
  AuditStepResult Step(int32_t budget, std::chrono::steady_clock::time_point deadline);
  // Gives way to live work: releases the audit's sequence; the answer in progress restarts
  // at the next Step (after kMaxRestarts, the audit is dropped). Nothing to do when no audit
  // holds the sequence.
  void Abandon();
  // One audit from start to end, on the calling thread (none may be pending).
  AuditOutcome Run(AuditJob job);

 private:
  struct Answer {
    std::vector<float> first_logits, logits;  // after the prompt; after the last token
    std::vector<int32_t> tokens;
    int32_t pos = 0;  // tokens in the sequence
    bool done = false;
  };
  enum class Phase { kFusedPrefill, kFullPrefill };
  util::Result<int32_t> FusedPrefillUnit(int32_t budget, bool first);
  util::Result<int32_t> FullPrefillUnit(int32_t budget);
  // One greedy token after `a`'s; done at answer_tokens or the end of the turn.
  util::Status AnswerToken(Answer& a);
  // The prompt prefilled into `a` (its last logits): its first greedy token.
  void Prefilled(Answer& a, std::vector<float> logits, int32_t pos);
  AuditOutcome Finish(AuditOutcome::Result result, std::string error);

  Executor& executor_;
  const int32_t answer_tokens_;
  const size_t max_pending_;
  const int32_t seq_;
  std::deque<AuditJob> pending_;  // the front one runs
  Phase phase_ = Phase::kFusedPrefill;
  bool holds_seq_ = false;
  int restarts_ = 0;  // of the front audit
  std::unique_ptr<PrefillSteps> fused_steps_;
  fuse::FusionStats fused_stats_;
  std::vector<int32_t> flat_;  // the front audit's prompt, for the full prefill
  Answer fused_, full_;
};

}  // namespace kvfuse::sched
