#include "fuse/chunk_source.h"

#include <chrono>

#include "fuse/key_placement.h"
#include "fuse/prefill_target.h"
#include "util/hash.h"
#include "util/timing.h"

namespace kvfuse::fuse {

namespace {
constexpr int32_t kScratchBlockSize = 16;
}  // namespace

ChunkSource::ChunkSource(const model::Model& model, store::ChunkStore& store, FuserIdentity identity)
    : model_(model), store_(store), identity_(std::move(identity)) {}

uint64_t ChunkSource::Key(const std::vector<int32_t>& tokens) const {
  util::Hasher h;
  h.AddValue(identity_.model_fingerprint).AddValue(identity_.tokenizer_fingerprint);
  h.AddValue(identity_.chunk_head.size()).Add(identity_.chunk_head.data(), identity_.chunk_head.size() * 4);
  h.Add(tokens.data(), tokens.size() * 4);
  return h.Digest();
}

store::ChunkShape ChunkSource::shape() const {
  const kv::KvGeometry g = model_.kv_geometry();
  return {static_cast<uint32_t>(g.n_layers), static_cast<uint32_t>(g.row_elements() * sizeof(uint16_t))};
}

util::Result<std::shared_ptr<const store::ChunkRecord>> ChunkSource::GetOrCompute(
    model::ForwardContext& ctx, const std::vector<int32_t>& tokens, FusionStats& stats) {
  const uint64_t key = Key(tokens);
  const store::ChunkShape chunk_shape = shape();
  if (auto hit = store_.Get(key, chunk_shape); hit && hit->tokens == tokens) {
    ++stats.chunk_hits;
    stats.chunk_tokens_hit += static_cast<int32_t>(tokens.size());
    return hit;
  }
  ++stats.chunk_misses;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<int32_t> all(identity_.chunk_head);
  all.insert(all.end(), tokens.begin(), tokens.end());
  const int32_t head = static_cast<int32_t>(identity_.chunk_head.size());
  const int32_t n = static_cast<int32_t>(all.size());
  kv::KvManager scratch(model_.kv_geometry(), n, kScratchBlockSize);
  KVFUSE_RETURN_IF_ERROR(scratch.Reserve(0, n));
  const std::vector<int32_t> scratch_slots = scratch.SlotsOf(0, n);
  KVFUSE_RETURN_IF_ERROR(model_.Validate(BatchOf(all, 0, 0, false, &scratch_slots), scratch));
  ComputeTokens(PrefillTarget{model_, ctx, scratch, 0, scratch_slots}, all, 0, nullptr);

  auto record = std::make_shared<store::ChunkRecord>();
  record->key = key;
  record->context_hash = util::Hash64(identity_.chunk_head.data(), identity_.chunk_head.size() * 4);
  record->Resize(chunk_shape, tokens);
  CopyOut(model_.hparams(), ctx, scratch.cache(), scratch_slots.data() + head, head, *record);
  store_.Put(record);
  stats.ms_chunk_compute += util::MsSince(t0);
  return std::shared_ptr<const store::ChunkRecord>(std::move(record));
}

}  // namespace kvfuse::fuse
