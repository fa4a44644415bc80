// Base64 (RFC 4648, standard alphabet, '=' padding) of bytes. Any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kvfuse::util {

std::string Base64Encode(std::string_view bytes);
// The bytes, or nullopt for text that is not padded base64 (whitespace is not skipped).
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace kvfuse::util
