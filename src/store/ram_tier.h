// Chunk records in memory under a byte budget. When a new record does not fit, the
// records with the lowest value are evicted first, value = (1 + hits) * tokens saved /
// bytes held (reuse frequency x compute saved per byte), ties to the least recently used.
//
// Threading: not synchronised.
#pragma once

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "store/chunk_record.h"

namespace kvfuse::store {

class RamTier {
 public:
  explicit RamTier(size_t budget_bytes) : budget_(budget_bytes) {}

  // nullptr on a miss; a hit counts towards the record's value.
  std::shared_ptr<const ChunkRecord> Get(uint64_t key);
  // Returns false (and keeps nothing) when the record alone exceeds the budget.
  bool Put(std::shared_ptr<const ChunkRecord> record);
  void Clear() { entries_.clear(); used_ = 0; }

  size_t used_bytes() const { return used_; }
  size_t budget_bytes() const { return budget_; }
  size_t size() const { return entries_.size(); }
  uint64_t evictions() const { return evictions_; }

 private:
  struct Entry {
    std::shared_ptr<const ChunkRecord> record;
    uint64_t hits = 0;
    uint64_t last_use = 0;
  };
  void EvictOne();

  size_t budget_;
  size_t used_ = 0;
  uint64_t clock_ = 0;
  uint64_t evictions_ = 0;
  std::unordered_map<uint64_t, Entry> entries_;
};

}  // namespace kvfuse::store
