// The web page (server/web_assets.h): GET / and its two files, without a key (the page asks for
// one when the API wants it, and holds no secret itself).
#include "server/guarded_http_server.h"
#include "server/http_reply.h"
#include "server/server.h"
#include "server/web_assets.h"

namespace kvfuse::server {

void Server::AddWebRoutes() {
  for (int i = 0; i < kWebAssetCount; ++i) {
    const WebAsset& asset = kWebAssets[i];
    http_->Get(std::string(asset.path), Route([asset](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      // The page may fetch from its own origin only.
      res.set_header("Content-Security-Policy",
                     "default-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                     "frame-ancestors 'none'");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_content(asset.body.data(), asset.body.size(), std::string(asset.content_type));
    }));
  }
}

bool Server::IsWebAsset(const std::string& method, const std::string& path) {
  if (method != "GET") return false;
  for (int i = 0; i < kWebAssetCount; ++i)
    if (kWebAssets[i].path == path) return true;
  return false;
}

}  // namespace kvfuse::server
