#include "tokenizer/jinja/lexer.h"

#include <cctype>

namespace kvfuse::tokenizer::jinja {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

int LineAt(const std::string& s, size_t pos) {
  int line = 1;
  for (size_t i = 0; i < pos && i < s.size(); ++i) line += s[i] == '\n';
  return line;
}

void StripTrailingWhitespace(std::string& s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
}

}  // namespace

Result<std::vector<Segment>> SplitTemplate(const std::string& src) {
  std::vector<Segment> out;
  bool strip_next = false;  // a "-" marker or trim_blocks applies to the following text
  bool trim_newline = false;
  size_t pos = 0;
  while (pos < src.size()) {
    const size_t open = src.find('{', pos);
    size_t tag = std::string::npos;
    for (size_t p = open; p != std::string::npos; p = src.find('{', p + 1)) {
      if (p + 1 < src.size() && (src[p + 1] == '{' || src[p + 1] == '%' || src[p + 1] == '#')) {
        tag = p;
        break;
      }
    }
    std::string text = src.substr(pos, tag == std::string::npos ? std::string::npos : tag - pos);
    if (strip_next) {
      size_t i = 0;
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      text.erase(0, i);
    } else if (trim_newline && !text.empty() && text[0] == '\n') {
      text.erase(0, 1);
    }
    strip_next = trim_newline = false;
    if (tag == std::string::npos) {
      if (!text.empty()) out.push_back({Segment::Kind::kText, text, LineAt(src, pos)});
      break;
    }
    const char kind = src[tag + 1];
    const bool strip_before = tag + 2 < src.size() && src[tag + 2] == '-';
    const bool keep_before = tag + 2 < src.size() && src[tag + 2] == '+';
    if (strip_before) {
      StripTrailingWhitespace(text);
    } else if (kind != '{' && !keep_before) {
      // lstrip_blocks: blanks between the start of a line and a block tag go.
      size_t j = tag;
      while (j > pos && (src[j - 1] == ' ' || src[j - 1] == '\t')) --j;
      if (j == 0 || src[j - 1] == '\n') text.erase(text.size() - std::min(text.size(), tag - j));
    }
    if (!text.empty()) out.push_back({Segment::Kind::kText, text, LineAt(src, pos)});

    const std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    const size_t body_begin = tag + 2 + (strip_before || keep_before ? 1 : 0);
    const size_t end = src.find(close, body_begin);
    if (end == std::string::npos)
      return Status::Error(StrFormat("line %d: unclosed '{%c'", LineAt(src, tag), kind));
    std::string body = src.substr(body_begin, end - body_begin);
    bool strip_after = false;
    if (!body.empty() && body.back() == '-') {
      strip_after = true;
      body.pop_back();
    } else if (!body.empty() && body.back() == '+') {
      body.pop_back();
    } else if (kind != '{') {
      trim_newline = true;  // trim_blocks
    }
    strip_next = strip_after;
    if (kind == '{') out.push_back({Segment::Kind::kOutput, body, LineAt(src, tag)});
    else if (kind == '%') out.push_back({Segment::Kind::kStatement, body, LineAt(src, tag)});
    pos = end + 2;
  }
  return out;
}

Result<std::vector<Token>> LexExpression(const std::string& s, int line) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      line += c == '\n';
      ++i;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      tokens.push_back({Token::Kind::kName, s.substr(i, j - i), line});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      bool is_float = false;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        is_float = true;
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      tokens.push_back({is_float ? Token::Kind::kFloat : Token::Kind::kInt, s.substr(i, j - i), line});
      i = j;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::string text;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
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
          line += s[j] == '\n';
          text += s[j];
        }
      }
      if (j >= s.size()) return Status::Error(StrFormat("line %d: unterminated string", line));
      tokens.push_back({Token::Kind::kString, text, line});
      i = j + 1;
      continue;
    }
    static const char* kTwo[] = {"==", "!=", "<=", ">=", "//", "**"};
    bool matched = false;
    for (const char* op : kTwo) {
      if (s.compare(i, 2, op) == 0) {
        tokens.push_back({Token::Kind::kOp, op, line});
        i += 2;
        matched = true;
        break;
      }
    }
    if (matched) continue;
    if (std::string("+-*/%~<>()[]{}.,:|=").find(c) == std::string::npos)
      return Status::Error(StrFormat("line %d: unexpected character '%c'", line, c));
    tokens.push_back({Token::Kind::kOp, std::string(1, c), line});
    ++i;
  }
  tokens.push_back({Token::Kind::kEnd, "", line});
  return tokens;
}

}  // namespace kvfuse::tokenizer::jinja
