#include "server/fidelity_monitor.h"

#include "server/completion_reply.h"

#include <cstdio>

namespace kvfuse::server {

using json = nlohmann::json;

namespace {

void PushBounded(std::deque<json>& list, json item, size_t limit) {
  list.push_back(std::move(item));
  while (list.size() > limit) list.pop_front();
}

std::string Labels(const std::string& collection, const std::string& method) {
  return "collection=\"" + LabelValue(collection) + "\",method=\"" + LabelValue(method) + "\"";
}

}  // namespace

FidelityMonitor::FidelityMonitor(FidelityOptions options)
    : options_(std::move(options)), rng_(std::random_device{}()), controller_(options_.controller, options_.default_share) {}

bool FidelityMonitor::DrawAudit() {
  if (options_.audit_rate <= 0) return false;
  std::lock_guard<std::mutex> lock(mu_);
  return std::uniform_real_distribution<double>(0, 1)(rng_) < options_.audit_rate;
}

FidelityMonitor::Share FidelityMonitor::ShareFor(const std::string& collection, engine::FusionMode mode) const {
  if (options_.controller.target <= 0) return {options_.default_share, false, 0};
  std::lock_guard<std::mutex> lock(mu_);
  const ShareChoice c = controller_.ShareFor({collection, engine::FusionModeName(mode)});
  return {c.share, true, c.epoch};
}

void FidelityMonitor::ObserveRequest(const engine::FusionOptions& fusion) {
  if (!engine::ModeReadsKnob(fusion.mode, engine::FusionKnob::kRecomputeRatio)) return;
  std::lock_guard<std::mutex> lock(mu_);
  request_shares_.Observe(FloatAsWritten(fusion.recompute_ratio));  // 0.15f counts as 0.15, in its bucket
}

void FidelityMonitor::Observe(const engine::AuditOutcome& o) {
  using Result = engine::AuditOutcome::Result;
  const std::string method = engine::FusionModeName(o.fusion.mode);
  const bool reads_share = engine::ModeReadsKnob(o.fusion.mode, engine::FusionKnob::kRecomputeRatio);
  std::lock_guard<std::mutex> lock(mu_);
  MethodStats& s = stats_[{o.tag.collection, method}];
  s.controlled = options_.controller.target > 0 && reads_share;
  if (o.result != Result::kCompared) {
    ++(o.result == Result::kFailed ? s.failed : s.dropped);
    if (o.result == Result::kFailed) std::fprintf(stderr, "kvfuse: an audit failed: %s\n", o.error.c_str());
    return;
  }
  const engine::AnswerComparison& c = o.comparison;
  ++s.compared;
  s.top1_agreeing += c.top1_agrees;
  s.answers_agreeing += c.answer_agrees();
  s.kl.Observe(c.first_token_kl);
  if (!c.top1_agrees || !c.answer_agrees()) {
    json d = {{"collection", o.tag.collection}, {"method", method},   {"question", o.tag.question},
              {"fused_answer", o.fused_answer},  {"full_answer", o.full_answer}, {"first_token_kl", c.first_token_kl},
              {"top1_agrees", c.top1_agrees},    {"tokens_agreeing", c.tokens_agreeing},
              {"tokens_compared", c.tokens_compared}};
    if (reads_share) d["recompute_share"] = FloatAsWritten(o.fusion.recompute_ratio);
    PushBounded(disagreements_, std::move(d), options_.recent_disagreements);
  }
  if (!o.tag.controlled || !reads_share) return;
  if (const auto decision = controller_.Observe({o.tag.collection, method}, o.tag.share_epoch, c.top1_agrees)) {
    std::fprintf(stderr, "kvfuse: collection '%s', %s: recompute share %.2f -> %.2f (%s)\n", o.tag.collection.c_str(),
                 method.c_str(), decision->from, decision->to, decision->reason.c_str());
    PushBounded(decisions_,
                {{"collection", o.tag.collection}, {"method", method}, {"from", FloatAsWritten(decision->from)},
                 {"to", FloatAsWritten(decision->to)},
                 {"audits", decision->audits}, {"top1_agreeing", decision->agreeing}, {"reason", decision->reason}},
                options_.recent_decisions);
  }
}

json FidelityMonitor::Json() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::map<std::string, json> collections;
  for (const auto& [key, s] : stats_) {
    const auto& [collection, method] = key;
    json m = {{"method", method},
              {"audited", s.compared},
              {"top1_agreeing", s.top1_agreeing},
              {"top1_disagreeing", s.compared - s.top1_agreeing},
              {"answers_agreeing", s.answers_agreeing},
              {"failed", s.failed},
              {"dropped", s.dropped}};
    if (s.controlled) {
      const auto [audits, agreeing] = controller_.Window(key);
      m["recompute_share"] = FloatAsWritten(controller_.ShareFor(key).share);
      m["window"] = {{"audits", audits}, {"top1_agreeing", agreeing}};
    }
    json& c = collections[collection];
    if (c.is_null()) c = {{"collection", collection}, {"methods", json::array()}};
    c["methods"].push_back(std::move(m));
  }
  json list = json::array();
  for (auto& [name, c] : collections) list.push_back(std::move(c));
  return {{"object", "fusion.audit"},
          {"audit_rate", options_.audit_rate},
          {"audit_tokens", options_.audit_tokens},
          {"fidelity_target", options_.controller.target},
          {"window", options_.controller.window},
          {"default_recompute_share", FloatAsWritten(options_.default_share)},
          {"collections", std::move(list)},
          {"recent_disagreements", json(disagreements_)},
          {"decisions", json(decisions_)}};
}

