// The cached KV of one chunk: per layer, K (rotated for positions 0..n-1) and V of every
// token, as opaque rows of row_bytes each, plus what reuse decisions need to know.
// The store moves these around; it never interprets the K/V bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "util/recycled_memory.h"

namespace kvfuse::store {

// What a stored chunk must match to be served: its identity and the KV geometry.
struct ChunkShape {
  uint32_t n_layers = 0;
  uint32_t row_bytes = 0;  // bytes of one token's K (or V) in one layer
  bool operator==(const ChunkShape&) const = default;
};

// K or V of a chunk: megabytes, taken and given back many times over as records pass
// through the RAM tier, so their pages are recycled (util/recycled_memory.h).
using KvBytes = std::vector<uint8_t, util::RecyclingAllocator<uint8_t>>;

struct ChunkRecord {
  uint64_t key = 0;           // hash(model, tokenizer, token ids): see fuse/chunk_key.h
  uint64_t context_hash = 0;  // identity of what the chunk was computed after
  ChunkShape shape;
  std::vector<int32_t> tokens;
  KvBytes k, v;                      // [layer][token][row_bytes]
  std::vector<float> token_scores;   // per token; empty when not recorded
  // Cache-Craft metadata of a chunk cached from inside a prompt (empty when it was
  // computed on its own): the chunks that preceded it, its attention to each of them,
  // and its cache context impact (sigmoid of inter- over intra-chunk attention).
  std::vector<uint64_t> context_chunks;
  std::vector<float> context_weights;
  float cci = 0.0f;

  uint32_t n_tokens() const { return static_cast<uint32_t>(tokens.size()); }
  size_t layer_bytes() const { return static_cast<size_t>(n_tokens()) * shape.row_bytes; }
  uint8_t* k_row(uint32_t layer, uint32_t token) { return k.data() + layer * layer_bytes() + token * shape.row_bytes; }
  uint8_t* v_row(uint32_t layer, uint32_t token) { return v.data() + layer * layer_bytes() + token * shape.row_bytes; }
  const uint8_t* k_row(uint32_t layer, uint32_t token) const { return k.data() + layer * layer_bytes() + token * shape.row_bytes; }
  const uint8_t* v_row(uint32_t layer, uint32_t token) const { return v.data() + layer * layer_bytes() + token * shape.row_bytes; }
  // Memory held, the unit of the RAM budget (K and V as their buffers hold them).
  size_t bytes() const {
    return util::HeldBytes(k) + util::HeldBytes(v) + tokens.size() * sizeof(int32_t) +
           token_scores.size() * sizeof(float) + context_chunks.size() * sizeof(uint64_t) +
           context_weights.size() * sizeof(float);
  }
  // Allocates K and V for n tokens of `s`.
  void Resize(ChunkShape s, std::vector<int32_t> token_ids) {
    shape = s;
    tokens = std::move(token_ids);
    k.assign(static_cast<size_t>(shape.n_layers) * layer_bytes(), 0);
    v.assign(k.size(), 0);
  }
};

}  // namespace kvfuse::store
