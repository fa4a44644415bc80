#include "store/disk_tier.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

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

// The record in an open chunk file. The file is mapped with its pages populated and decoded
// from the mapping: on a VM, a first read() of page-cache pages into this process cost
// ~4 ms per 3 MB where populating a mapping and copying from it cost ~1 ms. Files are only
// ever replaced by rename, so none shrinks under the mapping.
Result<ChunkRecord> ReadRecord(int fd, uint64_t key, const ChunkShape& shape, const std::string& path) {
  struct stat st;
  if (::fstat(fd, &st) != 0)
    return Status::Unavailable(StrFormat("%s: cannot stat (%s)", path.c_str(), std::strerror(errno)));
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) return DecodeRecord({}, key, shape, path);
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return Status::Unavailable(StrFormat("%s: cannot map (%s)", path.c_str(), std::strerror(errno)));
  auto record = DecodeRecord(std::string_view(static_cast<const char*>(p), size), key, shape, path);
  ::munmap(p, size);
  return record;
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
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<ChunkRecord>();
    return Status::Unavailable(StrFormat("%s: cannot open (%s)", path.c_str(), std::strerror(errno)));
  }
  auto record = ReadRecord(fd, key, shape, path);
  ::close(fd);
  if (record.ok()) return std::optional<ChunkRecord>(std::move(record).value());
  if (record.status().code() != util::StatusCode::kCorrupt) return record.status();
  if (std::remove(path.c_str()) != 0)
    return Status::Corrupt(record.status().message() + " (and it cannot be removed: " + std::strerror(errno) + ")");
  return record.status();
}

}  // namespace kvfuse::store
