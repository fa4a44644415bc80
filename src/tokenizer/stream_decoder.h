// Turns a stream of token ids into text without ever emitting a broken UTF-8 sequence:
// bytes of a character split across tokens are held back until it is complete.
#pragma once

#include <string>
#include <string_view>

#include "tokenizer/tokenizer.h"

namespace kvfuse::tokenizer {

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer) : tokenizer_(tokenizer) {}

  // The text that became complete with this token (possibly empty), stray bytes as U+FFFD.
  std::string Push(int32_t id);
  // What is still held back at the end of the stream, invalid sequences as U+FFFD.
  std::string Flush();

 private:
  const Tokenizer& tokenizer_;
  std::string pending_;
};

// s with every byte that is not part of a well-formed UTF-8 sequence (see ValidUtf8At)
// replaced by U+FFFD.
std::string ReplaceInvalidUtf8(std::string_view s);

// Length of the longest prefix of s made of complete UTF-8 sequences, treating bytes
// that can never start or continue a valid sequence as complete (they are passed on).
size_t CompleteUtf8Prefix(const std::string& s);

}  // namespace kvfuse::tokenizer
