// Replies and request bodies on httplib requests, shared by the server's route files.
// Stateless: any HTTP worker thread may call.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/openai_api.h"

namespace kvfuse::server {

// JSON text; bytes that are not UTF-8 (a client's text can hold any) become U+FFFD.
std::string Dump(const nlohmann::json& j);
void SendJson(httplib::Response& res, int status, const nlohmann::json& body);
void SendError(httplib::Response& res, const ApiError& e);
// SendJson, the body written by a content provider that keeps `hold` alive until httplib
// has sent it (or given up): what `hold` stands for lasts until the client has its answer.
void SendJsonHolding(httplib::Response& res, int status, const nlohmann::json& body, std::shared_ptr<void> hold);
int64_t UnixTime();
// One server-sent event ("data: ...\n\n"); false when the client can no longer be written to.
bool SendEvent(httplib::DataSink& sink, const std::string& data);
// The body as a JSON object, or a 400 already written.
std::optional<nlohmann::json> ParseBody(const httplib::Request& req, httplib::Response& res);
// A route's handler that first releases its connection from the read deadline and its
// address's count (GuardedHttpServer::RequestRead). Every route is registered through it.
httplib::Server::Handler Route(httplib::Server::Handler handler);

}  // namespace kvfuse::server
