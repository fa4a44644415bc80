// What the OpenAI SDKs and llama-server clients send and expect, through real HTTP on
// loopback: embeddings in base64, n, stream_options.include_usage, system_fingerprint,
// /v1/models/{id}, CORS, tool messages, and every parameter the server cannot honour refused
// by name.
#include <cstring>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"
#include "tiny_server_options.h"

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

std::vector<uint8_t> DecodeBase64(const std::string& text) {
  const std::string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    if (c == '=') break;
    const size_t d = digits.find(c);
    EXPECT_NE(d, std::string::npos) << c;
    acc = acc << 6 | static_cast<uint32_t>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits & 0xff));
    }
  }
  return out;
}

// The data of every SSE event, [DONE] included.
std::vector<std::string> Events(const std::string& sse) {
  std::vector<std::string> events;
  for (size_t at = 0; (at = sse.find("data: ", at)) != std::string::npos;) {
    const size_t end = sse.find("\n\n", at);
    events.push_back(sse.substr(at + 6, end - at - 6));
    at = end;
  }
  return events;
}

class OpenAiCompatTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(TinyServerOptions(256)); }
  void TearDown() override { server_->Stop(); }
  void Start(ServerOptions o) {
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_TRUE(server_->WaitReady());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
  }
  httplib::Result Post(const std::string& path, const json& body) {
    return client_->Post(path.c_str(), body.dump(), "application/json");
  }
  static json Chat(int max_tokens, bool stream) {
    return {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", max_tokens},
            {"temperature", 0}, {"stream", stream}};
  }
  // A 400 whose OpenAI error names `param`.
  static void ExpectRefused(const httplib::Result& r, const std::string& param, const std::string& what) {
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, 400) << what << ": " << r->body;
    const json body = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(body.contains("error")) << what << ": " << r->body;
    EXPECT_EQ(body["error"]["param"], param) << what;
    EXPECT_EQ(body["error"]["type"], "invalid_request_error") << what;
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(OpenAiCompatTest, EmbeddingsInBase64AreTheFloatsLittleEndian) {
  const json input = {"the sky is blue", "grass"};
  auto floats = Post("/v1/embeddings", {{"input", input}});
  auto base64 = Post("/v1/embeddings", {{"input", input}, {"encoding_format", "base64"}});
  ASSERT_EQ(floats->status, 200) << floats->body;
  ASSERT_EQ(base64->status, 200) << base64->body;
  const json f = json::parse(floats->body), b = json::parse(base64->body);
  ASSERT_EQ(b["data"].size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const std::vector<float> expected = f["data"][i]["embedding"];
    ASSERT_FALSE(expected.empty());
    const std::vector<uint8_t> bytes = DecodeBase64(b["data"][i]["embedding"]);
    ASSERT_EQ(bytes.size(), expected.size() * 4);
    for (size_t k = 0; k < expected.size(); ++k) {
      const uint32_t u = bytes[4 * k] | bytes[4 * k + 1] << 8 | bytes[4 * k + 2] << 16 | uint32_t{bytes[4 * k + 3]} << 24;
      float x;
      std::memcpy(&x, &u, 4);
      ASSERT_EQ(x, expected[k]) << "input " << i << ", dimension " << k;
    }
  }
  const size_t n_embd = f["data"][0]["embedding"].size();
  EXPECT_EQ(Post("/v1/embeddings", {{"input", "x"}, {"encoding_format", "float"}, {"dimensions", n_embd}})->status, 200);
  ExpectRefused(Post("/v1/embeddings", {{"input", "x"}, {"encoding_format", "int8"}}), "encoding_format", "int8");
  ExpectRefused(Post("/v1/embeddings", {{"input", "x"}, {"encoding_format", 1}}), "encoding_format", "a number");
  ExpectRefused(Post("/v1/embeddings", {{"input", "x"}, {"dimensions", n_embd / 2}}), "dimensions", "fewer");
  // Each input of a batch (run one at a time between the scheduler's iterations) is its own
  // request's embedding, at its index.
  for (size_t i = 0; i < 2; ++i) {
    auto one = Post("/v1/embeddings", {{"input", input[i]}});
    ASSERT_EQ(one->status, 200) << one->body;
    EXPECT_EQ(json::parse(one->body)["data"][0]["embedding"], f["data"][i]["embedding"]) << i;
    EXPECT_EQ(f["data"][i]["index"], i);
  }
  std::string too_long;
  for (int i = 0; i < 2000; ++i) too_long += "word ";
  ExpectRefused(Post("/v1/embeddings", {{"input", {"grass", too_long}}}), "input", "an input past the context");
}

