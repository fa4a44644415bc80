#include "server/metrics.h"

#include <cstdio>

#include "util/recycled_memory.h"

namespace kvfuse::server {

void Histogram::Observe(double value) {
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (value <= bounds_[i]) ++counts_[i];
  ++count_;
  sum_ += value;
}

void Histogram::Render(const std::string& name, const std::string& help, std::string& out) const {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " histogram\n";
  RenderSeries(name, "", out);
}

void Histogram::RenderSeries(const std::string& name, const std::string& labels, std::string& out) const {
  const std::string prefix = labels.empty() ? "" : labels + ",";
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  char value[64];
  for (size_t i = 0; i < bounds_.size(); ++i) {
    std::snprintf(value, sizeof value, "le=\"%g\"} %llu\n", bounds_[i], static_cast<unsigned long long>(counts_[i]));
    out += name + "_bucket{" + prefix + value;
  }
  out += name + "_bucket{" + prefix + "le=\"+Inf\"} " + std::to_string(count_) + "\n";
  std::snprintf(value, sizeof value, " %.9g\n", sum_);
  out += name + "_sum" + braces + value + name + "_count" + braces + " " + std::to_string(count_) + "\n";
}

std::string LabelValue(const std::string& value) {
  std::string label;
  for (const char c : value) label += c == '\\' ? "\\\\" : c == '"' ? "\\\"" : c == '\n' ? "\\n" : std::string(1, c);
  return label;
}

void Metrics::ObservePrefill(double, const engine::FusionStats& s) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_tokens_ += s.prompt_tokens;
  prefix_reused_ += s.prefix_reused;
  chunk_tokens_ += s.chunk_tokens;
  chunk_recomputed_ += s.chunk_tokens_recomputed;
  computed_ += s.tokens_computed;
  chunk_hits_ += s.chunk_hits;
  chunk_misses_ += s.chunk_misses;
  redone_in_full_ += s.fell_back;
}

void Metrics::ObserveFirstToken(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ttft_.Observe(seconds);
}

void Metrics::ObserveInterToken(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  inter_token_.Observe(seconds);
}

void Metrics::ObserveIteration(int32_t prefill_tokens, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  iteration_seconds_.Observe(seconds);
  iteration_prefill_tokens_.Observe(prefill_tokens);
}

void Metrics::ObserveCompletion(int32_t tokens) {
  std::lock_guard<std::mutex> lock(mu_);
  completion_tokens_ += tokens;
}

void Metrics::ObserveAudit(const engine::AuditOutcome& outcome) {
  if (audit_observer_) audit_observer_(outcome);
}

void Metrics::CountRequest(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[status];
}

void Metrics::SetRequestsInProgress(size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  in_progress_ = n;
}

void Metrics::CountPreemption() {
  std::lock_guard<std::mutex> lock(mu_);
  ++preemptions_;
}

void Metrics::SetQueueLength(size_t n) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_length_ = n;
}

void Metrics::SetKvUsage(int64_t used, int64_t total) {
  std::lock_guard<std::mutex> lock(mu_);
  kv_used_ = used;
  kv_total_ = total;
}

