#include "fuse/chunk_fuser.h"
#include "fuse/fusion_plan.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernels/ops.h"
#include "tensor/half.h"
#include "util/hash.h"

namespace kvfuse::fuse {

using util::Status;

namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// Tokens at consecutive positions from `start`, position p in slots[p] (or slot p).
model::TokenBatch BatchOf(const std::vector<int32_t>& tokens, int32_t start, int32_t seq, bool last_logits,
                          const std::vector<int32_t>* slots = nullptr) {
  model::TokenBatch b;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t pos = start + static_cast<int32_t>(i);
    b.Add(tokens[i], pos, seq, slots ? (*slots)[pos] : pos, last_logits && i + 1 == tokens.size());
  }
  return b;
}

// Attention statistics with one segment per chunk (prefix and suffix are not counted).
model::AttentionRecorder ChunkRecorder(const SegmentedPrompt& prompt, int n_heads) {
  model::AttentionRecorder r;
  r.n_segments = static_cast<int>(prompt.chunks.size());
  r.n_heads = n_heads;
  r.segment_of_pos.assign(prompt.size(), -1);
  for (size_t i = 0; i < prompt.chunks.size(); ++i)
    for (size_t j = 0; j < prompt.chunks[i].size(); ++j) r.segment_of_pos[prompt.ChunkOffset(i) + j] = static_cast<int32_t>(i);
  r.Reset(prompt.size());
  return r;
}

kernels::RopeParams RopeOf(const model::HParams& hp) {
  return {hp.head_dim, hp.rope_dim, hp.rope_theta, hp.rope_neox};
}

}  // namespace

ChunkFuser::ChunkFuser(const model::Model& model, store::ChunkStore& store, FuserIdentity identity)
    : model_(model), store_(store), identity_(std::move(identity)) {}

uint64_t ChunkFuser::ChunkKey(const std::vector<int32_t>& tokens) const {
  util::Hasher h;
  h.AddValue(identity_.model_fingerprint).AddValue(identity_.tokenizer_fingerprint);
  h.AddValue(identity_.chunk_head.size()).Add(identity_.chunk_head.data(), identity_.chunk_head.size() * 4);
  h.Add(tokens.data(), tokens.size() * 4);
  return h.Digest();
}

store::ChunkShape ChunkFuser::chunk_shape() const {
  const kv::KvGeometry g = model_.kv_geometry();
  return {static_cast<uint32_t>(g.n_layers), static_cast<uint32_t>(g.row_elements() * sizeof(uint16_t))};
}

void ChunkFuser::Compute(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq,
                         const std::vector<int32_t>& slots, const std::vector<int32_t>& tokens,
                         int32_t start, std::vector<float>* logits) const {
  if (tokens.empty()) return;
  const model::TokenBatch batch = BatchOf(tokens, start, seq, logits != nullptr, &slots);
  std::vector<float> hidden(tokens.size() * static_cast<size_t>(model_.hparams().n_embd));
  model_.Embed(batch, hidden.data());
  model_.RunLayers(ctx, batch, 0, model_.hparams().n_layers, hidden.data(), kv);
  if (logits) {
    const size_t n_embd = model_.hparams().n_embd;
    logits->resize(model_.hparams().n_vocab);
    model_.Logits(ctx, hidden.data() + (tokens.size() - 1) * n_embd, 1, logits->data());
  }
}

