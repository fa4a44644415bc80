// query: the question decides what is recomputed (as ProphetKV's query-driven selection).
// The suffix runs over the naively placed KV through the first query_layers layers while
// its attention to every chunk token is recorded; then every chunk's first sink_tokens
// tokens and the chunk tokens with the most attention, recompute_ratio of the chunk tokens
// in all, are recomputed through every layer with the suffix. A chunk computed alone
// misleads most where the question looks: that is where recomputing pays.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fuse/fusion_methods.h"

namespace kvfuse::fuse {

std::vector<double> QuestionAttention(const MethodInput& in, int32_t n_chunk_tokens, int64_t max_scores) {
  const PrefillTarget& t = in.target;
  const model::HParams& hp = t.model.hparams();
  model::AttentionRecorder recorder;
  recorder.n_segments = n_chunk_tokens;
  recorder.n_heads = hp.n_heads;
  recorder.segment_of_pos.assign(in.prompt.size(), -1);
  std::iota(recorder.segment_of_pos.begin() + in.prompt.ChunkOffset(0),
            recorder.segment_of_pos.begin() + in.prompt.ChunkOffset(0) + n_chunk_tokens, 0);
  const int32_t n_suffix = static_cast<int32_t>(in.prompt.suffix.size());
  const int64_t per_row = static_cast<int64_t>(hp.n_heads) * std::max(n_chunk_tokens, 1);
  const int32_t n_recorded = static_cast<int32_t>(std::clamp<int64_t>(max_scores / per_row, 1, n_suffix));
  recorder.Reset(n_recorded);

  const int layers = in.options.query_layers > 0 ? std::min(in.options.query_layers, hp.n_layers) : hp.n_layers;
  const int32_t suffix_begin = in.prompt.size() - n_suffix;
  const auto run = [&](int32_t begin, int32_t end, model::AttentionRecorder* rec) {
    if (begin == end) return;
    const std::vector<int32_t> tokens(in.prompt.suffix.begin() + begin, in.prompt.suffix.begin() + end);
    const model::TokenBatch batch = BatchOf(tokens, suffix_begin + begin, t.seq, false, &t.slots);
    std::vector<float> hidden(tokens.size() * static_cast<size_t>(hp.n_embd));
    t.model.Embed(batch, hidden.data());
    t.ctx.recorder = rec;
    t.model.RunLayers(t.ctx, batch, 0, layers, hidden.data(), t.kv);  // overwritten by the final pass
    t.ctx.recorder = nullptr;
  };
  run(0, n_suffix - n_recorded, nullptr);
  run(n_suffix - n_recorded, n_suffix, &recorder);

  std::vector<double> attention(n_chunk_tokens, 0.0);
  for (int32_t row = 0; row < n_recorded * hp.n_heads; ++row)
    for (int32_t j = 0; j < n_chunk_tokens; ++j) attention[j] += recorder.mass[static_cast<size_t>(row) * n_chunk_tokens + j];
  return attention;
}

void FinishQuery(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  const int32_t n_chunk_tokens = stats.chunk_tokens;
  const int32_t chunks_begin = in.prompt.ChunkOffset(0);
  const int32_t budget = RecomputedCount(in.options.recompute_ratio, n_chunk_tokens);
  const int32_t sinks = std::max(0, in.options.sink_tokens);  // kMethodDefault: none
  std::vector<int32_t> positions = ChunkHeadPositions(in.prompt, sinks, budget);
  if (static_cast<int32_t>(positions.size()) < budget) {
    const std::vector<double> attention = QuestionAttention(in, n_chunk_tokens, kMaxQuestionScores);
    std::vector<int32_t> order(n_chunk_tokens);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return attention[a] > attention[b]; });
    std::vector<bool> chosen(n_chunk_tokens, false);
    for (int32_t p : positions) chosen[p - chunks_begin] = true;
    for (int32_t j : order) {
      if (static_cast<int32_t>(positions.size()) >= budget) break;
      if (!chosen[j]) positions.push_back(chunks_begin + j);
      chosen[j] = true;
    }
    std::sort(positions.begin(), positions.end());
  }
  stats.chunk_tokens_recomputed += static_cast<int32_t>(positions.size());
  RecomputeWithSuffix(in.target, in.prompt, std::move(positions), logits, stats);
}

}  // namespace kvfuse::fuse
