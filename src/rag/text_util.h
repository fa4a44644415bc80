// Small text helpers shared by the readers, the chunker and the BM25 analyzer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace kvfuse::rag {

// Runs of ASCII whitespace become one space; leading and trailing ones go.
std::string CollapseWhitespace(std::string_view text);
// Appends CollapseWhitespace(text) to `out`, after one space when both are non-empty: a
// paragraph built line by line equals CollapseWhitespace of its lines joined by spaces.
void AppendCollapsedWhitespace(std::string& out, std::string_view text);
// Whether every byte belongs to a well-formed UTF-8 sequence.
bool IsValidUtf8(std::string_view text);
// Ill-formed UTF-8 sequences become U+FFFD.
std::string ToValidUtf8(std::string_view text);
// `text` itself when it is valid UTF-8 (no copy), else ToValidUtf8(text) kept in `repaired`.
std::string_view AsValidUtf8(std::string_view text, std::string& repaired);
// Lower-cased words (ASCII letters and digits, and any non-ASCII bytes), in order.
std::vector<std::string> Words(std::string_view text);

// The same words, each saying whether it began with a capital letter and whether a single
// space joins it to the word before.
struct Word {
  std::string text;  // lower-cased
  bool capitalized = false;
  bool after_one_space = false;  // a single space separates it from the word before
};
std::vector<Word> CasedWords(std::string_view text);

// An error when the start of a file's content is not text: a NUL byte, or more than a
// tenth of control bytes and invalid UTF-8 (binary data, UTF-16, a legacy 8-bit encoding).
// Text in Latin-1 with a few accents passes (its stray bytes become U+FFFD).
util::Status CheckLooksLikeText(std::string_view content);

}  // namespace kvfuse::rag