util::Result<std::shared_ptr<const store::ChunkRecord>> ChunkFuser::GetOrCompute(
    model::ForwardContext& ctx, const std::vector<int32_t>& tokens, FusionStats& stats) {
  const uint64_t key = ChunkKey(tokens);
  const store::ChunkShape shape = chunk_shape();
  if (auto hit = store_.Get(key, shape); hit && hit->tokens == tokens) {
    ++stats.chunk_hits;
    stats.chunk_tokens_hit += static_cast<int32_t>(tokens.size());
    return hit;
  }
  ++stats.chunk_misses;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> all(identity_.chunk_head);
  all.insert(all.end(), tokens.begin(), tokens.end());
  const int32_t head = static_cast<int32_t>(identity_.chunk_head.size());
  if (!scratch_ || scratch_->n_slots() < static_cast<int32_t>(all.size()))
    scratch_ = std::make_unique<kv::KvCache>(model_.kv_geometry(), static_cast<int32_t>(all.size()));
  scratch_->Clear();
  KVFUSE_RETURN_IF_ERROR(model_.Validate(BatchOf(all, 0, 0, false), *scratch_));
  std::vector<int32_t> scratch_slots(all.size());
  std::iota(scratch_slots.begin(), scratch_slots.end(), 0);
  Compute(ctx, *scratch_, 0, scratch_slots, all, 0, nullptr);

  auto record = std::make_shared<store::ChunkRecord>();
  record->key = key;
  record->context_hash = util::Hash64(identity_.chunk_head.data(), identity_.chunk_head.size() * 4);
  record->Resize(shape, tokens);
  CopyOut(ctx, *scratch_, scratch_slots.data() + head, head, *record);
  store_.Put(record);
  stats.ms_chunk_compute += MsSince(t0);
  return std::shared_ptr<const store::ChunkRecord>(std::move(record));
}

void ChunkFuser::CopyOut(model::ForwardContext& ctx, const kv::KvCache& kv, const int32_t* slots, int32_t offset,
                         store::ChunkRecord& record) const {
  const kernels::RopeParams rope = RopeOf(model_.hparams());
  const int n_kv_heads = model_.hparams().n_kv_heads;
  ctx.pool.ParallelFor(record.shape.n_layers, [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l)
      for (uint32_t j = 0; j < record.n_tokens(); ++j) {
        kernels::ShiftKeysF16(kv.k(l, slots[j]), reinterpret_cast<uint16_t*>(record.k_row(l, j)), n_kv_heads,
                              static_cast<float>(-offset), rope);
        std::memcpy(record.v_row(l, j), kv.v(l, slots[j]), record.shape.row_bytes);
      }
  });
}

void ChunkFuser::Place(model::ForwardContext& ctx, const store::ChunkRecord& chunk, kv::KvCache& kv,
                       int32_t seq, const std::vector<int32_t>& slots, int32_t offset) const {
  const kernels::RopeParams rope = RopeOf(model_.hparams());
  const int n_kv_heads = model_.hparams().n_kv_heads;
  ctx.pool.ParallelFor(chunk.shape.n_layers, [&](int64_t l0, int64_t l1) {
    for (int64_t l = l0; l < l1; ++l) {
      for (uint32_t j = 0; j < chunk.n_tokens(); ++j) {
        const int32_t slot = slots[offset + j];
        kernels::ShiftKeysF16(reinterpret_cast<const uint16_t*>(chunk.k_row(l, j)), kv.k(l, slot),
                              n_kv_heads, static_cast<float>(offset), rope);
        std::memcpy(kv.v(l, slot), chunk.v_row(l, j), chunk.shape.row_bytes);
      }
    }
  });
  for (uint32_t j = 0; j < chunk.n_tokens(); ++j)
    kv.SetCell(slots[offset + j], seq, offset + static_cast<int32_t>(j));
}

int32_t ChunkFuser::KeptPrefix(const SegmentedPrompt& prompt, FusionMode mode, int32_t cached) {
  int32_t kept = cached;
  if (mode == FusionMode::kFull) kept = 0;
  if (ReusesChunkKv(mode))
    kept = std::min<int32_t>(kept, static_cast<int32_t>(prompt.prefix.size()));
  return std::max(0, std::min(kept, prompt.size() - 1));
}

