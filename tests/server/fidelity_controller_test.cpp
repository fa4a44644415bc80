// The fidelity controller end to end over loopback, on the plain demo model (trained on whole
// prompts only, so reused chunks change its answers): every request audited, the share
// starting at the default. Phase 1 asks the demo world's single-hop questions over documents
// that do not hold their answers (six other people's facts), where the query mode at the
// default share often answers otherwise than full prefill (both guess); the share rises until
// the audits agree at the target. Phase 2 sends each question with its own document among five
// others, where a small share agrees with full nearly always; the share comes back down.
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

struct DemoWorld {
  std::map<std::string, std::string> docs;
  std::vector<std::string> ids;
  std::vector<json> single_hop;
};

DemoWorld LoadWorld() {
  DemoWorld w;
  std::ifstream docs(std::string(KVFUSE_MODELS_DIR) + "/demo-world/eval-docs.jsonl");
  for (std::string line; std::getline(docs, line);) {
    const json d = json::parse(line);
    w.docs[d["id"]] = d["text"];
    w.ids.push_back(d["id"]);
  }
  std::ifstream questions(std::string(KVFUSE_MODELS_DIR) + "/demo-world/eval-questions.jsonl");
  for (std::string line; std::getline(questions, line);)
    if (json q = json::parse(line); q["kind"] == "single") w.single_hop.push_back(std::move(q));
  return w;
}

class ControllerRun {
 public:
  explicit ControllerRun(const ServerOptions& o) : server_(o) {
    EXPECT_TRUE(server_.Start().ok());
    EXPECT_TRUE(server_.WaitReady()) << server_.load_error();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_.port());
    client_->set_read_timeout(60, 0);
  }
  ~ControllerRun() { server_.Stop(); }

  // One request over `texts`, answered and then audited: the share it ran at and whether its
  // audit agreed at the first token.
  std::pair<double, bool> Ask(const std::string& question, const std::vector<std::string>& texts) {
    const json body = {{"messages", {{{"role", "user"}, {"content", question}}}},
                       {"max_tokens", 1},
                       {"temperature", 0},
                       {"rag", {{"documents", texts}}}};
    auto res = client_->Post("/v1/chat/completions", body.dump(), "application/json");
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
    if (!res || res->status != 200) return {-1, false};
    const double share = json::parse(res->body)["timings"]["recompute_share"];
    const auto asked = std::chrono::steady_clock::now();
    for (;;) {  // the audit runs once the server is idle
      const json m = Methods();
      if (std::chrono::steady_clock::now() - asked > std::chrono::seconds(60)) {
        ADD_FAILURE() << "no audit within 60 s: " << m.dump();
        return {share, false};
      }
      if (m["audited"].get<uint64_t>() > audited_) {
        audited_ = m["audited"];
        const bool agreed = m["top1_agreeing"].get<uint64_t>() > agreeing_;
        agreeing_ = m["top1_agreeing"];
        return {share, agreed};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  double share() {
    const json a = json::parse(client_->Get("/v1/fusion/audit")->body);
    return a["collections"][0]["methods"][0]["recompute_share"];
  }

 private:
  json Methods() {
    const json a = json::parse(client_->Get("/v1/fusion/audit")->body);
    return a["collections"].empty() ? json{{"audited", 0}, {"top1_agreeing", 0}} : a["collections"][0]["methods"][0];
  }
  Server server_;
  std::unique_ptr<httplib::Client> client_;
  uint64_t audited_ = 0, agreeing_ = 0;
};

TEST(FidelityController, FindsAShareThatMeetsTheTargetOnThePlainDemoModelAndComesBackDown) {
  const DemoWorld world = LoadWorld();
  ASSERT_GE(world.single_hop.size(), 100u);
  ServerOptions o;
  o.engine.model_path = std::string(KVFUSE_MODELS_DIR) + "/demo-plain.gguf";
  o.engine.n_ctx = 2048;
  o.engine.n_threads = 2;
  o.port = 0;
  o.fidelity.audit_rate = 1;
  o.fidelity.audit_tokens = 4;
  o.fidelity.controller.target = 0.9;
  o.fidelity.controller.window = 10;
  ControllerRun run(o);
  std::mt19937 rng(3);
  const auto other_docs = [&](const json& q, size_t n) {
    std::vector<std::string> texts;
    while (texts.size() < n)
      if (const std::string& id = world.ids[rng() % world.ids.size()]; id != q["docs"][0]) texts.push_back(world.docs.at(id));
    return texts;
  };

  // Phase 1: the answers are not in the documents.
  int agreed_late = 0, late = 0;
  constexpr int kPhase1 = 90, kConverging = 50;
  std::string trajectory;
  for (int i = 0; i < kPhase1; ++i) {
    const json& q = world.single_hop[i % world.single_hop.size()];
    const auto [share, agreed] = run.Ask(q["question"], other_docs(q, 6));
    trajectory += std::to_string(share).substr(0, 4) + (agreed ? " " : "x ");
    if (i >= kConverging) agreed_late += agreed, ++late;
  }
  EXPECT_GE(agreed_late, 0.9 * late) << "agreement at the target after " << kConverging << " audits: " << trajectory;
  const double raised = run.share();
  ASSERT_GT(raised, 0.2) << "above the default, and with a way down for phase 2: " << trajectory;

  // Phase 2: each question with its own document among five others.
  trajectory.clear();
  for (int i = 0; i < 160 && run.share() > 0.2 + 1e-6; ++i) {
    const json& q = world.single_hop[(kPhase1 + i) % world.single_hop.size()];
    std::vector<std::string> texts = other_docs(q, 5);
    texts.insert(texts.begin() + static_cast<ptrdiff_t>(rng() % 6), world.docs.at(q["docs"][0]));
    const auto [share, agreed] = run.Ask(q["question"], texts);
    trajectory += std::to_string(share).substr(0, 4) + (agreed ? " " : "x ");
  }
  EXPECT_LE(run.share(), 0.2 + 1e-6) << "back down from " << raised << ": " << trajectory;
}

}  // namespace
}  // namespace kvfuse::server
