// KV storage the forward pass reads and writes: for every layer, n_slots cells of
// K and V (f16, n_kv_heads * head_dim each) and, per cell, the sequence and position
// of the token it holds.
//
// Knows only geometry, nothing about models. A cell with seq == kEmptySeq is free.
// The paged block pool and radix tree (fusion issue) hand out slot numbers of this
// same storage.
//
// Threading: not synchronised; one forward pass at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "util/status.h"

namespace kvfuse::kv {

struct KvGeometry {
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int row_elements() const { return n_kv_heads * head_dim; }
};

struct KvCell {
  int32_t seq = -1;
  int32_t pos = -1;
};

class KvCache {
 public:
  static constexpr int32_t kEmptySeq = -1;

  KvCache(const KvGeometry& geometry, int32_t n_slots);

  const KvGeometry& geometry() const { return geometry_; }
  int32_t n_slots() const { return n_slots_; }

  // f16 rows of geometry().row_elements().
  uint16_t* k(int layer, int32_t slot) { return k_[layer].data() + Offset(slot); }
  uint16_t* v(int layer, int32_t slot) { return v_[layer].data() + Offset(slot); }
  const uint16_t* k_layer(int layer) const { return k_[layer].data(); }
  const uint16_t* v_layer(int layer) const { return v_[layer].data(); }

  const KvCell& cell(int32_t slot) const { return cells_[slot]; }
  void SetCell(int32_t slot, int32_t seq, int32_t pos) { cells_[slot] = {seq, pos}; }
  void ClearSequence(int32_t seq);
  // Frees the cells of `seq` at positions >= pos.
  void TruncateSequence(int32_t seq, int32_t pos);
  void Clear();

  // Slots of `seq`, ordered by (position, slot).
  std::vector<int32_t> SlotsOfSequence(int32_t seq) const;

 private:
  size_t Offset(int32_t slot) const { return static_cast<size_t>(slot) * geometry_.row_elements(); }

  KvGeometry geometry_;
  int32_t n_slots_;
  std::vector<std::vector<uint16_t>> k_, v_;
  std::vector<KvCell> cells_;
};

}  // namespace kvfuse::kv
