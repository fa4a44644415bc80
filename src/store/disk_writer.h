// Writes chunk records to a DiskTier on a thread of its own, in the order queued, so that no
// file write or fsync waits on the request path (a chunk's fsync took ~50 ms on the
// development machine, and every decoding stream waited for it). Until its file is written a
// record is only where the caller keeps it (ChunkStore's RAM tier); a process that ends
// normally writes everything queued first.
//
// Threading: any thread; records are written on the writer's own.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "store/chunk_record.h"
#include "store/disk_tier.h"

namespace kvfuse::store {

class DiskWriter {
 public:
  // `disk` must outlive the writer.
  explicit DiskWriter(const DiskTier& disk);
  // Writes what is queued, then stops.
  ~DiskWriter();
  DiskWriter(const DiskWriter&) = delete;
  DiskWriter& operator=(const DiskWriter&) = delete;

  // Queues a record; waits only while kMaxQueued records wait already (a disk far slower
  // than the chunks computed). Queued records are held here, beyond the RAM tier's budget.
  void Queue(std::shared_ptr<const ChunkRecord> record);
  // Returns once every record queued before the call is written (or failed).
  void Flush();
  // Records that could not be written (each also said on stderr).
  uint64_t write_errors() const { return write_errors_.load(std::memory_order_relaxed); }

  static constexpr size_t kMaxQueued = 16;

 private:
  void Loop();

  const DiskTier& disk_;
  std::mutex mu_;
  std::condition_variable work_, room_;  // work_: queued or stopping; room_: one written
  std::deque<std::shared_ptr<const ChunkRecord>> queue_;
  uint64_t queued_ = 0, written_ = 0;  // counts, for Flush
  bool stopping_ = false;
  std::atomic<uint64_t> write_errors_{0};
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace kvfuse::store
