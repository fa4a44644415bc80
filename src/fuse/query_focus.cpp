// query: the question decides what is recomputed (as ProphetKV's query-driven selection).
// The suffix runs over the naively placed KV through the first query_layers layers while
// the attention of its last kScoredQuestionRows rows to every chunk token is recorded; then
// every chunk's first sink_tokens tokens and the chunk tokens with the most attention, each
// with the token after it, recompute_ratio of the chunk tokens in all, are recomputed
// through every layer with the suffix. A chunk computed alone misleads most where the
// question looks: that is where recomputing pays. The last rows are where a chat template
// hands the turn to the answer; on eval-qa's validation half they chose better than all of
// the question's rows, and a chosen token with its successor better than as many chosen
// tokens alone. The prefix positions a prefix-cache hit of whole blocks left to
// compute run in the first of these passes (unless the scoring pass stops short of the last
// layer), which saves a pass over the weights for a few tokens.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fuse/fusion_methods.h"

namespace kvfuse::fuse {

std::vector<double> QuestionAttention(const MethodInput& in, int32_t n_chunk_tokens, int32_t scored_rows,
                                      int64_t max_scores) {
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
  model::TokenBatch batch;
  for (int32_t p = prefix_done; p < prefix_n; ++p) batch.Add(tokens[p], p, t.seq, t.slots[p], false);
  const int32_t n_suffix = static_cast<int32_t>(in.prompt.suffix.size());
  for (int32_t p = in.prompt.size() - n_suffix; p < in.prompt.size(); ++p)
    batch.Add(tokens[p], p, t.seq, t.slots[p], false);

  KVFUSE_CHECK(n_suffix > 0 && scored_rows > 0);
  // The recorder holds rows x heads x chunk tokens: at most max_scores floats, or one row.
  const int64_t per_row = static_cast<int64_t>(hp.n_heads) * std::max(n_chunk_tokens, 1);
  const auto n_scored = static_cast<int32_t>(
      std::clamp<int64_t>(std::min<int64_t>(max_scores / per_row, scored_rows), 1, n_suffix));
  model::AttentionRecorder recorder;
  recorder.n_segments = n_chunk_tokens;
  recorder.n_heads = hp.n_heads;
  recorder.segment_of_pos.assign(in.prompt.size(), -1);
  std::iota(recorder.segment_of_pos.begin() + in.prompt.ChunkOffset(0),
            recorder.segment_of_pos.begin() + in.prompt.ChunkOffset(0) + n_chunk_tokens, 0);
  recorder.first_row = batch.size() - n_scored;
  recorder.Reset(n_scored);

  std::vector<float> hidden(static_cast<size_t>(batch.size()) * hp.n_embd);
  t.model.Embed(batch, hidden.data());
  t.ctx.recorder = &recorder;
  // The suffix's KV is overwritten by the final pass; the prefix's is exact.
  const std::vector<int32_t> none;  // no row's output is read: the last layer's FFN is skipped
  t.model.RunLayers(t.ctx, batch, 0, layers, hidden.data(), t.kv, &none);
  t.ctx.recorder = nullptr;

  std::vector<double> attention(n_chunk_tokens, 0.0);
  for (size_t i = 0; i < recorder.mass.size(); ++i) attention[i % n_chunk_tokens] += recorder.mass[i];
  return attention;
}

void AddMostAttended(const SegmentedPrompt& prompt, const std::vector<double>& attention, int32_t budget,
                     std::vector<int32_t>& positions) {
  const auto n_chunk_tokens = static_cast<int32_t>(attention.size());
  const int32_t chunks_begin = prompt.ChunkOffset(0);
  std::vector<int32_t> order(n_chunk_tokens);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return attention[a] > attention[b]; });
  std::vector<bool> chosen(n_chunk_tokens, false), last_of_chunk(n_chunk_tokens, false);
  for (size_t c = 0; c < prompt.chunks.size(); ++c)
    if (!prompt.chunks[c].empty()) last_of_chunk[prompt.ChunkOffset(c + 1) - chunks_begin - 1] = true;
  for (int32_t p : positions) chosen[p - chunks_begin] = true;
  const auto choose = [&](int32_t j) {
    if (!chosen[j] && static_cast<int32_t>(positions.size()) < budget) positions.push_back(chunks_begin + j);
    chosen[j] = true;
  };
  // The token after a chosen one reads it where it stands, and its cached KV saw no more of
  // the prompt than the chunk: recomputing both keeps the phrase whole.
  for (int32_t j : order) {
    if (static_cast<int32_t>(positions.size()) >= budget) break;
    choose(j);
    if (!last_of_chunk[j]) choose(j + 1);
  }
  std::sort(positions.begin(), positions.end());
}

void FinishQuery(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  const int32_t n_chunk_tokens = stats.chunk_tokens;
  const int32_t budget = RecomputedCount(in.options.recompute_ratio, n_chunk_tokens);
  const int32_t sinks = std::max(0, in.options.sink_tokens);  // kMethodDefault: none
  std::vector<int32_t> positions = ChunkHeadPositions(in.prompt, sinks, budget);
  const bool scored = static_cast<int32_t>(positions.size()) < budget;
  if (scored) AddMostAttended(in.prompt, QuestionAttention(in, n_chunk_tokens, kScoredQuestionRows), budget, positions);
  stats.chunk_tokens_recomputed += static_cast<int32_t>(positions.size());
  if (!scored) {  // the prefix positions not yet computed join the final pass instead
    std::vector<int32_t> prefix(in.prompt.prefix.size() - in.prefix_done);
    std::iota(prefix.begin(), prefix.end(), in.prefix_done);
    positions.insert(positions.begin(), prefix.begin(), prefix.end());
  }
  RecomputeWithSuffix(in.target, in.prompt, std::move(positions), logits, stats);
}

}  // namespace kvfuse::fuse
