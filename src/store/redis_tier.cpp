#include "store/redis_tier.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace kvfuse::store {

using util::Result;
using util::Status;

namespace {

constexpr int kFirstRetryMs = 100;

RedisClientOptions ClientOptions(const RedisTierOptions& o, const RedisEndpoint& endpoint) {
  return {endpoint, o.password, o.connect_timeout_ms, o.io_timeout_ms};
}

}  // namespace

Result<std::unique_ptr<RedisTier>> RedisTier::Open(RedisTierOptions options) {
  auto endpoint = ParseRedisUrl(options.url);
  if (!endpoint.ok()) return endpoint.status();
  if (options.connect_timeout_ms < 1 || options.io_timeout_ms < 1)
    return Status::InvalidArgument("redis timeouts must be at least 1 ms");
  std::unique_ptr<RedisTier> tier(new RedisTier(std::move(options), endpoint.value()));
  const Status first = tier->reader_.Ping();
  if (first.code() == util::StatusCode::kPermissionDenied) return first;  // a wrong password is not transient
  if (first.ok()) {
    tier->up_ = true;
  } else {
    std::fprintf(stderr, "kvfuse: %s; serving from the local chunk tiers, connecting in the background\n",
                 first.message().c_str());
  }
  tier->worker_ = std::thread([t = tier.get()] { t->WorkerLoop(); });
  return tier;
}

RedisTier::RedisTier(RedisTierOptions options, RedisEndpoint endpoint)
    : options_(std::move(options)), endpoint_(std::move(endpoint)), reader_(ClientOptions(options_, endpoint_)) {}

RedisTier::~RedisTier() {
  Flush(4 * options_.io_timeout_ms);
  {
    std::lock_guard<std::mutex> lock(mu_);
    counters_.writes_dropped.fetch_add(queue_.size(), std::memory_order_relaxed);
    stop_ = true;
  }
  wake_.notify_all();
  if (worker_.joinable()) worker_.join();  // Open may fail before starting it
}

std::string RedisTier::KeyOf(uint64_t key) const {
  // The {hash tag} is the whole chunk key: on a cluster the value lives in one slot. The
  // version keeps kvfuse versions that store differently apart.
  return options_.key_prefix +
         util::StrFormat("v%u:{%016llx}", kRemoteValueVersion, static_cast<unsigned long long>(key));
}

void RedisTier::MarkDown(const Status& why) {
  if (!up_.exchange(false)) return;
  std::fprintf(stderr, "kvfuse: %s; serving from the local chunk tiers, reconnecting in the background\n",
               why.message().c_str());
  std::lock_guard<std::mutex> lock(mu_);  // the worker waits on up() under this mutex
  wake_.notify_all();
  drained_.notify_all();
}

Result<std::optional<ChunkRecord>> RedisTier::Load(uint64_t key, const ChunkShape& shape) {
  if (!up()) {
    counters_.skipped_down.fetch_add(1, std::memory_order_relaxed);
    return std::optional<ChunkRecord>();
  }
  const std::string name = KeyOf(key);
  auto value = reader_.Get(name);
  if (!value.ok() && value.status().code() == util::StatusCode::kCorrupt) {  // a key of another type
    counters_.corrupt.fetch_add(1, std::memory_order_relaxed);
    (void)reader_.Del(name);
    return value.status();
  }
  if (!value.ok()) {
    counters_.errors.fetch_add(1, std::memory_order_relaxed);
    MarkDown(value.status());
    return value.status();
  }
  if (!value->has_value()) {
    counters_.misses.fetch_add(1, std::memory_order_relaxed);
    return std::optional<ChunkRecord>();
  }
  counters_.bytes_read.fetch_add((*value)->size(), std::memory_order_relaxed);
  auto record = DecodeRemoteValue(**value, key, shape, "redis " + endpoint_.Name() + " " + name);
  if (!record.ok()) {
    counters_.corrupt.fetch_add(1, std::memory_order_relaxed);
    (void)reader_.Del(name);  // recomputed and written again; a failed delete is overwritten then
    return record.status();
  }
  counters_.hits.fetch_add(1, std::memory_order_relaxed);
  return std::optional<ChunkRecord>(std::move(record).value());
}

