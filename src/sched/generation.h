// One generation request as the scheduler runs it, and the channel its results come back on.
// The caller (the HTTP side) builds the prompt; the scheduler's thread owns the model.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fuse/fusion_options.h"
#include "fuse/fusion_stats.h"
#include "fuse/segmented_prompt.h"
#include "sched/sampler.h"
#include "util/status.h"

namespace kvfuse::sched {

// Whom a request's shadow audit is about (sched/fidelity_audit.h), for its report.
struct AuditTag {
  std::string collection;  // the request's collection ("" for documents sent with it)
  std::string question;
  // The request's recompute share was the server's controller's choice (it learns from
  // the audit), not the client's; the controller's epoch when it was chosen.
  bool controlled = false;
  uint64_t share_epoch = 0;
};

struct GenerationRequest {
  fuse::SegmentedPrompt prompt;
  fuse::FusionOptions fusion{fuse::FusionMode::kPrefix};
  SamplingParams sampling;
  int32_t max_tokens = 256;
  bool ignore_eos = false;  // generate max_tokens whatever the model says (benchmarks)
  std::vector<std::string> stop;
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  // When the request arrived, for its time to first token (queueing included); left at the
  // epoch, Scheduler::Submit sets it to the time of submission.
  std::chrono::steady_clock::time_point arrival{};
  // -1: no log probabilities; k >= 0: every generated token's, with the k most likely.
  int32_t logprobs = -1;
  // Set: once prefilled, the prompt is audited (a fused mode's answer against a full
  // prefill's) as background work; ignored for modes that reuse no chunk KV.
  std::optional<AuditTag> audit;
};

struct GenerationResult {
  std::string text;
  std::string finish_reason;  // "stop" or "length"
  std::string stopping_word;  // the stop string that ended it, if one did
  int32_t prompt_tokens = 0, cached_tokens = 0, completion_tokens = 0;
  double prompt_ms = 0, predicted_ms = 0;
  fuse::FusionStats fusion;
  // Not ok when the request failed after it was accepted; its code says whose the failure is:
  // kInvalidArgument the request's (a prompt no KV cache of this size holds, a grammar too
  // costly to follow), kUnavailable a busy server's (timed out waiting), others the engine's.
  util::Status error;
  bool cancelled = false;  // ended by GenerationChannel::Cancel before its own end
  std::vector<TokenLogprob> logprobs;  // one per completion token, when the request asked
};

// Pieces of text as they are generated, then the result. Written by the scheduler (Push,
// Finish), read by one HTTP thread (Next, WaitDone, result); `cancelled` goes the other way
// (the client went away, or the server is shutting down): Cancel from any thread.
class GenerationChannel {
 public:
  // One piece per generated token (its logprob when the request asked for them).
  void Push(std::string piece, std::optional<TokenLogprob> logprob = std::nullopt);
  void Finish(GenerationResult result);
  // Waits for the next piece (returned) or the end (nullopt; result() is then set).
  std::optional<std::string> Next();
  // Waits up to `timeout` for a piece or the end; true when Next will not block.
  bool WaitPiece(std::chrono::milliseconds timeout);
  // The logprob of the token whose piece Next returned last (reader's thread).
  const std::optional<TokenLogprob>& piece_logprob() const { return piece_logprob_; }
  // Waits up to `timeout` for the end, dropping the pieces so far (for a reader of the
  // result only); true once result() is set.
  bool WaitDone(std::chrono::milliseconds timeout);
  const GenerationResult& result() const { return result_; }
  void Cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, std::optional<TokenLogprob>>> pieces_;
  std::optional<TokenLogprob> piece_logprob_;  // the reader's
  bool done_ = false;
  GenerationResult result_;
  std::atomic<bool> cancelled_{false};
};

// Holds back text that could be the start of a stop string; finds whole ones.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds text; returns what may be emitted now. stopped() is set once a stop string
  // appeared (it and everything after it are dropped).
  std::string Push(const std::string& text);
  std::string Flush();  // what is held back, at the end
  bool stopped() const { return stopped_; }
  // The stop string found, once stopped (the earliest in the text).
  const std::string& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace kvfuse::sched