TEST_F(OpenAiCompatTest, NChoicesAreChoiceIAsSampledWithSeedPlusI) {
  const auto post = [&](const std::string& path, json req) {
    const auto r = Post(path, req);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body);
  };
  json req = Chat(8, false);
  req["temperature"] = 1.0;
  req["seed"] = 41;
  req["n"] = 3;
  const json three = post("/v1/chat/completions", req);
  ASSERT_EQ(three["choices"].size(), 3u);
  int completion_tokens = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(three["choices"][i]["index"], i);
    json one = req;
    one["n"] = 1;
    one["seed"] = 41 + i;
    const json single = post("/v1/chat/completions", one);
    EXPECT_EQ(three["choices"][i]["message"]["content"], single["choices"][0]["message"]["content"]) << i;
    completion_tokens += single["usage"]["completion_tokens"].get<int>();
  }
  EXPECT_EQ(three["usage"]["completion_tokens"], completion_tokens);
  EXPECT_EQ(three["usage"]["prompt_tokens"], post("/v1/chat/completions", Chat(1, false))["usage"]["prompt_tokens"]);

  // Streamed: each chunk names its choice; the texts assemble to the whole answer's.
  req["stream"] = true;
  std::vector<std::string> texts(3);
  for (const std::string& e : Events(Post("/v1/chat/completions", req)->body)) {
    if (e == "[DONE]") continue;
    const json chunk = json::parse(e);
    for (const json& c : chunk["choices"])
      texts[c["index"].get<int>()] += c["delta"].value("content", "");
  }
  for (int i = 0; i < 3; ++i) EXPECT_EQ(texts[i], three["choices"][i]["message"]["content"]) << i;

  const json text = post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 4}, {"n", 2}, {"seed", 5}});
  EXPECT_EQ(text["choices"].size(), 2u);
  for (const json& n : {json(kMaxChoices + 1), json(0), json("1"), json(1.5)}) {
    req["n"] = n;
    ExpectRefused(Post("/v1/chat/completions", req), "n", n.dump());
  }
}

TEST_F(OpenAiCompatTest, WithoutASeedSampledAnswersDiffer) {
  json req = Chat(16, false);
  req["temperature"] = 1.0;
  const auto text = [&] { return json::parse(Post("/v1/chat/completions", req)->body)["choices"][0]["message"]["content"]; };
  const json first = text();
  bool differed = false;
  for (int i = 0; i < 4 && !differed; ++i) differed = text() != first;
  EXPECT_TRUE(differed) << "five unseeded answers were all " << first;
  req["seed"] = -1;  // llama.cpp's spelling of "random"
  EXPECT_EQ(Post("/v1/chat/completions", req)->status, 200);
}

