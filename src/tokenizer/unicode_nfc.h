// Unicode normalization form C of UTF-8 text, as Hugging Face's NFC normalizer applies it.
// Threading: any thread.
#pragma once

#include <string>
#include <string_view>

namespace kvfuse::tokenizer {

// `text` in NFC. Bytes that are not well-formed UTF-8 are kept as they are, in place: only
// the valid runs between them are normalized (a tokenizer must not turn them into U+FFFD).
std::string ToNfc(std::string_view text);

}  // namespace kvfuse::tokenizer
