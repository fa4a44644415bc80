// The web page's files (src/server/web), compiled into the binary by CMake (cmake/embed_web.cmake):
// served at / (index.html), /app.js and /style.css, with no request outside the server's origin.
// Constant data: any thread.
#pragma once

#include <string_view>

namespace kvfuse::server {

struct WebAsset {
  std::string_view path;          // "/", "/app.js", ...
  std::string_view content_type;
  std::string_view body;
};

// The page's files, in no particular order.
extern const WebAsset kWebAssets[];
extern const int kWebAssetCount;

}  // namespace kvfuse::server
