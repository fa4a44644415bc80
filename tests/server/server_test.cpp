// The server through real HTTP on loopback, against a random-weight model whose greedy
// output the engine gives directly (the reference).
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"
#include "tiny_server_options.h"

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

// The engine's own greedy continuation of the chat prompt (the reference).
std::string ServerTestReference(const std::string& user, int max_tokens) {
  auto e = engine::Engine::Load(TinyServerOptions(512).engine);
  auto tokens = e.value()->EncodeChat({{"user", user}}, true);
  std::vector<float> logits;
  EXPECT_TRUE(e.value()->Evaluate(tokens.value(), 0, false, logits).ok());
  engine::StreamDecoder decoder(*e.value()->tokenizer());
  std::string text;
  int32_t pos = static_cast<int32_t>(tokens->size());
  for (int i = 0; i < max_tokens; ++i) {
    const int32_t next = sched::ArgMax(logits.data(), e.value()->hparams().n_vocab);
    if (e.value()->EndsTurn(next)) break;
    text += decoder.Push(next);
    EXPECT_TRUE(e.value()->Evaluate({next}, pos++, false, logits).ok());
  }
  return text + decoder.Flush();
}

class ServerTest : public ::testing::Test {
 protected:
  static ServerOptions Options() {
    ServerOptions o = TinyServerOptions(512);
    o.max_body_bytes = 64 * 1024;
    o.batch_tokens = 16;  // chat prompts here are longer: their prefill is chunked
    return o;
  }
  void Start(ServerOptions o) {
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_TRUE(server_->WaitReady());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
  }
  void SetUp() override { Start(Options()); }
  void TearDown() override { server_->Stop(); }

