#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "rag/document.h"

namespace kvfuse::rag {
namespace {

enum class Format { kUnknown, kText, kMarkdown, kHtml, kPdf };

Format FormatOf(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (ext == ".txt" || ext == ".text") return Format::kText;
  if (ext == ".md" || ext == ".markdown") return Format::kMarkdown;
  if (ext == ".html" || ext == ".htm") return Format::kHtml;
  if (ext == ".pdf") return Format::kPdf;
  return Format::kUnknown;
}

}  // namespace

bool IsSupportedDocument(const std::string& path) { return FormatOf(path) != Format::kUnknown; }

util::Result<std::string> ReadFileBytes(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return util::Status::Error(path + (std::filesystem::exists(path, ec) ? ": not a regular file" : ": no such file"));
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::Status::Error(path + ": cannot be read (permission denied?)");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) return util::Status::Error(path + ": read error");
  return bytes.str();
}

util::Result<Document> ParseDocument(const std::string& path, std::string_view content) {
  const Format format = FormatOf(path);
  if (format == Format::kUnknown)
    return util::Status::Error(path + ": unsupported file type (supported: .txt .md .html .htm .pdf)");
  Document doc;
  switch (format) {
    case Format::kText: doc = ParsePlainText(content); break;
    case Format::kMarkdown: doc = ParseMarkdown(content); break;
    case Format::kHtml: doc = ParseHtml(content); break;
    case Format::kPdf: {
      auto pdf = ParsePdf(content);
      if (!pdf.ok()) return util::Status::Error(path + ": " + pdf.status().message());
      doc = std::move(pdf.value());
      break;
    }
    case Format::kUnknown: break;
  }
  doc.path = path;
  if (doc.title.empty()) doc.title = std::filesystem::path(path).stem().string();
  return doc;
}

util::Result<Document> ReadDocument(const std::string& path) {
  if (!IsSupportedDocument(path))
    return util::Status::Error(path + ": unsupported file type (supported: .txt .md .html .htm .pdf)");
  auto content = ReadFileBytes(path);
  if (!content.ok()) return content.status();
  return ParseDocument(path, content.value());
}

}  // namespace kvfuse::rag
