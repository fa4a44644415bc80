// Renders a parsed template against variables.
#pragma once

#include <string>

#include "tokenizer/jinja/ast.h"
#include "util/status.h"

namespace kvfuse::tokenizer::jinja {

// `globals` is a dict of the template's variables. raise_exception(), a runtime type
// error or an unsupported filter, test or method is an error naming the line.
util::Result<std::string> Render(const Body& body, const Dict& globals);

}  // namespace kvfuse::tokenizer::jinja
