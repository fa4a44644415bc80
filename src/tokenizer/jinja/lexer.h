// Splits a template into text and tags, applying whitespace control the way Hugging
// Face renders chat templates (jinja2 with trim_blocks and lstrip_blocks, plus the
// "-" markers), and splits tag contents into expression tokens.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/jinja/limits.h"
#include "util/status.h"

namespace kvfuse::tokenizer::jinja {

struct Segment {
  enum class Kind { kText, kOutput, kStatement };
  Kind kind;
  std::string text;  // literal text, or the tag's inner source
  int line;
};

// A source over limits.max_template_bytes is an error.
util::Result<std::vector<Segment>> SplitTemplate(const std::string& source, const Limits& limits = Limits());

struct Token {
  enum class Kind { kName, kInt, kFloat, kString, kOp, kEnd };
  Kind kind;
  std::string text;
  int line;
};

util::Result<std::vector<Token>> LexExpression(const std::string& source, int line);

}  // namespace kvfuse::tokenizer::jinja
