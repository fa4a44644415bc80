#include "tokenizer/stream_decoder.h"

#include "tokenizer/utf8.h"

namespace kvfuse::tokenizer {

size_t CompleteUtf8Prefix(const std::string& s) {
  // Only an incomplete sequence at the very end is held back.
  const size_t n = s.size();
  for (size_t back = 1; back <= 4 && back <= n; ++back) {
    const auto b = static_cast<unsigned char>(s[n - back]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: keep looking for the lead
    size_t need = 1;
    if ((b & 0xE0) == 0xC0) need = 2;
    else if ((b & 0xF0) == 0xE0) need = 3;
    else if ((b & 0xF8) == 0xF0) need = 4;
    return need > back ? n - back : n;
  }
  return n;
}

std::string ReplaceInvalidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (const size_t len = ValidUtf8At(s, i); len > 0) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string StreamDecoder::Push(int32_t id) {
  pending_ += tokenizer_.Piece(id);
  const size_t complete = CompleteUtf8Prefix(pending_);
  std::string out = ReplaceInvalidUtf8(pending_.substr(0, complete));
  pending_.erase(0, complete);
  return out;
}

std::string StreamDecoder::Flush() {
  std::string out;
  if (!pending_.empty()) out = "\xEF\xBF\xBD";  // an unfinished character
  pending_.clear();
  return out;
}

}  // namespace kvfuse::tokenizer
