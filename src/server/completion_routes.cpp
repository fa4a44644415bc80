// Server routes that generate: /v1/chat/completions, /v1/completions and llama-server's
// /completion (also /completions), whole or streamed as server-sent events, with server-side
// retrieval for RAG requests that name a collection. Run on HTTP worker threads; generation runs on the scheduler's thread.
// Each request holds an InFlight ticket until its answer is sent; a request cancelled by a
// shutdown is answered with a 503 (or a 503 error event when streamed).
#include "rag/retrieve.h"
#include "server/guarded_http_server.h"
#include "server/http_reply.h"
#include "server/native_api.h"
#include "server/server.h"

namespace kvfuse::server {

using json = nlohmann::json;

namespace {

const ApiError kShuttingDown{503, "the server is shutting down", "unavailable_error", ""};

// A generation that failed after it was accepted, by whose the failure is (GenerationResult::error).
ApiError GenerationError(const util::Status& error) {
  switch (error.code()) {
    case util::StatusCode::kInvalidArgument: return {400, error.message(), "invalid_request_error", ""};
    case util::StatusCode::kUnavailable: return {503, error.message(), "unavailable_error", ""};
    default: return {500, error.message(), "server_error", ""};
  }
}

// A streamed chat answer whose tool calls are read at its end: its text or its calls in one
// chunk (calls with their index, as OpenAI streams them), and `last` given the finish reason.
template <typename Send>
bool SendToolAnswer(const CompletionReply& reply, int index, const engine::GenerationResult& r, json& last,
                    const Send& send) {
  std::string finish;
  const json message = AssistantMessage(reply, index, r, &finish);
  json delta = json::object();
  if (!message["content"].is_null()) delta["content"] = message["content"];
  if (message.contains("tool_calls")) {
    json calls = message["tool_calls"];
    for (size_t k = 0; k < calls.size(); ++k) calls[k]["index"] = k;
    delta["tool_calls"] = std::move(calls);
  }
  json chunk = StreamChunk(reply, index, "", nullptr, nullptr, 0);
  chunk["choices"][0]["delta"] = std::move(delta);
  last["choices"][0]["finish_reason"] = finish;
  return send(Dump(chunk));
}

// How often the connection of a whole (not streamed) completion is probed while it runs.
constexpr std::chrono::milliseconds kClientProbeInterval{20};

// Waits for a whole completion on its worker thread; false when the client hung up first
// (the request is then cancelled: the scheduler drops it at its next step).
bool AwaitWhole(engine::GenerationChannel& channel) {
  while (!channel.WaitDone(kClientProbeInterval)) {
    if (GuardedHttpServer::ClientGone()) {
      channel.Cancel();
      return false;
    }
  }
  return true;
}

// Waits for a streamed completion's next piece or its end; false when the client hung up first
// (a stream sends nothing while its request waits in the queue, or while an answer is held back
// for its tool calls: writing alone would notice only once the whole answer is done).
bool AwaitPiece(engine::GenerationChannel& channel) {
  while (!channel.WaitPiece(kClientProbeInterval))
    if (GuardedHttpServer::ClientGone()) return false;
  return true;
}

// Cancels every choice of a request: the scheduler stops each at its next step.
void CancelAll(const std::vector<std::shared_ptr<engine::GenerationChannel>>& channels) {
  for (const auto& c : channels) c->Cancel();
}

}  // namespace

void Server::AddCompletionRoutes() {
  const auto route = [this](CompletionApi api) {
    return Route([this, api](const httplib::Request& req, httplib::Response& res) { Complete(req, res, api); });
  };
  http_->Post("/v1/chat/completions", route(CompletionApi::kChat));
  http_->Post("/v1/completions", route(CompletionApi::kText));
  http_->Post("/completion", route(CompletionApi::kNative));
  http_->Post("/completions", route(CompletionApi::kNative));
}

std::variant<RetrievedChunks, ApiError> Server::Retrieve(const std::string& name, const std::string& query, int k) {
  const std::shared_ptr<CollectionEntry> entry = collections_.Find(name);
  if (!entry) return ApiError{404, "no collection '" + name + "' on this server", "not_found_error", "rag.collection"};
  std::shared_lock<std::shared_timed_mutex> reading(entry->mu, kIngestWait);  // an ingest waits for this search
  if (!reading.owns_lock())
    return ApiError{503, "collection '" + name + "' is being ingested; retry when it is done", "server_error",
                    "rag.collection"};
  const rag::Collection& c = entry->collection;
  const rag::QueryEmbedder embedder{engine_->model_fingerprint(), [this](const std::string& text, int32_t layer) {
                                      util::Result<std::vector<float>> v = util::Status::Internal("not run");
                                      scheduler_->RunExclusive([&] { v = engine_->EmbedText(text, layer); });
                                      return v;
                                    }};
  rag::SearchOptions so;
  so.k = static_cast<size_t>(k);
  auto hits = rag::Retrieve(c, query, so, embedder);
  if (!hits.ok() && hits.status().code() == util::StatusCode::kResourceExhausted)
    hits = rag::Retrieve(c, query, so, {});  // no KV room to embed the question now: lexical search
  if (!hits.ok() && hits.status().code() == util::StatusCode::kInvalidArgument)
    return ApiError{400, hits.status().message(), "invalid_request_error", "messages"};
  if (!hits.ok()) return ApiError{500, hits.status().message(), "server_error", ""};
  RetrievedChunks out;
  for (const rag::SearchHit& h : hits.value()) {
    out.ids.push_back(name + "#" + std::to_string(h.id));
    out.texts.push_back(c.chunk(h.id)->text);
  }
  return out;
}

void Server::ApplyFidelity(ParsedRequest& p) {
  engine::GenerationRequest& g = p.generation;
  if (!p.rag || !engine::ReusesChunkKv(g.fusion.mode) || g.prompt.chunks.empty()) return;
  FidelityMonitor::Share share;
  if (engine::ModeReadsKnob(g.fusion.mode, engine::FusionKnob::kRecomputeRatio) && !p.rag->share_given) {
    share = fidelity_.ShareFor(p.rag->collection, g.fusion.mode);
    g.fusion.recompute_ratio = share.share;
  }
  if (p.rag->audit || fidelity_.DrawAudit())
    g.audit = engine::AuditTag{p.rag->collection, p.rag->question, share.controlled, share.epoch};
}

void Server::Complete(const httplib::Request& req, httplib::Response& res, CompletionApi api) {
  const auto arrival = std::chrono::steady_clock::now();
  const bool chat = api == CompletionApi::kChat;
  if (!Loaded(res)) return;
  auto channel = std::make_shared<engine::GenerationChannel>();
  InFlight::Ticket ticket = in_flight_.Add(channel);
  if (!ticket) return SendError(res, kShuttingDown);
  auto body = ParseBody(req, res);
  if (!body) return;
  int n_probs = 0;
  if (api == CompletionApi::kNative) {
    auto translated = OpenAiBodyOfNative(*body);
    if (auto* err = std::get_if<ApiError>(&translated)) return SendError(res, *err);
    n_probs = std::get<NativeRequest>(translated).n_probs;
    body = std::move(std::get<NativeRequest>(translated).body);
  }
  ApiLimits limits;
  limits.default_max_tokens = options_.max_tokens_default;
  limits.max_prompt_tokens = engine_->n_ctx() - 1;
  const Retriever retrieve = [this](const std::string& name, const std::string& query, int k) {
    return Retrieve(name, query, k);
  };
  auto parsed = ParseCompletionRequest(*body, req.body, chat, *engine_, limits, retrieve);
  if (auto* err = std::get_if<ApiError>(&parsed)) return SendError(res, *err);
  ParsedRequest& p = std::get<ParsedRequest>(parsed);
  ApplyFidelity(p);
  engine::GenerationRequest& g = p.generation;
  if (n_probs > 0) g.logprobs = n_probs;
  if (g.prompt.size() + g.max_tokens > engine_->n_ctx()) g.max_tokens = engine_->n_ctx() - g.prompt.size();
  g.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options_.request_timeout_s);
  g.arrival = arrival;
  const CompletionReply reply{.chat = chat,
                              .native = api == CompletionApi::kNative,
                              .id = (chat ? "chatcmpl-" : "cmpl-") + std::to_string(next_id_++),
                              .model = model_name_,
                              .created = UnixTime(),
                              .system_fingerprint = system_fingerprint_,
                              .document_ids = p.document_ids,
                              .stream_usage = p.stream_usage,
                              .logprobs = g.logprobs >= 0,
                              .tool_calls = p.tool_calls,
                              .parallel_tool_calls = p.parallel_tool_calls,
                              .token_text = [this](int32_t id) { return engine_->tokenizer()->Piece(id); }};
  const bool stream = p.stream;
  // n choices: n generations of the prompt, choice i sampled with seed + i.
  Channels channels{channel};
  for (int i = 0; i < p.n; ++i) {
    if (i > 0) {
      channels.push_back(std::make_shared<engine::GenerationChannel>());
      in_flight_.Attach(ticket, channels.back());  // cancelled with the request on shutdown
    }
    engine::GenerationRequest choice = g;
    choice.sampling.seed += static_cast<uint64_t>(i);
    if (i > 0) choice.audit.reset();  // one audit per prompt
    if (!scheduler_->Submit(std::move(choice), channels[i])) {
      CancelAll(channels);
      return SendError(res, {429, "the server is busy: too many requests waiting", "rate_limit_error", ""});
    }
  }
  if (p.rag && !g.prompt.chunks.empty()) fidelity_.ObserveRequest(g.fusion);
  // The ticket is held until the request's last byte is written.
  if (stream) return Stream(res, channels, reply, std::move(ticket));
  Choices choices;
  for (auto& c : channels) {
    if (!AwaitWhole(*c)) {
      CancelAll(channels);
      res.status = 499;  // client closed request: nobody reads the answer
      return;
    }
    const engine::GenerationResult& r = c->result();
    if (r.cancelled || !r.error.ok()) {
      CancelAll(channels);
      if (r.cancelled) return SendJsonHolding(res, kShuttingDown.status, ErrorBody(kShuttingDown), ticket);
      return SendError(res, GenerationError(r.error));
    }
    choices.push_back(&r);
  }
  SendJsonHolding(res, 200, reply.native ? NativeBody(reply.model, *choices[0], reply.token_text) : CompletionBody(reply, choices),
                  std::move(ticket));
}

