#include "store/chunk_store.h"

#include <cstdio>

namespace kvfuse::store {

namespace {

// A lower tier's answer: the record, or nullptr after saying why it could not be used.
template <typename Loaded>
std::optional<ChunkRecord> Usable(Loaded loaded, StoreStats& stats, std::atomic<uint64_t>& corrupt_total) {
  if (loaded.ok()) return std::move(loaded).value();
  // The message names the file or key and what is wrong; the caller recomputes the chunk.
  std::fprintf(stderr, "kvfuse: %s; recomputing\n", loaded.status().message().c_str());
  if (loaded.status().code() == util::StatusCode::kCorrupt) {
    ++stats.corrupt;
    corrupt_total.fetch_add(1, std::memory_order_relaxed);
  }
  return std::nullopt;
}

}  // namespace

std::shared_ptr<const ChunkRecord> ChunkStore::Get(uint64_t key, const ChunkShape& shape) {
  if (auto hit = ram_.Get(key); hit && hit->shape == shape) {
    ++stats_.ram_hits;
    if (publish_hits_ && remote_) remote_->Save(hit, /*only_if_absent=*/true);
    return hit;
  }
  if (disk_) {
    if (auto loaded = Usable(disk_->Load(key, shape), stats_, corrupt_total_)) {
      ++stats_.disk_hits;
      auto record = std::make_shared<const ChunkRecord>(std::move(*loaded));
      if (publish_hits_ && remote_) remote_->Save(record, /*only_if_absent=*/true);
      ram_.Put(record);
      return record;
    }
  }
  if (remote_) {
    if (auto loaded = Usable(remote_->Load(key, shape), stats_, corrupt_total_)) {
      ++stats_.remote_hits;
      // Kept in RAM only: the shared tier holds it, and every replica's disk would fill
      // with copies of what the others computed.
      auto record = std::make_shared<const ChunkRecord>(std::move(*loaded));
      ram_.Put(record);
      return record;
    }
  }
  ++stats_.misses;
  return nullptr;
}

void ChunkStore::Put(std::shared_ptr<const ChunkRecord> record) {
  if (disk_writer_) disk_writer_->Queue(record);
  if (remote_) remote_->Save(record);
  ram_.Put(std::move(record));
}

}  // namespace kvfuse::store
