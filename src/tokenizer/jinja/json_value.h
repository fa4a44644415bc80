// JSON (a chat request's messages, tools, extra template variables) as template values.
// A pure function: any thread.
#pragma once

#include <nlohmann/json.hpp>

#include "tokenizer/jinja/value.h"

namespace kvfuse::tokenizer::jinja {

// null becomes none, numbers stay int or float as parsed, and objects keep their key order
// (ordered_json), as Python's dicts keep it: tojson of a tool then prints it as sent.
// Recursive: callers bound the nesting of what they pass (the server refuses request bodies
// deeper than 64 levels before parsing them).
Value ValueFromJson(const nlohmann::ordered_json& j);

}  // namespace kvfuse::tokenizer::jinja
