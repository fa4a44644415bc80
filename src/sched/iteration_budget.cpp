#include "sched/iteration_budget.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kvfuse::sched {

namespace {
// Weight of the newest measurement: recent enough to follow load, smooth enough that one
// slow iteration does not halve the next budget.
constexpr double kNewest = 0.2;

void Average(double& average, double sample) { average = average < 0 ? sample : average + kNewest * (sample - average); }
}  // namespace

IterationBudget::IterationBudget(int32_t batch_tokens, double tpot_target_seconds, double decode_multiple)
    : batch_tokens_(std::max(kMinPrefillTokens, batch_tokens)),
      target_(tpot_target_seconds),
      decode_multiple_(decode_multiple) {}

int32_t IterationBudget::PrefillTokens(int32_t decodes) const {
  const int32_t cap = std::max(kMinPrefillTokens, batch_tokens_ - decodes);
  if (decodes == 0 || (target_ <= 0 && decode_multiple_ <= 0) || prefill_tokens_ <= 0 || prefill_seconds_ <= 0)
    return cap;
  const double decode = std::max(decode_seconds_, 0.0);
  double room = target_ > 0 ? target_ - decode : std::numeric_limits<double>::infinity();
  if (decode_multiple_ > 0 && decode_seconds_ > 0) room = std::min(room, (decode_multiple_ - 1) * decode);
  if (std::isinf(room)) return cap;  // only a multiple, and no decode step measured yet
  const double tokens = std::floor(room * prefill_tokens_ / prefill_seconds_);
  return static_cast<int32_t>(std::clamp<double>(tokens, kMinPrefillTokens, cap));
}

int32_t IterationBudget::TokensWithin(double seconds) const {
  if (prefill_tokens_ <= 0 || prefill_seconds_ <= 0) return kMinPrefillTokens;
  const double tokens = std::floor(seconds * prefill_tokens_ / prefill_seconds_);
  return static_cast<int32_t>(std::clamp<double>(tokens, kMinPrefillTokens, batch_tokens_));
}

void IterationBudget::ObserveDecode(double seconds) { Average(decode_seconds_, seconds); }

void IterationBudget::ObservePrefill(int32_t tokens, double seconds) {
  if (tokens <= 0) return;
  Average(prefill_seconds_, seconds);
  Average(prefill_tokens_, tokens);
}

}  // namespace kvfuse::sched
