// HTML to paragraphs with a forgiving tag scanner (no DOM): block-level tags end
// paragraphs, <h1>-<h6> start sections, <script>/<style>/<head> content and comments are
// dropped, character references are decoded.
#include <cstdint>
#include <string>

#include "rag/document.h"
#include "rag/text_util.h"

namespace kvfuse::rag {
namespace {

bool IsBlockTag(std::string_view name) {
  static constexpr std::string_view kBlocks[] = {
      "p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "table", "section", "article", "header", "footer",
      "nav", "aside", "main", "blockquote", "pre", "hr", "dd", "dt", "dl", "figure", "figcaption", "body", "html"};
  for (std::string_view b : kBlocks)
    if (name == b) return true;
  return false;
}

void AppendUtf8(std::string& out, uint32_t cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes the reference at html[i] ('&'); returns the characters consumed (0: not one).
size_t DecodeReference(std::string_view html, size_t i, std::string& out) {
  const size_t semi = html.find(';', i);
  if (semi == std::string_view::npos || semi - i > 10) return 0;
  const std::string_view name = html.substr(i + 1, semi - i - 1);
  if (!name.empty() && name[0] == '#') {
    uint32_t cp = 0;
    const bool hex = name.size() > 1 && (name[1] == 'x' || name[1] == 'X');
    const std::string_view digits = name.substr(hex ? 2 : 1);
    if (digits.empty()) return 0;
    for (char c : digits) {
      int d = c >= '0' && c <= '9' ? c - '0' : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
                                              : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) return 0;
      cp = cp * (hex ? 16 : 10) + d;
      if (cp > 0x10FFFF) cp = 0x110000;
    }
    AppendUtf8(out, cp);
    return semi - i + 1;
  }
  static constexpr std::pair<std::string_view, uint32_t> kNamed[] = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", ' '},
      {"mdash", 0x2014}, {"ndash", 0x2013}, {"hellip", 0x2026}, {"copy", 0xA9}, {"rsquo", 0x2019},
      {"lsquo", 0x2018}, {"rdquo", 0x201D}, {"ldquo", 0x201C}};
  for (const auto& [n, cp] : kNamed)
    if (name == n) {
      AppendUtf8(out, cp);
      return semi - i + 1;
    }
  return 0;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace

Document ParseHtml(std::string_view raw) {
  std::string repaired;
  const std::string_view h = AsValidUtf8(raw, repaired);
  Document doc;
  std::string text, heading, title;
  enum class Into { kBody, kHeading, kTitle } into = Into::kBody;
  auto flush = [&] {
    std::string p = CollapseWhitespace(text);
    if (!p.empty()) doc.paragraphs.push_back({heading, std::move(p)});
    text.clear();
  };
  size_t i = 0;
  while (i < h.size()) {
    const char c = h[i];
    if (c == '<') {
      if (h.substr(i, 4) == "<!--") {
        const size_t end = h.find("-->", i + 4);
        i = end == std::string_view::npos ? h.size() : end + 3;
        continue;
      }
      const size_t close = h.find('>', i);
      if (close == std::string_view::npos) break;  // a cut-off tag ends the text
      std::string_view tag = h.substr(i + 1, close - i - 1);
      i = close + 1;
      const bool end_tag = !tag.empty() && tag[0] == '/';
      if (end_tag) tag.remove_prefix(1);
      size_t n = 0;
      while (n < tag.size() && tag[n] != ' ' && tag[n] != '/' && tag[n] != '\t' && tag[n] != '\n') ++n;
      const std::string name = Lower(tag.substr(0, n));
      if (!end_tag && (name == "script" || name == "style" || name == "head" || name == "noscript")) {
        if (name == "head") continue;  // <title> inside head is still read
        const size_t end = Lower(h.substr(i)).find("</" + name);
        i = end == std::string::npos ? h.size() : i + end;
        continue;
      }
      const bool is_heading = name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6';
      if (name == "title") {
        if (end_tag) {
          if (doc.title.empty()) doc.title = CollapseWhitespace(title);
          into = Into::kBody;
        } else {
          into = Into::kTitle;
        }
      } else if (is_heading) {
        flush();
        if (end_tag) {
          into = Into::kBody;
          heading = CollapseWhitespace(heading);
          if (doc.title.empty()) doc.title = heading;
        } else {
          heading.clear();
          into = Into::kHeading;
        }
      } else if (IsBlockTag(name)) {
        if (into == Into::kBody) flush();
      }
      continue;
    }
    std::string& sink = into == Into::kHeading ? heading : into == Into::kTitle ? title : text;
    if (c == '&') {
      const size_t used = DecodeReference(h, i, sink);
      if (used > 0) {
        i += used;
        continue;
      }
    }
    sink.push_back(c);
    ++i;
  }
  flush();
  return doc;
}

}  // namespace kvfuse::rag
