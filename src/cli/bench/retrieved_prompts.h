// The demo world's questions as a user asks them: retrieved from an ingested collection
// (rag::Retrieve) into the product's RAG prompt (engine::BuildRagPrompt), exactly the path
// of `kvfuse ask`, with the retrieval's recall of each question's documents.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cli/bench/demo_world.h"
#include "engine/engine.h"
#include "util/status.h"

namespace kvfuse::cli {

struct RetrievedPrompts {
  std::vector<engine::SegmentedPrompt> prompts;  // one per question
  // Per question kind: the share of the questions' documents among the retrieved chunks.
  std::map<std::string, double> recall;
};

// Runs on the calling thread (embeds each question with `e`).
util::Result<RetrievedPrompts> RetrievePrompts(engine::Engine& e, const std::string& collection_dir,
                                               const DemoWorld& world, size_t k);

}  // namespace kvfuse::cli
