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

void KvCache::SetCell(int32_t slot, int32_t seq, int32_t pos) {
  auto& members = members_[seq];
  const std::pair<int32_t, int32_t> old{cells_[slot].pos, slot};
  if (auto it = std::lower_bound(members.begin(), members.end(), old); it != members.end() && *it == old)
    members.erase(it);
  cells_[slot].pos = pos;
  const std::pair<int32_t, int32_t> now{pos, slot};
  members.insert(std::lower_bound(members.begin(), members.end(), now), now);
}

void KvCache::AddToSequence(int32_t seq, int32_t slot) {
  auto& members = members_[seq];
  const std::pair<int32_t, int32_t> entry{cells_[slot].pos, slot};
  auto it = std::lower_bound(members.begin(), members.end(), entry);
  if (it == members.end() || *it != entry) members.insert(it, entry);
}

void KvCache::ClearSequence(int32_t seq) { members_.erase(seq); }

void KvCache::TruncateSequence(int32_t seq, int32_t pos) {
  auto it = members_.find(seq);
  if (it == members_.end()) return;
  auto& members = it->second;
  members.erase(std::lower_bound(members.begin(), members.end(), std::pair<int32_t, int32_t>{pos, -1}),
                members.end());
}

void KvCache::Clear() {
  members_.clear();
  std::fill(cells_.begin(), cells_.end(), KvCell{});
}

std::vector<int32_t> KvCache::SlotsOfSequence(int32_t seq) const {
  std::vector<int32_t> slots;
  auto it = members_.find(seq);
  if (it == members_.end()) return slots;
  slots.reserve(it->second.size());
  for (const auto& [pos, slot] : it->second) slots.push_back(slot);
  return slots;
}

}  // namespace kvfuse::kv
