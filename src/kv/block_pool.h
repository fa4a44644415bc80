// Fixed-size blocks of KV slots with reference counts. Block b is slots
// [b * block_size, (b + 1) * block_size) of the KvCache the pool was sized for. A
// sequence holds its blocks in a block table (position p lives in slot
// table[p / block_size] * block_size + p % block_size); the prefix tree holds one
// reference on every block it caches, so a block is free only when nobody uses it.
//
// Threading: not synchronised.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace kvfuse::kv {

class BlockPool {
 public:
  BlockPool(int32_t n_blocks, int32_t block_size);

  int32_t block_size() const { return block_size_; }
  int32_t n_blocks() const { return static_cast<int32_t>(refs_.size()); }
  int32_t n_free() const { return static_cast<int32_t>(free_.size()); }
  int32_t ref_count(int32_t block) const { return refs_[block]; }

  // A free block with one reference, or nullopt when none is free.
  std::optional<int32_t> Allocate();
  void Retain(int32_t block);
  // Drops one reference; the block is free again when none remain.
  void Release(int32_t block);

 private:
  int32_t block_size_;
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;  // a stack: the most recently freed block is reused first
};

// Slot of position `pos` in a sequence whose block table is `table`.
inline int32_t SlotOf(const std::vector<int32_t>& table, int32_t block_size, int32_t pos) {
  return table[pos / block_size] * block_size + pos % block_size;
}

}  // namespace kvfuse::kv
