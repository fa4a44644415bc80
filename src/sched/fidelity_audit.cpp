#include "sched/fidelity_audit.h"

#include <algorithm>

#include "sched/sampler.h"
#include "tokenizer/stream_decoder.h"

namespace kvfuse::sched {

AuditRunner::AuditRunner(Executor& executor, int32_t answer_tokens, size_t max_pending, int32_t seq)
    : executor_(executor), answer_tokens_(std::max(1, answer_tokens)), max_pending_(max_pending), seq_(seq) {}

AuditRunner::~AuditRunner() { Abandon(); }

bool AuditRunner::Offer(AuditJob job) {
  if (pending_.size() >= max_pending_) return false;
  pending_.push_back(std::move(job));
  return true;
}

void AuditRunner::Abandon() {
  if (!holds_seq_) return;
  fused_steps_.reset();  // abandoned before its sequence goes
  executor_.Release(seq_);
  holds_seq_ = false;
  (phase_ == Phase::kFusedPrefill ? fused_ : full_) = Answer{};
  ++restarts_;
}

void AuditRunner::Prefilled(Answer& a, std::vector<float> logits, int32_t pos) {
  a.pos = pos;
  a.first_logits = std::move(logits);
  const int32_t token = ArgMax(a.first_logits.data(), executor_.n_vocab());
  a.tokens.push_back(token);
  a.done = executor_.EndsTurn(token) || answer_tokens_ == 1 || a.pos >= executor_.n_ctx();
}

util::Result<int32_t> AuditRunner::FusedPrefillUnit(int32_t budget, bool first) {
  const AuditJob& job = pending_.front();
  if (!fused_steps_) {
    fused_steps_ = executor_.StartPrefill(job.prompt, job.fusion, seq_);
    holds_seq_ = true;
  }
  const util::Result<int32_t> cost = fused_steps_->Step(budget, first);
  if (!cost.ok() || !fused_steps_->done()) return cost;
  fused_stats_ = fused_steps_->stats();
  Prefilled(fused_, std::move(fused_steps_->logits()), job.prompt.size());
  fused_steps_.reset();
  return cost;
}

util::Result<int32_t> AuditRunner::FullPrefillUnit(int32_t budget) {
  if (flat_.empty()) flat_ = pending_.front().prompt.Flatten();
  const auto n = static_cast<int32_t>(std::min<size_t>(std::max(1, budget), flat_.size() - full_.pos));
  const std::vector<int32_t> piece(flat_.begin() + full_.pos, flat_.begin() + full_.pos + n);
  std::vector<float> logits;
  holds_seq_ = true;
  KVFUSE_RETURN_IF_ERROR(executor_.Evaluate(piece, full_.pos, false, logits, n, seq_));
  full_.pos += n;
  if (full_.pos == static_cast<int32_t>(flat_.size())) Prefilled(full_, std::move(logits), full_.pos);
  return n;
}

util::Status AuditRunner::AnswerToken(Answer& a) {
  std::vector<float> logits;
  KVFUSE_RETURN_IF_ERROR(executor_.Evaluate({a.tokens.back()}, a.pos, false, logits, 1, seq_));
  ++a.pos;
  const int32_t token = ArgMax(logits.data(), executor_.n_vocab());
  a.tokens.push_back(token);
  a.done = executor_.EndsTurn(token) || static_cast<int32_t>(a.tokens.size()) >= answer_tokens_ ||
           a.pos >= executor_.n_ctx();
  return util::Status::Ok();
}

AuditStepResult AuditRunner::Step(int32_t budget, std::chrono::steady_clock::time_point deadline) {
  AuditStepResult step;
  if (!pending_.empty() && restarts_ >= kMaxRestarts) {
    step.outcome = Finish(AuditOutcome::Result::kDropped,
                          util::StrFormat("abandoned %d times for live work: the server was never idle long enough",
                                          restarts_));
    return step;
  }
  const auto spent = [&] { return step.prefill_tokens + step.answer_tokens; };
  while (!pending_.empty() &&
         (spent() == 0 || (spent() < budget && std::chrono::steady_clock::now() < deadline))) {
    const bool fused = phase_ == Phase::kFusedPrefill;
    Answer& a = fused ? fused_ : full_;
    util::Status status = util::Status::Ok();
    if (!a.tokens.empty()) {  // prefilled: its answer, a token at a time
      status = AnswerToken(a);
      ++step.answer_tokens;
    } else {
      const util::Result<int32_t> cost =
          fused ? FusedPrefillUnit(budget - spent(), spent() == 0) : FullPrefillUnit(budget - spent());
      if (cost.ok() && cost.value() == 0) break;  // no layer or piece fits what is left
      status = cost.status();
      if (cost.ok()) step.prefill_tokens += cost.value();
    }
    if (!status.ok()) {
      step.outcome = Finish(AuditOutcome::Result::kFailed, status.message());
      return step;
    }
    if (!a.done) continue;
    executor_.Release(seq_);
    holds_seq_ = false;
    if (!fused) {
      step.outcome = Finish(AuditOutcome::Result::kCompared, "");
      return step;
    }
    phase_ = Phase::kFullPrefill;
  }
  return step;
}

AuditOutcome AuditRunner::Finish(AuditOutcome::Result result, std::string error) {
  Abandon();
  AuditJob job = std::move(pending_.front());
  pending_.pop_front();
  AuditOutcome o;
  o.result = result;
  o.tag = std::move(job.tag);
  o.fusion = job.fusion;
  o.error = std::move(error);
  if (result == AuditOutcome::Result::kCompared) {
    o.comparison = CompareAnswers(full_.first_logits, full_.tokens, fused_.first_logits, fused_.tokens);
    const auto text = [&](const std::vector<int32_t>& tokens) {  // valid UTF-8, as answers are sent
      if (!executor_.tokenizer()) return std::string();
      tokenizer::StreamDecoder decoder(*executor_.tokenizer());
      std::string s;
      for (int32_t t : tokens)
        if (!executor_.EndsTurn(t)) s += decoder.Push(t);
      return s + decoder.Flush();
    };
    o.fused_answer = text(fused_.tokens);
    o.full_answer = text(full_.tokens);
    o.fused_stats = fused_stats_;
  }
  phase_ = Phase::kFusedPrefill;
  restarts_ = 0;
  fused_ = full_ = Answer{};
  fused_stats_ = {};
  flat_.clear();
  return o;
}

AuditOutcome AuditRunner::Run(AuditJob job) {
  KVFUSE_CHECK(pending_.empty() && max_pending_ > 0);
  Offer(std::move(job));
  for (;;)
    if (AuditStepResult step = Step(1 << 30, std::chrono::steady_clock::time_point::max()); step.outcome)
      return std::move(*step.outcome);
}

}  // namespace kvfuse::sched
