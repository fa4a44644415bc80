// A source document as the retrieval pipeline sees it: a title and paragraphs, each under
// the heading of its section. Readers for plain text, Markdown, HTML and PDF turn files
// into Documents; the chunker turns Documents into chunks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace kvfuse::rag {

struct Paragraph {
  std::string heading;  // the innermost heading above it ("" before any)
  std::string text;     // one line of text, whitespace collapsed
};

struct Document {
  std::string path;
  std::string title;  // first heading, <title>, or the file name without extension
  std::vector<Paragraph> paragraphs;
};

// The readers, by content. Invalid UTF-8 becomes U+FFFD.
Document ParsePlainText(std::string_view text);
Document ParseMarkdown(std::string_view text);
Document ParseHtml(std::string_view html);
util::Result<Document> ParsePdf(std::string_view bytes);

// A file's bytes, or an error naming the path and what went wrong.
util::Result<std::string> ReadFileBytes(const std::string& path);
// The reader chosen by the path's extension, on content already read.
util::Result<Document> ParseDocument(const std::string& path, std::string_view content);
// Reads a file, choosing the reader by extension (.txt .text .md .markdown .html .htm .pdf).
util::Result<Document> ReadDocument(const std::string& path);
// Whether ReadDocument has a reader for the file's extension.
bool IsSupportedDocument(const std::string& path);

}  // namespace kvfuse::rag
