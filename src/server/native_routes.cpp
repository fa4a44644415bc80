// llama-server's own informational endpoints, for its clients: GET /props (the context, the
// slots, the defaults a request gets, the chat template; kvfuse adds its chunk store's
// tiers), GET /slots (what each slot is
// doing; no prompt text) and POST /apply-template (the prompt the chat template makes of
// `messages`, without generating). Run on HTTP worker threads; /slots waits for the
// scheduler to be between iterations, the others read only what the model fixed at load.
#include "server/guarded_http_server.h"
#include "server/http_reply.h"
#include "server/server.h"
#include "server/tool_calls.h"

namespace kvfuse::server {

using json = nlohmann::json;

void Server::AddNativeRoutes() {
  http_->Get("/props", Route([this](const httplib::Request&, httplib::Response& res) {
    if (!Loaded(res)) return;
    // The defaults of openai_api's ReadGenerationOptions and of /completion (n_predict -1).
    const json params = {{"n_predict", -1},         {"temperature", 0.8},     {"top_k", 40},
                         {"top_p", 0.95},           {"min_p", 0.0},           {"seed", -1},
                         {"presence_penalty", 0.0}, {"frequency_penalty", 0.0}, {"repeat_penalty", 1.0},
                         {"repeat_last_n", 64}};
    // kvfuse's own: the chunk store's tiers, read between scheduler iterations.
    json store;
    scheduler_->RunExclusive([&] {
      const store::ChunkStore& cs = engine_->chunk_store();
      const store::StoreStats st = cs.stats();
      store = {{"ram_bytes", cs.ram().used_bytes()}, {"ram_budget_bytes", cs.ram().budget_bytes()},
               {"ram_entries", cs.ram().size()},     {"disk_tier", cs.has_disk()},
               {"ram_hits", st.ram_hits},            {"disk_hits", st.disk_hits},
               {"misses", st.misses},                {"corrupt", st.corrupt},
               {"redis_hits", st.remote_hits}};
      if (const store::RedisTier* redis = cs.remote()) {
        const store::RemoteStats r = redis->stats();
        store["redis"] = {{"endpoint", redis->endpoint().Name()},
                          {"up", r.up},
                          {"format", store::RemoteFormatName(redis->format())},
                          {"hits", r.hits},
                          {"misses", r.misses},
                          {"corrupt", r.corrupt},
                          {"writes", r.writes},
                          {"writes_dropped", r.writes_dropped},
                          {"bytes_per_token_written",
                           r.tokens_written ? static_cast<double>(r.bytes_written) / r.tokens_written : 0.0}};
      }
    }, /*uses_kv=*/false);
    SendJson(res, 200,
             {{"default_generation_settings", {{"n_ctx", engine_->n_ctx()}, {"params", params}}},
              {"total_slots", options_.slots},
              {"model_alias", model_name_},
              {"model_path", options_.engine.model_path},
              {"chat_template", engine_->chat_template_source()},
              {"chunk_store", std::move(store)}});
  }));
  http_->Get("/slots", Route([this](const httplib::Request&, httplib::Response& res) {
    if (!Loaded(res)) return;
    json slots = json::array();
    for (const engine::SlotState& s : scheduler_->Slots())
      slots.push_back({{"id", s.id},
                       {"n_ctx", engine_->n_ctx()},
                       {"is_processing", s.processing},
                       {"state", !s.processing ? "idle" : s.decoding ? "generating" : "prefilling"},
                       {"n_prompt_tokens", s.prompt_tokens},
                       {"n_decoded", s.completion_tokens}});
    SendJson(res, 200, slots);
  }));
  http_->Post("/apply-template", Route([this](const httplib::Request& req, httplib::Response& res) {
    if (!Loaded(res)) return;
    auto body = ParseBody(req, res);
    if (!body) return;
    for (const auto& [key, value] : body->items())
      if (key != "messages" && key != "tools" && key != "chat_template_kwargs")
        return SendError(res, {400, "unknown parameter '" + key.substr(0, 64) +
                                        "': /apply-template takes 'messages', 'tools' and 'chat_template_kwargs'",
                               "invalid_request_error", key.substr(0, 64)});
    auto messages = ReadMessages(*body);
    if (auto* err = std::get_if<ApiError>(&messages)) return SendError(res, *err);
    // The prompt a chat completion would get: with tools or tool calls, their rendering.
    const nlohmann::ordered_json ordered = nlohmann::ordered_json::parse(req.body, nullptr, false);
    auto tools = ReadTools(ordered, *engine_);
    if (auto* err = std::get_if<ApiError>(&tools)) return SendError(res, *err);
    if (NeedsToolRendering(ordered, std::get<ToolRequest>(tools))) {
      auto prompt = RenderToolChat(ordered, std::get<ToolRequest>(tools), *engine_);
      if (auto* err = std::get_if<ApiError>(&prompt)) return SendError(res, *err);
      return SendJson(res, 200, {{"prompt", std::get<std::string>(prompt)}});
    }
    auto prompt = engine_->RenderChat(std::get<std::vector<engine::ChatMessage>>(messages), true);
    if (!prompt.ok()) return SendError(res, {400, prompt.status().message(), "invalid_request_error", "messages"});
    SendJson(res, 200, {{"prompt", prompt.value()}});
  }));
}

}  // namespace kvfuse::server
