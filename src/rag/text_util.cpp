#include "rag/text_util.h"

#include <algorithm>

#include "tokenizer/stream_decoder.h"
#include "tokenizer/utf8.h"

namespace kvfuse::rag {

using tokenizer::ValidUtf8At;

std::string CollapseWhitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  AppendCollapsedWhitespace(out, text);
  return out;
}

void AppendCollapsedWhitespace(std::string& out, std::string_view text) {
  bool space = !out.empty();
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
}

bool IsValidUtf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t len = ValidUtf8At(text, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string ToValidUtf8(std::string_view text) { return tokenizer::ReplaceInvalidUtf8(text); }

std::string_view AsValidUtf8(std::string_view text, std::string& repaired) {
  if (IsValidUtf8(text)) return text;
  repaired = ToValidUtf8(text);
  return repaired;
}

std::vector<Word> CasedWords(std::string_view text) {
  std::vector<Word> words;
  Word w;
  int gap = 0;           // characters since the last word
  bool gap_space = true;  // all of them spaces
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    const bool upper = c >= 'A' && c <= 'Z';
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c >= 0x80 || upper) {
      if (w.text.empty()) {
        w.capitalized = upper;
        w.after_one_space = !words.empty() && gap == 1 && gap_space;
      }
      w.text.push_back(static_cast<char>(upper ? c - 'A' + 'a' : c));
      continue;
    }
    if (!w.text.empty()) {
      words.push_back(std::move(w));
      w = Word{};
      gap = 0, gap_space = true;
    }
    ++gap;
    gap_space &= c == ' ';
  }
  if (!w.text.empty()) words.push_back(std::move(w));
  return words;
}

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  for (Word& w : CasedWords(text)) words.push_back(std::move(w.text));
  return words;
}

util::Status CheckLooksLikeText(std::string_view content) {
  constexpr size_t kSample = 8192;
  const size_t n = std::min(content.size(), kSample);
  if (const size_t nul = content.substr(0, n).find('\0'); nul != std::string_view::npos)
    return util::Status::Error(util::StrFormat("binary content (a NUL byte at offset %zu), not text", nul));
  size_t odd = 0;  // control bytes other than whitespace and ESC, and bytes of invalid UTF-8
  for (size_t i = 0; i < n;) {
    const auto c = static_cast<unsigned char>(content[i]);
    const bool control = (c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1B) ||
                         c == 0x7F;
    // ValidUtf8At may look past the sample to finish a sequence cut by its end.
    const size_t len = control ? 0 : ValidUtf8At(content, i);
    if (len == 0) ++odd;
    i += std::max<size_t>(len, 1);
  }
  if (odd * 10 > n)
    return util::Status::Error(util::StrFormat(
        "not UTF-8 text (%zu%% of its first %zu bytes are control bytes or invalid UTF-8; convert it to "
        "UTF-8 if it is text)",
        odd * 100 / n, n));
  return util::Status::Ok();
}

}  // namespace kvfuse::rag
