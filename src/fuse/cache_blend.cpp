// CacheBlend (blend mode): after layer 0, the chunk tokens whose layer-1 K/V deviate most
// from their placed (cached) K/V are recomputed in layers >= 1 with the suffix, a share
// `recompute_ratio` of the chunk tokens, with causal masking by position (or CacheBlend's
// bottom-right mask). Its gradual filtering (gradual mode): layer 1 checks twice the share,
// and each later layer keeps the most deviating of the tokens the layer before recomputed,
// narrowing linearly to `recompute_ratio` at the last layer (GradualCount).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fuse/fusion_methods.h"
#include "tensor/half.h"

namespace kvfuse::fuse {

namespace {

// Squared distance between the fresh layer-`layer` K/V of tokens at `positions` (rows of
// k_fresh, v_fresh) and the placed ones in their slots.
std::vector<float> KvDeviation(const PrefillTarget& t, int layer, const std::vector<int32_t>& positions,
                               const std::vector<float>& k_fresh, const std::vector<float>& v_fresh) {
  const kv::KvGeometry& geometry = t.model.kv_geometry();
  const int row = geometry.row_elements(), head_dim = geometry.head_dim;
  std::vector<float> deviation(positions.size());
  t.ctx.pool.ParallelFor(static_cast<int64_t>(positions.size()), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t slot = t.slots[positions[r]];
      double d = 0;
      for (int h = 0; h < geometry.n_kv_heads; ++h) {
        const uint16_t* k_old = t.kv.cache().k(layer, h, slot);
        const uint16_t* v_old = t.kv.cache().v(layer, h, slot);
        const float* k_new = k_fresh.data() + r * row + h * head_dim;
        const float* v_new = v_fresh.data() + r * row + h * head_dim;
        for (int i = 0; i < head_dim; ++i) {
          const double dk = k_new[i] - tensor::Fp16ToFp32(k_old[i]), dv = v_new[i] - tensor::Fp16ToFp32(v_old[i]);
          d += dk * dk + dv * dv;
        }
      }
      deviation[r] = static_cast<float>(d);
    }
  });
  return deviation;
}

// The `keep` of `rows` (ascending) whose deviation is largest, ascending.
std::vector<int32_t> MostDeviated(std::vector<int32_t> rows, const std::vector<float>& deviation_of_row, size_t keep) {
  keep = std::min(keep, rows.size());
  std::partial_sort(rows.begin(), rows.begin() + keep, rows.end(),
                    [&](int32_t a, int32_t b) { return deviation_of_row[a] > deviation_of_row[b]; });
  rows.resize(keep);
  std::sort(rows.begin(), rows.end());
  return rows;
}

// Runs layer 0 for the chunk tokens and the suffix (rows of `all`, hidden states in
// `hidden`) and returns the rows of the n_select chunk tokens to recompute, ascending.
std::vector<int32_t> SelectByDeviation(const PrefillTarget& t, const model::TokenBatch& all, int32_t n_chunk,
                                       int32_t n_select, std::vector<float>& hidden) {
  const size_t n_embd = t.model.hparams().n_embd;
  std::vector<int32_t> rows(n_chunk);
  std::iota(rows.begin(), rows.end(), 0);
  if (n_select >= n_chunk) {
    t.model.RunLayers(t.ctx, all, 0, 1, hidden.data(), t.kv);
    return rows;
  }
  // Layer 0 for the chunk tokens first: its K/V equal the cached ones (they do not depend
  // on context), but layer 1's input is needed to measure the deviation.
  const int32_t chunks_begin = all.positions[0];
  const std::vector<int32_t> chunk_tokens(all.token_ids.begin(), all.token_ids.begin() + n_chunk);
  const model::TokenBatch chunk_batch = BatchOf(chunk_tokens, chunks_begin, t.seq, false, &t.slots);
  t.model.RunLayers(t.ctx, chunk_batch, 0, 1, hidden.data(), t.kv);
  std::vector<float> k_fresh, v_fresh;
  t.model.ProjectKv(t.ctx, chunk_batch, 1, hidden.data(), k_fresh, v_fresh);
  std::vector<int32_t> positions(n_chunk);
  std::iota(positions.begin(), positions.end(), chunks_begin);
  rows = MostDeviated(rows, KvDeviation(t, 1, positions, k_fresh, v_fresh), n_select);
  // The suffix has no cache: layer 0 for it too.
  if (all.size() > n_chunk) {
    const std::vector<int32_t> suffix(all.token_ids.begin() + n_chunk, all.token_ids.end());
    const model::TokenBatch suffix_batch = BatchOf(suffix, chunks_begin + n_chunk, t.seq, false, &t.slots);
    t.model.RunLayers(t.ctx, suffix_batch, 0, 1, hidden.data() + n_chunk * n_embd, t.kv);
  }
  return rows;
}

}  // namespace

