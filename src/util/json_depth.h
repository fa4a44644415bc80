// How deep a JSON text nests arrays and objects, found without parsing it: untrusted JSON is
// checked with this before a recursive parser, printer or converter walks it.
#pragma once

#include <string_view>

namespace kvfuse::util {

// The deepest JSON kvfuse takes from outside (request bodies, tool-call arguments, a model's
// calls): deeper than any OpenAI request needs, shallow enough for nlohmann's recursion.
inline constexpr int kMaxJsonDepth = 64;

// The deepest nesting of [ and { outside strings; counting stops once it passes `limit`. Not
// a validator: malformed text is left to the parser. Any thread.
int JsonNestingDepth(std::string_view text, int limit);

}  // namespace kvfuse::util