  httplib::Result Post(const std::string& path, const std::string& body) {
    return client_->Post(path.c_str(), body, "application/json");
  }
  static std::string Reference(const std::string& user, int max_tokens) { return ServerTestReference(user, max_tokens); }
  static json ChatBody(const std::string& user, int max_tokens, bool stream) {
    return {{"messages", {{{"role", "user"}, {"content", user}}}}, {"max_tokens", max_tokens},
            {"temperature", 0}, {"stream", stream}};
  }
  // Concatenated deltas of an SSE response; checks the framing on the way.
  static std::string StreamedText(const std::string& sse, std::string* finish_reason) {
    std::string text;
    size_t at = 0;
    bool done = false;
    while ((at = sse.find("data: ", at)) != std::string::npos) {
      const size_t end = sse.find("\n\n", at);
      const std::string data = sse.substr(at + 6, end - at - 6);
      at = end;
      EXPECT_FALSE(done) << "an event after [DONE]";
      if (data == "[DONE]") {
        done = true;
        continue;
      }
      const json chunk = json::parse(data);
      const json& choice = chunk["choices"][0];
      if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
      if (!choice["finish_reason"].is_null()) {
        *finish_reason = choice["finish_reason"];
        EXPECT_TRUE(chunk.contains("usage"));
      }
    }
    EXPECT_TRUE(done);
    return text;
  }
  static int64_t Metric(const std::string& metrics, const std::string& name) {
    const size_t at = metrics.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stoll(metrics.substr(at + name.size() + 2));
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(ServerTest, HealthModelsTokenizeDetokenize) {
  auto health = client_->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  auto models = client_->Get("/v1/models");
  ASSERT_EQ(models->status, 200);
  EXPECT_EQ(json::parse(models->body)["data"][0]["object"], "model");
  auto tok = Post("/tokenize", R"({"content": "hello world"})");
  ASSERT_EQ(tok->status, 200);
  const json ids = json::parse(tok->body)["tokens"];
  EXPECT_FALSE(ids.empty());
  auto detok = Post("/detokenize", json{{"tokens", ids}}.dump());
  ASSERT_EQ(detok->status, 200);
  EXPECT_EQ(json::parse(detok->body)["content"], "hello world");
}

TEST_F(ServerTest, ChatCompletionMatchesTheEngineAndStreamingMatchesBoth) {
  const std::string reference = Reference("tell me a story", 24);
  auto r = Post("/v1/chat/completions", ChatBody("tell me a story", 24, false).dump());
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["content"], reference);
  EXPECT_GT(body["usage"]["prompt_tokens"].get<int>(), 0);
  EXPECT_EQ(body["timings"]["prompt_n"], body["usage"]["prompt_tokens"]);

  auto s = Post("/v1/chat/completions", ChatBody("tell me a story", 24, true).dump());
  ASSERT_EQ(s->status, 200);
  EXPECT_EQ(s->get_header_value("Content-Type"), "text/event-stream");
  std::string finish;
  EXPECT_EQ(StreamedText(s->body, &finish), reference);
  EXPECT_EQ(finish, body["choices"][0]["finish_reason"]);

  auto c = Post("/v1/completions", R"({"prompt": "once upon", "max_tokens": 4, "temperature": 0})");
  ASSERT_EQ(c->status, 200);
  EXPECT_EQ(json::parse(c->body)["object"], "text_completion");
}

TEST_F(ServerTest, StopStringsCutTheText) {
  const std::string reference = Reference("tell me a story", 24);
  // Two characters from the third one on (byte offsets at UTF-8 lead bytes).
  std::vector<size_t> starts;
  for (size_t i = 0; i < reference.size(); ++i)
    if ((static_cast<unsigned char>(reference[i]) & 0xC0) != 0x80) starts.push_back(i);
  starts.push_back(reference.size());
  ASSERT_GE(starts.size(), 6u);
  const std::string stop = reference.substr(starts[2], starts[4] - starts[2]);
  json req = ChatBody("tell me a story", 24, false);
  req["stop"] = {stop};
  const json body = json::parse(Post("/v1/chat/completions", req.dump())->body);
  EXPECT_EQ(body["choices"][0]["message"]["content"], reference.substr(0, reference.find(stop)));
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
}

TEST_F(ServerTest, DocumentsBecomeChunksAndAreReusedAcrossRequests) {
  json req = {{"messages", {{{"role", "user"}, {"content", "which colour?"}}}},
              {"rag", {{"documents", {"The sky is blue.", {{"id", "d2"}, {"text", "Grass is green."}}}}}},
              {"max_tokens", 4}, {"temperature", 0}};
  auto first = json::parse(Post("/v1/chat/completions", req.dump())->body);
  EXPECT_EQ(first["documents_used"], json({"0", "d2"}));
  EXPECT_EQ(first["timings"]["chunk_misses"], 2);
  // Reordered documents: both chunks come from the chunk store.
  req["rag"]["documents"] = {{{"id", "d2"}, {"text", "Grass is green."}}, "The sky is blue."};
  auto second = json::parse(Post("/v1/chat/completions", req.dump())->body);
  EXPECT_EQ(second["timings"]["chunk_hits"], 2);
  EXPECT_GT(second["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);
}

TEST_F(ServerTest, FusionKnobsArePerRequest) {
  json req = {{"messages", {{{"role", "user"}, {"content", "which colour?"}}}},
              {"rag", {{"documents", {"The sky is blue.", "Grass is green."}}, {"fusion_mode", "full"}}},
              {"max_tokens", 4}, {"temperature", 0}};
  const json full = json::parse(Post("/v1/chat/completions", req.dump())->body);
  const int prompt_tokens = full["usage"]["prompt_tokens"];
  // sinks: 2 of each chunk's tokens recomputed, plus the question computed afresh.
  req["rag"]["fusion_mode"] = "sinks";
  req["rag"]["sink_tokens"] = 2;
  const json sinks = json::parse(Post("/v1/chat/completions", req.dump())->body);
  const int sinks_work = sinks["timings"]["tokens_recomputed"];
  req["rag"]["sink_tokens"] = 3;
  const json more_sinks = json::parse(Post("/v1/chat/completions", req.dump())->body);
  EXPECT_EQ(more_sinks["timings"]["tokens_recomputed"].get<int>(), sinks_work + 2) << "one more per chunk";
  // query at ratio 1 recomputes every chunk token: the full prefill's answer.
  req["rag"]["fusion_mode"] = "query";
  req["rag"]["recompute_ratio"] = 1;
  req["rag"]["query_layers"] = 1;
  const json query = json::parse(Post("/v1/chat/completions", req.dump())->body);
  EXPECT_EQ(query["choices"][0]["message"]["content"], full["choices"][0]["message"]["content"]);
  EXPECT_LE(query["timings"]["tokens_recomputed"].get<int>(), prompt_tokens);
  // A knob the mode does not read is refused, not ignored.
  req["rag"]["fusion_mode"] = "naive";
  const auto ignored = Post("/v1/chat/completions", req.dump());
  EXPECT_EQ(ignored->status, 400) << ignored->body;
  EXPECT_EQ(json::parse(ignored->body)["error"]["param"], "rag.recompute_ratio");
  // ape at temperature and scale 1 is naive; its knobs out of range are refused.
  for (const char* knob : {"recompute_ratio", "query_layers", "sink_tokens"}) req["rag"].erase(knob);
  const json naive = json::parse(Post("/v1/chat/completions", req.dump())->body);
  req["rag"]["fusion_mode"] = "ape";
  req["rag"]["ape_temperature"] = 1;
  req["rag"]["ape_scale"] = 1;
  const json ape = json::parse(Post("/v1/chat/completions", req.dump())->body);
  EXPECT_EQ(ape["choices"][0]["message"]["content"], naive["choices"][0]["message"]["content"]);
  EXPECT_EQ(ape["timings"]["tokens_recomputed"], naive["timings"]["tokens_recomputed"]);
  EXPECT_FALSE(naive["timings"].contains("redone_in_full"));
  // Unsure of its first token (always, under 1), a fused prefill is redone in full: full's answer.
  for (const char* knob : {"ape_temperature", "ape_scale"}) req["rag"].erase(knob);
  req["rag"]["fusion_mode"] = "naive";
  req["rag"]["fallback_below"] = 1;
  const json redone = json::parse(Post("/v1/chat/completions", req.dump())->body);
  EXPECT_EQ(redone["choices"][0]["message"]["content"], full["choices"][0]["message"]["content"]);
  EXPECT_EQ(redone["timings"]["redone_in_full"], true);
  EXPECT_GT(redone["timings"]["tokens_recomputed"].get<int>(), naive["timings"]["tokens_recomputed"].get<int>());
  req["rag"]["fusion_mode"] = "full";
  const auto unread = Post("/v1/chat/completions", req.dump());
  EXPECT_EQ(unread->status, 400) << unread->body;
  EXPECT_EQ(json::parse(unread->body)["error"]["param"], "rag.fallback_below");
  for (const char* bad : {R"("sink_tokens": 1.5)", R"("sink_tokens": -1)", R"("query_layers": "2")",
                          R"("adaptive_alpha": -3)", R"("fusion_mode": "bogus")", R"("ape_temperature": 0)",
                          R"("ape_scale": -1)", R"("fallback_below": 1.5)"}) {
    const auto r = Post("/v1/chat/completions", std::string(R"({"messages": [{"role": "user", "content": "q"}],
                                                              "rag": {"documents": ["d"], )") + bad + "}}");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << bad << ": " << r->body;
    EXPECT_EQ(json::parse(r->body)["error"]["param"].get<std::string>().substr(0, 4), "rag.") << r->body;
  }
}

// The RAG fields live in one `rag` object, so none can collide with a sampling parameter.
TEST_F(ServerTest, RagFieldsLiveInTheRagObject) {
  auto expect_400 = [&](const std::string& path, const std::string& body, const std::string& param,
                        const std::string& in_message) {
    const auto r = Post(path, body);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400) << body << ": " << r->body;
    const json e = json::parse(r->body)["error"];
    EXPECT_EQ(e["type"], "invalid_request_error");
    EXPECT_EQ(e["param"], param) << body;
    EXPECT_NE(e["message"].get<std::string>().find(in_message), std::string::npos) << e["message"];
  };
  const std::string messages = R"("messages": [{"role": "user", "content": "which colour?"}])";
  // The old top-level spellings say where they went.
  for (const char* old : {R"("documents": ["The sky is blue."])", R"("collection": "demo")", R"("fusion_mode": "full")",
                          R"("recompute_ratio": 0.5)", R"("adaptive_alpha": 1)", R"("sink_tokens": 2)",
                          R"("query_layers": 1)", R"("ape_temperature": 1)", R"("ape_scale": 1)"}) {
    const std::string field = json::parse(std::string("{") + old + "}").begin().key();
    expect_400("/v1/chat/completions", "{" + messages + ", " + old + "}", field,
               "'" + field + "' moved into the 'rag' object: {\"rag\": {\"" + field + "\": ...}}");
  }
  expect_400("/v1/completions", R"({"prompt": "x", "collection": "demo"})", "collection", "moved into the 'rag' object");
  // Unknown keys inside rag are named; rag needs chunks; rag.top_k needs a collection.
  expect_400("/v1/chat/completions", "{" + messages + R"(, "rag": {"documents": ["d"], "temperature": 0}})",
             "rag.temperature", "'rag' has no field 'temperature'");
  expect_400("/v1/chat/completions", "{" + messages + R"(, "rag": {"fusion_mode": "full"}})", "rag",
             "needs 'documents' or 'collection'");
  expect_400("/v1/chat/completions", "{" + messages + R"(, "rag": {"documents": ["d"], "top_k": 2}})", "rag.top_k",
             "rag.collection");
  expect_400("/v1/chat/completions", "{" + messages + R"(, "rag": ["d"]})", "rag", "must be an object");
  // One limit on a prompt's chunks, given and retrieved together.
  json many = {{"messages", {{{"role", "user"}, {"content", "q"}}}},
               {"rag", {{"documents", std::vector<std::string>(60, "d")}, {"collection", "any"}, {"top_k", 6}}}};
  expect_400("/v1/chat/completions", many.dump(), "rag.top_k", "together exceed 64 chunks");
  expect_400("/v1/completions", R"({"prompt": "x", "rag": {"documents": ["d"]}})", "rag", "/v1/chat/completions");
  // A llama.cpp client's sampling top_k beside rag documents: a sampling parameter, not a chunk count.
  json req = {{"messages", {{{"role", "user"}, {"content", "which colour?"}}}},
              {"rag", {{"documents", {"The sky is blue.", "Grass is green."}}}},
              {"top_k", 40}, {"max_tokens", 4}, {"temperature", 0}};
  const auto ok = Post("/v1/chat/completions", req.dump());
  ASSERT_TRUE(ok);
  ASSERT_EQ(ok->status, 200) << ok->body;
  EXPECT_EQ(json::parse(ok->body)["documents_used"], json({"0", "1"}));
  // Top-level top_k is the sampler's: top_k 1 at a high temperature is greedy decoding.
  json sampled = ChatBody("tell me a story", 12, false);
  sampled["temperature"] = 2;
  sampled["top_k"] = 1;
  sampled["top_p"] = 1;
  sampled["seed"] = 7;
  const json body = json::parse(Post("/v1/chat/completions", sampled.dump())->body);
  EXPECT_EQ(body["choices"][0]["message"]["content"], Reference("tell me a story", 12));
  // top_k 0 or less disables it, as llama.cpp's does; a fraction is refused.
  sampled["temperature"] = 0;
  for (int off : {0, -1}) {
    sampled["top_k"] = off;
    const auto r = Post("/v1/chat/completions", sampled.dump());
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["choices"][0]["message"]["content"], Reference("tell me a story", 12));
  }
  sampled["top_k"] = 2.5;
  EXPECT_EQ(Post("/v1/chat/completions", sampled.dump())->status, 400);
  // rag: null asks for nothing.
  json plain = ChatBody("tell me a story", 12, false);
  plain["rag"] = nullptr;
  EXPECT_EQ(json::parse(Post("/v1/chat/completions", plain.dump())->body)["choices"][0]["message"]["content"],
            Reference("tell me a story", 12));
}

TEST_F(ServerTest, BadRequestsGetOpenAiErrors) {
  auto expect_error = [&](const httplib::Result& r, int status, const std::string& type) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, status) << r->body;
    const json body = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(body.contains("error")) << r->body;
    EXPECT_EQ(body["error"]["type"], type);
    EXPECT_FALSE(body["error"]["message"].get<std::string>().empty());
  };
  expect_error(Post("/v1/chat/completions", "{not json"), 400, "invalid_request_error");
  expect_error(Post("/v1/chat/completions", "[1, 2]"), 400, "invalid_request_error");
  expect_error(Post("/v1/chat/completions", "{}"), 400, "invalid_request_error");
  expect_error(Post("/v1/chat/completions", R"({"messages": [{"role": "user"}]})"), 400, "invalid_request_error");
  expect_error(Post("/v1/chat/completions", R"({"messages": [{"role": "wizard", "content": "x"}]})"), 400,
               "invalid_request_error");
  expect_error(Post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "temperature": 9})"),
               400, "invalid_request_error");
  expect_error(Post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "a"})"),
               400, "invalid_request_error");
  expect_error(Post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})"), 400,
               "invalid_request_error");
  expect_error(Post("/v1/chat/completions",
                    R"({"messages": [{"role": "user", "content": "x"}], "rag": {"collection": "none"}})"),
               404, "not_found_error");
  expect_error(Post("/v1/completions", R"({"prompt": ["a", "b"]})"), 400, "invalid_request_error");
  expect_error(Post("/detokenize", R"({"tokens": [99999999]})"), 400, "invalid_request_error");
  std::string long_prompt;
  for (int i = 0; i < 900; ++i) long_prompt += "word ";
  expect_error(Post("/v1/completions", json{{"prompt", long_prompt}}.dump()), 400, "invalid_request_error");
  expect_error(Post("/v1/completions", std::string(100 * 1024, ' ')), 413, "invalid_request_error");
  expect_error(client_->Get("/v1/nothing"), 404, "not_found_error");
  // These were 500s: a value of the wrong JSON type threw inside the handler.
  expect_error(Post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": [{"type": 1}]}]})"), 400,
               "invalid_request_error");
  expect_error(Post("/tokenize", R"({"content": "x", "add_special": "yes"})"), 400, "invalid_request_error");
  // llama-server's pieces are not answered: refused, not a reply without them; null asks nothing.
  expect_error(Post("/tokenize", R"({"content": "x", "with_pieces": true})"), 400, "invalid_request_error");
  expect_error(Post("/detokenize", R"({"tokens": [1], "skip_special": true})"), 400, "invalid_request_error");
  EXPECT_EQ(Post("/tokenize", R"({"content": "x", "add_special": null, "with_pieces": false})")->status, 200);
  expect_error(Post("/v1/chat/completions", R"({"messages": [{"role": "user", "content": "q"}],
                                               "rag": {"documents": [{"text": "d", "id": {"a": 1}}]}})"),
               400, "invalid_request_error");
  auto health = client_->Get("/health");  // still serving
  EXPECT_EQ(health->status, 200);
}

