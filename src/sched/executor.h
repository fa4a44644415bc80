// What the scheduler needs of a model runtime: sequences with their own KV (ids chosen by
// the scheduler), plain prefill, fused prefill in budgeted steps, and batched decode.
// engine::Runner implements it; the scheduler's tests use a scripted fake.
// Errors: StatusCode::kResourceExhausted from prefill work (PrefillSegments, Evaluate,
// PrefillSteps::Step) means no KV block was free: the scheduler requeues the request while
// others run. Any other error, and any error of DecodeBatch (ReserveForDecode makes room
// first), ends the request.
#pragma once

#include <climits>
#include <cstdint>
#include <memory>
#include <vector>

#include "fuse/fusion_options.h"
#include "fuse/fusion_stats.h"
#include "fuse/segmented_prompt.h"
#include "tokenizer/tokenizer.h"
#include "util/status.h"

namespace kvfuse::sched {

// A prompt's prefill that runs a step at a time, so decodes of other requests can run
// between its steps. Destroying an unfinished one abandons it (its sequence's KV is the
// caller's to release, after).
class PrefillSteps {
 public:
  virtual ~PrefillSteps() = default;
  // Runs until about `budget` tokens of work are done (tokens through every layer; the
  // executor stops between layers, or between pieces of a layer's tokens, before work that
  // would overrun the budget) or the prefill ends; the tokens of work run. `first`: nothing
  // else ran in this iteration, so some work runs even when the smallest unit left overruns
  // the budget (the prefill progresses): a small piece of a layer, or a whole layer of a batch
  // that cannot be divided (a bottom-right mask); otherwise a step may run nothing.
  virtual util::Result<int32_t> Step(int32_t budget, bool first) = 0;
  virtual bool done() const = 0;
  // Once done without error: the last prompt token's logits and the prefill's statistics.
  virtual std::vector<float>& logits() = 0;
  virtual const fuse::FusionStats& stats() const = 0;
};

// The sequence id of the scheduler's audits; its requests use 0..slots-1.
inline constexpr int32_t kAuditSequence = INT32_MAX - 1;

class Executor {
 public:
  virtual ~Executor() = default;

  virtual const tokenizer::Tokenizer* tokenizer() const = 0;
  virtual int32_t n_vocab() const = 0;
  virtual int n_ctx() const = 0;
  // Whether generating `token` ends the model's turn.
  virtual bool EndsTurn(int32_t token) const = 0;

  // How many leading tokens of `tokens` a prefill could take from the prefix cache.
  virtual int32_t CachedPrefixLength(const std::vector<int32_t>& tokens) = 0;
  // Prefills a whole prompt into sequence `seq` (anew) and returns its last token's logits.
  virtual util::Status PrefillSegments(const fuse::SegmentedPrompt& prompt, const fuse::FusionOptions& options,
                                       std::vector<float>& logits, fuse::FusionStats& stats, int32_t seq) = 0;
  // The same prefill as steps (each chunk it lacks computed and stored in them too). Several
  // may be unfinished at once; each runs only inside its own Step.
  virtual std::unique_ptr<PrefillSteps> StartPrefill(const fuse::SegmentedPrompt& prompt,
                                                     const fuse::FusionOptions& options, int32_t seq) = 0;
  // Appends tokens to sequence `seq` at positions start_pos.. (its current length).
  virtual util::Status Evaluate(const std::vector<int32_t>& tokens, int32_t start_pos, bool all_logits,
                                std::vector<float>& logits, int n_batch, int32_t seq) = 0;
  // Offers sequence `seq`, whose KV holds exactly `tokens`, to the prefix cache.
  virtual void CachePrefix(int32_t seq, const std::vector<int32_t>& tokens) = 0;

  // Makes room for one more token in each sequence, in order; the index of the first that
  // found no free block, or -1.
  virtual int32_t ReserveForDecode(const std::vector<int32_t>& seqs) = 0;
  // Appends tokens[i] to seqs[i] in one forward pass; logits [seqs.size(), n_vocab].
  virtual util::Status DecodeBatch(const std::vector<int32_t>& seqs, const std::vector<int32_t>& tokens,
                                   std::vector<float>& logits) = 0;
  // Ends a sequence, its blocks back to the pool.
  virtual void Release(int32_t seq) = 0;
  virtual int64_t kv_blocks_used() const = 0;
  virtual int64_t kv_blocks_total() const = 0;
};

}  // namespace kvfuse::sched
