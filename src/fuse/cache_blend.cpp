// CacheBlend (blend mode): selective recompute of the chunk tokens whose KV deviates most.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "fuse/batch_of.h"
#include "fuse/chunk_fuser.h"
#include "kernels/ops.h"
#include "tensor/half.h"

namespace kvfuse::fuse {

void ChunkFuser::Blend(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq,
                       const std::vector<int32_t>& slots, const SegmentedPrompt& prompt,
                       const FusionOptions& options,
                       std::vector<float>& logits, FusionStats& stats) const {
  const float ratio = options.recompute_ratio;
  const model::HParams& hp = model_.hparams();
  const size_t n_embd = hp.n_embd;
  const int32_t chunks_begin = static_cast<int32_t>(prompt.prefix.size());
  const int32_t n_chunk = stats.chunk_tokens;
  const int32_t n_suffix = static_cast<int32_t>(prompt.suffix.size());

  // Chunk tokens then suffix tokens, at their prompt positions.
  std::vector<int32_t> tail;
  for (const auto& c : prompt.chunks) tail.insert(tail.end(), c.begin(), c.end());
  tail.insert(tail.end(), prompt.suffix.begin(), prompt.suffix.end());
  const model::TokenBatch all = BatchOf(tail, chunks_begin, seq, false, &slots);
  std::vector<float> hidden(tail.size() * n_embd);
  model_.Embed(all, hidden.data());

  // Which chunk tokens to recompute in layers >= 1.
  int32_t n_select = static_cast<int32_t>(std::ceil(ratio * n_chunk));
  if (hp.n_layers < 2) n_select = n_chunk;
  std::vector<int32_t> selected;  // rows of `all`
  if (n_select >= n_chunk) {
    selected.resize(n_chunk);
    std::iota(selected.begin(), selected.end(), 0);
    model_.RunLayers(ctx, all, 0, 1, hidden.data(), kv);
  } else {
    // Layer 0 for the chunk tokens only: its K/V equal the cached ones (they do not
    // depend on context), but layer 1's input is needed to measure the deviation.
    model::TokenBatch chunk_batch = BatchOf(std::vector<int32_t>(tail.begin(), tail.begin() + n_chunk),
                                            chunks_begin, seq, false, &slots);
    model_.RunLayers(ctx, chunk_batch, 0, 1, hidden.data(), kv);
    std::vector<float> k_fresh, v_fresh;
    model_.ProjectKv(ctx, chunk_batch, 1, hidden.data(), k_fresh, v_fresh);
    const int row = model_.kv_geometry().row_elements();
    std::vector<float> deviation(n_chunk);
    ctx.pool.ParallelFor(n_chunk, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int32_t slot = slots[chunks_begin + t];
        const uint16_t* k_old = kv.k(1, slot);
        const uint16_t* v_old = kv.v(1, slot);
        double d = 0;
        for (int i = 0; i < row; ++i) {
          const double dk = k_fresh[t * row + i] - tensor::Fp16ToFp32(k_old[i]);
          const double dv = v_fresh[t * row + i] - tensor::Fp16ToFp32(v_old[i]);
          d += dk * dk + dv * dv;
        }
        deviation[t] = static_cast<float>(d);
      }
    });
    selected.resize(n_chunk);
    std::iota(selected.begin(), selected.end(), 0);
    std::partial_sort(selected.begin(), selected.begin() + n_select, selected.end(),
                      [&](int32_t a, int32_t b) { return deviation[a] > deviation[b]; });
    selected.resize(n_select);
    std::sort(selected.begin(), selected.end());
    // The suffix has no cache: layer 0 for it too.
    if (n_suffix > 0) {
      model::TokenBatch suffix_batch = BatchOf(prompt.suffix, chunks_begin + n_chunk, seq, false, &slots);
      model_.RunLayers(ctx, suffix_batch, 0, 1, hidden.data() + n_chunk * n_embd, kv);
    }
  }
  stats.chunk_tokens_recomputed = static_cast<int32_t>(selected.size());
  stats.tokens_computed += n_suffix;

  // Layers >= 1 for the selected chunk tokens and the suffix; every other token keeps
  // its cached K/V, read through the slots.
  for (int32_t s = 0; s < n_suffix; ++s) selected.push_back(n_chunk + s);
  model::TokenBatch subset;
  std::vector<float> sub_hidden(selected.size() * n_embd);
  for (size_t i = 0; i < selected.size(); ++i) {
    const int32_t r = selected[i];
    subset.Add(all.token_ids[r], all.positions[r], seq, all.kv_slots[r], false);
    std::copy_n(hidden.data() + r * n_embd, n_embd, sub_hidden.data() + i * n_embd);
  }
  if (options.bottom_right_mask) {
    const int32_t k_len = prompt.size(), q_len = static_cast<int32_t>(selected.size());
    for (int32_t i = 0; i < q_len; ++i) subset.attend_limits.push_back(k_len - q_len + i);
  }
  RunSubset(ctx, kv, subset, sub_hidden, 1, logits);
}

void ChunkFuser::RunSubset(model::ForwardContext& ctx, kv::KvCache& kv, const model::TokenBatch& batch,
                           std::vector<float>& hidden, int first_layer, std::vector<float>& logits) const {
  const model::HParams& hp = model_.hparams();
  model_.RunLayers(ctx, batch, first_layer, hp.n_layers, hidden.data(), kv);
  logits.resize(hp.n_vocab);
  model_.Logits(ctx, hidden.data() + static_cast<size_t>(batch.size() - 1) * hp.n_embd, 1, logits.data());
}

}  // namespace kvfuse::fuse
