#include "kv/kv_cache.h"

#include <algorithm>

namespace kvfuse::kv {

KvCache::KvCache(const KvGeometry& geometry, int32_t n_slots)
    : geometry_(geometry), n_slots_(n_slots), cells_(n_slots) {
  KVFUSE_CHECK(n_slots > 0 && geometry.n_layers > 0 && geometry.row_elements() > 0);
  const size_t n = static_cast<size_t>(n_slots) * geometry.row_elements();
  k_.assign(geometry.n_layers, std::vector<uint16_t>(n));
  v_.assign(geometry.n_layers, std::vector<uint16_t>(n));
}

void KvCache::ClearSequence(int32_t seq) {
  for (KvCell& c : cells_)
    if (c.seq == seq) c = KvCell{};
}

void KvCache::TruncateSequence(int32_t seq, int32_t pos) {
  for (KvCell& c : cells_)
    if (c.seq == seq && c.pos >= pos) c = KvCell{};
}

void KvCache::Clear() { std::fill(cells_.begin(), cells_.end(), KvCell{}); }

std::vector<int32_t> KvCache::SlotsOfSequence(int32_t seq) const {
  std::vector<int32_t> slots;
  for (int32_t s = 0; s < n_slots_; ++s)
    if (cells_[s].seq == seq) slots.push_back(s);
  std::stable_sort(slots.begin(), slots.end(),
                   [&](int32_t a, int32_t b) { return cells_[a].pos < cells_[b].pos; });
  return slots;
}

}  // namespace kvfuse::kv
