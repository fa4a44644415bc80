// Server metrics in the Prometheus text format (/metrics): time to first token (from a
// request's arrival, so queueing counts), inter-token latency, and per scheduler iteration
// its duration and prefill tokens (histograms), requests in
// progress, queue length, KV usage, prefix and chunk cache hits, tokens recomputed, requests
// by status (probes of /health and /metrics left out). Thread-safe: the scheduler's thread
// reports its events, HTTP threads count requests and render.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "engine/engine.h"

namespace kvfuse::server {

class Histogram {
 public:
  static constexpr std::array<double, 12> kSeconds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                      0.5,   1.0,  2.5,   5.0,  10.0, 30.0};
  static constexpr std::array<double, 12> kTokens = {0, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
  static constexpr std::array<double, 12> kNats = {1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30};
  static constexpr std::array<double, 12> kShares = {0.02, 0.05, 0.08, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 0.9, 1};
  explicit Histogram(const std::array<double, 12>& bounds = kSeconds) : bounds_(bounds) {}
  void Observe(double value);
  void Render(const std::string& name, const std::string& help, std::string& out) const;
  // The series alone (no HELP and TYPE lines), with `labels` (`a="x",b="y"`) on every line.
  void RenderSeries(const std::string& name, const std::string& labels, std::string& out) const;

 private:
  std::array<double, 12> bounds_;
  std::array<uint64_t, 12> counts_{};
  uint64_t count_ = 0;
  double sum_ = 0;
};

class Metrics final : public engine::SchedulerEvents {
 public:
  void ObservePrefill(double seconds, const engine::FusionStats& stats) override;
  void ObserveFirstToken(double seconds) override;
  void ObserveInterToken(double seconds) override;
  void ObserveIteration(int32_t prefill_tokens, double seconds) override;
  void ObserveCompletion(int32_t tokens) override;
  void CountPreemption() override;
  void SetQueueLength(size_t n) override;
  void SetKvUsage(int64_t used_blocks, int64_t total_blocks) override;
  void ObserveAudit(const engine::AuditOutcome& outcome) override;
  // Where audits go (the server's FidelityMonitor); set before the scheduler starts.
  void SetAuditObserver(std::function<void(const engine::AuditOutcome&)> observer) {
    audit_observer_ = std::move(observer);
  }
  void CountRequest(int status);
  void SetRequestsInProgress(size_t n);
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  Histogram ttft_, inter_token_, iteration_seconds_, iteration_prefill_tokens_{Histogram::kTokens};
  uint64_t prompt_tokens_ = 0, prefix_reused_ = 0, chunk_tokens_ = 0, chunk_recomputed_ = 0,
           computed_ = 0, chunk_hits_ = 0, chunk_misses_ = 0, redone_in_full_ = 0, completion_tokens_ = 0,
           preemptions_ = 0;
  std::map<int, uint64_t> requests_;  // by HTTP status
  size_t queue_length_ = 0, in_progress_ = 0;
  int64_t kv_used_ = 0, kv_total_ = 0;
  std::function<void(const engine::AuditOutcome&)> audit_observer_;  // set once, before use
};

// A Prometheus label value: backslash, quote and line feed escaped.
std::string LabelValue(const std::string& value);

// Damaged files found on disk, for /metrics: chunk KV files (each recomputed) and, per
// collection, files Open set aside.
std::string RenderDamagedFiles(uint64_t chunk_files, const std::map<std::string, uint64_t>& collection_files);
// The shared chunk tier's state and counters (only when the server has one).
std::string RenderRedisTier(const engine::RemoteStats& stats);

}  // namespace kvfuse::server
