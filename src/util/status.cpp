#include "util/status.h"

#include <cstdarg>

namespace kvfuse::util {

std::string StrFormat(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out(n > 0 ? n : 0, '\0');
  if (n > 0) std::vsnprintf(out.data(), out.size() + 1, fmt, args);
  va_end(args);
  return out;
}

void CheckFailed(const char* file, int line, const char* expr) {
  std::fprintf(stderr, "kvfuse internal error: %s:%d: check failed: %s\n", file, line, expr);
  std::abort();
}

}  // namespace kvfuse::util