void Server::Stream(httplib::Response& res, Channels channels, const CompletionReply& reply, InFlight::Ticket ticket) {
  res.set_header("Cache-Control", "no-cache");
  const auto cancel_all = [channels] { CancelAll(channels); };
  res.set_chunked_content_provider(
      "text/event-stream",
      [channels, reply, ticket, cancel_all](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& data) {
          if (SendEvent(sink, data)) return true;
          cancel_all();  // the client went away
          return false;
        };
        // The choices one after the other (each chunk names its index); all generate at once.
        Choices done;
        for (size_t i = 0; i < channels.size(); ++i) {
          const int index = static_cast<int>(i);
          const auto chunk = [&](const std::string& piece, const engine::GenerationResult* last,
                                 const engine::TokenLogprob* logprob = nullptr, size_t offset = 0) {
            return reply.native ? NativeChunk(reply.model, piece, last, logprob, reply.token_text)
                                : StreamChunk(reply, index, piece, last, logprob, offset);
          };
          if (!reply.native) {  // OpenAI's streams open each choice with the role
            json first = chunk("", nullptr);
            if (reply.chat) first["choices"][0]["delta"] = {{"role", "assistant"}, {"content", ""}};
            if (i == 0 && !reply.document_ids.empty()) first["documents_used"] = reply.document_ids;
            if (!send(Dump(first))) return false;
          }
          size_t offset = 0;  // of the piece's token in the choice's tokens' text (legacy text_offset)
          for (;;) {
            if (!AwaitPiece(*channels[i])) return false;  // the releaser cancels every choice
            const std::optional<std::string> piece = channels[i]->Next();
            if (!piece) break;
            if (reply.tool_calls) continue;  // whether the answer is a call is known at its end
            const std::optional<engine::TokenLogprob>& logprob = channels[i]->piece_logprob();
            if (!send(Dump(chunk(*piece, nullptr, logprob ? &*logprob : nullptr, offset)))) return false;
            if (logprob) offset += reply.token_text(logprob->token).size();
          }
          const engine::GenerationResult& r = channels[i]->result();
          if (r.cancelled || !r.error.ok()) {  // a cancel by a shutdown: a client that went away was not sent to
            cancel_all();
            send(Dump(ErrorBody(r.cancelled ? kShuttingDown : GenerationError(r.error))));
            break;
          }
          done.push_back(&r);
          json last = chunk("", &r);
          if (reply.tool_calls && !SendToolAnswer(reply, index, r, last, send)) return false;
          if (!reply.native && done.size() == channels.size() && reply.stream_usage == StreamUsage::kOnFinishChunk)
            last["usage"] = UsageOf(done);
          if (!send(Dump(last))) return false;
        }
        if (done.size() == channels.size() && reply.stream_usage == StreamUsage::kSeparateChunk &&
            !send(Dump(UsageChunk(reply, done))))
          return false;
        if (!reply.native) send("[DONE]");  // llama-server's own stream ends with its stop event
        sink.done();
        return true;
      },
      [cancel_all](bool) { cancel_all(); });
}

}  // namespace kvfuse::server
