// A source document as the retrieval pipeline sees it: a title and paragraphs, each under
// the heading of its section. Readers for plain text, Markdown, HTML and PDF turn files
// into Documents; the chunker turns Documents into chunks.
#pragma once

#include <cstdint>
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

struct ReadOptions {
  // Larger documents are refused before they are read: ingest holds a file and its
  // Document, then the Document and its chunks, in memory (two to three times the file).
  uint64_t max_file_bytes = uint64_t{64} << 20;
};

// A file's bytes, or an error naming the path and what went wrong.
util::Result<std::string> ReadFileBytes(const std::string& path);
// Likewise for a document: a file over options.max_file_bytes is an error naming the limit.
util::Result<std::string> ReadDocumentBytes(const std::string& path, const ReadOptions& options);
// The reader chosen by the path's extension, on content already read. Text, Markdown and
// HTML content that is not text (CheckLooksLikeText) is an error.
util::Result<Document> ParseDocument(const std::string& path, std::string_view content);
// Reads a file, choosing the reader by extension (.txt .text .md .markdown .html .htm .pdf).
util::Result<Document> ReadDocument(const std::string& path, const ReadOptions& options = {});
// Whether ReadDocument has a reader for the file's extension.
bool IsSupportedDocument(const std::string& path);

}  // namespace kvfuse::rag
