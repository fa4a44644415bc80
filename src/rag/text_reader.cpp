// Plain text and Markdown: paragraphs are separated by blank lines; Markdown headings
// start sections and are not paragraph text; inline markup is reduced to its text.
#include <string>

#include "rag/document.h"
#include "rag/text_util.h"

namespace kvfuse::rag {
namespace {

// "# Title" -> level 1, "Title"; not a heading -> 0.
int HeadingLevel(std::string_view line, std::string& text) {
  size_t level = 0;
  while (level < line.size() && line[level] == '#') ++level;
  if (level == 0 || level > 6 || level >= line.size() || line[level] != ' ') return 0;
  text = CollapseWhitespace(line.substr(level + 1));
  while (!text.empty() && text.back() == '#') text.pop_back();  // closing hashes
  text = CollapseWhitespace(text);
  return static_cast<int>(level);
}

// Links and images keep their text, emphasis and code marks go, list and quote markers go.
std::string StripInlineMarkdown(std::string_view line) {
  size_t start = 0;
  while (start < line.size() && (line[start] == ' ' || line[start] == '>')) ++start;
  if (start + 1 < line.size() && (line[start] == '-' || line[start] == '*' || line[start] == '+') &&
      line[start + 1] == ' ')
    start += 2;
  std::string out;
  for (size_t i = start; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '!' && i + 1 < line.size() && line[i + 1] == '[') continue;
    if (c == '[') {
      const size_t close = line.find(']', i);
      if (close != std::string_view::npos && close + 1 < line.size() && line[close + 1] == '(') {
        const size_t paren = line.find(')', close);
        if (paren != std::string_view::npos) {
          out.append(line.substr(i + 1, close - i - 1));
          i = paren;
          continue;
        }
      }
    }
    if (c == '`' || c == '*' || (c == '_' && i + 1 < line.size() && line[i + 1] == '_')) {
      if (c == '_') ++i;
      continue;
    }
    out.push_back(c);
  }
  return out;
}

Document Parse(std::string_view raw, bool markdown) {
  std::string repaired;
  const std::string_view text = AsValidUtf8(raw, repaired);
  Document doc;
  std::string heading, paragraph;
  bool in_fence = false;
  auto flush = [&] {
    // An exact-size copy: the working buffer's spare capacity stays behind, for reuse.
    if (!paragraph.empty()) doc.paragraphs.push_back({heading, std::string(paragraph)});
    paragraph.clear();
  };
  size_t begin = 0;
  while (begin <= text.size()) {
    size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line(text.data() + begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    begin = end + 1;
    const bool blank = line.find_first_not_of(" \t") == std::string_view::npos;
    if (markdown && line.substr(0, 3) == "```") {
      flush();
      in_fence = !in_fence;
      continue;
    }
    std::string heading_text;
    if (markdown && !in_fence && HeadingLevel(line, heading_text) > 0) {
      flush();
      heading = heading_text;
      if (doc.title.empty()) doc.title = heading_text;
      continue;
    }
    if (blank) {
      flush();
      continue;
    }
    // Collapsed line by line: no uncollapsed copy of the paragraph is built.
    if (markdown && !in_fence) AppendCollapsedWhitespace(paragraph, StripInlineMarkdown(line));
    else AppendCollapsedWhitespace(paragraph, line);
  }
  flush();
  return doc;
}

}  // namespace

Document ParsePlainText(std::string_view text) { return Parse(text, false); }
Document ParseMarkdown(std::string_view text) { return Parse(text, true); }

}  // namespace kvfuse::rag
