// KV storage the forward pass reads and writes: for every layer, n_slots cells of K and V
// (f16, head_dim for each of n_kv_heads). Which cells hold which positions of which sequence is
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

  // One head's f16 row (head_dim elements) of a slot. A head's rows lie one after another
  // by slot (head-major), so attention reads one KV head's keys as one stream of memory;
  // slot s's row of `head` is at k_head(layer, head) + s * head_dim.
  uint16_t* k(int layer, int head, int32_t slot) { return k_[layer].data() + Offset(head, slot); }
  uint16_t* v(int layer, int head, int32_t slot) { return v_[layer].data() + Offset(head, slot); }
  const uint16_t* k(int layer, int head, int32_t slot) const { return k_[layer].data() + Offset(head, slot); }
  const uint16_t* v(int layer, int head, int32_t slot) const { return v_[layer].data() + Offset(head, slot); }
  const uint16_t* k_head(int layer, int head) const { return k(layer, head, 0); }
  const uint16_t* v_head(int layer, int head) const { return v(layer, head, 0); }

 private:
  size_t Offset(int head, int32_t slot) const {
    return (static_cast<size_t>(head) * n_slots_ + slot) * geometry_.head_dim;
  }

  KvGeometry geometry_;
  int32_t n_slots_;
  std::vector<std::vector<uint16_t>> k_, v_;
};

}  // namespace kvfuse::kv
