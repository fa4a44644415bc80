#include "engine/stepped_prefill.h"

namespace kvfuse::engine {

SteppedPrefill::SteppedPrefill(util::ThreadPool& pool, const kernels::KernelTable& kernels, int n_layers, Body body)
    : ctx_(pool, kernels), n_layers_(n_layers), task_([this, body = std::move(body)] {
        ctx_.layer_gate = this;
        status_ = body(ctx_, logits_, stats_);
      }) {}

void SteppedPrefill::BeforeLayer(int32_t n_tokens) {
  // Each Step sets a new budget: wait for one this layer fits, or that must progress.
  while (spent_ + n_tokens > budget_ && (spent_ > 0 || !first_)) task_.Yield();
  spent_ += n_tokens;
}

util::Result<int32_t> SteppedPrefill::Step(int32_t budget, bool first) {
  KVFUSE_CHECK(!task_.done());
  budget_ = static_cast<int64_t>(std::max(budget, 0)) * n_layers_;
  spent_ = 0;
  first_ = first;
  const bool ended = task_.Resume();
  const auto cost = static_cast<int32_t>((spent_ + n_layers_ - 1) / n_layers_);
  if (ended && !status_.ok()) return status_;
  return cost;
}

}  // namespace kvfuse::engine
