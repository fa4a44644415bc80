#include "rag/text_util.h"

#include "tokenizer/stream_decoder.h"

namespace kvfuse::rag {

std::string CollapseWhitespace(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

std::string ToValidUtf8(std::string_view text) { return tokenizer::ReplaceInvalidUtf8(std::string(text)); }

std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  std::string w;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c >= 0x80) {
      w.push_back(static_cast<char>(c));
    } else if (c >= 'A' && c <= 'Z') {
      w.push_back(static_cast<char>(c - 'A' + 'a'));
    } else if (!w.empty()) {
      words.push_back(std::move(w));
      w.clear();
    }
  }
  if (!w.empty()) words.push_back(std::move(w));
  return words;
}

}  // namespace kvfuse::rag
