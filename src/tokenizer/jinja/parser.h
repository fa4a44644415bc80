// Builds the statement tree of a template from its segments.
#pragma once

#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"
#include "util/status.h"

namespace kvfuse::tokenizer::jinja {

// An unsupported construct or a syntax error is an error naming the line.
util::Result<Body> ParseTemplate(const std::vector<Segment>& segments);

}  // namespace kvfuse::tokenizer::jinja
