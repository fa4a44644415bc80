#include "store/disk_writer.h"

#include <cstdio>

namespace kvfuse::store {

DiskWriter::DiskWriter(const DiskTier& disk) : disk_(disk), thread_([this] { Loop(); }) {}

DiskWriter::~DiskWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();
}

void DiskWriter::Queue(std::shared_ptr<const ChunkRecord> record) {
  std::unique_lock<std::mutex> lock(mu_);
  room_.wait(lock, [&] { return queue_.size() < kMaxQueued; });
  queue_.push_back(std::move(record));
  ++queued_;
  work_.notify_all();
}

void DiskWriter::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = queued_;
  room_.wait(lock, [&] { return written_ >= target; });
}

void DiskWriter::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything written
    std::shared_ptr<const ChunkRecord> record = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    if (const util::Status st = disk_.Save(*record); !st.ok()) {
      std::fprintf(stderr, "kvfuse: %s: the chunk stays in RAM only\n", st.message().c_str());
      write_errors_.fetch_add(1, std::memory_order_relaxed);
    }
    lock.lock();
    ++written_;
    room_.notify_all();
  }
}

}  // namespace kvfuse::store
