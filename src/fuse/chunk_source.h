// Chunk identity and the chunk store: the key of a chunk's cached KV, lookup, and computing
// a missing chunk on its own behind `chunk_head` (e.g. BOS, so that its first token is not
// an attention sink), stored with keys for positions 0..n-1.
//
// Threading: one thread at a time; the store is not synchronised.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "fuse/fusion_stats.h"
#include "kv/kv_manager.h"
#include "model/model.h"
#include "store/chunk_store.h"
#include "util/status.h"

namespace kvfuse::fuse {

// What a chunk's cached KV depends on besides its tokens.
struct FuserIdentity {
  uint64_t model_fingerprint = 0;
  uint64_t tokenizer_fingerprint = 0;
  std::vector<int32_t> chunk_head;  // tokens every chunk is computed after
};

class ChunkSource {
 public:
  ChunkSource(const model::Model& model, store::ChunkStore& store, FuserIdentity identity);

  // hash(model fingerprint, tokenizer fingerprint, chunk head, chunk token ids)
  uint64_t Key(const std::vector<int32_t>& tokens) const;
  store::ChunkShape shape() const;

  // The chunk's cached KV (one store lookup), computed and stored on a miss; stats counts
  // the hit or miss. A miss is computed in KV of its own, so a prefill paused between steps
  // (engine's stepped prefill) shares nothing with a chunk warmed meanwhile.
  util::Result<std::shared_ptr<const store::ChunkRecord>> GetOrCompute(
      model::ForwardContext& ctx, const std::vector<int32_t>& tokens, FusionStats& stats);
  // Stores a record computed elsewhere (a chunk recorded inside a full prompt).
  void Put(std::shared_ptr<const store::ChunkRecord> record) { store_.Put(std::move(record)); }

 private:
  const model::Model& model_;
  store::ChunkStore& store_;
  FuserIdentity identity_;
};

}  // namespace kvfuse::fuse
