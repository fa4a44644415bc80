// A fuzz target's scratch directory: made once under /tmp, removed when the process exits.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace kvfuse::fuzz {

// The directory for `name` (e.g. "chunks"), made on the first call; aborts if it cannot be.
inline const std::string& TempDir(const char* name) {
  static const std::string dir = [name] {
    std::string pattern = std::string("/tmp/kvfuse-fuzz-") + name + "-XXXXXX";
    if (!::mkdtemp(pattern.data())) std::abort();
    return pattern;
  }();
  static const bool removed_at_exit = std::atexit([] { std::filesystem::remove_all(dir); }) == 0;
  (void)removed_at_exit;
  return dir;
}

}  // namespace kvfuse::fuzz
