#include "server/share_controller.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kvfuse::server {

namespace {
constexpr int kMaxBackoff = 4;  // a failed rung is probed again after at most 2^4 windows
constexpr float kRungs[] = {0.02f, 0.05f, 0.1f, 0.14f, 0.2f, 0.3f, 0.5f, 0.75f, 1.0f};

std::string Reason(const char* verdict, int disagreeing, int audits, double target) {
  char text[160];
  std::snprintf(text, sizeof text, "%s: %d of the last %d audits disagreed at the first token (target %.3g agreement)",
                verdict, disagreeing, audits, target);
  return text;
}
}  // namespace

ShareController::ShareController(ShareControllerOptions options, float start) : options_(options) {
  start = std::clamp(start, options_.min_share, options_.max_share);
  for (float r : kRungs)
    if (r >= options_.min_share && r <= options_.max_share) ladder_.push_back(r);
  for (float bound : {options_.min_share, options_.max_share, start})
    if (std::find(ladder_.begin(), ladder_.end(), bound) == ladder_.end()) ladder_.push_back(bound);
  std::sort(ladder_.begin(), ladder_.end());
  start_rung_ = std::find(ladder_.begin(), ladder_.end(), start) - ladder_.begin();
  allowed_disagreements_ = static_cast<int>(std::floor((1.0 - options_.target) * std::max(1, options_.window) + 1e-9));
}

ShareController::State& ShareController::StateOf(const ShareKey& key) {
  auto [it, inserted] = states_.try_emplace(key);
  if (inserted) {
    it->second.rung = start_rung_;
    it->second.raised_from.assign(ladder_.size(), 0);
  }
  return it->second;
}

ShareChoice ShareController::ShareFor(const ShareKey& key) const {
  const auto it = states_.find(key);
  if (it == states_.end()) return {ladder_[start_rung_], 0};
  return {ladder_[it->second.rung], it->second.epoch};
}

std::pair<int, int> ShareController::Window(const ShareKey& key) const {
  const auto it = states_.find(key);
  if (it == states_.end()) return {0, 0};
  const auto& w = it->second.window;
  return {static_cast<int>(w.size()), static_cast<int>(std::count(w.begin(), w.end(), true))};
}

std::optional<ShareDecision> ShareController::Observe(const ShareKey& key, uint64_t epoch, bool top1_agrees) {
  State& s = StateOf(key);
  if (epoch != s.epoch) return std::nullopt;  // made before the last change
  s.window.push_back(top1_agrees);
  if (static_cast<int>(s.window.size()) > options_.window) s.window.pop_front();
  const int audits = static_cast<int>(s.window.size());
  const int agreeing = static_cast<int>(std::count(s.window.begin(), s.window.end(), true));
  const int disagreeing = audits - agreeing;
  ++s.audits_at_rung;
  const bool full = audits == options_.window;
  if (full && disagreeing <= allowed_disagreements_) s.raised_from[s.rung] = 0;  // this rung holds
  size_t to = s.rung;
  std::string reason;
  if (disagreeing > allowed_disagreements_ && s.rung + 1 < ladder_.size()) {
    to = s.rung + 1;
    ++s.raised_from[s.rung];
    reason = Reason("raised", disagreeing, audits, options_.target);
  } else if (full && disagreeing <= allowed_disagreements_ / 2 && s.rung > 0 &&
             s.audits_at_rung >= options_.window << std::min(s.raised_from[s.rung - 1], kMaxBackoff)) {
    to = s.rung - 1;
    reason = Reason("lowered", disagreeing, audits, options_.target);
  }
  if (to == s.rung) return std::nullopt;
  ShareDecision d{key, ladder_[s.rung], ladder_[to], audits, agreeing, std::move(reason)};
  s.rung = to;
  ++s.epoch;
  s.window.clear();
  s.audits_at_rung = 0;
  return d;
}

}  // namespace kvfuse::server
