#include "kv/block_pool.h"

#include "util/status.h"

namespace kvfuse::kv {

BlockPool::BlockPool(int32_t n_blocks, int32_t block_size) : block_size_(block_size), refs_(n_blocks, 0) {
  KVFUSE_CHECK(n_blocks > 0 && block_size > 0);
  for (int32_t b = n_blocks - 1; b >= 0; --b) free_.push_back(b);
}

std::optional<int32_t> BlockPool::Allocate() {
  if (free_.empty()) return std::nullopt;
  const int32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  return b;
}

void BlockPool::Retain(int32_t block) {
  KVFUSE_CHECK(refs_[block] > 0);
  ++refs_[block];
}

void BlockPool::Release(int32_t block) {
  KVFUSE_CHECK(refs_[block] > 0);
  if (--refs_[block] == 0) free_.push_back(block);
}

}  // namespace kvfuse::kv
