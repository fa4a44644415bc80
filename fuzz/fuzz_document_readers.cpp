// A file handed to ingest: the first byte picks the plain-text, Markdown or HTML reader.
// (PDF is read by poppler, which is fuzzed upstream.)
#include <cstdint>
#include <string_view>

#include "rag/document.h"

using namespace kvfuse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (data[0] % 3) {
    case 0: (void)rag::ParsePlainText(text); break;
    case 1: (void)rag::ParseMarkdown(text); break;
    default: (void)rag::ParseHtml(text); break;
  }
  return 0;
}
