// CacheBlend (blend mode): after layer 0, the chunk tokens whose layer-1 K/V deviate most
// from their placed (cached) K/V are recomputed in layers >= 1 with the suffix, a share
// `recompute_ratio` of the chunk tokens, with causal masking by position (or CacheBlend's
// bottom-right mask).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fuse/fusion_methods.h"
#include "tensor/half.h"

namespace kvfuse::fuse {

namespace {

// Squared distance between fresh layer-1 K/V of each chunk token (rows of k_fresh, v_fresh)
// and the placed ones in its slot.
std::vector<float> Layer1Deviation(const PrefillTarget& t, int32_t chunks_begin, int32_t n_chunk,
                                   const std::vector<float>& k_fresh, const std::vector<float>& v_fresh) {
  const int row = t.model.kv_geometry().row_elements();
  std::vector<float> deviation(n_chunk);
  t.ctx.pool.ParallelFor(n_chunk, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int32_t slot = t.slots[chunks_begin + r];
      const uint16_t* k_old = t.kv.cache().k(1, slot);
      const uint16_t* v_old = t.kv.cache().v(1, slot);
      double d = 0;
      for (int i = 0; i < row; ++i) {
        const double dk = k_fresh[r * row + i] - tensor::Fp16ToFp32(k_old[i]);
        const double dv = v_fresh[r * row + i] - tensor::Fp16ToFp32(v_old[i]);
        d += dk * dk + dv * dv;
      }
      deviation[r] = static_cast<float>(d);
    }
  });
  return deviation;
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
  const std::vector<float> deviation = Layer1Deviation(t, chunks_begin, n_chunk, k_fresh, v_fresh);
  std::partial_sort(rows.begin(), rows.begin() + n_select, rows.end(),
                    [&](int32_t a, int32_t b) { return deviation[a] > deviation[b]; });
  rows.resize(n_select);
  std::sort(rows.begin(), rows.end());
  // The suffix has no cache: layer 0 for it too.
  if (all.size() > n_chunk) {
    const std::vector<int32_t> suffix(all.token_ids.begin() + n_chunk, all.token_ids.end());
    const model::TokenBatch suffix_batch = BatchOf(suffix, chunks_begin + n_chunk, t.seq, false, &t.slots);
    t.model.RunLayers(t.ctx, suffix_batch, 0, 1, hidden.data() + n_chunk * n_embd, t.kv);
  }
  return rows;
}

}  // namespace

void FinishBlend(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  const PrefillTarget& t = in.target;
  const model::HParams& hp = t.model.hparams();
  const size_t n_embd = hp.n_embd;
  const int32_t n_chunk = stats.chunk_tokens;
  const int32_t n_suffix = static_cast<int32_t>(in.prompt.suffix.size());

  // Chunk tokens then suffix tokens, at their prompt positions.
  std::vector<int32_t> tail;
  for (const auto& c : in.prompt.chunks) tail.insert(tail.end(), c.begin(), c.end());
  tail.insert(tail.end(), in.prompt.suffix.begin(), in.prompt.suffix.end());
  const model::TokenBatch all =
      BatchOf(tail, static_cast<int32_t>(in.prompt.prefix.size()), t.seq, false, &t.slots);
  std::vector<float> hidden(tail.size() * n_embd);
  t.model.Embed(all, hidden.data());

  int32_t n_select = RecomputedCount(in.options.recompute_ratio, n_chunk);
  if (hp.n_layers < 2) n_select = n_chunk;
  std::vector<int32_t> selected = SelectByDeviation(t, all, n_chunk, n_select, hidden);
  stats.chunk_tokens_recomputed = static_cast<int32_t>(selected.size());
  stats.tokens_computed += n_suffix;

  // Layers >= 1 for the selected chunk tokens and the suffix; every other token keeps its
  // cached K/V, read through the slots.
  for (int32_t s = 0; s < n_suffix; ++s) selected.push_back(n_chunk + s);
  model::TokenBatch subset;
  std::vector<float> sub_hidden(selected.size() * n_embd);
  for (size_t i = 0; i < selected.size(); ++i) {
    const int32_t r = selected[i];
    subset.Add(all.token_ids[r], all.positions[r], t.seq, all.kv_slots[r], false);
    std::copy_n(hidden.data() + r * n_embd, n_embd, sub_hidden.data() + i * n_embd);
  }
  if (in.options.bottom_right_mask) {
    const int32_t k_len = in.prompt.size(), q_len = static_cast<int32_t>(selected.size());
    for (int32_t i = 0; i < q_len; ++i) subset.attend_limits.push_back(k_len - q_len + i);
  }
  RunLayersFrom(t, subset, sub_hidden, 1, logits);
}

}  // namespace kvfuse::fuse
