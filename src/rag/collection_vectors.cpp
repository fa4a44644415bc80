// vectors.bin: see collection_files.h for the layout.
#include <algorithm>
#include <cstring>
#include <filesystem>

#include "rag/collection_files.h"
#include "rag/document.h"
#include "util/atomic_file.h"
#include "util/hash.h"

namespace kvfuse::rag {
namespace {

constexpr char kMagic[8] = {'K', 'V', 'F', 'V', 'E', 'C', '0', '1'};
constexpr size_t kHeader = 8 + 4 + 8 + 8;  // magic, dim, count, checksum

}  // namespace

VectorsRead ReadVectors(const std::string& path, const std::function<bool(int32_t)>& wanted) {
  VectorsRead r;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec) && !ec) return r;
  auto bytes = ReadFileBytes(path);
  if (!bytes.ok()) {
    r.state = StoredFileState::kUnusable;
    r.error = bytes.status();
    return r;
  }
  const std::string& b = bytes.value();
  int32_t dim = 0;
  uint64_t count = 0, checksum = 0;
  if (b.size() >= kHeader) {
    std::memcpy(&dim, b.data() + 8, 4);
    std::memcpy(&count, b.data() + 12, 8);
    std::memcpy(&checksum, b.data() + 20, 8);
  }
  const uint64_t row = 4 + static_cast<uint64_t>(std::max(dim, 0)) * 4;
  // dim 0 with no rows: a collection none of whose chunks could be embedded.
  if (b.size() < kHeader || std::memcmp(b.data(), kMagic, 8) != 0 || dim < 0 || dim > (1 << 16) ||
      (dim == 0 && count != 0) ||
      count > (b.size() - kHeader) / row || b.size() != kHeader + count * row ||
      util::Hash64(b.data() + kHeader, b.size() - kHeader) != checksum) {
    r.state = StoredFileState::kDamaged;
    r.error = util::Status::Error(path + " is damaged (checksum mismatch or bad header)");
    return r;
  }
  r.state = StoredFileState::kOk;
  r.dim = dim;
  r.checksum = checksum;
  for (uint64_t i = 0; i < count; ++i) {
    const char* p = b.data() + kHeader + i * row;
    int32_t id;
    std::memcpy(&id, p, 4);
    if (!wanted(id)) continue;
    std::vector<float> v(dim);
    std::memcpy(v.data(), p + 4, static_cast<size_t>(dim) * 4);
    r.vectors[id] = std::move(v);
  }
  return r;
}

util::Result<uint64_t> WriteVectors(const std::string& path, int32_t dim, const std::vector<CollectionChunk>& chunks,
                                    const std::unordered_map<int32_t, std::vector<float>>& vectors) {
  std::string payload;
  uint64_t count = 0;
  for (const CollectionChunk& c : chunks) {
    const auto v = vectors.find(c.id);
    if (v == vectors.end() || static_cast<int32_t>(v->second.size()) != dim) continue;
    payload.append(reinterpret_cast<const char*>(&c.id), 4);
    payload.append(reinterpret_cast<const char*>(v->second.data()), v->second.size() * 4);
    ++count;
  }
  const uint64_t checksum = util::Hash64(payload.data(), payload.size());
  auto file = util::AtomicFileWriter::Open(path);
  if (!file.ok()) return file.status();
  KVFUSE_RETURN_IF_ERROR(file->Append(kMagic, 8));
  KVFUSE_RETURN_IF_ERROR(file->Append(&dim, 4));
  KVFUSE_RETURN_IF_ERROR(file->Append(&count, 8));
  KVFUSE_RETURN_IF_ERROR(file->Append(&checksum, 8));
  KVFUSE_RETURN_IF_ERROR(file->Append(payload));
  KVFUSE_RETURN_IF_ERROR(file->Commit());
  return checksum;
}

}  // namespace kvfuse::rag
