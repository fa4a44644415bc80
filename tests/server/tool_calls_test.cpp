// Tool calls: the calls read out of answers in both syntaxes, the grammar that forces a call
// (run by the grammar matcher against calls that fit each tool's schema or not), the request
// fields' errors, and the Hermes rendering for templates without tools.
#include "server/tool_calls.h"

#include <gtest/gtest.h>

#include "engine/chat_tools.h"
#include <unistd.h>

#include <httplib.h>

#include "gguf/gguf_reader.h"
#include "tiny_server_options.h"
#include "tokenizer/vocab.h"
#include "sched/grammar/grammar_matcher.h"

namespace kvfuse::server {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

const ordered_json kTools = ordered_json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
    "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}}, "required": ["city"]}}},
  {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}])");

bool GrammarTakes(const std::string& gbnf, const std::string& text) {
  auto g = sched::grammar::CompileGbnf(gbnf);
  EXPECT_TRUE(g.ok()) << g.status().message();
  if (!g.ok()) return false;
  sched::grammar::GrammarMatcher m(std::make_shared<const sched::grammar::Grammar>(std::move(g).value()));
  return m.Advance(text) && m.CanEnd();
}

}  // namespace

TEST(ToolCalls, HermesBlocksBecomeCallsAndTheRestStaysContent) {
  const std::string text = "Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>\n"
                           "<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>";
  const ToolCallAnswer a = ParseToolCalls(text, ToolSyntax::kHermes, "call_");
  ASSERT_EQ(a.tool_calls.size(), 2u);
  EXPECT_EQ(a.tool_calls[0]["id"], "call_0");
  EXPECT_EQ(a.tool_calls[0]["type"], "function");
  EXPECT_EQ(a.tool_calls[0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(a.tool_calls[0]["function"]["arguments"].get<std::string>()), json({{"city", "Oslo"}}));
  EXPECT_EQ(a.tool_calls[1]["function"]["arguments"], "{}");
  EXPECT_EQ(a.content, "Let me check.");
  const ToolCallAnswer none = ParseToolCalls("<tool_call>not json</tool_call> plain", ToolSyntax::kHermes, "c");
  EXPECT_TRUE(none.tool_calls.empty());
  EXPECT_EQ(none.content, "<tool_call>not json</tool_call> plain");
  const ToolCallAnswer only = ParseToolCalls("<tool_call>{\"name\": \"now\", \"arguments\": {}}</tool_call>", ToolSyntax::kHermes, "c");
  EXPECT_FALSE(only.content.has_value());
}

TEST(ToolCalls, Llama3JsonIsACallOnlyWhenTheWholeAnswerIsOne) {
  const ToolCallAnswer a = ParseToolCalls(" {\"name\": \"now\", \"parameters\": {\"tz\": \"UTC\"}}\n", ToolSyntax::kLlama3Json, "c");
  ASSERT_EQ(a.tool_calls.size(), 1u);
  EXPECT_EQ(a.tool_calls[0]["function"]["arguments"], "{\"tz\":\"UTC\"}");
  EXPECT_FALSE(a.content.has_value());
  const ToolCallAnswer text = ParseToolCalls("The answer is {\"name\": 1}", ToolSyntax::kLlama3Json, "c");
  EXPECT_TRUE(text.tool_calls.empty());
  EXPECT_EQ(text.content, "The answer is {\"name\": 1}");
}

TEST(ToolCalls, TheForcedGrammarTakesCallsThatFitTheirToolsSchemaOnly) {
  ToolRequest tools;
  tools.tools = kTools;
  tools.forced = "*";
  tools.parallel = false;
  auto gbnf = ForcedCallGbnf(tools);
  ASSERT_TRUE(std::holds_alternative<std::string>(gbnf));
  const std::string g = std::get<std::string>(gbnf);
  EXPECT_TRUE(GrammarTakes(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", \"unit\": \"c\"}}\n</tool_call>"));
  EXPECT_TRUE(GrammarTakes(g, "<tool_call>\n{\"name\": \"now\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(GrammarTakes(g, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"unit\": \"c\"}}\n</tool_call>"));
  EXPECT_FALSE(GrammarTakes(g, "<tool_call>\n{\"name\": \"other\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(GrammarTakes(g, "Sure!"));
  tools.forced = "now";
  tools.syntax = ToolSyntax::kLlama3Json;
  const std::string named = std::get<std::string>(ForcedCallGbnf(tools));
  EXPECT_TRUE(GrammarTakes(named, "{\"name\": \"now\", \"parameters\": {}}"));
  EXPECT_FALSE(GrammarTakes(named, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Oslo\"}}"));
}

TEST(ToolCalls, RequestFieldsAreCheckedAndNamed) {
  auto engine = engine::Engine::Load(TinyServerOptions(64).engine);
  ASSERT_TRUE(engine.ok()) << engine.status().message();
  const auto error_of = [&](const std::string& body) {
    auto r = ReadTools(ordered_json::parse(body), *engine.value());
    return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r).param + ": " + std::get<ApiError>(r).message : "ok";
  };
  const std::string tools = kTools.dump();
  EXPECT_EQ(error_of("{\"tools\": " + tools + "}"), "ok");
  EXPECT_EQ(error_of("{\"tools\": " + tools + ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"now\"}}}"), "ok");
  EXPECT_NE(error_of("{\"tools\": " + tools + ", \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"nope\"}}}")
                .find("tool_choice: 'tool_choice' names 'nope'"), std::string::npos);
  EXPECT_NE(error_of("{\"tool_choice\": \"required\"}").find("'tools' is empty"), std::string::npos);
  EXPECT_NE(error_of("{\"tools\": [{\"type\": \"function\", \"function\": {}}]}").find("tools:"), std::string::npos);
  EXPECT_NE(error_of("{\"tools\": " + tools + ", \"tool_choice\": \"sometimes\"}").find("tool_choice:"), std::string::npos);
}

TEST(ToolCalls, TemplatesWithoutToolsGetThemInTheHermesFormat) {
  const ordered_json messages = ordered_json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Weather?"},
    {"role": "assistant", "content": null, "tool_calls": [{"id": "1", "type": "function",
      "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]},
    {"role": "tool", "tool_call_id": "1", "content": "sunny"},
    {"role": "tool", "tool_call_id": "2", "content": "warm"}])");
  const ordered_json out = engine::MessagesWithHermesTools(messages, kTools);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0]["role"], "system");
  const std::string system = out[0]["content"].get<std::string>();
  EXPECT_EQ(system.rfind("Be brief.\n\n# Tools", 0), 0u) << system;
  EXPECT_NE(system.find(kTools[0].dump()), std::string::npos);
  EXPECT_EQ(out[2]["content"], "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Oslo\"}}\n</tool_call>");
  EXPECT_EQ(out[3]["role"], "user");
  EXPECT_EQ(out[3]["content"], "<tool_response>\nsunny\n</tool_response>\n<tool_response>\nwarm\n</tool_response>");
}

TEST(ChatTemplateKwargs, ReachTheModelsTemplate) {
  // The tiny model with a template that reads enable_thinking, as Qwen 3's does.
  auto base = tools::TestModelFile("tiny", "f32", 5);
  ASSERT_TRUE(base.ok());
  auto file = gguf::GgufFile::Open(base.value());
  ASSERT_TRUE(file.ok());
  auto vocab = tokenizer::ReadVocab(file.value());
  ASSERT_TRUE(vocab.ok());
  vocab->chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}"
                         "{% if enable_thinking is defined and enable_thinking is false %} /no_think{% endif %}";
  tools::ModelShape shape;
  ASSERT_TRUE(tools::FindShape("tiny", shape));
  const std::string path = std::string(KVFUSE_TEST_TMP) + "/model-tiny-kwargs-" + std::to_string(::getpid()) + ".gguf";
  ASSERT_TRUE(tools::WriteRandomModel(shape, "f32", 5, path, &vocab.value()).ok());
  ServerOptions o = TinyServerOptions(512);  // room for the tools' description
  o.engine.model_path = path;
  Server server(o);
  ASSERT_TRUE(server.Start().ok());
  ASSERT_TRUE(server.WaitReady()) << server.load_error();
  httplib::Client client("127.0.0.1", server.port());
  const auto post = [&](const std::string& route, const json& body) {
    const auto r = client.Post(route.c_str(), body.dump(), "application/json");
    return r ? std::make_pair(r->status, json::parse(r->body, nullptr, false)) : std::make_pair(0, json());
  };
  const json messages = {{{"role", "user"}, {"content", "hi"}}};
  EXPECT_EQ(post("/apply-template", {{"messages", messages}}).second["prompt"], "hi");
  EXPECT_EQ(post("/apply-template", {{"messages", messages}, {"chat_template_kwargs", {{"enable_thinking", false}}}}).second["prompt"],
            "hi /no_think");
  const auto plain = post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 1}});
  const auto kwargs = post("/v1/chat/completions", {{"messages", messages}, {"max_tokens", 1},
                                                   {"chat_template_kwargs", {{"enable_thinking", false}}}});
  ASSERT_EQ(kwargs.first, 200) << kwargs.second;
  EXPECT_GT(kwargs.second["usage"]["prompt_tokens"].get<int>(), plain.second["usage"]["prompt_tokens"].get<int>());
  // A forced call ends where its grammar does: ignore_eos is refused, its no-op value is not.
  const json tools = {{{"type", "function"}, {"function", {{"name", "now"}, {"parameters", {{"type", "object"}}}}}}};
  const json forced = {{"messages", messages}, {"max_tokens", 2}, {"tools", tools}, {"tool_choice", "required"}};
  json ignoring = forced;
  ignoring["ignore_eos"] = true;
  EXPECT_EQ(post("/v1/chat/completions", ignoring).second["error"]["param"], "ignore_eos");
  ignoring["ignore_eos"] = false;
  const auto accepted = post("/v1/chat/completions", ignoring);
  EXPECT_EQ(accepted.first, 200) << accepted.second;
  for (const json& bad : {json(5), json{{"messages", json::array()}}}) {
    const auto refused = post("/v1/chat/completions", {{"messages", messages}, {"chat_template_kwargs", bad}});
    EXPECT_EQ(refused.first, 400) << bad;
    EXPECT_EQ(refused.second["error"]["param"], "chat_template_kwargs");
  }
  server.Stop();
  std::remove(path.c_str());
}

}  // namespace kvfuse::server