Status ChunkFuser::Prefill(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq,
                           const std::vector<int32_t>& slots, int32_t kept,
                           const SegmentedPrompt& prompt, const FusionOptions& options,
                           std::vector<float>& logits, FusionStats& stats, const FusionPlan* plan) {
  stats = FusionStats{};
  const std::vector<int32_t> tokens = prompt.Flatten();
  const int32_t n = static_cast<int32_t>(tokens.size());
  stats.prompt_tokens = n;
  if (n == 0) return Status::Error("empty prompt");
  if (prompt.suffix.empty() && ReusesChunkKv(options.mode))
    return Status::Error("a fused prompt needs a non-empty suffix (the question)");
  if (n > kv.n_slots())
    return Status::Error(util::StrFormat("prompt of %d tokens exceeds the context of %d", n, kv.n_slots()));
  if (static_cast<int32_t>(slots.size()) < n) return Status::Error("fewer KV slots than prompt tokens");
  if (kept < 0 || kept > KeptPrefix(prompt, options.mode, kept))  // more than the mode may keep
    return Status::Error("the kept prefix does not suit the fusion mode");
  KVFUSE_RETURN_IF_ERROR(model_.Validate(BatchOf(tokens, 0, seq, false, &slots), kv));
  if (options.recompute_ratio < 0 || options.recompute_ratio > 1)
    return Status::Error("recompute ratio must be within [0, 1]");

  const int32_t reuse = kept;
  kv.TruncateSequence(seq, reuse);
  stats.prefix_reused = reuse;

  const auto t0 = std::chrono::steady_clock::now();
  if (!ReusesChunkKv(options.mode)) {
    const bool record = options.record_chunks && options.mode == FusionMode::kFull && !prompt.chunks.empty();
    model::AttentionRecorder recorder;
    if (record) {
      recorder = ChunkRecorder(prompt, model_.hparams().n_heads);
      ctx.recorder = &recorder;
    }
    Compute(ctx, kv, seq, slots, std::vector<int32_t>(tokens.begin() + reuse, tokens.end()), reuse, &logits);
    ctx.recorder = nullptr;
    stats.tokens_computed = n - reuse;
    stats.ms_forward = MsSince(t0);
    if (record) RecordChunks(ctx, kv, slots, prompt, recorder);
    return Status::Ok();
  }

  const int32_t prefix_n = static_cast<int32_t>(prompt.prefix.size());
  Compute(ctx, kv, seq, slots, std::vector<int32_t>(prompt.prefix.begin() + reuse, prompt.prefix.end()), reuse,
          nullptr);
  stats.tokens_computed = prefix_n - reuse;
  double ms_other = MsSince(t0);

  std::vector<std::shared_ptr<const store::ChunkRecord>> records(prompt.chunks.size());
  for (size_t i = 0; i < prompt.chunks.size(); ++i) {
    if (prompt.chunks[i].empty()) continue;
    if (plan && i < plan->chunks.size() && plan->chunks[i] && plan->chunks[i]->tokens == prompt.chunks[i]) {
      records[i] = plan->chunks[i];
    } else {
      auto chunk = GetOrCompute(ctx, prompt.chunks[i], stats);
      if (!chunk.ok()) return chunk.status();
      records[i] = chunk.value();
    }
    const auto t_place = std::chrono::steady_clock::now();
    Place(ctx, *records[i], kv, seq, slots, prompt.ChunkOffset(i));
    stats.ms_place += MsSince(t_place);
    stats.chunk_tokens += static_cast<int32_t>(prompt.chunks[i].size());
  }

  const auto t1 = std::chrono::steady_clock::now();
  if (options.mode == FusionMode::kNaive) {
    Compute(ctx, kv, seq, slots, prompt.suffix, n - static_cast<int32_t>(prompt.suffix.size()), &logits);
    stats.tokens_computed += static_cast<int32_t>(prompt.suffix.size());
  } else if (options.mode == FusionMode::kAdaptive) {
    Adaptive(ctx, kv, seq, slots, prompt, records, options.adaptive_alpha, logits, stats);
  } else {
    Blend(ctx, kv, seq, slots, prompt, options, logits, stats);
  }
  stats.ms_forward = ms_other + MsSince(t1);
  return Status::Ok();
}

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

}  // namespace