TEST_F(OpenAiCompatTest, IncludeUsageSendsAUsageChunkBeforeDone) {
  const json whole = json::parse(Post("/v1/chat/completions", Chat(6, false))->body);
  json req = Chat(6, true);
  req["stream_options"] = {{"include_usage", true}};
  const std::vector<std::string> events = Events(Post("/v1/chat/completions", req)->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(events.back(), "[DONE]");
  const json usage_chunk = json::parse(events[events.size() - 2]);
  EXPECT_EQ(usage_chunk["choices"], json::array());
  EXPECT_EQ(usage_chunk["object"], "chat.completion.chunk");
  EXPECT_EQ(usage_chunk["usage"]["prompt_tokens"], whole["usage"]["prompt_tokens"]);
  EXPECT_EQ(usage_chunk["usage"]["completion_tokens"], whole["usage"]["completion_tokens"]);
  for (size_t i = 0; i + 2 < events.size(); ++i)  // only the last chunk has usage
    EXPECT_FALSE(json::parse(events[i]).contains("usage")) << events[i];
  EXPECT_FALSE(json::parse(events[events.size() - 3])["choices"][0]["finish_reason"].is_null());

  req["stream_options"] = {{"include_usage", false}};
  for (const std::string& e : Events(Post("/v1/chat/completions", req)->body))
    if (e != "[DONE]") {
      EXPECT_FALSE(json::parse(e).contains("usage")) << e;
    }
  // Text completions too.
  const std::vector<std::string> text = Events(Post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 2}, {"stream", true},
                                                                        {"stream_options", {{"include_usage", true}}}})->body);
  ASSERT_GE(text.size(), 3u);
  EXPECT_GT(json::parse(text[text.size() - 2])["usage"]["completion_tokens"].get<int>(), 0);

  req["stream_options"] = {{"include_usage", "yes"}};
  ExpectRefused(Post("/v1/chat/completions", req), "stream_options", "a string");
  req["stream_options"] = true;
  ExpectRefused(Post("/v1/chat/completions", req), "stream_options", "not an object");
  req["stream_options"] = {{"include_obfuscation", true}};
  ExpectRefused(Post("/v1/chat/completions", req), "stream_options", "an unknown option");
  json whole_req = Chat(2, false);
  whole_req["stream_options"] = {{"include_usage", true}};
  ExpectRefused(Post("/v1/chat/completions", whole_req), "stream_options", "without stream");
}

TEST_F(OpenAiCompatTest, EveryAnswerCarriesTheSameSystemFingerprint) {
  const json whole = json::parse(Post("/v1/chat/completions", Chat(3, false))->body);
  const std::string fingerprint = whole["system_fingerprint"];
  EXPECT_EQ(fingerprint.rfind("kvfuse-", 0), 0u) << fingerprint;
  EXPECT_EQ(fingerprint.size(), 7u + 16u);
  EXPECT_EQ(json::parse(Post("/v1/completions", {{"prompt", "a"}, {"max_tokens", 1}})->body)["system_fingerprint"],
            fingerprint);
  json req = Chat(3, true);
  req["stream_options"] = {{"include_usage", true}};
  for (const std::string& e : Events(Post("/v1/chat/completions", req)->body))
    if (e != "[DONE]") {
      EXPECT_EQ(json::parse(e)["system_fingerprint"], fingerprint) << e;
    }
  // Another model file, another fingerprint.
  auto other_path = tools::TestModelFile("tiny", "f32", 6);
  ASSERT_TRUE(other_path.ok());
  ServerOptions o = TinyServerOptions(256);
  o.engine.model_path = other_path.value();
  Server other(o);
  ASSERT_TRUE(other.Start().ok());
  ASSERT_TRUE(other.WaitReady());
  httplib::Client c("127.0.0.1", other.port());
  const auto r = c.Post("/v1/chat/completions", Chat(1, false).dump(), "application/json");
  EXPECT_NE(json::parse(r->body)["system_fingerprint"], fingerprint);
  other.Stop();
}

TEST_F(OpenAiCompatTest, ModelsById) {
  const json list = json::parse(client_->Get("/v1/models")->body);
  const std::string id = list["data"][0]["id"];
  auto one = client_->Get(("/v1/models/" + id).c_str());
  ASSERT_EQ(one->status, 200) << one->body;
  json model = json::parse(one->body), listed = list["data"][0];
  model.erase("created");
  listed.erase("created");
  EXPECT_EQ(model, listed);
  auto none = client_->Get("/v1/models/gpt-4o");
  ASSERT_EQ(none->status, 404);
  const json error = json::parse(none->body)["error"];
  EXPECT_EQ(error["type"], "not_found_error");
  EXPECT_EQ(error["param"], "model");
}

