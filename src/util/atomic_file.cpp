#include "util/atomic_file.h"

#include <cstdio>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>

namespace kvfuse::util {

namespace {

// Reads errno first: building the message allocates, which may change it.
Status ErrnoError(const char* what, const std::string& path) {
  const int err = errno;
  return Status::Error(path + ": " + what + ": " + std::strerror(err));
}

// The rename is durable only once the directory is: an I/O error here is the commit's (the
// target is already replaced, but may not survive a power loss). File systems that cannot
// open or sync a directory at all (EACCES, EISDIR; EINVAL, EBADF on some network and FUSE
// mounts) are not errors, as PostgreSQL's fsync_fname treats them.
Status SyncParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EISDIR) return Status::Ok();
    return Status::Error(path + ": written, but its directory cannot be opened to sync it: " + std::strerror(err));
  }
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  if (err == 0 || err == EINVAL || err == EBADF) return Status::Ok();
  return Status::Error(path + ": written, but its directory could not be synced: " + std::strerror(err));
}

constexpr std::string_view kTmpInfix = ".tmp.";

// The value of a run of 1..10 decimal digits, or -1.
long long ParseDecimal(std::string_view digits) {
  if (digits.empty() || digits.size() > 10) return -1;
  long long v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Whether the process may still commit its temporaries (ours: another thread may be writing).
bool ProcessRuns(int pid) {
  if (pid == ::getpid()) return true;
  return ::kill(pid, 0) == 0 || errno != ESRCH;
}

}  // namespace

Result<AtomicFileWriter> AtomicFileWriter::Open(const std::string& path) {
  static std::atomic<int> counter{0};
  // O_EXCL: a name taken (a killed run's under the same pid, as a container's pid 1 always
  // is; a writer of another pid namespace) is skipped, never truncated under its writer.
  for (int attempt = 0; attempt < 100; ++attempt) {
    const std::string tmp = path + std::string(kTmpInfix) + std::to_string(::getpid()) + "." +
                            std::to_string(counter.fetch_add(1));
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd >= 0) return AtomicFileWriter(path, tmp, fd);
    if (errno != EEXIST) return ErrnoError("cannot create temporary file", tmp);
  }
  return Status::Error(path + ": cannot create a temporary file beside it: 100 names in a row are taken (remove "
                       "its stale *.tmp.* files)");
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
  return SyncParentDir(path_);
}

Status WriteFileAtomically(const std::string& path, std::string_view contents) {
  Result<AtomicFileWriter> writer = AtomicFileWriter::Open(path);
  if (!writer.ok()) return writer.status();
  KVFUSE_RETURN_IF_ERROR(writer->Append(contents));
  return writer->Commit();
}

int TemporaryFileWriterPid(std::string_view name) {
  const size_t infix = name.rfind(kTmpInfix);
  if (infix == std::string_view::npos || infix == 0) return 0;
  const std::string_view rest = name.substr(infix + kTmpInfix.size());
  const size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return 0;
  const long long pid = ParseDecimal(rest.substr(0, dot));
  if (pid <= 0 || pid > INT_MAX || ParseDecimal(rest.substr(dot + 1)) < 0) return 0;
  return static_cast<int>(pid);
}

Result<size_t> RemoveStaleTemporaries(const std::string& dir, const OwnsTarget& owns, std::chrono::seconds max_age) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return Status::Error(dir + ": cannot list the directory: " + ec.message());
  size_t removed = 0;
  const auto now = fs::file_time_type::clock::now();
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().native();
    const int pid = TemporaryFileWriterPid(name);
    std::error_code entry_ec;
    if (pid == 0 || !owns(std::string_view(name).substr(0, name.rfind(kTmpInfix))) || it->is_symlink(entry_ec) ||
        !it->is_regular_file(entry_ec))
      continue;
    const auto written = fs::last_write_time(it->path(), entry_ec);
    const bool old = !entry_ec && now - written > max_age;
    if ((old || !ProcessRuns(pid)) && fs::remove(it->path(), entry_ec)) ++removed;
  }
  if (ec) return Status::Error(dir + ": cannot list the directory: " + ec.message());
  return removed;
}

void RemoveStaleTemporariesAndSay(const std::string& dir, const OwnsTarget& owns) {
  if (auto removed = RemoveStaleTemporaries(dir, owns); !removed.ok())
    std::fprintf(stderr, "kvfuse: %s\n", removed.status().message().c_str());
  else if (removed.value() > 0)
    std::fprintf(stderr, "kvfuse: %s: removed %zu temporary file%s left by interrupted writes\n", dir.c_str(),
                 removed.value(), removed.value() == 1 ? "" : "s");
}

}  // namespace kvfuse::util
