// The unit of work of a forward pass (docs/ARCHITECTURE.md, "forward-pass
// contract"). Each token carries its sequence, an explicit position and the KV slot it
// writes (where kv::KvManager's block table keeps that position); attention for a token
// covers its sequence's positions 0..its own (or its attend limit; on a sliding layer only the
// window's last n_swa positions), whatever the order of tokens in the batch.
#pragma once

#include <cstdint>
#include <vector>

namespace kvfuse::model {

struct TokenBatch {
  std::vector<int32_t> token_ids;
  std::vector<int32_t> positions;
  std::vector<int32_t> seq_ids;
  std::vector<int32_t> kv_slots;
  std::vector<int32_t> output_rows;  // batch rows whose logits are wanted, in this order
  // Optional, one per token: attend to positions <= this instead of <= the token's own
  // (LMCache's bottom-right mask for recomputed subsets); empty = causal by position.
  std::vector<int32_t> attend_limits;

  int32_t size() const { return static_cast<int32_t>(token_ids.size()); }
  void Add(int32_t token, int32_t pos, int32_t seq, int32_t slot, bool want_logits) {
    if (want_logits) output_rows.push_back(size());
    token_ids.push_back(token);
    positions.push_back(pos);
    seq_ids.push_back(seq);
    kv_slots.push_back(slot);
  }
  void Clear() { *this = TokenBatch{}; }
};

}  // namespace kvfuse::model
