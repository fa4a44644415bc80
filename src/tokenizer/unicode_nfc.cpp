#include "tokenizer/unicode_nfc.h"

#include <algorithm>

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include "tokenizer/utf8.h"

namespace kvfuse::tokenizer {

namespace {

void AppendNfc(std::string_view run, std::string* out) {
  if (std::all_of(run.begin(), run.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    out->append(run);  // ASCII is in NFC
    return;
  }
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  const icu::UnicodeString input = icu::UnicodeString::fromUTF8(icu::StringPiece(run.data(), static_cast<int32_t>(run.size())));
  if (U_SUCCESS(status) && nfc->isNormalized(input, status) && U_SUCCESS(status)) {
    out->append(run);
    return;
  }
  status = U_ZERO_ERROR;
  const icu::UnicodeString normalized = nfc->normalize(input, status);
  if (U_FAILURE(status)) {
    out->append(run);  // ICU without its data: leave the text as it is
    return;
  }
  normalized.toUTF8String(*out);
}

}  // namespace

std::string ToNfc(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t run = 0;
  for (size_t i = 0; i < text.size();) {
    if (const size_t len = ValidUtf8At(text, i); len > 0) {
      i += len;
      continue;
    }
    AppendNfc(text.substr(run, i - run), &out);
    out += text[i];
    run = ++i;
  }
  AppendNfc(text.substr(run), &out);
  return out;
}

}  // namespace kvfuse::tokenizer