void ChunkFuser::Adaptive(model::ForwardContext& ctx, kv::KvCache& kv, int32_t seq, const std::vector<int32_t>& slots,
                          const SegmentedPrompt& prompt,
                          const std::vector<std::shared_ptr<const store::ChunkRecord>>& chunks, float alpha,
                          std::vector<float>& logits, FusionStats& stats) const {
  // Per chunk: beta = share of its recorded attention to earlier chunks that are still
  // in front of it, penalised by how their order changed; CFO = alpha * CCI * (1 - beta').
  std::vector<int32_t> positions;  // chunk tokens to recompute, then the suffix
  std::vector<uint64_t> keys_before;
  for (size_t i = 0; i < prompt.chunks.size(); ++i) {
    const store::ChunkRecord* rec = chunks[i].get();
    const int32_t n_i = static_cast<int32_t>(prompt.chunks[i].size());
    if (rec && n_i > 0) {
      double total = 0, kept = 0;
      for (size_t c = 0; c < rec->context_chunks.size(); ++c) {
        total += rec->context_weights[c];
        if (std::find(keys_before.begin(), keys_before.end(), rec->context_chunks[c]) != keys_before.end())
          kept += rec->context_weights[c];
      }
      const double beta = total > 0 ? kept / total : 1.0;
      const double beta_adj = beta * (1.0 - OrderDistance(rec->context_chunks, keys_before));
      const double cfo = std::min(1.0, alpha * rec->cci * (1.0 - beta_adj));
      const int32_t k = std::min(n_i, static_cast<int32_t>(std::ceil(cfo * n_i - 1e-9)));
      std::vector<int32_t> order(n_i);
      std::iota(order.begin(), order.end(), 0);
      if (rec->token_scores.size() == static_cast<size_t>(n_i))
        std::stable_sort(order.begin(), order.end(),
                         [&](int32_t a, int32_t b) { return rec->token_scores[a] > rec->token_scores[b]; });
      for (int32_t j = 0; j < k; ++j) positions.push_back(prompt.ChunkOffset(i) + order[j]);
      stats.chunk_tokens_recomputed += k;
    }
    keys_before.push_back(rec ? rec->key : 0);
  }
  std::sort(positions.begin(), positions.end());
  const int32_t suffix_begin = prompt.size() - static_cast<int32_t>(prompt.suffix.size());
  for (int32_t p = suffix_begin; p < prompt.size(); ++p) positions.push_back(p);
  stats.tokens_computed += static_cast<int32_t>(prompt.suffix.size());

  const std::vector<int32_t> tokens = prompt.Flatten();
  model::TokenBatch batch;
  for (int32_t p : positions) batch.Add(tokens[p], p, seq, slots[p], false);
  std::vector<float> hidden(positions.size() * static_cast<size_t>(model_.hparams().n_embd));
  model_.Embed(batch, hidden.data());
  RunSubset(ctx, kv, batch, hidden, 0, logits);
}

void ChunkFuser::RecordChunks(model::ForwardContext& ctx, const kv::KvCache& kv, const std::vector<int32_t>& slots,
                              const SegmentedPrompt& prompt, const model::AttentionRecorder& rec) {
  const model::HParams& hp = model_.hparams();
  const double per_pass = static_cast<double>(hp.n_layers) * hp.n_heads;  // mass is summed over both
  const int n_seg = rec.n_segments;
  const store::ChunkShape shape = chunk_shape();
  std::vector<uint64_t> keys;
  for (const auto& c : prompt.chunks) keys.push_back(ChunkKey(c));
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
    CopyOut(ctx, kv, slots.data() + offset, offset, *record);
    store_.Put(record);
  }
}

}  // namespace kvfuse::fuse
