// llama-server's own API through real HTTP on loopback: /completion whole and streamed (its
// shapes, its stop_type, the same text as /v1/completions gives), n_predict, options that ask
// for nothing accepted and the rest refused by name; /props and /apply-template.
#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"
#include "tiny_server_options.h"

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

class NativeApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(TinyServerOptions(256));
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_TRUE(server_->WaitReady());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(60, 0);
  }
  void TearDown() override { server_->Stop(); }
  json PostOk(const std::string& path, const json& body) {
    const auto r = client_->Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return json();
    EXPECT_EQ(r->status, 200) << path << " " << body.dump() << ": " << r->body;
    return json::parse(r->body, nullptr, false);
  }
  // The param a 400 names.
  std::string Refused(const std::string& path, const json& body) {
    const auto r = client_->Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(r);
    if (!r) return "";
    EXPECT_EQ(r->status, 400) << body.dump() << ": " << r->body;
    return json::parse(r->body)["error"]["param"].get<std::string>();
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(NativeApiTest, CompletionAnswersInLlamaServersShapeWithTheTextOfV1) {
  const json native = PostOk("/completion", {{"prompt", "a b c"}, {"n_predict", 6}, {"temperature", 0}});
  const json v1 = PostOk("/v1/completions", {{"prompt", "a b c"}, {"max_tokens", 6}, {"temperature", 0}});
  EXPECT_EQ(native["content"], v1["choices"][0]["text"]);
  EXPECT_EQ(native["stop"], true);
  EXPECT_EQ(native["tokens_predicted"], v1["usage"]["completion_tokens"]);
  EXPECT_EQ(native["tokens_evaluated"], v1["usage"]["prompt_tokens"]);
  EXPECT_EQ(native["stop_type"], v1["choices"][0]["finish_reason"] == "length" ? "limit" : "eos");
  EXPECT_TRUE(native["timings"].contains("predicted_ms"));

  // Streamed: {content, stop: false} events, then the stop event; no [DONE].
  const auto r = client_->Post("/completion",
                               json{{"prompt", "a b c"}, {"n_predict", 6}, {"temperature", 0}, {"stream", true}}.dump(),
                               "application/json");
  ASSERT_TRUE(r);
  std::string text;
  json last;
  for (size_t at = 0; (at = r->body.find("data: ", at)) != std::string::npos;) {
    const size_t end = r->body.find("\n\n", at);
    last = json::parse(r->body.substr(at + 6, end - at - 6));  // [DONE] would not parse
    text += last["content"].get<std::string>();
    at = end;
  }
  EXPECT_EQ(text, native["content"]);
  EXPECT_EQ(last["stop"], true);
  EXPECT_EQ(last["tokens_predicted"], native["tokens_predicted"]);
}

TEST_F(NativeApiTest, NProbsGivesEachTokensLogprobsAsV1Does) {
  const json native = PostOk("/completion", {{"prompt", "a b c"}, {"n_predict", 5}, {"temperature", 0}, {"n_probs", 3},
                                             {"ignore_eos", true}});
  const json legacy = PostOk("/v1/completions", {{"prompt", "a b c"}, {"max_tokens", 5}, {"temperature", 0}, {"logprobs", 3},
                                                {"ignore_eos", true}});
  const json& probs = native["completion_probabilities"];
  ASSERT_EQ(probs.size(), 5u);
  for (size_t i = 0; i < probs.size(); ++i) {
    const json& p = probs[i];
    ASSERT_EQ(p["top_logprobs"].size(), 3u);
    EXPECT_EQ(p["top_logprobs"][0]["id"], p["id"]) << "greedy: the chosen token is the likeliest";
    EXPECT_FLOAT_EQ(p["logprob"].get<float>(), legacy["choices"][0]["logprobs"]["token_logprobs"][i].get<float>());
    EXPECT_EQ(p["token"], legacy["choices"][0]["logprobs"]["tokens"][i]);
    std::string bytes;
    for (const json& b : p["bytes"]) bytes += static_cast<char>(b.get<int>());
    // The bytes are the token's; its text shows a token that is part of a character as U+FFFD.
    if (p["token"].get<std::string>().find("\xEF\xBF\xBD") == std::string::npos) {
      EXPECT_EQ(bytes, p["token"].get<std::string>());
    }
  }
  // Streamed: each piece carries its own token's entry, the same as the whole answer's.
  const auto r = client_->Post("/completion", json{{"prompt", "a b c"}, {"n_predict", 5}, {"temperature", 0}, {"n_probs", 3},
                                                  {"ignore_eos", true}, {"stream", true}}.dump(), "application/json");
  ASSERT_TRUE(r);
  json streamed = json::array();
  for (size_t at = 0; (at = r->body.find("data: ", at)) != std::string::npos;) {
    const size_t end = r->body.find("\n\n", at);
    const json event = json::parse(r->body.substr(at + 6, end - at - 6));
    if (event.contains("completion_probabilities")) streamed.push_back(event["completion_probabilities"][0]);
    at = end;
  }
  EXPECT_EQ(streamed, probs);
}

TEST_F(NativeApiTest, StopTypeSaysWhatEndedTheAnswer) {
  const json plain = PostOk("/completion", {{"prompt", "a b c"}, {"n_predict", 8}, {"temperature", 0}, {"ignore_eos", true}});
  EXPECT_EQ(plain["stop_type"], "limit");
  const std::string content = plain["content"];
  ASSERT_GE(content.size(), 3u);
  const std::string word = content.substr(1, 2);
  const json stopped = PostOk("/completion", {{"prompt", "a b c"}, {"n_predict", 8}, {"temperature", 0},
                                              {"ignore_eos", true}, {"stop", {word}}});
  EXPECT_EQ(stopped["stop_type"], "word");
  EXPECT_EQ(stopped["stopping_word"], word);
  EXPECT_EQ(stopped["content"], content.substr(0, content.find(word)));
}

TEST_F(NativeApiTest, OptionsThatAskForNothingPassTheOthersAreRefusedByName) {
  PostOk("/completion", {{"prompt", "a"}, {"n_predict", 1}, {"n_probs", 0}, {"mirostat", 0}, {"typical_p", 1.0},
                         {"id_slot", -1}, {"return_tokens", false}, {"cache_prompt", true}});
  EXPECT_EQ(Refused("/completion", {{"prompt", "a"}, {"n_probs", 101}}), "n_probs");
  EXPECT_EQ(Refused("/completion", {{"prompt", "a"}, {"post_sampling_probs", true}}), "post_sampling_probs");
  EXPECT_EQ(Refused("/v1/completions", {{"prompt", "a"}, {"n_probs", 3}}), "n_probs");
  EXPECT_EQ(Refused("/completion", {{"prompt", "a"}, {"mirostat", 2}}), "mirostat");
  EXPECT_EQ(Refused("/completion", {{"prompt", "a"}, {"n_predict", 0}}), "n_predict");
  EXPECT_EQ(Refused("/completion", {{"prompt", "a"}, {"max_tokens", 3}}), "max_tokens");
  EXPECT_EQ(Refused("/completion", {{"prompt", "a"}, {"dry_multiplier", 0.8}}), "dry_multiplier");
  EXPECT_EQ(Refused("/completion", {{"prompt", "a"}, {"logprobs", 2}}), "logprobs");
  const json unlimited = PostOk("/completion", {{"prompt", "a"}, {"n_predict", -1}, {"ignore_eos", true}});
  EXPECT_EQ(unlimited["tokens_evaluated"].get<int>() + unlimited["tokens_predicted"].get<int>(), 256)
      << "n_predict -1 runs to the end of the context";
}

TEST_F(NativeApiTest, PropsAndApplyTemplate) {
  const auto props = client_->Get("/props");
  ASSERT_TRUE(props);
  const json p = json::parse(props->body);
  EXPECT_EQ(p["default_generation_settings"]["n_ctx"], 256);
  EXPECT_GE(p["total_slots"].get<int>(), 1);
  EXPECT_TRUE(p["chat_template"].is_string());
  const json messages = {{{"role", "user"}, {"content", "hello there"}}};
  const json applied = PostOk("/apply-template", {{"messages", messages}});
  // The same prompt /v1/chat/completions runs: its token count is the chat's prompt_tokens.
  const json tokens = PostOk("/tokenize", {{"content", applied["prompt"]}, {"add_special", false}});
  const json chat = PostOk("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 1}});
  EXPECT_NE(applied["prompt"].get<std::string>().find("hello there"), std::string::npos);
  EXPECT_NEAR(static_cast<double>(tokens["tokens"].size()), chat["usage"]["prompt_tokens"].get<double>(), 1.0);
  EXPECT_EQ(Refused("/apply-template", {{"messages", messages}, {"stream", true}}), "stream");
  // With tools, the prompt a chat with tools runs: its tool list and calls, not dropped.
  const json tools = {{{"type", "function"}, {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}};
  const json with_tools = PostOk("/apply-template", {{"messages", messages}, {"tools", tools}});
  EXPECT_NE(with_tools["prompt"].get<std::string>().find("get_weather"), std::string::npos);
  const json tool_tokens = PostOk("/tokenize", {{"content", with_tools["prompt"]}, {"add_special", false}});
  // This server's context is too small for the tools' description: the refusal counts the
  // same prompt's tokens.
  const auto tool_chat = client_->Post("/v1/chat/completions", json{{"messages", messages}, {"tools", tools}, {"max_tokens", 1}}.dump(),
                                       "application/json");
  ASSERT_TRUE(tool_chat);
  ASSERT_EQ(tool_chat->status, 400) << tool_chat->body;
  const size_t n = tool_tokens["tokens"].size();  // the chat's prompt may add BOS
  EXPECT_TRUE(tool_chat->body.find("the prompt has " + std::to_string(n) + " tokens") != std::string::npos ||
              tool_chat->body.find("the prompt has " + std::to_string(n + 1) + " tokens") != std::string::npos)
      << n << ": " << tool_chat->body;
}

TEST_F(NativeApiTest, SlotsSayWhatEachSlotIsDoing) {
  const auto idle = client_->Get("/slots");
  ASSERT_TRUE(idle);
  const json slots = json::parse(idle->body);
  ASSERT_GE(slots.size(), 1u);
  for (const json& s : slots) EXPECT_EQ(s["state"], "idle") << s.dump();
  // A long generation, streamed so that it runs while /slots is read.
  httplib::Client streamer("127.0.0.1", server_->port());
  std::atomic<bool> seen_busy{false}, ended{false};
  std::thread reader([&] {
    streamer.Post("/completion", json{{"prompt", "a"}, {"n_predict", -1}, {"ignore_eos", true}, {"stream", true}}.dump(),
                  "application/json");
    ended = true;
  });
  while (!ended && !seen_busy) {
    for (const json& s : json::parse(client_->Get("/slots")->body))
      if (s["is_processing"] == true && s["n_prompt_tokens"].get<int>() > 0) seen_busy = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  reader.join();
  EXPECT_TRUE(seen_busy) << "no slot was seen processing the generation";
}

}  // namespace
}  // namespace kvfuse::server
