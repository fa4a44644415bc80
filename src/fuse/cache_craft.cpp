// Cache-Craft (adaptive mode): per-chunk recompute from the attention recorded when a chunk
// was cached inside a prompt, and the recording itself.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fuse/fusion_methods.h"
#include "fuse/key_placement.h"
#include "util/hash.h"

namespace kvfuse::fuse {

namespace {

// Normalised Kendall-tau distance between the orders in which two lists hold the
// elements they share (0: same order, 1: reversed); 0 when fewer than two are shared.
double OrderDistance(const std::vector<uint64_t>& before, const std::vector<uint64_t>& now) {
  std::vector<size_t> rank_now;  // position in `now` of each shared element, in `before` order
  for (uint64_t key : before)
    if (auto it = std::find(now.begin(), now.end(), key); it != now.end()) rank_now.push_back(it - now.begin());
  const size_t m = rank_now.size();
  if (m < 2) return 0.0;
  size_t discordant = 0;
  for (size_t a = 0; a < m; ++a)
    for (size_t b = a + 1; b < m; ++b) discordant += rank_now[a] > rank_now[b];
  return static_cast<double>(discordant) / (m * (m - 1) / 2);
}

// Positions of the chunk tokens to recompute, ascending. Per chunk: beta = share of its
// recorded attention to earlier chunks that are still in front of it, penalised by how
// their order changed; it recomputes the share CFO = alpha * CCI * (1 - beta') of its
// tokens, those that attended most to other chunks when it was recorded.
std::vector<int32_t> ChunkTokensToRecompute(const MethodInput& in) {
  std::vector<int32_t> positions;
  std::vector<uint64_t> keys_before;
  for (size_t i = 0; i < in.prompt.chunks.size(); ++i) {
    const store::ChunkRecord* rec = in.chunks[i].get();
    const int32_t n_i = static_cast<int32_t>(in.prompt.chunks[i].size());
    if (rec && n_i > 0) {
      double total = 0, kept = 0;
      for (size_t c = 0; c < rec->context_chunks.size(); ++c) {
        total += rec->context_weights[c];
        if (std::find(keys_before.begin(), keys_before.end(), rec->context_chunks[c]) != keys_before.end())
          kept += rec->context_weights[c];
      }
      const double beta = total > 0 ? kept / total : 1.0;
      const double beta_adj = beta * (1.0 - OrderDistance(rec->context_chunks, keys_before));
      const double cfo = std::min(1.0, in.options.adaptive_alpha * rec->cci * (1.0 - beta_adj));
      const int32_t k = std::min(n_i, static_cast<int32_t>(std::ceil(cfo * n_i - 1e-9)));
      std::vector<int32_t> order(n_i);
      std::iota(order.begin(), order.end(), 0);
      if (rec->token_scores.size() == static_cast<size_t>(n_i))
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t a, int32_t b) { return rec->token_scores[a] > rec->token_scores[b]; });
      for (int32_t j = 0; j < k; ++j) positions.push_back(in.prompt.ChunkOffset(i) + order[j]);
    }
    keys_before.push_back(rec ? rec->key : 0);
  }
  std::sort(positions.begin(), positions.end());
  return positions;
}

}  // namespace

void FinishAdaptive(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  std::vector<int32_t> positions = ChunkTokensToRecompute(in);
  stats.chunk_tokens_recomputed += static_cast<int32_t>(positions.size());
  RecomputeWithSuffix(in.target, in.prompt, std::move(positions), logits, stats);
}

void RecordChunks(const PrefillTarget& t, ChunkSource& source, const SegmentedPrompt& prompt,
                  const model::AttentionRecorder& rec) {
  const model::HParams& hp = t.model.hparams();
  const double per_pass = static_cast<double>(hp.n_layers) * hp.n_heads;  // mass is summed over both
  const int n_seg = rec.n_segments;
  const store::ChunkShape shape = source.shape();
  std::vector<uint64_t> keys;
  for (const auto& c : prompt.chunks) keys.push_back(source.Key(c));
  for (size_t i = 0; i < prompt.chunks.size(); ++i) {
    const int32_t n_i = static_cast<int32_t>(prompt.chunks[i].size());
    if (n_i == 0) continue;
    const int32_t offset = prompt.ChunkOffset(i);
    auto record = std::make_shared<store::ChunkRecord>();
    record->key = keys[i];
    record->Resize(shape, prompt.chunks[i]);
    std::vector<double> to_chunk(i, 0.0);
    double intra = 0;
    record->token_scores.assign(n_i, 0.0f);
    for (int32_t j = 0; j < n_i; ++j) {
      for (int h = 0; h < rec.n_heads; ++h) {
        const float* mass = rec.mass.data() + (static_cast<size_t>(offset + j) * rec.n_heads + h) * n_seg;
        for (size_t c = 0; c < i; ++c) {
          to_chunk[c] += mass[c] / per_pass;
          record->token_scores[j] += static_cast<float>(mass[c] / per_pass);
        }
        intra += mass[i] / per_pass;
      }
    }
    // Cache-Craft's a (attention to earlier chunks per token pair) and b (within the chunk).
    double a = 0;
    for (size_t c = 0; c < i; ++c) a += to_chunk[c] / (static_cast<double>(n_i) * prompt.chunks[c].size());
    const double b = intra / (static_cast<double>(n_i) * n_i);
    record->cci = b > 0 ? static_cast<float>(1.0 / (1.0 + std::exp(-a / b))) : 0.0f;
    for (size_t c = 0; c < i; ++c) {
      record->context_chunks.push_back(keys[c]);
      record->context_weights.push_back(static_cast<float>(to_chunk[c]));
    }
    util::Hasher context;
    context.Add(prompt.prefix.data(), prompt.prefix.size() * 4).Add(keys.data(), i * sizeof(uint64_t));
    record->context_hash = context.Digest();
    CopyOut(hp, t.ctx, t.kv.cache(), t.slots.data() + offset, offset, *record);
    source.Put(record);
  }
}

}  // namespace kvfuse::fuse
