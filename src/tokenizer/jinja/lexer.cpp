#include "tokenizer/jinja/lexer.h"

#include <cctype>

namespace kvfuse::tokenizer::jinja {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

// Line numbers of increasing positions, in one pass over the source (counting from the
// start for every tag would be quadratic in the template's size).
class LineCounter {
 public:
  explicit LineCounter(const std::string& s) : s_(s) {}
  int At(size_t pos) {
    if (pos < pos_) pos_ = 0, line_ = 1;
    for (; pos_ < pos && pos_ < s_.size(); ++pos_) line_ += s_[pos_] == '\n';
    return line_;
  }

 private:
  const std::string& s_;
  size_t pos_ = 0;
  int line_ = 1;
};

void StripTrailingWhitespace(std::string& s) {
  while (!s.empty() && IsSpace(s.back())) s.pop_back();
}

// The next "{{", "{%" or "{#" at or after pos, or npos.
// Where a tag's body ends: its closing delimiter outside string literals and outside the
// brackets the body opened, as jinja2's lexer reads it ({{ {'a': {'b': 1}} }} and
// {{ '}}' }} are one expression each). A comment ends at its first delimiter.
size_t FindClose(const std::string& src, size_t from, const std::string& close) {
  if (close == "#}") return src.find(close, from);
  int depth = 0;
  for (size_t i = from; i < src.size(); ++i) {
    const char c = src[i];
    if (c == '\'' || c == '"') {
      for (++i; i < src.size() && src[i] != c; ++i)
        if (src[i] == '\\') ++i;
      if (i >= src.size()) return std::string::npos;
      continue;
    }
    if (depth == 0 && src.compare(i, close.size(), close) == 0) return i;
    if (c == '(' || c == '[' || c == '{') ++depth;
    else if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
  }
  return std::string::npos;
}

size_t FindTag(const std::string& src, size_t pos) {
  for (size_t p = src.find('{', pos); p != std::string::npos; p = src.find('{', p + 1))
    if (p + 1 < src.size() && (src[p + 1] == '{' || src[p + 1] == '%' || src[p + 1] == '#')) return p;
  return std::string::npos;
}

// Whitespace control of the text before a tag at `tag` ('{' of "{{", "{%" or "{#").
void TrimBeforeTag(const std::string& src, size_t pos, size_t tag, std::string& text) {
  const char kind = src[tag + 1];
  const char marker = tag + 2 < src.size() ? src[tag + 2] : '\0';
  if (marker == '-') {
    StripTrailingWhitespace(text);
  } else if (kind != '{' && marker != '+') {
    // lstrip_blocks: blanks between the start of a line and a block tag go.
    size_t j = tag;
    while (j > pos && (src[j - 1] == ' ' || src[j - 1] == '\t')) --j;
    if (j == 0 || src[j - 1] == '\n') text.erase(text.size() - std::min(text.size(), tag - j));
  }
}

}  // namespace

