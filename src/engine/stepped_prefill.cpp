#include "engine/stepped_prefill.h"

#include <algorithm>
#include <cstdint>

namespace kvfuse::engine {

SteppedPrefill::SteppedPrefill(util::ThreadPool& pool, const kernels::KernelTable& kernels, int n_layers, Body body)
    : ctx_(pool, kernels), n_layers_(n_layers), task_([this, body = std::move(body)] {
        ctx_.layer_gate = this;
        status_ = body(ctx_, logits_, stats_);
      }) {}

int32_t SteppedPrefill::BeforeLayer(int32_t n_tokens, bool divisible) {
  // Each Step sets a new budget: wait for one with room for the layer, or for a piece of it
  // worth running, or one that must progress.
  for (;;) {
    const int64_t room = budget_ - spent_;
    int64_t run = 0;
    if (n_tokens <= room) {
      run = n_tokens;
    } else if (divisible && room >= kMinPieceTokens) {
      run = room;
    } else if (spent_ == 0 && first_) {
      run = divisible ? std::min<int64_t>(n_tokens, kMinPieceTokens) : n_tokens;
    }
    if (run > 0) {
      spent_ += run;
      return static_cast<int32_t>(run);
    }
    task_.Yield();
  }
}

void SteppedPrefill::BeforeWork(int64_t token_layers) {
  // As a layer that does not divide: this step if it has room, else the next one.
  BeforeLayer(static_cast<int32_t>(std::clamp<int64_t>(token_layers, 1, INT32_MAX)), false);
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
