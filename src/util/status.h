// Status and Result<T>: errors as values at layer boundaries.
//
// A Status is OK or carries a code (what kind of error, for callers to branch on) and a
// message a user can act on (name the file, the offset, what was expected and what was found). Result<T> holds either a T or a non-OK Status.
// KVFUSE_CHECK guards our own invariants only; never use it on anything a user or a
// file controls.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <variant>

namespace kvfuse::util {

// What kind of error a Status is. Callers branch on the code, never on the message.
enum class StatusCode {
  kOk = 0,
  kUnknown,            // Status::Error: not classified
  kInvalidArgument,    // the input is wrong; the same call will fail again
  kNotFound,
  kResourceExhausted,  // out of room (KV blocks, a size limit); may succeed later or smaller
  kCorrupt,            // stored data failed its checks
  kUnavailable,        // busy or down; retrying may succeed
  kInternal,           // our own bug
  kAlreadyExists,      // what the call would create is there already
  kPermissionDenied,   // allowed to others or otherwise, not to this caller
};

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(std::string message) { return Status(StatusCode::kUnknown, std::move(message)); }
  static Status InvalidArgument(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }
  static Status NotFound(std::string m) { return Status(StatusCode::kNotFound, std::move(m)); }
  static Status ResourceExhausted(std::string m) { return Status(StatusCode::kResourceExhausted, std::move(m)); }
  static Status Corrupt(std::string m) { return Status(StatusCode::kCorrupt, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(StatusCode::kUnavailable, std::move(m)); }
  static Status Internal(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }
  static Status AlreadyExists(std::string m) { return Status(StatusCode::kAlreadyExists, std::move(m)); }
  static Status PermissionDenied(std::string m) { return Status(StatusCode::kPermissionDenied, std::move(m)); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Prepends context ("loading model.gguf: ") to an error, keeping its code; OK stays OK.
  Status WithContext(const std::string& context) const {
    return ok() ? *this : Status(code_, context + ": " + message_);
  }

 private:
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}
  Result(Status status) : value_(std::move(status)) {
    if (std::get<Status>(value_).ok()) value_ = Status::Internal("internal: Result built from OK");
  }

  bool ok() const { return std::holds_alternative<T>(value_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(value_);
  }
  T& value() & { return std::get<T>(value_); }
  const T& value() const& { return std::get<T>(value_); }
  T&& value() && { return std::get<T>(std::move(value_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<T, Status> value_;
};

std::string StrFormat(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

[[noreturn]] void CheckFailed(const char* file, int line, const char* expr);

}  // namespace kvfuse::util

#define KVFUSE_CHECK(cond) \
  do { if (!(cond)) ::kvfuse::util::CheckFailed(__FILE__, __LINE__, #cond); } while (0)

#define KVFUSE_RETURN_IF_ERROR(expr)      \
  do {                                     \
    ::kvfuse::util::Status _st = (expr);   \
    if (!_st.ok()) return _st;             \
  } while (0)