TEST(ServerAuth, ApiKeyIsRequiredWhenSet) {
  ServerOptions o = TinyServerOptions(256);
  o.api_key = "secret";
  Server s(o);
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.WaitReady());
  httplib::Client c("127.0.0.1", s.port());
  EXPECT_EQ(c.Get("/health")->status, 200);  // health stays open for probes
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  httplib::Headers wrong = {{"Authorization", "Bearer nope"}};
  EXPECT_EQ(c.Get("/v1/models", wrong)->status, 401);
  httplib::Headers right = {{"Authorization", "Bearer secret"}};
  EXPECT_EQ(c.Get("/v1/models", right)->status, 200);
  s.Stop();
}

TEST(ServerHostile, DeeplyNestedBodyIsA400AndTheServerLives) {
  Server s(TinyServerOptions(256));  // the default 1 MiB body limit
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.WaitReady());
  httplib::Client c("127.0.0.1", s.port());
  // 100,000 nested arrays as a document id (200 KB) overflowed the stack in dump().
  const std::string id = std::string(100'000, '[') + std::string(100'000, ']');
  const std::string body = R"({"messages": [{"role": "user", "content": "q"}], "rag": {"documents": [{"text": "x", "id": )" +
                           id + "}]}}";
  auto r = c.Post("/v1/chat/completions", body, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(c.Get("/health")->status, 200);
  s.Stop();
}

// A chunk KV file damaged on disk between two runs: recomputed, counted in /metrics, and the
// answer is the one the first run gave.
TEST(ServerStore, DamagedChunkFilesAreRecomputedAndCounted) {
  const std::string dir = std::string(KVFUSE_TEST_TMP) + "/server-store-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  ServerOptions o = TinyServerOptions(256);
  o.engine.chunk_store_dir = dir;
  const json req = {{"messages", {{{"role", "user"}, {"content", "which colour?"}}}},
                    {"rag", {{"documents", {"The sky is blue.", "Grass is green."}}, {"fusion_mode", "naive"}}},
                    {"max_tokens", 4}, {"temperature", 0}};
  json first;
  {
    Server s(o);
    ASSERT_TRUE(s.Start().ok());
    ASSERT_TRUE(s.WaitReady());
    httplib::Client c("127.0.0.1", s.port());
    first = json::parse(c.Post("/v1/chat/completions", req.dump(), "application/json")->body);
    EXPECT_EQ(first["timings"]["chunk_misses"], 2);
    s.Stop();
  }
  int damaged = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(entry.file_size() / 2));
    f.put('\x5a');
    ++damaged;
  }
  ASSERT_EQ(damaged, 2);
  Server s(o);
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.WaitReady());
  httplib::Client c("127.0.0.1", s.port());
  const json second = json::parse(c.Post("/v1/chat/completions", req.dump(), "application/json")->body);
  EXPECT_EQ(second["timings"]["chunk_misses"], 2);
  EXPECT_EQ(second["choices"][0]["message"]["content"], first["choices"][0]["message"]["content"]);
  const std::string metrics = c.Get("/metrics")->body;
  EXPECT_NE(metrics.find("\nkvfuse_chunk_store_corrupt_files_total 2\n"), std::string::npos) << metrics;
  s.Stop();
  std::filesystem::remove_all(dir);
}

