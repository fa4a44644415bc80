// Renders a parsed template against variables.
#pragma once

#include <string>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/limits.h"
#include "util/status.h"

namespace kvfuse::tokenizer::jinja {

// `globals` is a dict of the template's variables. raise_exception(), a runtime type
// error, an unsupported filter, test or method, or a template that exceeds one of
// `limits` is an error naming the line (and the limit).
util::Result<std::string> Render(const Body& body, const Dict& globals, const Limits& limits = Limits());

}  // namespace kvfuse::tokenizer::jinja
