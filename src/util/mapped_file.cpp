#include "util/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kvfuse::util {

Result<MappedFile> MappedFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // kept open for reads: not for children
  if (fd < 0) {
    const int err = errno;  // before building the message, which may allocate
    const std::string reason = path + ": cannot open: " + std::strerror(err);
    return err == ENOENT ? Status::NotFound(reason) : Status::Error(reason);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::Error(path + ": not a regular file");
  }
  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(st.st_size);
  if (file.size_ > 0) {
    void* p = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return Status::Error(path + ": mmap failed: " + std::strerror(err));
    }
    file.data_ = static_cast<const uint8_t*>(p);
  }
  file.fd_ = fd;
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    Reset();
    fd_ = other.fd_;
    data_ = other.data_;
    size_ = other.size_;
    path_ = std::move(other.path_);
    other.fd_ = -1;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

MappedFile::~MappedFile() { Reset(); }

void MappedFile::Reset() {
  if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  data_ = nullptr;
  size_ = 0;
}

Status MappedFile::Read(const void* p, size_t n, void* out) const {
  const auto* begin = static_cast<const uint8_t*>(p);
  KVFUSE_CHECK(data_ != nullptr && begin >= data_ && n <= size_ && static_cast<size_t>(begin - data_) <= size_ - n);
  auto* dst = static_cast<uint8_t*>(out);
  for (size_t done = 0; done < n;) {
    const off_t at = static_cast<off_t>(begin - data_ + done);
    const ssize_t got = ::pread(fd_, dst + done, n - done, at);
    const int err = errno;  // before any allocation below
    if (got > 0) {
      done += static_cast<size_t>(got);
    } else if (got < 0 && err == EINTR) {
      continue;
    } else if (got == 0) {  // the mapping's pages past a truncation would raise SIGBUS: not read
      return Status::Corrupt(path_ + ": ends at byte " + std::to_string(at) + ", not " + std::to_string(size_) +
                             " (truncated while in use)");
    } else {
      return Status::Error(path_ + ": cannot read: " + std::strerror(err));
    }
  }
  return Status::Ok();
}

namespace {
uintptr_t PageSize() {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  return page;
}
}  // namespace

void MappedFile::ReleaseAllPages() const {
  if (data_ != nullptr) ReleasePages(data_, (size_ + PageSize() - 1) / PageSize() * PageSize());
}

Status MappedFile::Populate() const {
  if (data_ == nullptr) return Status::Ok();
#ifdef MADV_POPULATE_READ
  int err = 0;
  do {
    err = ::madvise(const_cast<uint8_t*>(data_), size_, MADV_POPULATE_READ) == 0 ? 0 : errno;
  } while (err == EINTR);
  if (err == 0) return Status::Ok();
  if (err != EINVAL) return Status::Error(path_ + ": cannot read the file's pages in: " + std::strerror(err));
#endif
  // A kernel before 5.14: one read per page faults them in. A page past the file's end would
  // raise SIGBUS, so a file shorter than its mapping is refused first.
  struct stat st {};
  if (::fstat(fd_, &st) != 0 || static_cast<size_t>(st.st_size) < size_)
    return Status::Error(path_ + ": the file shrank under its mapping");
  volatile uint8_t sink = 0;
  for (size_t at = 0; at < size_; at += PageSize()) sink = sink + data_[at];
  return Status::Ok();
}

void MappedFile::ReleasePages(const void* p, size_t n) {
  const uintptr_t page = PageSize();
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + n) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace kvfuse::util
