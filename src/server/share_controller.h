// Keeps each collection's recompute share at the lowest rung of a ladder whose audited top-1
// agreement with full prefill stays at or above a target (issue "Fidelity you can see").
// Per collection it keeps a sliding window of the last `window` audits made at its current
// share:
//   - raise one rung as soon as the window holds more disagreements than the target allows
//     in a full window (floor((1 - target) * window)): the window can no longer reach it;
//   - lower one rung once a full window holds at most half that many (the margin), and the
//     share has served window * 2^f audits, f being how often the rung below was raised
//     from (at most 4; forgotten once it holds a full window): a rung that failed is
//     probed again less and less often, so the share does not swing between two rungs;
// and a change empties the window, so every decision rests on audits at the share it judges.
// Audits of requests that ran at another share (made before a change) are not counted. At
// share 1 the fused modes are full prefill, so raising ends within the ladder's length.
//
// Threading: not thread-safe; FidelityMonitor holds it under its lock.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kvfuse::server {

struct ShareControllerOptions {
  double target = 0.98;  // top-1 agreement
  int window = 50;       // audits
  float min_share = 0.05f, max_share = 1.0f;
};

// One change of a collection's share and the evidence for it.
struct ShareDecision {
  std::string collection;
  float from = 0, to = 0;
  int audits = 0, agreeing = 0;  // the window it was decided on
  std::string reason;            // for the log and /v1/fusion/audit
};

class ShareController {
 public:
  // start: the share of a collection not seen yet (put on the ladder if it is not a rung).
  ShareController(ShareControllerOptions options, float start);

  float ShareFor(const std::string& collection) const;
  // An audit of a request of `collection` that ran at `share`: whether its first token
  // agreed with full prefill's. A decision when the collection's share changed.
  std::optional<ShareDecision> Observe(const std::string& collection, float share, bool top1_agrees);
  // The collection's current window: audits and agreeing.
  std::pair<int, int> Window(const std::string& collection) const;
  const std::vector<float>& ladder() const { return ladder_; }

 private:
  struct State {
    size_t rung = 0;
    std::deque<bool> window;  // top-1 agreement of the latest audits at this rung
    int audits_at_rung = 0;
    std::vector<int> raised_from;  // per rung: raises away from it since it last held
  };
  State& StateOf(const std::string& collection);

  const ShareControllerOptions options_;
  std::vector<float> ladder_;
  size_t start_rung_ = 0;
  int allowed_disagreements_ = 0;  // in a full window
  std::map<std::string, State> states_;
};

}  // namespace kvfuse::server
