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

  // Rows [begin, begin + n) as a batch of their own (no output rows).
  TokenBatch Rows(int32_t begin, int32_t n) const {
    TokenBatch b;
    const auto take = [&](const std::vector<int32_t>& v) {
      return v.empty() ? v : std::vector<int32_t>(v.begin() + begin, v.begin() + begin + n);
    };
    b.token_ids = take(token_ids);
    b.positions = take(positions);
    b.seq_ids = take(seq_ids);
    b.kv_slots = take(kv_slots);
    b.attend_limits = take(attend_limits);
    return b;
  }
};

// Whether a layer may run the batch's tokens a piece at a time, first rows first, with the
// same results: every token attends only to positions before its own and itself, all of them
// written before it runs. True for one sequence at ascending positions, none attending past
// its own.
inline bool DivisibleByTokens(const TokenBatch& b) {
  for (int32_t t = 0; t < b.size(); ++t) {
    if (b.seq_ids[t] != b.seq_ids[0]) return false;
    if (t > 0 && b.positions[t] <= b.positions[t - 1]) return false;
    if (!b.attend_limits.empty() && b.attend_limits[t] > b.positions[t]) return false;
  }
  return true;
}

}  // namespace kvfuse::model
