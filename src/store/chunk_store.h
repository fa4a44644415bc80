// The chunk-cache store: RAM tier in front of an optional disk tier. Get looks in RAM,
// then on disk (promoting a hit to RAM); Put writes to both. An unusable disk file is a
// miss, logged once on stderr ("kvfuse: <file>: <damage>; recomputing"); one that failed its
// checks (kCorrupt) is also counted in stats().corrupt and corrupt_total().
//
// Threading: Get, Put, DropRam and stats() on one thread at a time (the engine's);
// corrupt_total() from any thread (a metrics page).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "store/disk_tier.h"
#include "store/ram_tier.h"

namespace kvfuse::store {

struct StoreStats {
  uint64_t ram_hits = 0, disk_hits = 0, misses = 0, corrupt = 0, disk_write_errors = 0;
};

class ChunkStore {
 public:
  explicit ChunkStore(size_t ram_budget_bytes, std::optional<DiskTier> disk = std::nullopt)
      : ram_(ram_budget_bytes), disk_(std::move(disk)) {}

  std::shared_ptr<const ChunkRecord> Get(uint64_t key, const ChunkShape& shape);
  void Put(std::shared_ptr<const ChunkRecord> record);
  // Forgets the RAM tier, as a new process would.
  void DropRam() { ram_.Clear(); }

  const StoreStats& stats() const { return stats_; }
  // Damaged disk files detected since the store was made (= stats().corrupt).
  uint64_t corrupt_total() const { return corrupt_total_.load(std::memory_order_relaxed); }
  const RamTier& ram() const { return ram_; }
  bool has_disk() const { return disk_.has_value(); }

 private:
  RamTier ram_;
  std::optional<DiskTier> disk_;
  StoreStats stats_;
  std::atomic<uint64_t> corrupt_total_{0};
};

}  // namespace kvfuse::store
