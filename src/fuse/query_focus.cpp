// query: the question decides what is recomputed (as ProphetKV's query-driven selection).
// The suffix runs over the naively placed KV through the first query_layers layers while
// its attention to every chunk token is recorded; then every chunk's first sink_tokens
// tokens and the chunk tokens with the most attention, recompute_ratio of the chunk tokens
// in all, are recomputed through every layer with the suffix. A chunk computed alone
// misleads most where the question looks: that is where recomputing pays. The prefix
// positions a prefix-cache hit of whole blocks left to compute run in the first of these
// passes, which saves a pass over the weights for a few tokens.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fuse/fusion_methods.h"

namespace kvfuse::fuse {

std::vector<double> QuestionAttention(const MethodInput& in, int32_t n_chunk_tokens, int64_t max_scores) {
  const PrefillTarget& t = in.target;
  const model::HParams& hp = t.model.hparams();
  const int layers = in.options.query_layers > 0 ? std::min(in.options.query_layers, hp.n_layers) : hp.n_layers;
  const int32_t prefix_n = static_cast<int32_t>(in.prompt.prefix.size());
  int32_t prefix_done = in.prefix_done;
  if (layers < hp.n_layers) {  // the prefix needs every layer: it cannot ride with a shorter pass
    ComputeTokens(t, std::vector<int32_t>(in.prompt.prefix.begin() + prefix_done, in.prompt.prefix.end()),
                  prefix_done, nullptr);
    prefix_done = prefix_n;
  }
  // The pass's rows: the prefix positions not yet computed, then the suffix.
  const std::vector<int32_t> tokens = in.prompt.Flatten();
  std::vector<int32_t> positions(static_cast<size_t>(prefix_n - prefix_done));
  std::iota(positions.begin(), positions.end(), prefix_done);
  const int32_t n_pending = static_cast<int32_t>(positions.size());
  const int32_t n_suffix = static_cast<int32_t>(in.prompt.suffix.size());
  for (int32_t p = in.prompt.size() - n_suffix; p < in.prompt.size(); ++p) positions.push_back(p);
  const int32_t n_rows = static_cast<int32_t>(positions.size());

  const int64_t per_row = static_cast<int64_t>(hp.n_heads) * std::max(n_chunk_tokens, 1);
  const int64_t max_rows = std::max<int64_t>(max_scores / per_row, 1);
  const int32_t n_recorded = static_cast<int32_t>(std::min<int64_t>(max_rows, n_suffix));
  // Rows run first, unrecorded, as the KV the recorded ones attend over; when only the
  // pending prefix would, it rides with the recorded rows if they fit (it sees no chunk).
  int32_t split = n_rows - n_recorded;
  if (split == n_pending && n_rows <= max_rows) split = 0;

  model::AttentionRecorder recorder;
  recorder.n_segments = n_chunk_tokens;
  recorder.n_heads = hp.n_heads;
  recorder.segment_of_pos.assign(in.prompt.size(), -1);
  std::iota(recorder.segment_of_pos.begin() + in.prompt.ChunkOffset(0),
            recorder.segment_of_pos.begin() + in.prompt.ChunkOffset(0) + n_chunk_tokens, 0);
  recorder.Reset(n_rows - split);
  const auto run = [&](int32_t begin, int32_t end, model::AttentionRecorder* rec) {
    if (begin == end) return;
    model::TokenBatch batch;
    for (int32_t r = begin; r < end; ++r) {
      const int32_t p = positions[r];
      batch.Add(tokens[p], p, t.seq, t.slots[p], false);
    }
    std::vector<float> hidden(static_cast<size_t>(end - begin) * hp.n_embd);
    t.model.Embed(batch, hidden.data());
    t.ctx.recorder = rec;
    // The suffix's KV is overwritten by the final pass; the prefix's is exact.
    const std::vector<int32_t> none;  // no row's output is read: the last layer's FFN is skipped
    t.model.RunLayers(t.ctx, batch, 0, layers, hidden.data(), t.kv, &none);
    t.ctx.recorder = nullptr;
  };
  run(0, split, nullptr);
  run(split, n_rows, &recorder);

  std::vector<double> attention(n_chunk_tokens, 0.0);
  for (size_t i = 0; i < recorder.mass.size(); ++i) attention[i % n_chunk_tokens] += recorder.mass[i];
  return attention;
}

void FinishQuery(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  const int32_t n_chunk_tokens = stats.chunk_tokens;
  const int32_t chunks_begin = in.prompt.ChunkOffset(0);
  const int32_t budget = RecomputedCount(in.options.recompute_ratio, n_chunk_tokens);
  const int32_t sinks = std::max(0, in.options.sink_tokens);  // kMethodDefault: none
  std::vector<int32_t> positions = ChunkHeadPositions(in.prompt, sinks, budget);
  const bool scored = static_cast<int32_t>(positions.size()) < budget;
  if (scored) {
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
  if (!scored) {  // the prefix positions not yet computed join the final pass instead
    std::vector<int32_t> prefix(in.prompt.prefix.size() - in.prefix_done);
    std::iota(prefix.begin(), prefix.end(), in.prefix_done);
    positions.insert(positions.begin(), prefix.begin(), prefix.end());
  }
  RecomputeWithSuffix(in.target, in.prompt, std::move(positions), logits, stats);
}

}  // namespace kvfuse::fuse