TEST(OpenAiCompatCors, BrowsersMayCallWithTheKey) {
  ServerOptions o = TinyServerOptions(256);
  o.api_key = "secret";
  Server s(o);
  ASSERT_TRUE(s.Start().ok());
  ASSERT_TRUE(s.WaitReady());
  httplib::Client c("127.0.0.1", s.port());
  // The preflight has no key and is answered; the SDK's own headers are allowed too.
  auto pre = c.Options("/v1/chat/completions", {{"Origin", "http://localhost:3000"},
                                                {"Access-Control-Request-Method", "POST"},
                                                {"Access-Control-Request-Headers", "authorization,content-type,x-stainless-os"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_EQ(pre->get_header_value("Access-Control-Allow-Origin"), "*");
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Methods").find("POST"), std::string::npos);
  const std::string allowed = pre->get_header_value("Access-Control-Allow-Headers");
  for (const char* h : {"Authorization", "Content-Type", "x-stainless-os"})
    EXPECT_NE(allowed.find(h), std::string::npos) << allowed;
  // A request header that is not a list of names is not echoed back.
  auto odd = c.Options("/v1/models", {{"Access-Control-Request-Headers", "x-a;<b>"}});
  EXPECT_EQ(odd->get_header_value("Access-Control-Allow-Headers"), "Authorization, Content-Type");
  // Answers and errors alike carry the origin header, so a browser can read why it failed.
  const httplib::Headers key = {{"Authorization", "Bearer secret"}};
  auto ok = c.Get("/v1/models", key);
  EXPECT_EQ(ok->status, 200);
  EXPECT_EQ(ok->get_header_value("Access-Control-Allow-Origin"), "*");
  auto denied = c.Get("/v1/models");
  EXPECT_EQ(denied->status, 401);
  EXPECT_EQ(denied->get_header_value("Access-Control-Allow-Origin"), "*");
  const json chat = {{"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"max_tokens", 2}, {"stream", true}};
  auto streamed = c.Post("/v1/chat/completions", key, chat.dump(), "application/json");
  EXPECT_EQ(streamed->status, 200);
  EXPECT_EQ(streamed->get_header_value("Access-Control-Allow-Origin"), "*");
  s.Stop();
}

TEST_F(OpenAiCompatTest, ToolResultsAndEmptyAssistantMessagesAreRendered) {
  // The template gets role and content: an assistant turn without content is an empty one.
  const json messages = {{{"role", "user"}, {"content", "what is 6 x 7?"}},
                         {{"role", "assistant"}, {"content", nullptr}},
                         {{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "42"}},
                         {{"role", "user"}, {"content", "so?"}}};
  auto r = Post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 1}, {"temperature", 0}});
  ASSERT_EQ(r->status, 200) << r->body;
  auto engine = engine::Engine::Load(TinyServerOptions(256).engine);
  ASSERT_TRUE(engine.ok());
  auto tokens = engine.value()->EncodeChat(
      {{"user", "what is 6 x 7?"}, {"assistant", ""}, {"tool", "42"}, {"user", "so?"}}, true);
  ASSERT_TRUE(tokens.ok());
  EXPECT_EQ(json::parse(r->body)["usage"]["prompt_tokens"], tokens->size());
  // An assistant message without a content key is the same message.
  json no_key = messages;
  no_key[1].erase("content");
  auto same = Post("/v1/chat/completions", {{"messages", no_key}, {"max_tokens", 1}, {"temperature", 0}});
  EXPECT_EQ(json::parse(same->body)["usage"]["prompt_tokens"], tokens->size());
  // Tool calls reach the template (this ChatML model's: as a Hermes <tool_call> block).
  json calls = messages;
  calls[1]["tool_calls"] = {{{"id", "call_1"}, {"type", "function"},
                             {"function", {{"name", "mul"}, {"arguments", R"({"a": 6, "b": 7})"}}}}};
  auto with_calls = Post("/v1/chat/completions", {{"messages", calls}, {"max_tokens", 1}, {"temperature", 0}});
  ASSERT_EQ(with_calls->status, 200) << with_calls->body;
  const std::string block = "<tool_call>\n{\"name\":\"mul\",\"arguments\":{\"a\":6,\"b\":7}}\n</tool_call>";
  // ... and the tool's answer as a <tool_response> of the user's, as Hermes models are taught.
  auto hermes = engine.value()->EncodeChat(
      {{"user", "what is 6 x 7?"}, {"assistant", block}, {"user", "<tool_response>\n42\n</tool_response>"}, {"user", "so?"}}, true);
  ASSERT_TRUE(hermes.ok());
  EXPECT_EQ(json::parse(with_calls->body)["usage"]["prompt_tokens"], hermes->size());
  calls[1]["tool_calls"] = {{{"function", {{"name", "mul"}}}}};
  ExpectRefused(Post("/v1/chat/completions", {{"messages", calls}}), "messages", "a call without arguments");
  // Arguments nested 100,000 deep (a string: the body's depth check does not look inside)
  // reach the template as text, a prompt too long for this server; parsed, their copy recursed
  // past the stack and killed the server (this test with it).
  calls[1]["tool_calls"] = {{{"function", {{"name", "mul"},
                                           {"arguments", "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}"}}}}};
  ExpectRefused(Post("/v1/chat/completions", {{"messages", calls}, {"max_tokens", 1}}), "messages", "deep arguments");
  calls[1]["tool_calls"] = json::array();  // an empty list asks for nothing
  EXPECT_EQ(Post("/v1/chat/completions", {{"messages", calls}, {"max_tokens", 1}})->status, 200);
  ExpectRefused(Post("/v1/chat/completions", {{"messages", {{{"role", "tool"}}}}}), "messages", "a tool message without content");
  // Only an assistant calls tools: a user's calls were rendered unchecked, and a call that is
  // not an object ended in a 500.
  const json a_call = {{"function", {{"name", "mul"}, {"arguments", "{}"}}}};
  for (const json& user_calls : {json::array({1}), json::array({a_call}), json("s")}) {
    const json turn = {{"role", "user"}, {"content", "hi"}, {"tool_calls", user_calls}};
    ExpectRefused(Post("/v1/chat/completions", {{"messages", {turn}}}), "messages", user_calls.dump());
  }
  ExpectRefused(Post("/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", nullptr}}}}}), "messages",
                "a user message with null content");
}

