#include "store/chunk_store.h"

#include <cstdio>

namespace kvfuse::store {

std::shared_ptr<const ChunkRecord> ChunkStore::Get(uint64_t key, const ChunkShape& shape) {
  if (auto hit = ram_.Get(key); hit && hit->shape == shape) {
    ++stats_.ram_hits;
    return hit;
  }
  if (disk_) {
    auto loaded = disk_->Load(key, shape);
    if (!loaded.ok()) {
      // The message names the file and what is wrong; the caller recomputes the chunk.
      std::fprintf(stderr, "kvfuse: %s; recomputing\n", loaded.status().message().c_str());
      if (loaded.status().code() == util::StatusCode::kCorrupt) {
        ++stats_.corrupt;
        corrupt_total_.fetch_add(1, std::memory_order_relaxed);
      }
    } else if (loaded->has_value()) {
      ++stats_.disk_hits;
      auto record = std::make_shared<const ChunkRecord>(std::move(**loaded));
      ram_.Put(record);
      return record;
    }
  }
  ++stats_.misses;
  return nullptr;
}

void ChunkStore::Put(std::shared_ptr<const ChunkRecord> record) {
  if (disk_ && !disk_->Save(*record).ok()) ++stats_.disk_write_errors;
  ram_.Put(std::move(record));
}

}  // namespace kvfuse::store
