// PDF through poppler's C++ API: the text of each page in reading order; blank lines and
// page ends separate paragraphs, lines within a paragraph are joined.
#include <memory>
#include <vector>

#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include "rag/document.h"

namespace kvfuse::rag {

util::Result<Document> ParsePdf(std::string_view bytes) {
  // poppler reports damage on stderr; we report it as an error value instead.
  poppler::set_debug_error_function([](const std::string&, void*) {}, nullptr);
  if (bytes.substr(0, 5) != "%PDF-") return util::Status::Error("not a PDF file (no %PDF- header)");
  std::vector<char> data(bytes.begin(), bytes.end());
  std::unique_ptr<poppler::document> pdf(poppler::document::load_from_data(&data));
  if (!pdf) return util::Status::Error("the PDF could not be parsed (damaged or unsupported)");
  if (pdf->is_locked()) return util::Status::Error("the PDF is encrypted");
  std::string text;
  for (int i = 0; i < pdf->pages(); ++i) {
    std::unique_ptr<poppler::page> page(pdf->create_page(i));
    if (!page) continue;
    const poppler::byte_array utf8 = page->text().to_utf8();
    text.append(utf8.begin(), utf8.end());
    text += "\n\n";
  }
  Document doc = ParsePlainText(text);
  const poppler::ustring title = pdf->info_key("Title");
  if (!title.empty()) {
    const poppler::byte_array utf8 = title.to_utf8();
    doc.title.assign(utf8.begin(), utf8.end());
  }
  return doc;
}

}  // namespace kvfuse::rag
