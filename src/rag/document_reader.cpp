#include <filesystem>
#include <fstream>
#include <limits>
#include <system_error>

#include "rag/document.h"
#include "rag/text_util.h"

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

// "200.0 MiB", "64 MiB", "1500 bytes".
std::string SizeText(uint64_t bytes) {
  constexpr uint64_t kMiB = uint64_t{1} << 20;
  if (bytes < kMiB) return std::to_string(bytes) + " bytes";
  if (bytes % kMiB == 0) return std::to_string(bytes / kMiB) + " MiB";
  return util::StrFormat("%.1f MiB", static_cast<double>(bytes) / kMiB);
}

}  // namespace

bool IsSupportedDocument(const std::string& path) { return FormatOf(path) != Format::kUnknown; }

util::Result<std::string> ReadFileBytes(const std::string& path) {
  return ReadDocumentBytes(path, ReadOptions{std::numeric_limits<uint64_t>::max()});
}

util::Result<std::string> ReadDocumentBytes(const std::string& path, const ReadOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    return util::Status::Error(path + (std::filesystem::exists(path, ec) ? ": not a regular file" : ": no such file"));
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return util::Status::Error(path + ": " + ec.message());
  if (size > options.max_file_bytes)
    return util::Status::Error(util::StrFormat(
        "%s: %s, over the %s limit for one document; skipped (kvfuse ingest --max-file-mb raises it)",
        path.c_str(), SizeText(size).c_str(), SizeText(options.max_file_bytes).c_str()));
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::Status::Error(path + ": cannot be read (permission denied?)");
  // Read in place: no stream buffer to copy from.
  std::string bytes(size, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(size));
  if (in.bad() || static_cast<uint64_t>(in.gcount()) != size)
    return util::Status::Error(path + ": read error (did it shrink while being read?)");
  return bytes;
}

util::Result<Document> ParseDocument(const std::string& path, std::string_view content) {
  const Format format = FormatOf(path);
  if (format == Format::kUnknown)
    return util::Status::Error(path + ": unsupported file type (supported: .txt .md .html .htm .pdf)");
  if (format != Format::kPdf)
    if (const util::Status st = CheckLooksLikeText(content); !st.ok())
      return util::Status::Error(path + ": " + st.message() + "; skipped");
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

util::Result<Document> ReadDocument(const std::string& path, const ReadOptions& options) {
  if (!IsSupportedDocument(path))
    return util::Status::Error(path + ": unsupported file type (supported: .txt .md .html .htm .pdf)");
  auto content = ReadDocumentBytes(path, options);
  if (!content.ok()) return content.status();
  return ParseDocument(path, content.value());
}

}  // namespace kvfuse::rag
