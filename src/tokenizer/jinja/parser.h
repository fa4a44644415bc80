// Builds the statement tree of a template from its segments.
#pragma once

#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/limits.h"
#include "util/status.h"

namespace kvfuse::tokenizer::jinja {

// An unsupported construct, a syntax error or nesting deeper than limits.max_nesting is
// an error naming the line.
util::Result<Body> ParseTemplate(const std::vector<Segment>& segments, const Limits& limits = Limits());

}  // namespace kvfuse::tokenizer::jinja
