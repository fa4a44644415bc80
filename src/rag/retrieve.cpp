#include "rag/retrieve.h"

namespace kvfuse::rag {

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
  return collection.Search(query, query_vector.empty() ? nullptr : query_vector.data(), options);
}

}  // namespace kvfuse::rag
