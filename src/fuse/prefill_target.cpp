#include "fuse/prefill_target.h"

namespace kvfuse::fuse {

model::TokenBatch BatchOf(const std::vector<int32_t>& tokens, int32_t start, int32_t seq, bool last_logits,
                          const std::vector<int32_t>* slots) {
  model::TokenBatch b;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t pos = start + static_cast<int32_t>(i);
    b.Add(tokens[i], pos, seq, slots ? (*slots)[pos] : pos, last_logits && i + 1 == tokens.size());
  }
  return b;
}

void ComputeTokens(const PrefillTarget& t, const std::vector<int32_t>& tokens, int32_t start,
                   std::vector<float>* logits) {
  if (tokens.empty()) return;
  const model::HParams& hp = t.model.hparams();
  const model::TokenBatch batch = BatchOf(tokens, start, t.seq, logits != nullptr, &t.slots);
  std::vector<float> hidden(tokens.size() * static_cast<size_t>(hp.n_embd));
  t.model.Embed(batch, hidden.data());
  std::vector<int32_t> read_rows;  // only the last row's output is read, and only for logits
  if (logits) read_rows.push_back(batch.size() - 1);
  t.model.RunLayers(t.ctx, batch, 0, hp.n_layers, hidden.data(), t.kv, &read_rows);
  if (logits) {
    logits->resize(hp.n_vocab);
    t.model.Logits(t.ctx, hidden.data() + (tokens.size() - 1) * static_cast<size_t>(hp.n_embd), 1, logits->data());
  }
}

void RunLayersFrom(const PrefillTarget& t, const model::TokenBatch& batch, std::vector<float>& hidden,
                   int first_layer, std::vector<float>& logits) {
  const model::HParams& hp = t.model.hparams();
  const std::vector<int32_t> read_rows = {batch.size() - 1};
  t.model.RunLayers(t.ctx, batch, first_layer, hp.n_layers, hidden.data(), t.kv, &read_rows);
  logits.resize(hp.n_vocab);
  t.model.Logits(t.ctx, hidden.data() + static_cast<size_t>(batch.size() - 1) * hp.n_embd, 1, logits.data());
}

void RecomputeWithSuffix(const PrefillTarget& t, const SegmentedPrompt& prompt, std::vector<int32_t> positions,
                         std::vector<float>& logits, FusionStats& stats) {
  const int32_t suffix_begin = prompt.size() - static_cast<int32_t>(prompt.suffix.size());
  for (int32_t p = suffix_begin; p < prompt.size(); ++p) positions.push_back(p);
  stats.tokens_computed += static_cast<int32_t>(prompt.suffix.size());
  const std::vector<int32_t> tokens = prompt.Flatten();
  model::TokenBatch batch;
  for (int32_t p : positions) batch.Add(tokens[p], p, t.seq, t.slots[p], false);
  std::vector<float> hidden(positions.size() * static_cast<size_t>(t.model.hparams().n_embd));
  t.model.Embed(batch, hidden.data());
  RunLayersFrom(t, batch, hidden, 0, logits);
}

}  // namespace kvfuse::fuse