// A collection ingested with the server's own model (so the question is embedded too), then
// asked through the API: the retrieved chunks are named and used.
TEST(ServerCollection, ACollectionIsSearchedAndItsChunksUsed) {
  const std::string root = std::string(KVFUSE_TEST_TMP) + "/server-collection-" + std::to_string(::getpid());
  std::filesystem::remove_all(root);
  std::filesystem::create_directories(root + "/docs");
  std::ofstream(root + "/docs/people.md") << "# Ada\n\nAda lives in Lowvale.\n\n# Bruno\n\nBruno lives in Corvale.\n";
  ServerOptions o = TinyServerOptions(512);
  std::string bruno;  // the id of the chunk that answers
  {
    auto e = engine::Engine::Load(o.engine);
    ASSERT_TRUE(e.ok());
    auto c = rag::Collection::Open(root + "/demo");
    ASSERT_TRUE(c.ok());
    rag::IngestHooks hooks;
    hooks.model_fingerprint = e.value()->model_fingerprint();
    hooks.count_tokens = [&](std::string_view t) { return static_cast<int32_t>(e.value()->tokenizer()->Encode(std::string(t), false).size()); };
    hooks.embed = [&](const std::string& text) { return e.value()->EmbedText(text, 0); };
    const rag::IngestReport r = c->Ingest({root + "/docs"}, rag::ChunkOptions{}, hooks);
    ASSERT_TRUE(r.errors.empty()) << r.errors[0];
    ASSERT_GE(c->n_chunks(), 2u);
    for (size_t i = 0; i < c->n_chunks(); ++i)
      if (c->chunk(static_cast<int32_t>(i)) && c->chunk(static_cast<int32_t>(i))->text.find("Bruno") != std::string::npos)
        bruno = "demo#" + std::to_string(i);
    ASSERT_TRUE(c->Save().ok());
  }
  o.collections = {root + "/demo/"};  // named "demo" with the slash that tab completion adds
  Server s(o);
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.WaitReady());
  httplib::Client client("127.0.0.1", s.port());
  // The top-level top_k is the sampler's (llama.cpp clients send 40): rag.top_k counts chunks.
  const json req = {{"messages", {{{"role", "user"}, {"content", "Where does Bruno live?"}}}},
                    {"rag", {{"collection", "demo"}, {"top_k", 2}, {"fusion_mode", "full"}}},
                    {"top_k", 1}, {"max_tokens", 2}, {"temperature", 0}};
  auto r = client.Post("/v1/chat/completions", req.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  const json body = json::parse(r->body);
  ASSERT_EQ(body["documents_used"].size(), 2u);
  // Both chunks come from one file: the prompt has them in reading order, Ada's section first.
  EXPECT_EQ(body["documents_used"][1], bruno);
  EXPECT_GT(body["usage"]["prompt_tokens"].get<int>(), 20);
  s.Stop();
  std::filesystem::remove_all(root);
}

