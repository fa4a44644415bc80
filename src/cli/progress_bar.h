// A one-line progress bar on stderr for long work: redrawn in place on a terminal, a line
// per finished stage otherwise (logs stay readable).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace kvfuse::cli {

class ProgressBar {
 public:
  ProgressBar();
  void Update(std::string_view stage, size_t done, size_t total);

 private:
  bool tty_;
  std::string stage_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace kvfuse::cli
