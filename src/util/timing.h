// Elapsed wall time on the steady clock, for timings that are reported.
#pragma once

#include <chrono>

namespace kvfuse::util {

inline double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace kvfuse::util