TEST(ServerQueue, FullQueueAnswers429) {
  ServerOptions o = TinyServerOptions(256);
  o.max_queue = 0;  // no waiting room at all
  Server s(o);
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.WaitReady());
  httplib::Client c("127.0.0.1", s.port());
  auto r = c.Post("/v1/completions", R"({"prompt": "hi", "max_tokens": 2})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "rate_limit_error");
  s.Stop();
}

TEST_F(ServerTest, ConcurrentClientsAllGetTheirAnswer) {
  const std::string reference = Reference("count", 16);
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 8; ++i)
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", server_->port());
      c.set_read_timeout(60, 0);
      auto r = c.Post("/v1/chat/completions", ChatBody("count", 16, i % 2 == 0).dump(), "application/json");
      if (!r || r->status != 200) return;
      std::string finish;
      const std::string text =
          i % 2 == 0 ? StreamedText(r->body, &finish)
                     : json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>();
      ok += text == reference;
    });
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok, 8);
}

TEST_F(ServerTest, DisconnectMidStreamFreesTheSequence) {
  // Baseline: the same prompt run to completion; what stays in use is the prefix cache.
  ASSERT_EQ(Post("/v1/chat/completions", ChatBody("go on", 8, false).dump())->status, 200);
  const int64_t baseline = Metric(client_->Get("/metrics")->body, "kvfuse_kv_blocks_used");
  ASSERT_GE(baseline, 0);
  {
    httplib::Client c("127.0.0.1", server_->port());
    int events = 0;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = ChatBody("go on", 400, true).dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++events < 2; };
    auto r = c.send(req);
    EXPECT_GE(events, 1);
  }
  // The abandoned request stops at its next token and its blocks go back to the pool.
  int64_t used = -1;
  for (int i = 0; i < 500 && used != baseline; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    used = Metric(client_->Get("/metrics")->body, "kvfuse_kv_blocks_used");
  }
  EXPECT_EQ(used, baseline);
  const int64_t generated = Metric(client_->Get("/metrics")->body, "kvfuse_completion_tokens_total");
  EXPECT_LT(generated, 8 + 400);  // cut short, not run to max_tokens
  ASSERT_EQ(Post("/v1/chat/completions", ChatBody("go on", 8, false).dump())->status, 200);
}

