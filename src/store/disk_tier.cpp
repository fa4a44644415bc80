#include "store/disk_tier.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "store/record_codec.h"
#include "util/atomic_file.h"

namespace kvfuse::store {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

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
  auto writer = util::AtomicFileWriter::Open(PathOf(r.key));
  if (!writer.ok()) return writer.status();
  const std::string bytes = EncodeRecord(r);
  KVFUSE_RETURN_IF_ERROR(writer->Append(bytes.data(), bytes.size()));
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
  auto record = DecodeRecord(bytes, key, shape, path);
  if (!record.ok()) {
    if (std::remove(path.c_str()) != 0)
      return Status::Corrupt(record.status().message() + " (and it cannot be removed: " + std::strerror(errno) + ")");
    return record.status();
  }
  return std::optional<ChunkRecord>(std::move(record).value());
}

}  // namespace kvfuse::store
