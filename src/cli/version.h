// The kvfuse version: the one place it is defined (`kvfuse --version` prints it).
#pragma once

namespace kvfuse::cli {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace kvfuse::cli
