// KV storage the forward pass reads and writes: for every layer, n_slots cells of K and V
// (f16, n_kv_heads * head_dim each). Which cells hold which positions of which sequence is
// kv::KvManager's (block tables); a cell shared by several sequences (a cached prefix
// block) must not be rewritten.
//
// Knows only geometry, nothing about models.
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

 private:
  size_t Offset(int32_t slot) const { return static_cast<size_t>(slot) * geometry_.row_elements(); }

  KvGeometry geometry_;
  int32_t n_slots_;
  std::vector<std::vector<uint16_t>> k_, v_;
};

}  // namespace kvfuse::kv
