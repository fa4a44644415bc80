#include "store/disk_tier.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "util/atomic_file.h"
#include "util/hash.h"

namespace kvfuse::store {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

constexpr char kMagic[8] = {'K', 'V', 'F', 'C', 'H', 'U', 'N', 'K'};
constexpr uint32_t kVersion = 2;

struct FileHeader {
  char magic[8];
  uint32_t version;
  uint32_t header_bytes;
  uint64_t key;
  uint64_t context_hash;
  uint32_t n_tokens;
  uint32_t n_layers;
  uint32_t row_bytes;
  uint32_t n_scores;
  uint32_t n_context;
  float cci;
  uint64_t payload_bytes;
  uint64_t payload_checksum;
  uint64_t header_checksum;  // of every field above
};
static_assert(sizeof(FileHeader) == 80);

uint64_t HeaderChecksum(const FileHeader& h) { return util::Hash64(&h, offsetof(FileHeader, header_checksum)); }

uint64_t PayloadChecksum(const ChunkRecord& r) {
  util::Hasher hasher;
  hasher.Add(r.tokens.data(), r.tokens.size() * sizeof(int32_t))
      .Add(r.k.data(), r.k.size())
      .Add(r.v.data(), r.v.size())
      .Add(r.token_scores.data(), r.token_scores.size() * sizeof(float))
      .Add(r.context_chunks.data(), r.context_chunks.size() * sizeof(uint64_t))
      .Add(r.context_weights.data(), r.context_weights.size() * sizeof(float));
  return hasher.Digest();
}

// Checks one file's contents; the caller removes a file that fails.
Result<ChunkRecord> Parse(const std::string& path, const std::string& bytes, uint64_t key,
                          const ChunkShape& shape) {
  FileHeader h;
  if (bytes.size() < sizeof(h)) return Status::Corrupt(StrFormat("%s: truncated header", path.c_str()));
  std::memcpy(&h, bytes.data(), sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0)
    return Status::Corrupt(StrFormat("%s: not a kvfuse chunk file", path.c_str()));
  if (h.header_checksum != HeaderChecksum(h))
    return Status::Corrupt(StrFormat("%s: header checksum mismatch", path.c_str()));
  if (h.version != kVersion || h.header_bytes != sizeof(h))
    return Status::Corrupt(StrFormat("%s: version %u, expected %u", path.c_str(), h.version, kVersion));
  if (h.key != key) return Status::Corrupt(StrFormat("%s: holds another chunk", path.c_str()));
  if (h.n_layers != shape.n_layers || h.row_bytes != shape.row_bytes)
    return Status::Corrupt(StrFormat("%s: KV shape %ux%u, expected %ux%u", path.c_str(), h.n_layers,
                                   h.row_bytes, shape.n_layers, shape.row_bytes));
  if (h.n_scores != 0 && h.n_scores != h.n_tokens)
    return Status::Corrupt(StrFormat("%s: %u token scores for %u tokens", path.c_str(), h.n_scores, h.n_tokens));
  const uint64_t kv_bytes = uint64_t{h.n_tokens} * h.n_layers * h.row_bytes;
  const uint64_t want = uint64_t{h.n_tokens} * 4 + 2 * kv_bytes + uint64_t{h.n_scores} * 4 + uint64_t{h.n_context} * 12;
  if (h.payload_bytes != want || bytes.size() - sizeof(h) != want)
    return Status::Corrupt(StrFormat("%s: payload is %zu bytes, expected %llu", path.c_str(),
                                   bytes.size() - sizeof(h), static_cast<unsigned long long>(want)));
  ChunkRecord r;
  r.key = h.key;
  r.context_hash = h.context_hash;
  std::vector<int32_t> tokens(h.n_tokens);
  const char* p = bytes.data() + sizeof(h);
  // The payload's fields in order; an empty one has a null data(), which memcpy must not see.
  auto take = [&p](void* dst, size_t n) {
    if (n) std::memcpy(dst, p, n);
    p += n;
  };
  take(tokens.data(), tokens.size() * 4);
  r.Resize(shape, std::move(tokens));
  take(r.k.data(), kv_bytes);
  take(r.v.data(), kv_bytes);
  r.token_scores.resize(h.n_scores);
  take(r.token_scores.data(), r.token_scores.size() * 4);
  r.context_chunks.resize(h.n_context);
  take(r.context_chunks.data(), r.context_chunks.size() * 8);
  r.context_weights.resize(h.n_context);
  take(r.context_weights.data(), r.context_weights.size() * 4);
  r.cci = h.cci;
  if (PayloadChecksum(r) != h.payload_checksum)
    return Status::Corrupt(StrFormat("%s: payload checksum mismatch", path.c_str()));
  return r;
}

// The names PathOf gives: 16 lower-case hex digits and ".kvc".
bool IsChunkFileName(std::string_view name) {
  return name.size() == 20 && name.substr(16) == ".kvc" &&
         name.substr(0, 16).find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

}  // namespace

Result<DiskTier> DiskTier::Open(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    return Status::Error(StrFormat("chunk store %s: cannot create directory (%s)", dir.c_str(),
                                   ec ? ec.message().c_str() : "not a directory"));
  util::RemoveStaleTemporariesAndSay(dir, IsChunkFileName);
  return DiskTier(dir);
}

std::string DiskTier::PathOf(uint64_t key) const {
  return dir_ + StrFormat("/%016llx.kvc", static_cast<unsigned long long>(key));
}

bool DiskTier::Contains(uint64_t key) const {
  struct stat st;
  return ::stat(PathOf(key).c_str(), &st) == 0;
}

Status DiskTier::Save(const ChunkRecord& r) const {
  KVFUSE_CHECK(r.k.size() == static_cast<size_t>(r.shape.n_layers) * r.layer_bytes() && r.v.size() == r.k.size());
  KVFUSE_CHECK(r.token_scores.empty() || r.token_scores.size() == r.tokens.size());
  KVFUSE_CHECK(r.context_chunks.size() == r.context_weights.size());
  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.version = kVersion;
  h.header_bytes = sizeof(h);
  h.key = r.key;
  h.context_hash = r.context_hash;
  h.n_tokens = r.n_tokens();
  h.n_layers = r.shape.n_layers;
  h.row_bytes = r.shape.row_bytes;
  h.n_scores = static_cast<uint32_t>(r.token_scores.size());
  h.n_context = static_cast<uint32_t>(r.context_chunks.size());
  h.cci = r.cci;
  h.payload_bytes = r.tokens.size() * 4 + r.k.size() + r.v.size() + r.token_scores.size() * 4 + r.context_chunks.size() * 12;
  h.payload_checksum = PayloadChecksum(r);
  h.header_checksum = HeaderChecksum(h);
  auto writer = util::AtomicFileWriter::Open(PathOf(r.key));
  if (!writer.ok()) return writer.status();
  KVFUSE_RETURN_IF_ERROR(writer->Append(&h, sizeof(h)));
  KVFUSE_RETURN_IF_ERROR(writer->Append(r.tokens.data(), r.tokens.size() * 4));
  KVFUSE_RETURN_IF_ERROR(writer->Append(r.k.data(), r.k.size()));
  KVFUSE_RETURN_IF_ERROR(writer->Append(r.v.data(), r.v.size()));
  KVFUSE_RETURN_IF_ERROR(writer->Append(r.token_scores.data(), r.token_scores.size() * 4));
  KVFUSE_RETURN_IF_ERROR(writer->Append(r.context_chunks.data(), r.context_chunks.size() * 8));
  KVFUSE_RETURN_IF_ERROR(writer->Append(r.context_weights.data(), r.context_weights.size() * 4));
  return writer->Commit();
}

Result<std::optional<ChunkRecord>> DiskTier::Load(uint64_t key, const ChunkShape& shape) const {
  const std::string path = PathOf(key);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return std::optional<ChunkRecord>();
  std::string bytes(static_cast<size_t>(in.tellg()), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    return Status::Unavailable(StrFormat("%s: read failed", path.c_str()));
  auto record = Parse(path, bytes, key, shape);
  if (!record.ok()) {
    if (std::remove(path.c_str()) != 0)
      return Status::Corrupt(record.status().message() + " (and it cannot be removed: " + std::strerror(errno) + ")");
    return record.status();
  }
  return std::optional<ChunkRecord>(std::move(record).value());
}

}  // namespace kvfuse::store