std::string FidelityMonitor::RenderMetrics() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  const auto family = [&](const char* name, const char* type, const char* help) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  };
  const auto counter = [&](const char* name, const std::string& labels, uint64_t v) {
    out += std::string(name) + "{" + labels + "} " + std::to_string(v) + "\n";
  };
  family("kvfuse_fusion_audits_total", "counter", "Audits of fused requests by result (dropped: too many waiting).");
  for (const auto& [key, s] : stats_) {
    const std::string l = Labels(key.first, key.second);
    counter("kvfuse_fusion_audits_total", l + ",result=\"compared\"", s.compared);
    counter("kvfuse_fusion_audits_total", l + ",result=\"failed\"", s.failed);
    counter("kvfuse_fusion_audits_total", l + ",result=\"dropped\"", s.dropped);
  }
  family("kvfuse_fusion_audit_top1_agreeing_total", "counter", "Audits whose first token agreed with full prefill's.");
  for (const auto& [key, s] : stats_)
    counter("kvfuse_fusion_audit_top1_agreeing_total", Labels(key.first, key.second), s.top1_agreeing);
  family("kvfuse_fusion_audit_top1_disagreeing_total", "counter", "Audits whose first token differed from full prefill's.");
  for (const auto& [key, s] : stats_)
    counter("kvfuse_fusion_audit_top1_disagreeing_total", Labels(key.first, key.second), s.compared - s.top1_agreeing);
  family("kvfuse_fusion_audit_answers_agreeing_total", "counter",
         "Audits whose greedy tokens (--audit-tokens) all equalled full prefill's.");
  for (const auto& [key, s] : stats_)
    counter("kvfuse_fusion_audit_answers_agreeing_total", Labels(key.first, key.second), s.answers_agreeing);
  family("kvfuse_fusion_audit_first_token_kl", "histogram",
         "KL divergence (nats) of an audited fused request's first-token distribution from full prefill's.");
  for (const auto& [key, s] : stats_) s.kl.RenderSeries("kvfuse_fusion_audit_first_token_kl", Labels(key.first, key.second), out);
  family("kvfuse_fusion_recompute_share", "gauge",
         "The recompute share a collection's requests run at by a method, unless they name one.");
  for (const auto& [key, s] : stats_) {
    if (!s.controlled) continue;
    char value[32];
    std::snprintf(value, sizeof value, "} %.7g\n", controller_.ShareFor(key).share);
    out += "kvfuse_fusion_recompute_share{" + Labels(key.first, key.second) + value;
  }
  request_shares_.Render("kvfuse_fusion_request_recompute_share", "The recompute share fused requests ran at.", out);
  return out;
}

}  // namespace kvfuse::server
