// Small text helpers shared by the readers, the chunker and the BM25 analyzer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kvfuse::rag {

// Runs of ASCII whitespace become one space; leading and trailing ones go.
std::string CollapseWhitespace(std::string_view text);
// Ill-formed UTF-8 sequences become U+FFFD.
std::string ToValidUtf8(std::string_view text);
// Lower-cased words (ASCII letters and digits, and any non-ASCII bytes), in order.
std::vector<std::string> Words(std::string_view text);

}  // namespace kvfuse::rag
