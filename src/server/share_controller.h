// Keeps the recompute share of each (collection, fusion method) at the lowest rung of a ladder
// whose audited top-1 agreement with full prefill stays at or above a target. Per key it keeps
// a sliding window of the last `window` audits made at its current share:
//   - raise one rung as soon as the window holds more disagreements than the target allows
//     in a full window (floor((1 - target) * window)): the window can no longer reach it;
//   - lower one rung once a full window holds at most half that many (the margin), and the
//     share has served window * 2^f audits, f being how often the rung below was raised
//     from (at most 4; forgotten once it holds a full window): a rung that failed is
//     probed again less and less often, so the share does not swing between two rungs;
// and a change empties the window, so every decision rests on audits at the share it judges.
// Each change starts a new epoch: audits of requests that ran in an earlier one are not
// counted. At share 1 the fused modes are full prefill, so raising ends within the ladder.
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

// What the shares are kept per: a collection ("" for documents sent with requests) and the
// fusion method, since each method reads the share its own way.
using ShareKey = std::pair<std::string, std::string>;

// A key's share now, and the epoch it was set in.
struct ShareChoice {
  float share = 0;
  uint64_t epoch = 0;
};

// One change of a key's share and the evidence for it.
struct ShareDecision {
  ShareKey key;
  float from = 0, to = 0;
  int audits = 0, agreeing = 0;  // the window it was decided on
  std::string reason;            // for the log and /v1/fusion/audit
};

class ShareController {
 public:
  // start: the share of a key not seen yet (put on the ladder if it is not a rung).
  ShareController(ShareControllerOptions options, float start);

  ShareChoice ShareFor(const ShareKey& key) const;
  // An audit of a request of `key` that ran at the share of `epoch`: whether its first token
  // agreed with full prefill's. A decision when the key's share changed.
  std::optional<ShareDecision> Observe(const ShareKey& key, uint64_t epoch, bool top1_agrees);
  // The key's current window: audits and agreeing.
  std::pair<int, int> Window(const ShareKey& key) const;
  const std::vector<float>& ladder() const { return ladder_; }

 private:
  struct State {
    size_t rung = 0;
    uint64_t epoch = 0;        // changes so far
    std::deque<bool> window;  // top-1 agreement of the latest audits at this rung
    int audits_at_rung = 0;
    std::vector<int> raised_from;  // per rung: raises away from it since it last held
  };
  State& StateOf(const ShareKey& key);

  const ShareControllerOptions options_;
  std::vector<float> ladder_;
  size_t start_rung_ = 0;
  int allowed_disagreements_ = 0;  // in a full window
  std::map<ShareKey, State> states_;
};

}  // namespace kvfuse::server
