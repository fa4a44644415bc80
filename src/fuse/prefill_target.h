// Internal to fuse/: the sequence a prefill writes and the forward steps every method runs
// on it. Position p of the prompt lives in slots[p].
#pragma once

#include <cstdint>
#include <vector>

#include "fuse/fusion_stats.h"
#include "fuse/segmented_prompt.h"
#include "kv/kv_manager.h"
#include "model/forward_context.h"
#include "model/model.h"
#include "model/token_batch.h"

namespace kvfuse::fuse {

struct PrefillTarget {
  const model::Model& model;
  model::ForwardContext& ctx;
  kv::KvManager& kv;
  int32_t seq;
  const std::vector<int32_t>& slots;  // kv.SlotsOf(seq, prompt size)
};

// Tokens at consecutive positions from `start`, position p in slots[p] (or slot p).
model::TokenBatch BatchOf(const std::vector<int32_t>& tokens, int32_t start, int32_t seq, bool last_logits,
                          const std::vector<int32_t>* slots = nullptr);

// Runs `tokens` at positions start.. through every layer; the logits of the last if wanted.
void ComputeTokens(const PrefillTarget& t, const std::vector<int32_t>& tokens, int32_t start,
                   std::vector<float>* logits);

// Runs a batch through layers [first_layer, n_layers) from its hidden states there and
// returns the logits of its last row.
void RunLayersFrom(const PrefillTarget& t, const model::TokenBatch& batch, std::vector<float>& hidden,
                   int first_layer, std::vector<float>& logits);

// Recomputes the prompt positions `positions` (ascending, before the suffix) and then the
// suffix through every layer, over the KV placed at every other position; the logits of
// the last token. Counts the suffix in stats.tokens_computed.
void RecomputeWithSuffix(const PrefillTarget& t, const SegmentedPrompt& prompt, std::vector<int32_t> positions,
                         std::vector<float>& logits, FusionStats& stats);

}  // namespace kvfuse::fuse
