// KV storage the forward pass reads and writes: for every layer, n_slots cells of
// K and V (f16, n_kv_heads * head_dim each), the position of the token each cell holds,
// and which sequences see which cells. A cell may belong to several sequences (a shared
// prefix block); it must then not be rewritten at another position.
//
// Knows only geometry, nothing about models. kv::BlockPool hands out slot numbers of
// this storage in fixed-size blocks; kv::PrefixTree shares them between sequences.
//
// Threading: not synchronised; one forward pass at a time.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
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
  int32_t pos = -1;
};

class KvCache {
 public:
  KvCache(const KvGeometry& geometry, int32_t n_slots);

  const KvGeometry& geometry() const { return geometry_; }
  int32_t n_slots() const { return n_slots_; }

  // f16 rows of geometry().row_elements().
  uint16_t* k(int layer, int32_t slot) { return k_[layer].data() + Offset(slot); }
  uint16_t* v(int layer, int32_t slot) { return v_[layer].data() + Offset(slot); }
  const uint16_t* k(int layer, int32_t slot) const { return k_[layer].data() + Offset(slot); }
  const uint16_t* v(int layer, int32_t slot) const { return v_[layer].data() + Offset(slot); }
  const uint16_t* k_layer(int layer) const { return k_[layer].data(); }
  const uint16_t* v_layer(int layer) const { return v_[layer].data(); }

  const KvCell& cell(int32_t slot) const { return cells_[slot]; }
  // The cell now holds the token at `pos`, seen by `seq`.
  void SetCell(int32_t slot, int32_t seq, int32_t pos);
  // `seq` also sees the cell, at the position it already holds.
  void AddToSequence(int32_t seq, int32_t slot);
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
  // Per sequence, its cells as (position, slot), sorted.
  std::unordered_map<int32_t, std::vector<std::pair<int32_t, int32_t>>> members_;
};

}  // namespace kvfuse::kv
