// The scheduler's background audits (sched/fidelity_audit.h): offered when a request that
// asked for one has been prefilled, stepped while nothing live waits or decodes.
#include "sched/scheduler.h"

namespace kvfuse::sched {

namespace {
// An audit step's length when the scheduler has no TPOT target: a request that arrives
// during one waits about this long at most.
constexpr double kDefaultAuditStepSeconds = 0.05;
}  // namespace

void Scheduler::OfferAudit(const GenerationRequest& request) {
  if (!request.audit || !fuse::ReusesChunkKv(request.fusion.mode) || request.prompt.chunks.empty()) return;
  AuditJob job{request.prompt, request.fusion, *request.audit};
  AuditOutcome dropped;
  dropped.result = AuditOutcome::Result::kDropped;
  dropped.tag = job.tag;
  dropped.fusion = job.fusion;
  if (!auditor_ || !auditor_->Offer(std::move(job))) events_.ObserveAudit(dropped);
}

void Scheduler::AuditStep() {
  if (!auditor_ || !auditor_->HasWork()) return;
  const double seconds = options_.tpot_target_ms > 0 ? options_.tpot_target_ms / 1000.0 : kDefaultAuditStepSeconds;
  const auto t0 = std::chrono::steady_clock::now();
  const AuditStepResult step = auditor_->Step(audit_budget_.TokensWithin(seconds),
                                              t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                                       std::chrono::duration<double>(seconds)));
  // Greedy tokens cost a forward pass each: only prefill work measures prefill's cost.
  if (step.answer_tokens == 0)
    audit_budget_.ObservePrefill(step.prefill_tokens,
                                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  if (step.outcome) {
    events_.ObserveAudit(*step.outcome);
    PublishKvUsage();
  }
}

}  // namespace kvfuse::sched
