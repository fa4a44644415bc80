#include "fuse/chunk_fuser.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "fuse/batch_of.h"
#include "fuse/fusion_plan.h"
#include "kernels/ops.h"
#include "tensor/half.h"
#include "util/hash.h"

namespace kvfuse::fuse {

using util::Status;

namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
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

}  // namespace kvfuse::fuse
