// A collection.json that may be damaged or forged. The first byte picks the mode: 0, the
// input is the whole file; otherwise the input is the manifest's body, written with a
// correct checksum, so that the fuzzer reaches the body's parser and consistency checks
// instead of stopping at the checksum.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "rag/collection_files.h"
#include "temp_dir.h"
#include "util/hash.h"

using namespace kvfuse;

namespace {
const std::string& Path() {
  static const std::string path = fuzz::TempDir("manifest") + "/collection.json";
  return path;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string input(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string file = input;
  if (data[0] != 0) {
    char checksum[17];
    std::snprintf(checksum, sizeof checksum, "%016llx",
                  static_cast<unsigned long long>(util::Hash64(input.data(), input.size())));
    file = "{\"format\":\"kvfuse-collection\",\"version\":" + std::to_string(rag::kManifestVersion) + ",\"body\":" +
           input + ",\"checksum\":\"" + checksum + "\"}\n";
  }
  std::ofstream(Path(), std::ios::binary | std::ios::trunc).write(file.data(), static_cast<std::streamsize>(file.size()));
  const rag::ManifestRead read = rag::ReadManifest(Path());
  // A manifest read as good holds what Collection relies on: unique ids below next_id.
  if (read.state == rag::StoredFileState::kOk)
    for (const rag::CollectionChunk& c : read.chunks)
      if (c.id < 0 || c.id >= read.header.next_id) std::abort();
  return 0;
}
