// Retrieval quality on the demo world: the bundled corpus (models/demo-world/corpus) ingested
// with the bundled model; for each held-out question, the share of the documents holding
// its facts that are among the top k chunks.
#include <filesystem>
#include <fstream>
#include <map>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "rag/collection.h"

namespace kvfuse::rag {
namespace {

std::vector<nlohmann::json> ReadJsonl(const std::string& path) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

TEST(RetrievalRecall, DemoWorldRecallAtSix) {
  const std::string models = KVFUSE_MODELS_DIR;
  engine::EngineOptions eo;
  eo.model_path = models + "/demo.gguf";
  eo.n_ctx = 512;
  auto engine = engine::Engine::Load(eo);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  engine::Engine& e = *engine.value();
  const std::string dir = std::string(KVFUSE_TEST_TMP) + "/recall_collection";
  std::filesystem::remove_all(dir);
  auto collection = Collection::Open(dir);
  ASSERT_TRUE(collection.ok());
  IngestHooks hooks;
  hooks.model_fingerprint = e.model_fingerprint();
  hooks.count_tokens = [&](std::string_view t) { return static_cast<int32_t>(e.tokenizer()->Encode(t, false).size()); };
  hooks.embed = [&](const std::string& text) { return e.EmbedText(text, 0); };
  const IngestReport report = collection->Ingest({models + "/demo-world/corpus"}, ChunkOptions{}, hooks);
  ASSERT_TRUE(report.errors.empty()) << report.errors[0];

  // Each world document is one paragraph, so one chunk with the same text.
  std::map<std::string, std::string> doc_text;
  for (const auto& d : ReadJsonl(models + "/demo-world/eval-docs.jsonl")) doc_text[d["id"]] = d["text"];
  std::map<std::string, int32_t> chunk_of_text;
  for (int32_t id = 0; id < static_cast<int32_t>(collection->n_chunks()); ++id)
    if (const CollectionChunk* c = collection->chunk(id)) chunk_of_text[c->text] = id;
  ASSERT_EQ(chunk_of_text.size(), doc_text.size());

  std::map<std::string, std::pair<double, int>> by_kind;  // recall sum, questions
  double total = 0;
  int n = 0;
  for (const auto& q : ReadJsonl(models + "/demo-world/eval-questions.jsonl")) {
    auto v = e.EmbedText(q["question"].get<std::string>(), 0);
    ASSERT_TRUE(v.ok());
    SearchOptions so;
    so.k = 6;
    std::set<int32_t> found;
    for (const SearchHit& h : collection->Search(q["question"].get<std::string>(), v->data(), so)) found.insert(h.id);
    int relevant = 0, hit = 0;
    for (const auto& d : q["docs"]) {
      ++relevant;
      hit += found.count(chunk_of_text.at(doc_text.at(d.get<std::string>())));
    }
    const double recall = static_cast<double>(hit) / relevant;
    auto& k = by_kind[q["kind"].get<std::string>()];
    k.first += recall;
    ++k.second;
    total += recall;
    ++n;
  }
  for (const auto& [kind, r] : by_kind) std::printf("recall@6 %s: %.3f over %d\n", kind.c_str(), r.first / r.second, r.second);
  std::printf("recall@6 all: %.3f over %d questions\n", total / n, n);
  EXPECT_GE(total / n, 0.9);
}

}  // namespace
}  // namespace kvfuse::rag
