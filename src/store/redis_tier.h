// The shared tier of the chunk store on Redis: every replica that serves the same model
// reads the chunks any of them computed. One value per chunk under PREFIXv1:{KEY}
// (store/remote_value: checksummed envelope, zstd, f16 or 8-bit KV); a value that fails its
// checks is deleted and reported as kCorrupt, never served.
//
// Reads are synchronous with a timeout, on the caller's connection. Writes are queued and
// done by a background thread on a connection of its own, so a request never waits for
// Redis to store anything. A circuit breaker keeps a down or slow Redis off the request
// path: the first failure marks the tier down (said once on stderr), lookups are then misses
// without any network call and writes are dropped (counted), while the background thread
// tries to reconnect after a pause that grows while tries fail and while Redis keeps failing
// soon after it came back; once PING answers the tier is up again. A key holding another
// type is deleted like a damaged value, without taking the tier down. A write
// the server refuses (a read-only replica, out of memory) is counted and said once, and does
// not take reads down.
//
// Threading: Load, Save and Flush from one thread at a time (the engine's); stats() and
// up() from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "store/chunk_record.h"
#include "store/redis_client.h"
#include "store/remote_value.h"
#include "util/status.h"

namespace kvfuse::store {

struct RedisTierOptions {
  std::string url;                     // redis://HOST[:PORT][/DB]
  std::string key_prefix = "kvfuse:";  // namespace of this deployment's keys
  std::string password;                // from a file or the environment, never a flag
  RemoteFormat format = RemoteFormat::kF16;
  int connect_timeout_ms = 200;
  int io_timeout_ms = 500;
  size_t max_queued_bytes = size_t{256} << 20;  // writes beyond it are dropped
  int max_retry_ms = 2000;                      // the longest pause between reconnection tries
};

struct RemoteStats {
  uint64_t hits = 0, misses = 0, corrupt = 0, errors = 0;  // lookups made (errors: failed)
  uint64_t skipped_down = 0;                               // lookups not made: tier down
  uint64_t writes = 0, write_errors = 0, writes_dropped = 0;
  uint64_t bytes_read = 0, bytes_written = 0, tokens_written = 0;
  bool up = false;
};

class RedisTier {
 public:
  // Refuses a malformed URL; a Redis that does not answer yet is not an error (the tier
  // starts down and connects in the background).
  static util::Result<std::unique_ptr<RedisTier>> Open(RedisTierOptions options);
  // Gives queued writes up to the I/O timeout times 4 to finish (none while down).
  ~RedisTier();

  // nullopt when Redis has no value or is down; kCorrupt (value deleted) naming the key and
  // the damage; kUnavailable when the lookup failed (the tier is then down).
  util::Result<std::optional<ChunkRecord>> Load(uint64_t key, const ChunkShape& shape);
  // Queues the record to be written; with only_if_absent the writer first asks whether the
  // value is there (publishing chunks another tier already holds). A record over
  // kMaxRemoteRecordBytes is not shared (counted as dropped).
  void Save(std::shared_ptr<const ChunkRecord> record, bool only_if_absent = false);
  // Waits until the queue is empty or `timeout_ms` passes; false on timeout.
  bool Flush(int timeout_ms);

  RemoteStats stats() const;
  // Bytes of records queued and not yet taken by the writer, against the queue's limit.
  size_t queued_bytes() const;
  size_t max_queued_bytes() const { return options_.max_queued_bytes; }
  bool up() const { return up_.load(std::memory_order_acquire); }
  std::string KeyOf(uint64_t key) const;
  const RedisEndpoint& endpoint() const { return endpoint_; }
  RemoteFormat format() const { return options_.format; }

 private:
  struct Job {
    std::shared_ptr<const ChunkRecord> record;
    bool only_if_absent = false;
  };
  RedisTier(RedisTierOptions options, RedisEndpoint endpoint);
  void MarkDown(const util::Status& why);
  void WorkerLoop();
  void Write(RedisClient& client, const Job& job);

  RedisTierOptions options_;
  RedisEndpoint endpoint_;
  RedisClient reader_;
  std::atomic<bool> up_{false};
  std::atomic<bool> write_refusal_said_{false};

  mutable std::mutex mu_;  // guards the queue and stop_
  std::condition_variable wake_, drained_;
  std::deque<Job> queue_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;  // the worker holds a job taken from the queue
  bool stop_ = false;
  std::thread worker_;

  struct Counters {
    std::atomic<uint64_t> hits{0}, misses{0}, corrupt{0}, errors{0}, skipped_down{0}, writes{0}, write_errors{0},
        writes_dropped{0}, bytes_read{0}, bytes_written{0}, tokens_written{0};
  } counters_;
};

}  // namespace kvfuse::store
