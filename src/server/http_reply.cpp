#include "server/http_reply.h"

#include <chrono>

#include "server/guarded_http_server.h"
#include "server/json_body.h"

namespace kvfuse::server {

using json = nlohmann::json;

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(Dump(body), "application/json");
}

void SendError(httplib::Response& res, const ApiError& e) { SendJson(res, e.status, ErrorBody(e)); }

void SendJsonHolding(httplib::Response& res, int status, const json& body, std::shared_ptr<void> hold) {
  auto text = std::make_shared<const std::string>(Dump(body));
  res.status = status;
  res.set_content_provider(text->size(), "application/json",
                           [text, hold = std::move(hold)](size_t offset, size_t length, httplib::DataSink& sink) {
                             return sink.write(text->data() + offset, length);
                           });
}

int64_t UnixTime() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool SendEvent(httplib::DataSink& sink, const std::string& data) {
  const std::string event = "data: " + data + "\n\n";
  return sink.is_writable() && sink.write(event.data(), event.size());
}

std::optional<json> ParseBody(const httplib::Request& req, httplib::Response& res) {
  auto body = ParseJsonObject(req.body);
  if (auto* error = std::get_if<ApiError>(&body)) {
    SendError(res, *error);
    return std::nullopt;
  }
  return std::get<json>(std::move(body));
}

httplib::Server::Handler Route(httplib::Server::Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& req, httplib::Response& res) {
    GuardedHttpServer::RequestRead();
    handler(req, res);
  };
}

}  // namespace kvfuse::server
