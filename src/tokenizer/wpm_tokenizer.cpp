#include "tokenizer/wpm_tokenizer.h"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

namespace kvfuse::tokenizer {

namespace {

const std::string kWordStart = "\xE2\x96\x81";  // U+2581
constexpr size_t kMaxWordChars = 100;

bool IsChinese(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool IsPunctuation(UChar32 c) {
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) return true;
  return u_ispunct(c);
}

bool IsWhitespace(UChar32 c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || u_charType(c) == U_SPACE_SEPARATOR;
}

bool IsControl(UChar32 c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  const int8_t type = u_charType(c);
  return type == U_CONTROL_CHAR || type == U_FORMAT_CHAR;
}

void AppendUtf8(UChar32 c, std::string& s) {
  icu::UnicodeString(c).toUTF8String(s);
}

}  // namespace

util::Result<WpmTokenizer> WpmTokenizer::Create(Vocab vocab) {
  if (vocab.model != "bert") return util::Status::Error("not a WordPiece vocabulary (tokenizer.ggml.model = '" + vocab.model + "')");
  if (vocab.unk_id < 0) return util::Status::Error("WordPiece vocabulary without an unknown token");
  return WpmTokenizer(std::move(vocab));
}

WpmTokenizer::WpmTokenizer(Vocab vocab) : vocab_(std::move(vocab)) { IndexSpecialTokens(); }

std::string WpmTokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= vocab_.n_tokens() || vocab_.types[id] == TokenType::kControl) return "";
  const std::string& t = vocab_.tokens[id];
  return t.rfind(kWordStart, 0) == 0 ? " " + t.substr(kWordStart.size()) : t;
}

void WpmTokenizer::EncodeFragment(std::string_view text, std::vector<int32_t>& out) const {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfd = icu::Normalizer2::getNFDInstance(status);
  icu::UnicodeString input = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  input.toLower(icu::Locale::getRoot());
  const icu::UnicodeString normalized = U_SUCCESS(status) ? nfd->normalize(input, status) : input;

  std::string word;
  size_t word_chars = 0;
  auto flush = [&] {
    if (!word.empty()) EncodeWord(word, word_chars, out);
    word.clear();
    word_chars = 0;
  };
  for (int32_t i = 0; i < normalized.length(); i = normalized.moveIndex32(i, 1)) {
    const UChar32 c = normalized.char32At(i);
    if (c == 0 || c == 0xFFFD || IsControl(c) || u_charType(c) == U_NON_SPACING_MARK) continue;
    if (IsWhitespace(c)) {
      flush();
    } else if (IsPunctuation(c) || IsChinese(c)) {
      flush();
      AppendUtf8(c, word);
      word_chars = 1;
      flush();
    } else {
      AppendUtf8(c, word);
      ++word_chars;
    }
  }
  flush();
}

void WpmTokenizer::EncodeWord(const std::string& word, size_t n_chars, std::vector<int32_t>& out) const {
  if (n_chars > kMaxWordChars) {
    out.push_back(vocab_.unk_id);
    return;
  }
  std::vector<int32_t> pieces;
  for (size_t start = 0; start < word.size();) {
    int32_t found = -1;
    size_t end = word.size();
    for (; end > start; --end) {
      if (end < word.size() && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) continue;  // mid-character
      const std::string piece = (start == 0 ? kWordStart : "") + word.substr(start, end - start);
      if ((found = vocab_.Find(piece)) >= 0) break;
    }
    if (found < 0) {
      out.push_back(vocab_.unk_id);
      return;
    }
    pieces.push_back(found);
    start = end;
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

}  // namespace kvfuse::tokenizer