namespace {

// The chunk tokens then the suffix tokens at their prompt positions, embedded; rows of `all`.
struct BlendRows {
  model::TokenBatch all;
  std::vector<float> hidden;  // [all.size(), n_embd]
  int32_t n_chunk = 0, n_suffix = 0;
};

BlendRows StartBlend(const MethodInput& in, int32_t n_chunk) {
  const PrefillTarget& t = in.target;
  std::vector<int32_t> tail;
  for (const auto& c : in.prompt.chunks) tail.insert(tail.end(), c.begin(), c.end());
  tail.insert(tail.end(), in.prompt.suffix.begin(), in.prompt.suffix.end());
  BlendRows b;
  b.all = BatchOf(tail, static_cast<int32_t>(in.prompt.prefix.size()), t.seq, false, &t.slots);
  b.hidden.resize(tail.size() * t.model.hparams().n_embd);
  t.model.Embed(b.all, b.hidden.data());
  b.n_chunk = n_chunk;
  b.n_suffix = static_cast<int32_t>(in.prompt.suffix.size());
  return b;
}

// Rows of `all` as a batch of their own (no logits).
model::TokenBatch RowsOf(const BlendRows& b, const std::vector<int32_t>& rows) {
  model::TokenBatch batch;
  for (int32_t r : rows) batch.Add(b.all.token_ids[r], b.all.positions[r], b.all.seq_ids[r], b.all.kv_slots[r], false);
  return batch;
}

// The chunk rows `rows` and every suffix row as a batch, their hidden states in sub_hidden.
// Every other token keeps its cached K/V, read through the slots.
model::TokenBatch SubsetOf(const BlendRows& b, std::vector<int32_t> rows, size_t n_embd, std::vector<float>& sub_hidden) {
  for (int32_t s = 0; s < b.n_suffix; ++s) rows.push_back(b.n_chunk + s);
  sub_hidden.resize(rows.size() * n_embd);
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy_n(b.hidden.data() + rows[i] * n_embd, n_embd, sub_hidden.data() + i * n_embd);
  return RowsOf(b, rows);
}

// Of the chunk rows `rows`, whose hidden states at layer `layer`'s input are the first rows
// of `hidden`, the `keep` whose layer-`layer` K/V deviate most from the placed ones.
std::vector<int32_t> Narrowed(const PrefillTarget& t, const BlendRows& b, const std::vector<int32_t>& rows,
                              int layer, const float* hidden, size_t keep) {
  const model::TokenBatch batch = RowsOf(b, rows);
  std::vector<float> k_fresh, v_fresh;
  t.model.ProjectKv(t.ctx, batch, layer, hidden, k_fresh, v_fresh);
  const std::vector<float> deviation = KvDeviation(t, layer, batch.positions, k_fresh, v_fresh);
  std::vector<float> deviation_of_row(b.n_chunk, 0.0f);
  for (size_t i = 0; i < rows.size(); ++i) deviation_of_row[rows[i]] = deviation[i];
  return MostDeviated(rows, deviation_of_row, keep);
}

}  // namespace

