#include "cli/progress_bar.h"

#include <unistd.h>

#include <cstdio>

namespace kvfuse::cli {

ProgressBar::ProgressBar() : tty_(isatty(STDERR_FILENO) != 0) {}

void ProgressBar::Update(std::string_view stage, size_t done, size_t total) {
  using Clock = std::chrono::steady_clock;
  const auto now = Clock::now();
  if (stage != stage_) {
    stage_ = stage;
    start_ = now;
    last_draw_ = {};
  }
  const bool finished = done >= total;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  if (!tty_) {
    if (finished) std::fprintf(stderr, "%.*s: %zu/%zu in %.1f s\n", static_cast<int>(stage.size()), stage.data(),
                               done, total, elapsed);
    return;
  }
  if (!finished && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  const int filled = total ? static_cast<int>(kWidth * done / total) : kWidth;
  std::string bar(filled, '#');
  bar.resize(kWidth, '.');
  const double eta = done ? elapsed * static_cast<double>(total - done) / static_cast<double>(done) : 0.0;
  std::fprintf(stderr, "\r%.*s [%s] %zu/%zu %.1f s%s", static_cast<int>(stage.size()), stage.data(), bar.c_str(),
               done, total, finished ? elapsed : eta, finished ? "   \n" : " left");
  std::fflush(stderr);
}

}  // namespace kvfuse::cli
