#include "store/ram_tier.h"

namespace kvfuse::store {

std::shared_ptr<const ChunkRecord> RamTier::Get(uint64_t key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return nullptr;
  ++it->second.hits;
  it->second.last_use = ++clock_;
  return it->second.record;
}

bool RamTier::Put(std::shared_ptr<const ChunkRecord> record) {
  const size_t bytes = record->bytes();
  if (bytes > budget_) return false;
  if (auto it = entries_.find(record->key); it != entries_.end()) {
    used_ -= it->second.record->bytes();
    entries_.erase(it);
  }
  while (used_ + bytes > budget_) EvictOne();
  used_ += bytes;
  const uint64_t key = record->key;
  entries_[key] = Entry{std::move(record), 0, ++clock_};
  return true;
}

void RamTier::EvictOne() {
  auto victim = entries_.end();
  double victim_value = 0;
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    const Entry& e = it->second;
    const double value = static_cast<double>(1 + e.hits) * e.record->n_tokens() /
                         static_cast<double>(e.record->bytes());
    if (victim == entries_.end() || value < victim_value ||
        (value == victim_value && e.last_use < victim->second.last_use)) {
      victim = it;
      victim_value = value;
    }
  }
  used_ -= victim->second.record->bytes();
  entries_.erase(victim);
  ++evictions_;
}

}  // namespace kvfuse::store
