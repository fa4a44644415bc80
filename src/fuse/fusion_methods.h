// Internal to fuse/: the fusion methods, one file each.
//
// The modes that reuse chunk KV share one signature: ChunkFuser::Prefill calls the method
// once the prefix segment is computed and every chunk is placed at its offset (keys
// re-rotated); the method recomputes what it chooses and the suffix, and leaves the
// prompt's last-token logits. A new method is a file with such a function, a FusionMode
// and a row of the dispatcher's table. Full and prefix compute every token after the kept
// prefix exactly (PrefillExactly).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fuse/chunk_source.h"
#include "fuse/fusion_options.h"
#include "fuse/fusion_stats.h"
#include "fuse/prefill_target.h"
#include "fuse/segmented_prompt.h"
#include "model/forward_context.h"
#include "store/chunk_record.h"

namespace kvfuse::fuse {

struct MethodInput {
  const PrefillTarget& target;
  const SegmentedPrompt& prompt;
  const FusionOptions& options;
  // The placed chunks' records, in prompt order (nullptr for an empty chunk).
  const std::vector<std::shared_ptr<const store::ChunkRecord>>& chunks;
  // Prefix positions [prefix_done, prefix size) are not computed yet: a method that folds
  // them into its first forward pass (query; a column of the dispatcher's table) computes
  // them there, exactly (they see only the prefix), and saves a pass over the weights for
  // the few tokens that a prefix-cache hit of whole blocks leaves. Every other method is
  // called with the prefix computed.
  int32_t prefix_done = 0;
};
using FusionMethod = void (*)(const MethodInput& in, std::vector<float>& logits, FusionStats& stats);

// naive: the chunks as placed; only the suffix is computed (method_naive.cpp).
void FinishNaive(const MethodInput& in, std::vector<float>& logits, FusionStats& stats);
// blend: CacheBlend's selective recompute (cache_blend.cpp).
void FinishBlend(const MethodInput& in, std::vector<float>& logits, FusionStats& stats);
// gradual: CacheBlend's selection narrowed layer by layer (cache_blend.cpp).
void FinishGradual(const MethodInput& in, std::vector<float>& logits, FusionStats& stats);
// How many of n_chunk tokens gradual recomputes at `layer` (>= 1) of n_layers: twice `ratio`
// at layer 1, linearly down to `ratio` at the last layer (`ratio` throughout under 3 layers),
// at most all of them.
int32_t GradualCount(float ratio, int32_t n_chunk, int layer, int n_layers);
// adaptive: Cache-Craft's per-chunk recompute (cache_craft.cpp).
void FinishAdaptive(const MethodInput& in, std::vector<float>& logits, FusionStats& stats);
// sinks: every chunk's first tokens recomputed (sink_repair.cpp).
void FinishSinks(const MethodInput& in, std::vector<float>& logits, FusionStats& stats);
// query: the chunk tokens the question attends to most recomputed (query_focus.cpp).
void FinishQuery(const MethodInput& in, std::vector<float>& logits, FusionStats& stats);

// ape: the chunks as placed, attended to with APE's rescaling (attention_rescale.cpp).
void FinishApe(const MethodInput& in, std::vector<float>& logits, FusionStats& stats);

// The attention of the suffix's last `scored_rows` rows (> 0; the suffix is not empty) to
// each chunk token over the placed KV, summed over those rows, the heads and layers
// [0, query_layers), indexed by chunk token in prompt order (query_focus.cpp). The whole
// suffix runs in one pass, after the prefix positions not yet computed (through every
// layer: they ride with it when query_layers is every layer, else run first). The recorder
// holds rows x heads x chunk tokens: at most `max_scores` floats, so fewer rows on huge
// prompts, but always one.
inline constexpr int64_t kMaxQuestionScores = int64_t{16} << 20;  // 64 MiB of floats
inline constexpr int32_t kScoredQuestionRows = 4;                 // query's, chosen on validation
std::vector<double> QuestionAttention(const MethodInput& in, int32_t n_chunk_tokens, int32_t scored_rows,
                                      int64_t max_scores = kMaxQuestionScores);

// query's choice past its sinks: the chunk tokens by descending `attention` (one per chunk
// token in prompt order; ties in prompt order), each followed by the token after it in its
// chunk, added to `positions` (prompt positions, the sinks) until it holds `budget`; then
// sorted (query_focus.cpp).
void AddMostAttended(const SegmentedPrompt& prompt, const std::vector<double>& attention, int32_t budget,
                     std::vector<int32_t>& positions);

// The positions of the first `per_chunk` tokens of every chunk, at most `budget` of them,
// ascending; under a budget, every chunk's first token before any chunk's second, and so on
// (sink_repair.cpp).
std::vector<int32_t> ChunkHeadPositions(const SegmentedPrompt& prompt, int32_t per_chunk,
                                        int32_t budget = INT32_MAX);

// full and prefix: every token from `kept` on through every layer; under full with
// options.record_chunks, each chunk is stored as computed there (exact_prefill.cpp).
void PrefillExactly(const PrefillTarget& t, ChunkSource& source, const SegmentedPrompt& prompt,
                    const FusionOptions& options, int32_t kept, std::vector<float>& logits, FusionStats& stats);
// fallback_below: when the most likely token of a fused prefill's `logits` is less likely
// than options.fallback_below, every token after the prefix (exact under every method) is
// computed again through every layer, ape's reshaping cleared, and `logits` are the exact
// prefill's; stats count the chunk tokens and the suffix again (exact_prefill.cpp).
void RedoInFullIfUnsure(const PrefillTarget& t, const SegmentedPrompt& prompt, const FusionOptions& options,
                        std::vector<float>& logits, FusionStats& stats);
// Stores each chunk of a fully computed prompt with the attention statistics adaptive
// needs (cache_craft.cpp).
void RecordChunks(const PrefillTarget& t, ChunkSource& source, const SegmentedPrompt& prompt,
                  const model::AttentionRecorder& recorder);

}  // namespace kvfuse::fuse