TEST(ServerScheduling, RequestsPreemptedForKvSpaceStillFinishWithTheirAnswer) {
  // 6 blocks of 16 tokens; four live requests that each grow to about 3 blocks cannot all
  // fit: some are preempted and restarted, and every client still gets its whole answer.
  ServerOptions o = TinyServerOptions(96);
  o.slots = 4;
  o.batch_tokens = 16;
  Server s(o);
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.WaitReady());
  const std::vector<std::string> users = {"alpha", "beta gamma", "delta", "epsilon zeta eta"};
  std::vector<std::string> texts(users.size()), references(users.size());
  for (size_t i = 0; i < users.size(); ++i) references[i] = ServerTestReference(users[i], 30);
  std::vector<std::thread> clients;
  for (size_t i = 0; i < users.size(); ++i)
    clients.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", s.port());
      c.set_read_timeout(60, 0);
      const json body = {{"messages", {{{"role", "user"}, {"content", users[i]}}}}, {"max_tokens", 30},
                         {"temperature", 0}, {"stream", i % 2 == 1}};
      auto r = c.Post("/v1/chat/completions", body.dump(), "application/json");
      if (!r || r->status != 200) return;
      if (i % 2 == 1) {
        for (size_t at = 0; (at = r->body.find("data: {", at)) != std::string::npos; ++at) {
          const json chunk = json::parse(r->body.substr(at + 6, r->body.find("\n\n", at) - at - 6));
          if (chunk["choices"][0]["delta"].contains("content"))
            texts[i] += chunk["choices"][0]["delta"]["content"].get<std::string>();
        }
      } else {
        texts[i] = json::parse(r->body)["choices"][0]["message"]["content"];
      }
    });
  for (auto& t : clients) t.join();
  for (size_t i = 0; i < users.size(); ++i) EXPECT_EQ(texts[i], references[i]) << users[i];
  httplib::Client c("127.0.0.1", s.port());
  const std::string metrics = c.Get("/metrics")->body;
  const size_t at = metrics.find("\nkvfuse_preemptions_total ");
  ASSERT_NE(at, std::string::npos);
  EXPECT_GT(std::stoll(metrics.substr(at + 26)), 0);
  s.Stop();
}

}  // namespace
}  // namespace kvfuse::server
