// The held-out part of the demo world (tools/demo/: models/demo-world) as eval-qa reads
// it: the prompt format, the documents and the questions, and the gold prompts (a
// question's documents plus distractors). Pure data: no model is run here.
#pragma once

#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "util/status.h"

namespace kvfuse::cli {

// Which held-out questions: all, or one of two disjoint halves, so that settings chosen on
// the validation half (even-numbered questions) are reported on the test half (odd).
enum class QuestionSplit { kAll, kValidation, kTest };

struct Question {
  std::string text, answer, kind;
  std::vector<std::string> docs;  // ids of the documents that hold its facts
  bool adjacent = false;          // its documents stay together (coreference)
};

struct DemoWorld {
  nlohmann::json format;                    // "prefix", "chunk" ({text}) and "suffix" ({q})
  std::map<std::string, std::string> docs;  // text by id
  std::vector<Question> questions;
};

// The first max_questions questions of `split` (at least one).
util::Result<DemoWorld> LoadDemoWorld(const std::string& dir, QuestionSplit split, long long max_questions);

// The answer as generated, trimmed of white space (what exact match compares).
std::string Trim(const std::string& s);

// A question's gold prompt: its documents plus distractors, n_chunks chunks in all, in an
// order drawn from rng, in the world's prompt format.
class PromptBuilder {
 public:
  PromptBuilder(const DemoWorld& world, const tokenizer::Tokenizer& tok, int n_chunks);
  engine::SegmentedPrompt Build(const Question& q, std::mt19937& rng) const;

 private:
  const DemoWorld& world_;
  const tokenizer::Tokenizer& tok_;
  int n_chunks_;
  std::vector<std::string> distractor_ids_;
};

}  // namespace kvfuse::cli