TEST_F(OpenAiCompatTest, ParametersThatAskForNothingAreAcceptedTheOthersRefusedByName) {
  const std::vector<std::pair<const char*, json>> no_ops = {
      {"n", 1}, {"presence_penalty", 0}, {"frequency_penalty", 0.0}, {"logit_bias", json::object()},
      {"logprobs", false}, {"top_logprobs", 0}, {"tools", json::array()}, {"tool_choice", "none"},
      {"parallel_tool_calls", true}, {"response_format", {{"type", "text"}}}, {"functions", json::array()},
      {"function_call", "none"}, {"logprobs", nullptr}, {"max_completion_tokens", nullptr}, {"max_completion_tokens", 1},
      {"seed", 18446744073709551615ULL}, {"seed", -1}, {"seed", 5.0}, {"parallel_tool_calls", nullptr}, {"user", "u"}};
  for (const auto& [name, value] : no_ops) {
    json req = Chat(1, false);
    req[name] = value;
    const auto r = Post("/v1/chat/completions", req);
    EXPECT_EQ(r->status, 200) << name << " = " << value.dump() << ": " << r->body;
    // max_tokens 1 still holds (a null max_completion_tokens made it ignored).
    if (r->status == 200) {
      EXPECT_LE(json::parse(r->body)["usage"]["completion_tokens"], 1) << name << " = " << value.dump();
    }
  }
  // A grammar is honoured: the answer is the grammar's only sentence.
  json constrained = Chat(8, false);
  constrained["grammar"] = "root ::= \"ab\" \"c\"?";
  constrained["temperature"] = 1.5;
  const auto g = Post("/v1/chat/completions", constrained);
  ASSERT_EQ(g->status, 200) << g->body;
  const std::string answer = json::parse(g->body)["choices"][0]["message"]["content"];
  EXPECT_TRUE(answer == "ab" || answer == "abc") << answer;
  constrained["ignore_eos"] = true;  // the grammar decides where the answer ends
  ExpectRefused(Post("/v1/chat/completions", constrained), "ignore_eos", "with a grammar");
  const json tool = {{"type", "function"}, {"function", {{"name", "mul"}, {"parameters", {{"type", "object"}}}}}};
  const std::vector<std::pair<const char*, json>> refused = {
      {"presence_penalty", 3}, {"presence_penalty", "0"}, {"frequency_penalty", -2.5}, {"repeat_penalty", 0},
      {"repeat_last_n", -2}, {"repeat_last_n", 1.5}, {"max_tokens", 1.5}, {"max_completion_tokens", 2},
      {"seed", 0.5}, {"seed", -2}, {"seed", "7"}, {"seed", 1e300}, {"model", {{"a", 1}}}, {"user", 5},
      {"logit_bias", {{"-1", 100}}}, {"logit_bias", {{"x", 1}}}, {"logit_bias", {{"15", 101}}},
      {"logit_bias", {{"15", "1"}}}, {"logit_bias", 1}, {"logprobs", 1}, {"top_logprobs", 21},
      {"top_logprobs", 2}, {"tools", "mul"}, {"tools", {{{"type", "function"}}}}, {"tool_choice", "auto"},
      {"tool_choice", {{"type", "function"}, {"function", {{"name", "mul"}}}}}, {"parallel_tool_calls", "yes"},
      {"response_format", {{"type", "json_schema"}, {"json_schema", json::object()}}},
      {"response_format", {{"type", "json_schema"}, {"json_schema", {{"schema", {{"type", "string"}, {"pattern", "a+"}}}}}}},
      {"response_format", "text"}, {"grammar", "root ::= missing"}, {"grammar", 5}, {"json_schema", {{"type", "nope"}}},
      {"tools", {{{"type", 5}}}}, {"functions", {tool["function"]}}, {"function_call", "auto"}};
  for (const auto& [name, value] : refused) {
    json req = Chat(1, false);
    req[name] = value;
    ExpectRefused(Post("/v1/chat/completions", req), name, value.dump());
  }
  // The legacy completion endpoint's own: logprobs is a count there.
  const json text = {{"prompt", "a"}, {"max_tokens", 1}};
  for (const auto& [name, value] : std::vector<std::pair<const char*, json>>{
           {"echo", false}, {"best_of", 1}, {"suffix", ""}, {"logprobs", false}}) {
    json req = text;
    req[name] = value;
    EXPECT_EQ(Post("/v1/completions", req)->status, 200) << name;
  }
  for (const auto& [name, value] : std::vector<std::pair<const char*, json>>{
           {"echo", true}, {"best_of", 2}, {"suffix", "end"}, {"logprobs", 6}, {"logprobs", true}}) {
    json req = text;
    req[name] = value;
    ExpectRefused(Post("/v1/completions", req), name, value.dump());
  }
}