Result<std::vector<Segment>> SplitTemplate(const std::string& template_text, const Limits& limits) {
  // As jinja2 without keep_trailing_newline (Hugging Face's setting): one final line break
  // of the template is not part of its output.
  const size_t cut = template_text.ends_with("\r\n") ? 2
                     : template_text.ends_with('\n') || template_text.ends_with('\r') ? 1 : 0;
  const std::string src = template_text.substr(0, template_text.size() - cut);
  if (src.size() > limits.max_template_bytes)
    return Status::Error(StrFormat("the template has %zu bytes, more than the limit of %zu (max_template_bytes)",
                                   src.size(), limits.max_template_bytes));
  std::vector<Segment> out;
  LineCounter lines(src);
  bool strip_next = false;  // a "-" marker applies to the following text
  bool trim_newline = false;  // trim_blocks: the newline after a block tag goes
  size_t pos = 0;
  while (pos < src.size()) {
    const size_t tag = FindTag(src, pos);
    std::string text = src.substr(pos, tag == std::string::npos ? std::string::npos : tag - pos);
    if (strip_next) {
      size_t i = 0;
      while (i < text.size() && IsSpace(text[i])) ++i;
      text.erase(0, i);
    } else if (trim_newline && !text.empty() && text[0] == '\n') {
      text.erase(0, 1);
    }
    strip_next = trim_newline = false;
    if (tag != std::string::npos) TrimBeforeTag(src, pos, tag, text);
    if (!text.empty()) out.push_back({Segment::Kind::kText, text, lines.At(pos)});
    if (tag == std::string::npos) break;

    const char kind = src[tag + 1];
    const bool marker = tag + 2 < src.size() && (src[tag + 2] == '-' || src[tag + 2] == '+');
    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    const size_t body_begin = tag + 2 + (marker ? 1 : 0);
    const size_t end = FindClose(src, body_begin, close);
    if (end == std::string::npos) return Status::Error(StrFormat("line %d: unclosed '{%c'", lines.At(tag), kind));
    std::string body = src.substr(body_begin, end - body_begin);
    if (!body.empty() && body.back() == '-') {
      strip_next = true;
      body.pop_back();
    } else if (!body.empty() && body.back() == '+') {
      body.pop_back();
    } else if (kind != '{') {
      trim_newline = true;
    }
    if (kind == '{') out.push_back({Segment::Kind::kOutput, body, lines.At(tag)});
    else if (kind == '%') out.push_back({Segment::Kind::kStatement, body, lines.At(tag)});
    pos = end + 2;
  }
  return out;
}

namespace {

// A string literal from s[*i] (its quote); on success *i is past the closing quote.
Result<std::string> LexString(const std::string& s, size_t* i, int* line) {
  const char quote = s[*i];
  std::string text;
  size_t j = *i + 1;
  for (; j < s.size() && s[j] != quote; ++j) {
    if (s[j] == '\\' && j + 1 < s.size()) {
      const char e = s[++j];
      switch (e) {
        case 'n': text += '\n'; break;
        case 't': text += '\t'; break;
        case 'r': text += '\r'; break;
        case '\\': text += '\\'; break;
        case '\'': text += '\''; break;
        case '"': text += '"'; break;
        default: text += '\\'; text += e;
      }
    } else {
      *line += s[j] == '\n';
      text += s[j];
    }
  }
  if (j >= s.size()) return Status::Error(StrFormat("line %d: unterminated string", *line));
  *i = j + 1;
  return text;
}

// A number from s[*i] (a digit): the kind (kInt or kFloat) and its text.
Token LexNumber(const std::string& s, size_t* i, int line) {
  auto digit = [&](size_t k) { return k < s.size() && std::isdigit(static_cast<unsigned char>(s[k])); };
  size_t j = *i;
  while (digit(j)) ++j;
  bool is_float = false;
  if (j < s.size() && s[j] == '.' && digit(j + 1)) {
    is_float = true;
    ++j;
    while (digit(j)) ++j;
  }
  Token t{is_float ? Token::Kind::kFloat : Token::Kind::kInt, s.substr(*i, j - *i), line};
  *i = j;
  return t;
}

}  // namespace

Result<std::vector<Token>> LexExpression(const std::string& s, int line) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (IsSpace(c)) {
      line += c == '\n';
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      tokens.push_back({Token::Kind::kName, s.substr(i, j - i), line});
      i = j;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      tokens.push_back(LexNumber(s, &i, line));
    } else if (c == '\'' || c == '"') {
      auto text = LexString(s, &i, &line);
      if (!text.ok()) return text.status();
      tokens.push_back({Token::Kind::kString, std::move(text).value(), line});
    } else {
      static const char* kTwo[] = {"==", "!=", "<=", ">=", "//", "**"};
      std::string op(1, c);
      for (const char* two : kTwo)
        if (s.compare(i, 2, two) == 0) op = two;
      if (op.size() == 1 && std::string("+-*/%~<>()[]{}.,:|=").find(c) == std::string::npos)
        return Status::Error(StrFormat("line %d: unexpected character '%c'", line, c));
      tokens.push_back({Token::Kind::kOp, op, line});
      i += op.size();
    }
  }
  tokens.push_back({Token::Kind::kEnd, "", line});
  return tokens;
}

}  // namespace kvfuse::tokenizer::jinja
