// Audits through the server over loopback (random-weight tiny model): a request with
// rag.audit is audited once it is answered, GET /v1/fusion/audit and /metrics report what an
// offline audit of the same prompt finds, the share a request ran at is in its timings, and
// the audit field is refused where it cannot apply.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "engine/rag_prompt.h"
#include "server/server.h"
#include "tiny_server_options.h"

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

const std::vector<std::string> kDocs = {"The lighthouse keeper counts ships every night.",
                                        "Rivers in the north freeze early in November.",
                                        "Mara bakes bread with rye flour and caraway."};
const char* kQuestion = "What does Mara bake?";

json RagBody(json rag) {
  rag["documents"] = kDocs;
  return {{"messages", {{{"role", "user"}, {"content", kQuestion}}}},
          {"max_tokens", 4},
          {"temperature", 0},
          {"rag", std::move(rag)}};
}

class FidelityRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o = TinyServerOptions(1024);
    o.fidelity.audit_rate = 0;  // only requests that ask are audited
    o.fidelity.audit_tokens = 6;
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_TRUE(server_->WaitReady());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
  }
  void TearDown() override { server_->Stop(); }

  json Chat(const json& body, int status = 200) {
    auto res = client_->Post("/v1/chat/completions", body.dump(), "application/json");
    EXPECT_TRUE(res);
    if (!res) return json();
    EXPECT_EQ(res->status, status) << res->body;
    return json::parse(res->body);
  }
  json Audits() { return json::parse(client_->Get("/v1/fusion/audit")->body); }
  // The audit report once `n` audits of the query method have been compared.
  json WaitForAudits(uint64_t n) {
    const auto start = std::chrono::steady_clock::now();
    for (;;) {
      json a = Audits();
      uint64_t audited = 0;
      for (const auto& c : a["collections"])
        for (const auto& m : c["methods"]) audited += m["audited"].get<uint64_t>();
      if (audited >= n || std::chrono::steady_clock::now() - start > std::chrono::seconds(60)) return a;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(FidelityRoutesTest, AnAuditedRequestIsReportedAsAnOfflineAuditFindsIt) {
  const json answer = Chat(RagBody({{"audit", true}}));
  EXPECT_EQ(answer["timings"]["recompute_share"], 0.1) << "the collection's share, as written";
  const json report = WaitForAudits(1);
  ASSERT_EQ(report["collections"].size(), 1u) << report.dump();
  const json& c = report["collections"][0];
  EXPECT_EQ(c["collection"], "");
  const json& m = c["methods"][0];
  EXPECT_EQ(m["method"], "query");
  EXPECT_EQ(m["audited"], 1);
  EXPECT_EQ(m["recompute_share"], 0.1);
  EXPECT_EQ(m["window"]["audits"], 1) << "the server chose the share: the controller counts it";

  // The same prompt audited offline by an engine of its own.
  auto e = engine::Engine::Load(TinyServerOptions(1024).engine);
  ASSERT_TRUE(e.ok());
  auto prompt = engine::BuildRagPrompt(*e.value(), engine::kDefaultRagSystemPrompt, kDocs, kQuestion);
  ASSERT_TRUE(prompt.ok());
  engine::FusionOptions query;
  query.mode = engine::FusionMode::kQuery;
  const engine::AuditOutcome offline = e.value()->Audit(prompt.value(), query, 6);
  ASSERT_EQ(offline.result, engine::AuditOutcome::Result::kCompared);
  EXPECT_EQ(m["top1_agreeing"], offline.comparison.top1_agrees ? 1 : 0);
  EXPECT_EQ(m["answers_agreeing"], offline.comparison.answer_agrees() ? 1 : 0);
  const bool disagreed = !offline.comparison.top1_agrees || !offline.comparison.answer_agrees();
  ASSERT_EQ(report["recent_disagreements"].size(), disagreed ? 1u : 0u);
  if (disagreed) {
    const json& d = report["recent_disagreements"][0];
    EXPECT_EQ(d["question"], kQuestion);
    EXPECT_EQ(d["fused_answer"], offline.fused_answer);
    EXPECT_EQ(d["full_answer"], offline.full_answer);
    EXPECT_NEAR(d["first_token_kl"].get<double>(), offline.comparison.first_token_kl, 1e-9);
  }

  const std::string metrics = client_->Get("/metrics")->body;
  EXPECT_NE(metrics.find("kvfuse_fusion_audits_total{collection=\"\",method=\"query\",result=\"compared\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("kvfuse_fusion_audit_first_token_kl_count{collection=\"\",method=\"query\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("kvfuse_fusion_recompute_share{collection=\"\",method=\"query\"} 0.1\n"), std::string::npos);
  EXPECT_NE(metrics.find("kvfuse_fusion_request_recompute_share_bucket{le=\"0.05\"} 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("kvfuse_fusion_request_recompute_share_bucket{le=\"0.1\"} 1\n"), std::string::npos)
      << "0.1 in its own bucket";
}

TEST_F(FidelityRoutesTest, AClientsOwnShareIsHonouredAndNotCountedByTheController) {
  const json answer = Chat(RagBody({{"audit", true}, {"recompute_ratio", 0.5}}));
  EXPECT_EQ(answer["timings"]["recompute_share"], 0.5);
  const json report = WaitForAudits(1);
  ASSERT_EQ(report["collections"].size(), 1u);
  EXPECT_EQ(report["collections"][0]["methods"][0]["window"]["audits"], 0);
  EXPECT_EQ(report["collections"][0]["methods"][0]["audited"], 1);
  const json naive = Chat(RagBody({{"fusion_mode", "naive"}}));
  EXPECT_FALSE(naive["timings"].contains("recompute_share")) << "naive has no share";
}

TEST_F(FidelityRoutesTest, TheAuditFieldIsRefusedWhereItCannotApply) {
  json e = Chat(RagBody({{"audit", "yes"}}), 400);
  EXPECT_EQ(e["error"]["param"], "rag.audit");
  e = Chat(RagBody({{"audit", true}, {"fusion_mode", "full"}}), 400);
  EXPECT_EQ(e["error"]["param"], "rag.audit");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("reuses no chunk KV"), std::string::npos);
  const json report = Audits();
  EXPECT_EQ(report["collections"].size(), 0u);
  EXPECT_EQ(report["audit_rate"], 0);
  EXPECT_EQ(report["fidelity_target"], 0.98);
}

}  // namespace
}  // namespace kvfuse::server
