// Audits of fused answers over the real engine (sched/fidelity_audit.h): an audit's full
// prefill is a plain full request's, its comparison is what the two prefills' logits give
// when computed independently, and an audit run by the scheduler in small background steps
// finds what one run at once does.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/engine.h"
#include "engine/generate_sync.h"
#include "tiny_engine.h"
#include "../sched/recorded_audits.h"

namespace kvfuse::engine {
namespace {

// A 20-token prefix, three chunks of 24, an 8-token question.
SegmentedPrompt RagPrompt() {
  SegmentedPrompt p;
  p.prefix = RandomTokens(20, 1);
  p.chunks = {RandomTokens(24, 61), RandomTokens(24, 62), RandomTokens(24, 63)};
  p.suffix = RandomTokens(8, 9);
  return p;
}

// KL(softmax(p) || softmax(q)) written out in double, independently of answer_agreement.
double ReferenceKl(const std::vector<float>& p_logits, const std::vector<float>& q_logits) {
  const auto softmax = [](const std::vector<float>& x) {
    double mx = x[0], sum = 0;
    for (float v : x) mx = std::max(mx, static_cast<double>(v));
    std::vector<double> p(x.size());
    for (size_t i = 0; i < x.size(); ++i) sum += p[i] = std::exp(x[i] - mx);
    for (double& v : p) v /= sum;
    return p;
  };
  const std::vector<double> p = softmax(p_logits), q = softmax(q_logits);
  double kl = 0;
  for (size_t i = 0; i < p.size(); ++i) kl += p[i] * std::log(p[i] / q[i]);
  return kl;
}

SyncResult Generate(Engine& e, const SegmentedPrompt& prompt, FusionMode mode, int max_tokens) {
  e.Reset();
  SyncRequest r;
  r.fusion.mode = mode;
  r.max_tokens = max_tokens;
  r.stop_at_end_of_turn = true;
  auto out = GenerateSync(e, prompt, r);
  EXPECT_TRUE(out.ok()) << out.status().message();
  return out.ok() ? std::move(out).value() : SyncResult{};
}

TEST(FidelityAudit, AnAuditOfFullPrefillAgreesExactlyWithAPlainFullRequest) {
  auto e = LoadTinyEngine(512);
  ASSERT_NE(e, nullptr);
  const SegmentedPrompt prompt = RagPrompt();
  FusionOptions full;
  full.mode = FusionMode::kFull;
  const AuditOutcome o = e->Audit(prompt, full, 12);
  ASSERT_EQ(o.result, AuditOutcome::Result::kCompared) << o.error;
  EXPECT_EQ(o.comparison.first_token_kl, 0.0) << "the same logits, bit for bit";
  EXPECT_TRUE(o.comparison.top1_agrees);
  EXPECT_TRUE(o.comparison.answer_agrees());
  const SyncResult plain = Generate(*e, prompt, FusionMode::kFull, 12);
  EXPECT_EQ(o.full_answer, plain.text);
  EXPECT_EQ(o.fused_answer, plain.text);
  EXPECT_EQ(o.comparison.tokens_compared, static_cast<int32_t>(plain.tokens.size()) +
                                              (static_cast<int32_t>(plain.tokens.size()) < 12 ? 1 : 0))
      << "every greedy token, the end of turn included";
}

TEST(FidelityAudit, ComparesWhatTheTwoPrefillsGiveComputedIndependently) {
  auto e = LoadTinyEngine(512);
  ASSERT_NE(e, nullptr);
  const SegmentedPrompt prompt = RagPrompt();
  for (const auto& c : prompt.chunks) ASSERT_TRUE(e->WarmChunk(c).ok());  // cached alone: naive differs from full
  FusionOptions naive;
  naive.mode = FusionMode::kNaive;
  const AuditOutcome o = e->Audit(prompt, naive, 8);
  ASSERT_EQ(o.result, AuditOutcome::Result::kCompared) << o.error;
  const SyncResult full = Generate(*e, prompt, FusionMode::kFull, 8);
  const SyncResult fused = Generate(*e, prompt, FusionMode::kNaive, 8);
  const double kl = ReferenceKl(full.first_logits, fused.first_logits);
  EXPECT_GT(kl, 1e-6) << "chunks computed alone change the answer's distribution";
  EXPECT_NEAR(o.comparison.first_token_kl, kl, 1e-9 + 1e-6 * kl);
  const auto n_vocab = static_cast<int32_t>(full.first_logits.size());
  EXPECT_EQ(o.comparison.top1_agrees,
            sched::ArgMax(full.first_logits.data(), n_vocab) == sched::ArgMax(fused.first_logits.data(), n_vocab));
  EXPECT_EQ(o.full_answer, full.text);
  EXPECT_EQ(o.fused_answer, fused.text);
  EXPECT_EQ(o.fused_stats.chunk_hits, 3);
}

TEST(FidelityAudit, TheSchedulersBackgroundAuditInSmallStepsFindsWhatOneRunAtOnceDoes) {
  auto e = LoadTinyEngine(512);
  ASSERT_NE(e, nullptr);
  const SegmentedPrompt prompt = RagPrompt();
  FusionOptions naive;
  naive.mode = FusionMode::kNaive;
  for (const auto& c : prompt.chunks) ASSERT_TRUE(e->WarmChunk(c).ok());
  const AuditOutcome direct = e->Audit(prompt, naive, 8);
  e->Reset();

  sched::RecordedAudits events;
  SchedulerOptions options{8, 2, 16};  // audit steps of at most 16 tokens: the full prefill in pieces
  options.tpot_target_ms = 0;
  options.audit_tokens = 8;
  Scheduler& s = e->StartScheduler(events, options);
  GenerationRequest r;
  r.prompt = prompt;
  r.fusion = naive;
  r.sampling.temperature = 0;
  r.max_tokens = 2;
  r.audit = AuditTag{"docs", "the question", true};
  auto channel = std::make_shared<GenerationChannel>();
  ASSERT_TRUE(s.Submit(r, channel));
  while (channel->Next()) {
  }
  const std::vector<AuditOutcome> audits = events.WaitFor(1);
  e->StopScheduler();
  ASSERT_EQ(audits.size(), 1u);
  const AuditOutcome& o = audits[0];
  ASSERT_EQ(o.result, AuditOutcome::Result::kCompared) << o.error;
  EXPECT_EQ(o.tag.collection, "docs");
  EXPECT_EQ(o.tag.question, "the question");
  EXPECT_EQ(o.comparison.first_token_kl, direct.comparison.first_token_kl);
  EXPECT_EQ(o.comparison.tokens_agreeing, direct.comparison.tokens_agreeing);
  EXPECT_EQ(o.full_answer, direct.full_answer);
  EXPECT_EQ(o.fused_answer, direct.fused_answer);
  e->ClearPrefixCache();
  EXPECT_EQ(e->block_pool().n_free(), e->block_pool().n_blocks()) << "the audit gave its blocks back";
}

}  // namespace
}  // namespace kvfuse::engine
