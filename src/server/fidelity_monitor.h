// What the server knows of its fused answers' fidelity: the audits the scheduler ran
// (sched/fidelity_audit.h) per collection and fusion method, the last disagreements, and
// the recompute share each collection and method is served at (server/share_controller.h).
// It draws which requests are audited (--audit-rate) and gives a request its collection's
// share when the client named none. (Audits' own prefills also count in the chunk store's
// hit and miss statistics.) Rendered for /metrics and GET /v1/fusion/audit.
//
// Threading: every method may be called from any thread (HTTP threads draw, read shares and
// render; the scheduler's thread observes audits); one lock guards the state.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "server/metrics.h"
#include "server/share_controller.h"

namespace kvfuse::server {

struct FidelityOptions {
  double audit_rate = 0.05;    // share of fused requests audited
  int32_t audit_tokens = 16;   // greedy tokens compared
  // The controller keeps top-1 agreement at or above controller.target (<= 0: no control,
  // every request at default_share unless it names its own).
  ShareControllerOptions controller;
  float default_share = engine::FusionOptions{}.recompute_ratio;  // where a collection starts
  size_t recent_disagreements = 20;
  size_t recent_decisions = 20;
};

class FidelityMonitor {
 public:
  explicit FidelityMonitor(FidelityOptions options);

  // Whether the next fused request is audited: true at random with the audit rate.
  bool DrawAudit();
  // The recompute share a request of `collection` by `mode` runs at when it names none.
  struct Share {
    float share = 0;
    bool controlled = false;  // chosen by the controller (false when control is off)
    uint64_t epoch = 0;       // the controller's, for the audit's report
  };
  Share ShareFor(const std::string& collection, engine::FusionMode mode) const;
  // A fused request as it was submitted: its share (for a mode with one) in the histogram.
  void ObserveRequest(const engine::FusionOptions& fusion);
  // An audit the scheduler ran (or dropped); a controlled one also feeds the controller.
  void Observe(const engine::AuditOutcome& outcome);

  nlohmann::json Json() const;
  std::string RenderMetrics() const;
  const FidelityOptions& options() const { return options_; }

 private:
  struct MethodStats {
    uint64_t compared = 0, failed = 0, dropped = 0, top1_agreeing = 0, answers_agreeing = 0;
    bool controlled = false;  // the controller keeps a share for this (collection, method)
    Histogram kl{Histogram::kNats};
  };

  const FidelityOptions options_;
  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  ShareController controller_;
  std::map<std::pair<std::string, std::string>, MethodStats> stats_;  // by (collection, method)
  Histogram request_shares_{Histogram::kShares};
  std::deque<nlohmann::json> disagreements_, decisions_;  // newest last
};

}  // namespace kvfuse::server