std::string Metrics::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  ttft_.Render("kvfuse_time_to_first_token_seconds",
               "Time from a request's arrival to its first token (waiting in the queue included).", out);
  inter_token_.Render("kvfuse_inter_token_seconds", "Time between consecutive generated tokens.", out);
  iteration_seconds_.Render("kvfuse_iteration_seconds",
                            "Duration of a scheduler iteration (one decode step for every stream, then prefill work).",
                            out);
  iteration_prefill_tokens_.Render("kvfuse_iteration_prefill_tokens", "Prefill tokens a scheduler iteration ran.",
                                   out);
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    char line[64];
    std::snprintf(line, sizeof line, " %llu\n", static_cast<unsigned long long>(v));
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name + line;
  };
  counter("kvfuse_prompt_tokens_total", "Prompt tokens of all requests.", prompt_tokens_);
  counter("kvfuse_prefix_cache_hit_tokens_total", "Prompt tokens reused from the prefix cache.", prefix_reused_);
  counter("kvfuse_chunk_tokens_total", "Prompt tokens placed from chunk caches.", chunk_tokens_);
  counter("kvfuse_chunk_tokens_recomputed_total", "Chunk tokens recomputed by blending.", chunk_recomputed_);
  counter("kvfuse_tokens_computed_total", "Prompt tokens computed through every layer.", computed_);
  counter("kvfuse_chunk_cache_hits_total", "Chunks found in the chunk store.", chunk_hits_);
  counter("kvfuse_chunk_cache_misses_total", "Chunks computed for the chunk store.", chunk_misses_);
  counter("kvfuse_fused_prefills_redone_total", "Fused prefills redone in full (fallback_below).", redone_in_full_);
  counter("kvfuse_completion_tokens_total", "Generated tokens.", completion_tokens_);
  counter("kvfuse_preemptions_total", "Requests preempted (requeued) for want of KV blocks.", preemptions_);
  out += "# HELP kvfuse_requests_total Requests by HTTP status.\n# TYPE kvfuse_requests_total counter\n";
  for (const auto& [status, n] : requests_)
    out += "kvfuse_requests_total{status=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " +
           std::to_string(v) + "\n";
  };
  gauge("kvfuse_requests_in_progress", "Completion requests being answered (waiting, generating or sending).",
        static_cast<int64_t>(in_progress_));
  gauge("kvfuse_queue_length", "Requests waiting for a slot.", static_cast<int64_t>(queue_length_));
  gauge("kvfuse_kv_blocks_used", "KV cache blocks in use (sequences and the prefix cache).", kv_used_);
  gauge("kvfuse_kv_blocks", "KV cache blocks in the pool.", kv_total_);
  gauge("kvfuse_recycled_bytes_waiting", "Freed chunk KV buffers kept for reuse (at most 64 MiB).",
        static_cast<int64_t>(util::RecycledBytesWaiting()));
  return out;
}

std::string RenderDamagedFiles(uint64_t chunk_files, const std::map<std::string, uint64_t>& collection_files) {
  std::string out =
      "# HELP kvfuse_chunk_store_corrupt_files_total Chunk KV files or Redis values found damaged (removed and "
      "recomputed).\n"
      "# TYPE kvfuse_chunk_store_corrupt_files_total counter\nkvfuse_chunk_store_corrupt_files_total " +
      std::to_string(chunk_files) + "\n";
  out += "# HELP kvfuse_collection_damaged_files Collection files found damaged when the server opened it.\n"
         "# TYPE kvfuse_collection_damaged_files gauge\n";
  for (const auto& [name, n] : collection_files)
    out += "kvfuse_collection_damaged_files{collection=\"" + LabelValue(name) + "\"} " + std::to_string(n) + "\n";
  return out;
}

}  // namespace kvfuse::server

namespace kvfuse::server {

std::string RenderRedisTier(const engine::RemoteStats& s) {
  auto family = [](const char* name, const char* type, const char* help) {
    return std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  auto labelled = [](const char* name, const char* label, uint64_t v) {
    return std::string(name) + "{result=\"" + label + "\"} " + std::to_string(v) + "\n";
  };
  std::string out = family("kvfuse_redis_up", "gauge", "1 while the shared chunk tier answers, 0 while it is bypassed.") +
                    "kvfuse_redis_up " + (s.up ? "1" : "0") + "\n";
  out += family("kvfuse_redis_lookups_total", "counter", "Chunk lookups in Redis by result (skipped: Redis down).");
  out += labelled("kvfuse_redis_lookups_total", "hit", s.hits) + labelled("kvfuse_redis_lookups_total", "miss", s.misses) +
         labelled("kvfuse_redis_lookups_total", "corrupt", s.corrupt) +
         labelled("kvfuse_redis_lookups_total", "error", s.errors) +
         labelled("kvfuse_redis_lookups_total", "skipped", s.skipped_down);
  out += family("kvfuse_redis_writes_total", "counter", "Chunk writes to Redis by result (dropped: Redis down or queue full).");
  out += labelled("kvfuse_redis_writes_total", "written", s.writes) +
         labelled("kvfuse_redis_writes_total", "failed", s.write_errors) +
         labelled("kvfuse_redis_writes_total", "dropped", s.writes_dropped);
  out += family("kvfuse_redis_bytes_read_total", "counter", "Bytes of chunk values read from Redis.") +
         "kvfuse_redis_bytes_read_total " + std::to_string(s.bytes_read) + "\n";
  out += family("kvfuse_redis_bytes_written_total", "counter", "Bytes of chunk values written to Redis.") +
         "kvfuse_redis_bytes_written_total " + std::to_string(s.bytes_written) + "\n";
  out += family("kvfuse_redis_tokens_written_total", "counter", "Chunk tokens whose KV was written to Redis.") +
         "kvfuse_redis_tokens_written_total " + std::to_string(s.tokens_written) + "\n";
  return out;
}

}  // namespace kvfuse::server
