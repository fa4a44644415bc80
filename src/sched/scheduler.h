// Continuous batching on one thread that owns the executor (Sarathi-Serve's shape): up to
// `slots` requests are live at once, each in its own sequence. Every iteration first runs
// one token for every decoding request, all in one batched forward pass, then prefill work
// in admission order within a token budget (IterationBudget: what keeps the decoding
// streams near --tpot-target-ms, at most --batch-tokens):
//   - a plain prompt in pieces (the first piece also takes what the prefix cache holds),
//   - a RAG prompt in steps of its whole prefill (missing chunks computed, the fused or
//     exact prefill), which the executor pauses between layers or pieces of a layer's
//     tokens (PrefillSteps).
// So decoding waits for about one budget of prefill at most. When the KV pool has no block
// for a decode, the most recently admitted request is preempted: its sequence is released
// and it waits again at the front of the queue, restarting later (text it already sent is
// not sent twice). A request whose client went away is dropped at its next step, its blocks
// back to the pool. Requests that ask for an audit (GenerationRequest::audit) are audited
// once prefilled as the lowest-priority work (sched/fidelity_audit.h): an audit steps only
// while no request waits or decodes, in steps of about tpot_target_ms, and gives its KV back
// as soon as one comes.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "sched/executor.h"
#include "sched/fidelity_audit.h"
#include "sched/generation.h"
#include "sched/iteration_budget.h"

namespace kvfuse::sched {

// What the scheduler reports as it goes (the server's metrics); called on its thread.
class SchedulerEvents {
 public:
  virtual ~SchedulerEvents() = default;
  // Once per request, when its prompt is first prefilled (not again when a preempted request
  // restarts, so prompt and cache counts are of requests): its time from admission, its stats.
  virtual void ObservePrefill(double seconds, const fuse::FusionStats& stats) = 0;
  // One iteration that ran any work: the prefill tokens it ran and its duration.
  virtual void ObserveIteration(int32_t /*prefill_tokens*/, double /*seconds*/) {}
  // Once per request, when its first token is sampled: the time since its arrival
  // (GenerationRequest::arrival), so queueing counts.
  virtual void ObserveFirstToken(double /*seconds*/) {}
  virtual void ObserveInterToken(double seconds) = 0;
  virtual void ObserveCompletion(int32_t tokens) = 0;
  virtual void CountPreemption() = 0;
  virtual void SetQueueLength(size_t n) = 0;
  virtual void SetKvUsage(int64_t used_blocks, int64_t total_blocks) = 0;
  // Each audit that ended: compared, failed, or dropped because too many were waiting.
  virtual void ObserveAudit(const AuditOutcome& /*outcome*/) {}
};

// What one slot is doing, for llama-server's /slots.
struct SlotState {
  int id = 0;
  bool processing = false;
  bool decoding = false;         // false while its prompt is prefilled
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
};

struct SchedulerOptions {
  size_t max_queue = 64;
  int slots = 4;
  // Tokens one iteration may run at most: decodes first, prefill work with the rest (at
  // least IterationBudget::kMinPrefillTokens, so prefill never starves behind decodes).
  int32_t batch_tokens = 512;
  // While requests decode, an iteration's prefill is sized so that its duration stays near
  // this (0: no target, batch_tokens always).
  double tpot_target_ms = 50;
  // Or to this many of its measured decode steps (a target that follows the machine's speed);
  // with both set, the shorter (0: off).
  double tpot_target_decode_steps = 0;
  // Audits: greedy tokens compared after each prefill, and how many may wait (0: none run).
  int32_t audit_tokens = 16;
  size_t max_pending_audits = 8;
};

class Scheduler {
 public:
  Scheduler(Executor& executor, SchedulerEvents& events, SchedulerOptions options);
  ~Scheduler();

  // False when the queue is full. Any thread.
  bool Submit(GenerationRequest request, std::shared_ptr<GenerationChannel> channel);
  // Runs fn on the scheduler's thread between iterations and waits for it (for work that
  // needs the executor's model itself, such as embeddings). `uses_kv`: fn may need KV blocks
  // (an audit in progress gives its own back first); false for reads of state.
  void RunExclusive(const std::function<void()>& fn, bool uses_kv = true);
  // Every slot's state, read between iterations. Any thread but the scheduler's.
  std::vector<SlotState> Slots();

 private:
  struct Job {
    GenerationRequest request;
    std::shared_ptr<GenerationChannel> channel;
    size_t bytes_sent = 0;     // by an earlier, preempted run
    int32_t tokens_sent = 0;  // likewise
    bool start_observed = false;  // its prefill and first token reported, by an earlier run
  };
  struct Live;
  void Loop();
  // Moves waiting requests into free slots.
  void Admit();
  // Finishes the queued requests whose client is gone (under mu_): they waited for a slot
  // before, and a full queue of them refused every new request.
  void DropCancelledQueuedLocked();
  // Advances every decoding request by one token; returns how many tokens that was.
  int32_t DecodeStep();
  // Spends up to the budget of an iteration that decoded `decoding` streams on prefill work,
  // oldest request first; the tokens spent.
  int32_t PrefillStep(int32_t decoding);
  // One unit of `live`'s prefill; its cost in tokens, or an error. `first`: the iteration
  // has run no prefill yet (see PrefillSteps::Step).
  util::Result<int32_t> PrefillUnit(Live& live, int32_t budget, bool first);
  // Releases `live`'s sequence and puts its request back at the front of the queue; a
  // preemption when it held KV (a request that found no room for its prompt just waits).
  void Requeue(std::unique_ptr<Live> live);
  void StartDecoding(Live& live);
  // Samples the next token of `live` from its logits row and delivers it; true when done.
  bool Advance(Live& live, const float* logits);
  void Finish(Live& live);
  // The generated text the client has not been sent yet (by this run or a preempted one),
  // marked as sent.
  std::string TakeUnsent(Live& live);
  void PublishKvUsage();
  // scheduler_audits.cpp: queues a prefilled request's audit when it asked for one; runs a
  // step of audit work (only when nothing live waits or decodes).
  void OfferAudit(const GenerationRequest& request);
  void AuditStep();

  Executor& executor_;
  SchedulerEvents& events_;
  const SchedulerOptions options_;
  IterationBudget budget_;  // scheduler thread only
  std::unique_ptr<AuditRunner> auditor_;  // likewise; null when audits are off
  IterationBudget audit_budget_;  // likewise: audit steps' measured cost
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  struct Task {
    std::function<void()> fn;
    bool uses_kv = true;
  };
  std::deque<Task> tasks_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Live>> live_;  // scheduler thread only; in admission order
  // A prompt ran out of KV room: nothing is admitted until a live request ends (a retry before
  // then runs out again, its prefill wasted). Scheduler thread only.
  bool awaiting_room_ = false;
  std::thread thread_;
};

}  // namespace kvfuse::sched
