// The files of a collection's directory, read and written for rag::Collection:
//   collection.json  the manifest, one JSON object
//                      {"format":"kvfuse-collection","version":2,"body":{...},"checksum":"<16 hex>"}
//                    whose checksum (util::Hash64) covers the exact bytes of "body" as written
//                    (model fingerprint, embedding layer, next chunk id, the checksum of
//                    vectors.bin, files, chunks), so any damage or hand edit is detected
//   vectors.bin      magic, dim, count, checksum, then (chunk id, float[dim]) per chunk
// Both are written atomically (util/atomic_file). Reading tells apart what the caller
// must treat differently; the error says what is wrong and names the file.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rag/collection.h"
#include "util/status.h"

namespace kvfuse::rag {

enum class StoredFileState {
  kOk,
  kMissing,
  kDamaged,   // unparsable, checksum mismatch, inconsistent contents
  kOutdated,  // an older format version, which is not read
  kUnusable,  // unreadable, a newer format version, or not a kvfuse collection file
};

struct ManifestHeader {
  uint64_t model_fingerprint = 0;
  int32_t embed_layer = 0;
  int32_t next_id = 0;
  uint64_t vectors_checksum = 0;  // of the vectors.bin saved with it
};

struct ManifestRead {
  StoredFileState state = StoredFileState::kMissing;
  util::Status error;  // unless kOk or kMissing
  ManifestHeader header;
  std::vector<CollectionFile> files;
  std::vector<CollectionChunk> chunks;  // ids unique and below header.next_id
};

inline constexpr int kManifestVersion = 2;

ManifestRead ReadManifest(const std::string& path);
// Writes the body piece by piece (no second copy of the chunk texts in memory).
util::Status WriteManifest(const std::string& path, const ManifestHeader& header,
                           const std::vector<CollectionFile>& files, const std::vector<CollectionChunk>& chunks);

struct VectorsRead {
  StoredFileState state = StoredFileState::kMissing;
  util::Status error;  // unless kOk or kMissing
  int32_t dim = 0;
  uint64_t checksum = 0;  // the file's, as its header gives it
  std::unordered_map<int32_t, std::vector<float>> vectors;  // of the chunk ids asked for
};

// Keeps the vectors of the chunk ids for which wanted(id) holds.
VectorsRead ReadVectors(const std::string& path, const std::function<bool(int32_t)>& wanted);
// The vectors of `chunks` (in their order) that have dim floats; returns the file's checksum.
util::Result<uint64_t> WriteVectors(const std::string& path, int32_t dim, const std::vector<CollectionChunk>& chunks,
                          const std::unordered_map<int32_t, std::vector<float>>& vectors);

}  // namespace kvfuse::rag