void RedisTier::Save(std::shared_ptr<const ChunkRecord> record, bool only_if_absent) {
  const size_t bytes = record->bytes();
  if (bytes <= kMaxRemoteRecordBytes) {
    std::lock_guard<std::mutex> lock(mu_);
    if (up() && queued_bytes_ + bytes <= options_.max_queued_bytes) {
      queued_bytes_ += bytes;
      queue_.push_back({std::move(record), only_if_absent});
      wake_.notify_all();
      return;
    }
  }
  counters_.writes_dropped.fetch_add(1, std::memory_order_relaxed);
}

bool RedisTier::Flush(int timeout_ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return drained_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                           [this] { return (queue_.empty() && !writing_) || !up(); }) &&
         queue_.empty() && !writing_;
}

void RedisTier::Write(RedisClient& client, const Job& job) {
  const std::string name = KeyOf(job.record->key);
  if (job.only_if_absent) {
    auto there = client.Exists(name);
    if (!there.ok()) {
      counters_.write_errors.fetch_add(1, std::memory_order_relaxed);
      MarkDown(there.status());
      return;
    }
    if (there.value()) return;
  }
  const std::string value = EncodeRemoteValue(*job.record, options_.format);
  if (const Status st = client.Set(name, value); !st.ok()) {
    counters_.write_errors.fetch_add(1, std::memory_order_relaxed);
    // A refused write (a read-only replica, a full Redis) leaves reads working.
    if (st.code() != util::StatusCode::kResourceExhausted) MarkDown(st);
    else if (!write_refusal_said_.exchange(true))
      std::fprintf(stderr, "kvfuse: %s; chunks are read but not written\n", st.message().c_str());
    return;
  }
  counters_.writes.fetch_add(1, std::memory_order_relaxed);
  counters_.bytes_written.fetch_add(value.size(), std::memory_order_relaxed);
  counters_.tokens_written.fetch_add(job.record->n_tokens(), std::memory_order_relaxed);
}

void RedisTier::WorkerLoop() {
  RedisClient client(ClientOptions(options_, endpoint_));
  // The pause before each reconnection try grows while tries fail, and also when Redis fails
  // again soon after it came back, so a flapping Redis is not hammered (nor kept on the
  // request path); it starts small again after a quiet minute.
  int pause_ms = kFirstRetryMs;
  auto up_since = std::chrono::steady_clock::now();
  bool was_up = up();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!up()) {  // what was queued would wait for an unknown time: drop it
      counters_.writes_dropped.fetch_add(queue_.size(), std::memory_order_relaxed);
      queue_.clear();
      queued_bytes_ = 0;
      drained_.notify_all();
      if (was_up && std::chrono::steady_clock::now() - up_since > std::chrono::minutes(1)) pause_ms = kFirstRetryMs;
      was_up = false;
      wake_.wait_for(lock, std::chrono::milliseconds(pause_ms), [this] { return stop_; });
      if (stop_) break;
      pause_ms = std::min(2 * pause_ms, options_.max_retry_ms);
      lock.unlock();
      const Status st = client.Ping();
      lock.lock();
      if (st.ok()) {
        up_ = true;
        was_up = true;
        up_since = std::chrono::steady_clock::now();
        std::fprintf(stderr, "kvfuse: redis %s answers again\n", endpoint_.Name().c_str());
      }
      continue;
    }
    if (queue_.empty()) {
      wake_.wait(lock, [this] { return stop_ || !queue_.empty() || !up(); });
      continue;
    }
    Job job = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= job.record->bytes();
    writing_ = true;
    lock.unlock();
    Write(client, job);
    lock.lock();
    writing_ = false;
    if (queue_.empty()) drained_.notify_all();
  }
}

size_t RedisTier::queued_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_bytes_;
}

RemoteStats RedisTier::stats() const {
  auto get = [](const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); };
  const Counters& c = counters_;
  return {get(c.hits),         get(c.misses),        get(c.corrupt),        get(c.errors),
          get(c.skipped_down), get(c.writes),        get(c.write_errors),   get(c.writes_dropped),
          get(c.bytes_read),   get(c.bytes_written), get(c.tokens_written), up()};
}

}  // namespace kvfuse::store
