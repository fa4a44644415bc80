#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

namespace kvfuse::util {

namespace {

Status ErrnoError(const std::string& what, const std::string& path) {
  return Status::Error(path + ": " + what + ": " + std::strerror(errno));
}

void SyncParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

Result<AtomicFileWriter> AtomicFileWriter::Open(const std::string& path) {
  static std::atomic<int> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                          std::to_string(counter.fetch_add(1));
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoError("cannot create temporary file", tmp);
  return AtomicFileWriter(path, tmp, fd);
}

AtomicFileWriter::AtomicFileWriter(AtomicFileWriter&& other) noexcept
    : path_(std::move(other.path_)),
      tmp_path_(std::move(other.tmp_path_)),
      fd_(other.fd_),
      bytes_written_(other.bytes_written_) {
  other.fd_ = -1;
}

AtomicFileWriter::~AtomicFileWriter() { Abandon(); }

void AtomicFileWriter::Abandon() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_path_.c_str());
    fd_ = -1;
  }
}

Status AtomicFileWriter::Append(const void* data, size_t n_bytes) {
  if (fd_ < 0) return Status::Error(path_ + ": write after commit or failure");
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < n_bytes) {
    const ssize_t n = ::write(fd_, p + done, n_bytes - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status st = ErrnoError("write failed", tmp_path_);
      Abandon();
      return st;
    }
    done += static_cast<size_t>(n);
  }
  bytes_written_ += n_bytes;
  return Status::Ok();
}

Status AtomicFileWriter::Commit() {
  if (fd_ < 0) return Status::Error(path_ + ": commit after failure");
  if (::fsync(fd_) != 0) {
    Status st = ErrnoError("fsync failed", tmp_path_);
    Abandon();
    return st;
  }
  ::close(fd_);
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    Status st = ErrnoError("rename failed", path_);
    ::unlink(tmp_path_.c_str());
    return st;
  }
  SyncParentDir(path_);
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  Result<AtomicFileWriter> writer = AtomicFileWriter::Open(path);
  if (!writer.ok()) return writer.status();
  KVFUSE_RETURN_IF_ERROR(writer->Append(contents));
  return writer->Commit();
}

}  // namespace kvfuse::util