void FinishBlend(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  const PrefillTarget& t = in.target;
  const model::HParams& hp = t.model.hparams();
  BlendRows b = StartBlend(in, stats.chunk_tokens);
  int32_t n_select = RecomputedCount(in.options.recompute_ratio, b.n_chunk);
  if (hp.n_layers < 2) n_select = b.n_chunk;
  const std::vector<int32_t> selected = SelectByDeviation(t, b.all, b.n_chunk, n_select, b.hidden);
  stats.chunk_tokens_recomputed = static_cast<int32_t>(selected.size());
  stats.tokens_computed += b.n_suffix;

  // Layers >= 1 for the selected chunk tokens and the suffix.
  std::vector<float> sub_hidden;
  model::TokenBatch subset = SubsetOf(b, selected, hp.n_embd, sub_hidden);
  if (in.options.bottom_right_mask) {
    const int32_t k_len = in.prompt.size(), q_len = static_cast<int32_t>(subset.size());
    for (int32_t i = 0; i < q_len; ++i) subset.attend_limits.push_back(k_len - q_len + i);
  }
  RunLayersFrom(t, subset, sub_hidden, 1, logits);
}

int32_t GradualCount(float ratio, int32_t n_chunk, int layer, int n_layers) {
  const float excess = n_layers > 2 ? static_cast<float>(n_layers - 1 - layer) / static_cast<float>(n_layers - 2) : 0.0f;
  return RecomputedCount(std::min(1.0f, ratio * (1.0f + excess)), n_chunk);
}

void FinishGradual(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  const PrefillTarget& t = in.target;
  const model::HParams& hp = t.model.hparams();
  const float ratio = in.options.recompute_ratio;
  BlendRows b = StartBlend(in, stats.chunk_tokens);
  std::vector<int32_t> rows =
      SelectByDeviation(t, b.all, b.n_chunk, hp.n_layers < 2 ? b.n_chunk : GradualCount(ratio, b.n_chunk, 1, hp.n_layers), b.hidden);
  stats.tokens_computed += b.n_suffix;
  int64_t token_layers = 0;  // chunk tokens recomputed, summed over layers >= 1
  for (int layer = 1;; ++layer) {
    std::vector<float> sub_hidden;
    const model::TokenBatch subset = SubsetOf(b, rows, hp.n_embd, sub_hidden);
    const size_t keep = static_cast<size_t>(GradualCount(ratio, b.n_chunk, layer + 1, hp.n_layers));
    if (layer + 1 >= hp.n_layers || keep >= rows.size()) {
      token_layers += static_cast<int64_t>(rows.size()) * std::max(0, hp.n_layers - layer);
      RunLayersFrom(t, subset, sub_hidden, layer, logits);
      break;
    }
    token_layers += static_cast<int64_t>(rows.size());
    t.model.RunLayers(t.ctx, subset, layer, layer + 1, sub_hidden.data(), t.kv);
    for (size_t i = 0; i < rows.size(); ++i)
      std::copy_n(sub_hidden.data() + i * hp.n_embd, hp.n_embd, b.hidden.data() + rows[i] * hp.n_embd);
    for (int32_t s = 0; s < b.n_suffix; ++s)
      std::copy_n(sub_hidden.data() + (rows.size() + s) * hp.n_embd, hp.n_embd,
                  b.hidden.data() + (b.n_chunk + s) * hp.n_embd);
    rows = Narrowed(t, b, rows, layer + 1, sub_hidden.data(), keep);
  }
  stats.chunk_tokens_recomputed =
      hp.n_layers < 2 ? b.n_chunk : static_cast<int32_t>(std::lround(static_cast<double>(token_layers) / (hp.n_layers - 1)));
}

}  // namespace kvfuse::fuse
