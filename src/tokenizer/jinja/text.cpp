#include "tokenizer/jinja/text.h"

#include <algorithm>

#include "tokenizer/utf8.h"

#include <array>
#include <cctype>

namespace kvfuse::tokenizer::jinja::text {

namespace {
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
}  // namespace

Searcher::Searcher(std::string_view needle) : needle_(needle), fail_(needle.size(), 0) {
  for (uint32_t i = 1, k = 0; i < needle_.size(); ++i) {
    while (k > 0 && needle_[i] != needle_[k]) k = fail_[k - 1];
    if (needle_[i] == needle_[k]) ++k;
    fail_[i] = k;
  }
}

size_t Searcher::Find(std::string_view hay, size_t from) const {
  if (from > hay.size()) return std::string::npos;
  if (needle_.empty()) return from;
  for (size_t i = from, k = 0; i < hay.size(); ++i) {
    while (k > 0 && hay[i] != needle_[k]) k = fail_[k - 1];
    if (hay[i] == needle_[k]) ++k;
    if (k == needle_.size()) return i + 1 - k;
  }
  return std::string::npos;
}

size_t Searcher::Count(std::string_view hay) const {
  if (needle_.empty()) return hay.size() + 1;
  size_t n = 0;
  for (size_t p = Find(hay); p != std::string::npos; p = Find(hay, p + needle_.size())) ++n;
  return n;
}

std::string Strip(const std::string& s, const std::string& chars, bool left, bool right) {
  std::array<bool, 256> strip{};  // a table: testing each character against `chars` would be quadratic
  for (int c = 0; c < 256; ++c) strip[c] = chars.empty() && IsSpace(static_cast<char>(c));
  for (char c : chars) strip[static_cast<unsigned char>(c)] = true;
  auto is_strip = [&](char c) { return strip[static_cast<unsigned char>(c)]; };
  size_t b = 0, e = s.size();
  if (left) while (b < e && is_strip(s[b])) ++b;
  if (right) while (e > b && is_strip(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string Title(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    const bool alpha = std::isalpha(static_cast<unsigned char>(c));
    c = alpha ? (start ? std::toupper(c) : std::tolower(c)) : c;
    start = !alpha;
  }
  return out;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Capitalize(std::string s) {
  s = Lower(std::move(s));
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

std::string ReplaceAll(const std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  const Searcher searcher(from);
  std::string out;
  size_t b = 0;
  for (size_t p = searcher.Find(s); p != std::string::npos; p = searcher.Find(s, b)) {
    out.append(s, b, p - b);
    out += to;
    b = p + from.size();
  }
  out.append(s, b, std::string::npos);
  return out;
}

std::vector<std::string> Split(const std::string& s, const std::string& sep, size_t max_parts, bool* truncated) {
  std::vector<std::string> parts;
  *truncated = false;
  auto add = [&](std::string part) {
    if (parts.size() >= max_parts) return !(*truncated = true);
    parts.push_back(std::move(part));
    return true;
  };
  if (sep.empty()) {
    for (size_t i = 0; i < s.size();) {
      while (i < s.size() && IsSpace(s[i])) ++i;
      size_t j = i;
      while (j < s.size() && !IsSpace(s[j])) ++j;
      if (j > i && !add(s.substr(i, j - i))) break;
      i = j;
    }
    return parts;
  }
  const Searcher searcher(sep);
  size_t b = 0;
  for (size_t p; (p = searcher.Find(s, b)) != std::string::npos; b = p + sep.size())
    if (!add(s.substr(b, p - b))) return parts;
  add(s.substr(b));
  return parts;
}

std::vector<size_t> CodePointOffsets(std::string_view s) {
  std::vector<size_t> offsets;
  for (size_t i = 0; i < s.size(); i += std::min(Utf8Length(static_cast<unsigned char>(s[i])), s.size() - i))
    offsets.push_back(i);
  offsets.push_back(s.size());
  return offsets;
}

std::string ReverseCodePoints(std::string_view s) {
  const std::vector<size_t> at = CodePointOffsets(s);
  std::string out;
  out.reserve(s.size());
  for (size_t k = at.size() - 1; k-- > 0;) out.append(s.substr(at[k], at[k + 1] - at[k]));
  return out;
}

}  // namespace kvfuse::tokenizer::jinja::text
