// A prefill divided into budgeted steps without being rewritten: the prefill runs as
// ordinary code on a thread of its own (util::PausableTask) with a forward context whose
// layer gate hands the turn back to the scheduler before a layer that would overrun the
// step's budget; a layer of a batch divisible by tokens runs in pieces that fill the steps.
// The scheduler's thread and this one take turns, never run at once, so the prefill and the
// decodes run between its steps share the runner's KV and thread pool without locks.
//
// Threading: created and stepped by the thread that owns the runner (the scheduler's).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model/forward_context.h"
#include "sched/executor.h"
#include "util/pausable_task.h"

namespace kvfuse::engine {

class SteppedPrefill final : public sched::PrefillSteps, private model::LayerGate {
 public:
  // body(ctx, logits, stats): the whole prefill, its forward passes on ctx.
  using Body = std::function<util::Status(model::ForwardContext&, std::vector<float>&, fuse::FusionStats&)>;
  // A token of work is a token through all n_layers layers; ctx shares `pool`.
  SteppedPrefill(util::ThreadPool& pool, const kernels::KernelTable& kernels, int n_layers, Body body);

  // Pieces smaller than this wait for the next step (their layer's weights are read for few
  // tokens), unless nothing could run otherwise.
  static constexpr int64_t kMinPieceTokens = 16;

  util::Result<int32_t> Step(int32_t budget, bool first) override;
  bool done() const override { return task_.done(); }
  std::vector<float>& logits() override { return logits_; }
  const fuse::FusionStats& stats() const override { return stats_; }

 private:
  int32_t BeforeLayer(int32_t n_tokens, bool divisible) override;  // on the prefill's thread
  void BeforeWork(int64_t token_layers) override;                    // likewise

  model::ForwardContext ctx_;
  const int64_t n_layers_;
  int64_t budget_ = 0;  // this step's, in token-layers
  int64_t spent_ = 0;
  bool first_ = false;
  std::vector<float> logits_;
  fuse::FusionStats stats_;
  util::Status status_;
  util::PausableTask task_;  // last: destroyed (its thread unwound) before what it uses
};

}  // namespace kvfuse::engine
