// A file handed to ingest: the first byte picks its extension (.txt, .md or .html), then the
// content goes through ParseDocument as ingest does (the text check, then the reader).
// (PDF is read by poppler, which is fuzzed upstream.)
#include <cstdint>
#include <string_view>

#include "rag/document.h"

using namespace kvfuse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const kPaths[] = {"fuzz.txt", "fuzz.md", "fuzz.html"};
  const std::string_view content(reinterpret_cast<const char*>(data + 1), size - 1);
  (void)rag::ParseDocument(kPaths[data[0] % 3], content);
  return 0;
}
