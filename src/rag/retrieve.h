// Retrieval as `kvfuse ask` and the server do it: the question embedded by the model that
// embedded the collection, then hybrid search; lexical search alone when the collection was
// embedded by another model. The model arrives as a callable, so rag never links it.
// Threads: as Collection::Search (any number, while no ingest runs); `embed` is called on the
// caller's thread and must be safe there.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "rag/collection.h"
#include "util/status.h"

namespace kvfuse::rag {

struct QueryEmbedder {
  uint64_t model_fingerprint = 0;  // of the model `embed` runs
  // The query's embedding, pooled at `layer` (the collection's embed layer).
  std::function<util::Result<std::vector<float>>(const std::string& query, int32_t layer)> embed;
};

// `hits` (best first) in prompt order, as Retrieve returns them.
std::vector<SearchHit> InPromptOrder(const Collection& collection, std::vector<SearchHit> hits);

// Whether `embedder` embeds like the model that embedded `collection` (else: lexical only).
bool EmbedsLike(const Collection& collection, const QueryEmbedder& embedder);

// The hits for `query` (the best k of hybrid search) in the order a prompt places them:
// a file's chunks together and in reading order (a chunk that says only "she" follows the
// chunk that names her), files in the reverse order of their best hit (the best file last,
// nearest the question; retrieve.cpp says why). An error only when
// embedding the query failed.
util::Result<std::vector<SearchHit>> Retrieve(const Collection& collection, const std::string& query,
                                              const SearchOptions& options, const QueryEmbedder& embedder);

}  // namespace kvfuse::rag
