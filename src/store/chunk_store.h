// The chunk-cache store: a RAM tier in front of an optional disk tier and an optional shared
// Redis tier. Get looks in RAM, then on disk, then in Redis; a hit is copied to RAM (a Redis
// hit is not copied to disk: the shared tier holds it). Put writes RAM and queues the disk
// write (store/disk_writer: written in order on a thread of its own) and the Redis write;
// neither is waited for. An unusable disk file or Redis value is a miss, logged on stderr
// ("kvfuse: <where>: <damage>; recomputing"); one that failed its checks (kCorrupt) is also
// counted in stats().corrupt and corrupt_total().
//
// Threading: Get, Put, DropRam, SetPublishHits and stats() on one thread at a time (the
// engine's); corrupt_total() and remote() from any thread (a metrics page).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "store/disk_tier.h"
#include "store/disk_writer.h"
#include "store/ram_tier.h"
#include "store/redis_tier.h"

namespace kvfuse::store {

struct StoreStats {
  uint64_t ram_hits = 0, disk_hits = 0, remote_hits = 0, misses = 0, corrupt = 0, disk_write_errors = 0;
};

class ChunkStore {
 public:
  explicit ChunkStore(size_t ram_budget_bytes, std::optional<DiskTier> disk = std::nullopt,
                      std::unique_ptr<RedisTier> remote = nullptr)
      : ram_(ram_budget_bytes),
        disk_(std::move(disk)),
        disk_writer_(disk_ ? std::make_unique<DiskWriter>(*disk_) : nullptr),
        remote_(std::move(remote)) {}
  ChunkStore(const ChunkStore&) = delete;
  ChunkStore& operator=(const ChunkStore&) = delete;

  std::shared_ptr<const ChunkRecord> Get(uint64_t key, const ChunkShape& shape);
  void Put(std::shared_ptr<const ChunkRecord> record);
  // Forgets the RAM tier, as a new process would (after the disk writes queued).
  void DropRam() {
    FlushDisk();
    ram_.Clear();
  }
  // Returns once every chunk Put so far is on disk (or failed to be).
  void FlushDisk() {
    if (disk_writer_) disk_writer_->Flush();
  }
  // With publish on, a chunk found in RAM or on disk is also queued for Redis unless Redis
  // has it already (kvfuse ingest --redis: one replica's ingest warms all).
  void SetPublishHits(bool publish) { publish_hits_ = publish; }

  StoreStats stats() const {
    StoreStats s = stats_;
    if (disk_writer_) s.disk_write_errors = disk_writer_->write_errors();
    return s;
  }
  // Damaged disk files detected since the store was made (= stats().corrupt).
  uint64_t corrupt_total() const { return corrupt_total_.load(std::memory_order_relaxed); }
  const RamTier& ram() const { return ram_; }
  bool has_disk() const { return disk_.has_value(); }
  // nullptr without a Redis tier.
  RedisTier* remote() const { return remote_.get(); }

 private:
  RamTier ram_;
  std::optional<DiskTier> disk_;
  std::unique_ptr<DiskWriter> disk_writer_;  // before disk_ goes: its destructor writes the queue
  std::unique_ptr<RedisTier> remote_;
  bool publish_hits_ = false;
  StoreStats stats_;
  std::atomic<uint64_t> corrupt_total_{0};
};

}  // namespace kvfuse::store
