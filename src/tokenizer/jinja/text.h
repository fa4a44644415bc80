// String helpers of the interpreter's methods and filters. Each runs in time linear in
// its inputs, however a hostile template picks them (std::string::find is not).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kvfuse::tokenizer::jinja::text {

// Finds `needle` in texts in linear time (Knuth-Morris-Pratt). Needles are under 4 GiB
// (strings are bounded by Limits::max_string_bytes).
class Searcher {
 public:
  explicit Searcher(std::string_view needle);
  // Position of the first occurrence at or after `from`, or npos; an empty needle is found at `from`.
  size_t Find(std::string_view hay, size_t from = 0) const;
  // Non-overlapping occurrences, as Python's str.count.
  size_t Count(std::string_view hay) const;

 private:
  std::string needle_;
  std::vector<uint32_t> fail_;  // fail_[i]: length of the longest proper border of needle_[0..i]
};

// Python's str.strip / lstrip / rstrip; empty `chars` strips whitespace.
std::string Strip(const std::string& s, const std::string& chars, bool left, bool right);
std::string Title(const std::string& s);
std::string Upper(std::string s);
std::string Lower(std::string s);
// Python's str.capitalize: first character upper case, the rest lower case.
std::string Capitalize(std::string s);
// Every occurrence of `from` replaced by `to` (an empty `from` leaves `s` as it is).
// The result has s.size() + Searcher(from).Count(s) * (to.size() - from.size()) bytes.
std::string ReplaceAll(const std::string& s, const std::string& from, const std::string& to);
// Python's str.split(sep), or str.split() on whitespace when `sep` is empty. Stops, with
// *truncated set, once it holds max_parts parts.
std::vector<std::string> Split(const std::string& s, const std::string& sep, size_t max_parts, bool* truncated);

// Python's str is a sequence of code points: the byte offset of each code point of `s`,
// then s.size() (a byte that starts no valid sequence counts as one).
std::vector<size_t> CodePointOffsets(std::string_view s);
// The characters of `s` in reverse order.
std::string ReverseCodePoints(std::string_view s);

}  // namespace kvfuse::tokenizer::jinja::text
