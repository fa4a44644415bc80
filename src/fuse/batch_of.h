// Internal to fuse/: a TokenBatch of consecutive positions, shared by the fuser's files.
#pragma once

#include <cstdint>
#include <vector>

#include "model/token_batch.h"

namespace kvfuse::fuse {

// Tokens at consecutive positions from `start`, position p in slots[p] (or slot p).
inline model::TokenBatch BatchOf(const std::vector<int32_t>& tokens, int32_t start, int32_t seq, bool last_logits,
                                 const std::vector<int32_t>* slots = nullptr) {
  model::TokenBatch b;
  for (size_t i = 0; i < tokens.size(); ++i) {
    const int32_t pos = start + static_cast<int32_t>(i);
    b.Add(tokens[i], pos, seq, slots ? (*slots)[pos] : pos, last_logits && i + 1 == tokens.size());
  }
  return b;
}

}  // namespace kvfuse::fuse