TEST_F(OpenAiCompatTest, LogprobsOfEveryTokenWholeAndStreamed) {
  json req = Chat(5, false);
  req["ignore_eos"] = true;
  req["logprobs"] = true;
  req["top_logprobs"] = 3;
  const json whole = json::parse(Post("/v1/chat/completions", req)->body);
  const json& content = whole["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 5u) << whole.dump();
  std::string text;
  for (const json& t : content) {
    text += t["token"].get<std::string>();
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    // Greedy: the token is the most likely, and the alternatives come most likely first.
    EXPECT_EQ(t["token"], t["top_logprobs"][0]["token"]);
    EXPECT_FLOAT_EQ(t["logprob"].get<float>(), t["top_logprobs"][0]["logprob"].get<float>());
    EXPECT_LE(t["logprob"].get<float>(), 0.0f);
    EXPECT_GE(t["top_logprobs"][0]["logprob"].get<float>(), t["top_logprobs"][2]["logprob"].get<float>());
  }
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"]);
  EXPECT_TRUE(json::parse(Post("/v1/chat/completions", Chat(1, false))->body)["choices"][0]["logprobs"].is_null());

  req["stream"] = true;
  json streamed = json::array();
  for (const std::string& e : Events(Post("/v1/chat/completions", req)->body)) {
    if (e == "[DONE]") continue;
    const json chunk = json::parse(e);
    for (const json& c : chunk["choices"])
      if (c.contains("logprobs") && !c["logprobs"].is_null())
        for (const json& t : c["logprobs"]["content"]) streamed.push_back(t);
  }
  EXPECT_EQ(streamed, content);

  json text_req = {{"prompt", "a b"}, {"max_tokens", 6}, {"ignore_eos", true}, {"logprobs", 2}, {"temperature", 0}};
  const json text_answer = json::parse(Post("/v1/completions", text_req)->body);
  const json& legacy = text_answer["choices"][0]["logprobs"];
  ASSERT_EQ(legacy["tokens"].size(), 6u) << text_answer.dump();
  EXPECT_EQ(legacy["text_offset"][0], 0);
  for (size_t i = 0; i < 6; ++i) {
    // Where each token starts in the tokens' bytes (a byte of a character shows as U+FFFD, so
    // the shown texts' lengths may differ from the offsets' steps).
    if (i > 0) {
      EXPECT_GT(legacy["text_offset"][i].get<int>(), legacy["text_offset"][i - 1].get<int>());
    }
    EXPECT_GE(legacy["top_logprobs"][i].size(), 1u);
    EXPECT_LE(legacy["top_logprobs"][i].size(), 3u);  // two, and the chosen token when they read alike
  }
  // Streamed, the chunks' logprobs put together are the whole answer's.
  text_req["stream"] = true;
  json tokens = json::array(), offsets = json::array();
  for (const std::string& e : Events(Post("/v1/completions", text_req)->body)) {
    if (e == "[DONE]") continue;
    const json chunk = json::parse(e);
    for (const json& c : chunk["choices"])
      if (c.contains("logprobs") && !c["logprobs"].is_null()) {
        for (const json& t : c["logprobs"]["tokens"]) tokens.push_back(t);
        for (const json& o : c["logprobs"]["text_offset"]) offsets.push_back(o);
      }
  }
  EXPECT_EQ(tokens, legacy["tokens"]);
  EXPECT_EQ(offsets, legacy["text_offset"]);
}

TEST_F(OpenAiCompatTest, LogitBiasOfOneHundredForcesItsToken) {
  json req = Chat(6, false);
  req["ignore_eos"] = true;
  req["temperature"] = 1.0;
  req["logit_bias"] = {{"70", 100}};  // sampled at temperature 1, yet always token 70
  const json forced = json::parse(Post("/v1/chat/completions", req)->body);
  ASSERT_EQ(forced["usage"]["completion_tokens"], 6);
  const json six = json::parse(
      client_->Post("/detokenize", json{{"tokens", std::vector<int>(6, 70)}}.dump(), "application/json")->body);
  EXPECT_EQ(forced["choices"][0]["message"]["content"], six["content"]);
  ExpectRefused(Post("/v1/chat/completions", [&] {
                  json r = req;
                  r["logit_bias"] = {{"999999", 1}};
                  return r;
                }()),
                "logit_bias", "an id outside the vocabulary");
}

TEST_F(OpenAiCompatTest, PenaltiesChangeTheAnswerAndAWindowOfZeroTurnsTheRepeatPenaltyOff) {
  const auto answer = [&](json extra) {
    json req = Chat(24, false);
    req["temperature"] = 0;
    req["ignore_eos"] = true;
    req.update(extra);
    const auto r = Post("/v1/chat/completions", req);
    EXPECT_EQ(r->status, 200) << r->body;
    return json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>();
  };
  const std::string plain = answer(json::object());
  EXPECT_NE(answer({{"frequency_penalty", 2}}), plain);
  EXPECT_NE(answer({{"presence_penalty", 2}}), plain);
  EXPECT_NE(answer({{"repeat_penalty", 3}, {"repeat_last_n", -1}}), plain);
  EXPECT_EQ(answer({{"repeat_penalty", 3}, {"repeat_last_n", 0}}), plain);
}

TEST_F(OpenAiCompatTest, UnknownParametersAreRefusedByNameNotIgnored) {
  json chat = Chat(1, false);
  chat["mirostat"] = 2;  // a llama.cpp sampler kvfuse does not have
  ExpectRefused(Post("/v1/chat/completions", chat), "mirostat", "mirostat");
  chat.erase("mirostat");
  chat["temprature"] = 0;  // a misspelling would otherwise change nothing
  ExpectRefused(Post("/v1/chat/completions", chat), "temprature", "temprature");
  chat.erase("temprature");
  chat["user"] = "user-1234";  // asks nothing of the answer
  EXPECT_EQ(Post("/v1/chat/completions", chat)->status, 200);
  ExpectRefused(Post("/v1/completions", {{"prompt", "a"}, {"messages", json::array()}}), "messages", "messages");
  // Null asks for nothing; so do OpenAI's service options and llama.cpp's samplers at their
  // neutral values, on /v1 as on /completion.
  for (const auto& [name, value] : std::vector<std::pair<const char*, json>>{
           {"no_such_field", nullptr}, {"store", false}, {"metadata", {{"k", "v"}}}, {"service_tier", "auto"},
           {"prompt_cache_key", "k"}, {"mirostat", 0}, {"typical_p", 1.0}, {"dry_multiplier", 0},
           {"xtc_probability", 0}, {"n_probs", 0}}) {
    json req = Chat(1, false);
    req[name] = value;
    EXPECT_EQ(Post("/v1/chat/completions", req)->status, 200) << name;
  }
  for (const auto& [name, value] : std::vector<std::pair<const char*, json>>{
           {"store", true}, {"service_tier", "flex"}, {"mirostat", 2}, {"typical_p", 0.5}, {"xtc_probability", 0.5}}) {
    json req = Chat(1, false);
    req[name] = value;
    ExpectRefused(Post("/v1/chat/completions", req), name, value.dump());
  }
  ExpectRefused(Post("/v1/embeddings", {{"input", "a"}, {"truncate", true}}), "truncate", "truncate");
  EXPECT_EQ(Post("/v1/embeddings", {{"input", "a"}, {"user", "u"}})->status, 200);
}

TEST_F(OpenAiCompatTest, CachePromptFalseTakesNothingFromThePrefixCache) {
  json req = Chat(1, false);
  req["messages"][0]["content"] = std::string(200, 'a');  // whole blocks to cache
  const auto cached = [&](json extra) {
    json r = req;
    r.update(extra);
    const auto reply = Post("/v1/chat/completions", r);
    EXPECT_EQ(reply->status, 200) << reply->body;
    return json::parse(reply->body)["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>();
  };
  cached(json::object());  // now in the prefix cache
  EXPECT_GT(cached({{"cache_prompt", true}}), 0);
  EXPECT_EQ(cached({{"cache_prompt", false}}), 0);
  ExpectRefused(Post("/v1/chat/completions", [&] {
                  json r = req;
                  r["cache_prompt"] = false;
                  r["rag"] = {{"documents", {"d"}}};
                  return r;
                }()),
                "cache_prompt", "cache_prompt with a reusing rag mode");
}

}  // namespace
}  // namespace kvfuse::server
