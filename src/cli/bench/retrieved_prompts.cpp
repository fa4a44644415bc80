#include "cli/bench/retrieved_prompts.h"

#include <set>

#include "engine/rag_prompt.h"
#include "rag/collection.h"
#include "rag/retrieve.h"

namespace kvfuse::cli {

util::Result<RetrievedPrompts> RetrievePrompts(engine::Engine& e, const std::string& collection_dir,
                                               const DemoWorld& world, size_t k) {
  auto collection = rag::Collection::Open(collection_dir);
  if (!collection.ok()) return collection.status();
  if (collection->n_chunks() == 0)
    return util::Status::InvalidArgument(collection_dir + " holds no documents: kvfuse ingest -m MODEL --collection " +
                                         collection_dir + " models/demo-world/corpus first");
  const rag::QueryEmbedder embedder{
      e.model_fingerprint(), [&e](const std::string& text, int32_t layer) { return e.EmbedText(text, layer); }};
  rag::SearchOptions search;
  search.k = k;
  RetrievedPrompts out;
  std::map<std::string, std::pair<double, int>> found_and_wanted;
  for (const Question& q : world.questions) {
    auto hits = rag::Retrieve(collection.value(), q.text, search, embedder);
    if (!hits.ok()) return hits.status();
    std::vector<std::string> texts;
    std::set<std::string> retrieved;
    for (const rag::SearchHit& h : hits.value()) {
      texts.push_back(collection->chunk(h.id)->text);
      retrieved.insert(texts.back());
    }
    auto& [found, wanted] = found_and_wanted[q.kind];
    for (const std::string& d : q.docs) found += retrieved.count(world.docs.at(d));  // a document is one chunk
    wanted += static_cast<int>(q.docs.size());
    auto prompt = engine::BuildRagPrompt(e, engine::kDefaultRagSystemPrompt, texts, q.text);
    if (!prompt.ok()) return prompt.status();
    out.prompts.push_back(std::move(prompt).value());
  }
  for (const auto& [kind, fw] : found_and_wanted) out.recall[kind] = fw.second ? fw.first / fw.second : 0;
  return out;
}

}  // namespace kvfuse::cli
