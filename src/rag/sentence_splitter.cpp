// Rule-based sentence boundaries: '.', '!' or '?' (with closing quotes or brackets) followed
// by whitespace and a capital letter, digit, opening quote or non-ASCII character, unless the
// word before is a common abbreviation or a single initial.
#include <string>

#include "rag/chunker.h"
#include "rag/text_util.h"

namespace kvfuse::rag {
namespace {

bool IsAbbreviation(std::string_view word) {
  static constexpr std::string_view kAbbreviations[] = {"mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr",
                                                         "vs", "etc", "e.g", "i.e", "fig", "no", "approx"};
  std::string lower(word);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (std::string_view a : kAbbreviations)
    if (lower == a) return true;
  return word.size() == 1 && word[0] >= 'A' && word[0] <= 'Z';  // an initial: "J. Smith"
}

bool StartsSentence(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '"' || c == '\'' || c == '(' || c >= 0x80;
}

}  // namespace

std::vector<std::string> SplitSentences(std::string_view text) {
  std::vector<std::string> sentences;
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '.' && c != '!' && c != '?') continue;
    size_t end = i + 1;
    while (end < text.size() && (text[end] == '"' || text[end] == '\'' || text[end] == ')' || text[end] == ']'))
      ++end;
    if (end < text.size() && text[end] != ' ' && text[end] != '\n' && text[end] != '\t') continue;
    size_t next = end;
    while (next < text.size() && (text[next] == ' ' || text[next] == '\n' || text[next] == '\t')) ++next;
    if (next < text.size() && !StartsSentence(static_cast<unsigned char>(text[next]))) continue;
    if (c == '.') {
      size_t w = i;
      while (w > start && text[w - 1] != ' ') --w;
      if (IsAbbreviation(text.substr(w, i - w))) continue;
    }
    std::string s = CollapseWhitespace(text.substr(start, end - start));
    if (!s.empty()) sentences.push_back(std::move(s));
    start = next;
    i = next == 0 ? 0 : next - 1;
  }
  std::string rest = CollapseWhitespace(text.substr(std::min(start, text.size())));
  if (!rest.empty()) sentences.push_back(std::move(rest));
  return sentences;
}

}  // namespace kvfuse::rag
