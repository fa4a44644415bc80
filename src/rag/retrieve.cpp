#include "rag/retrieve.h"

#include <algorithm>
#include <map>

namespace kvfuse::rag {

std::vector<SearchHit> InPromptOrder(const Collection& collection, std::vector<SearchHit> hits) {
  std::map<std::string, size_t> file_rank;  // a file's best hit's rank
  for (size_t i = 0; i < hits.size(); ++i) file_rank.emplace(collection.chunk(hits[i].id)->file, i);
  // Ingest numbers a file's chunks in reading order, so ids order them within a file.
  std::stable_sort(hits.begin(), hits.end(), [&](const SearchHit& a, const SearchHit& b) {
    const size_t ra = file_rank.at(collection.chunk(a.id)->file), rb = file_rank.at(collection.chunk(b.id)->file);
    return ra != rb ? ra < rb : a.id < b.id;
  });
  return hits;
}

bool EmbedsLike(const Collection& collection, const QueryEmbedder& embedder) {
  return embedder.embed && collection.model_fingerprint() == embedder.model_fingerprint;
}

util::Result<std::vector<SearchHit>> Retrieve(const Collection& collection, const std::string& query,
                                              const SearchOptions& options, const QueryEmbedder& embedder) {
  std::vector<float> query_vector;
  if (EmbedsLike(collection, embedder)) {
    auto v = embedder.embed(query, collection.embed_layer());
    if (!v.ok()) return v.status().WithContext("embedding the question");
    query_vector = std::move(v).value();
  }
  return InPromptOrder(collection, collection.Search(query, query_vector.empty() ? nullptr : query_vector.data(), options));
}

}  // namespace kvfuse::rag
