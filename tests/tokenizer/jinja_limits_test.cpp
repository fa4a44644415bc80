// Hostile chat templates (tokenizer.chat_template comes from whoever made the GGUF file):
// each of these crashed or hung the process before jinja::Limits and checked arithmetic;
// now each is an error naming the limit, at parse or at render. Small inputs live in
// tests/data/jinja; deep or long ones are generated here.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "tokenizer/chat_template.h"
#include "vocab_cases.h"
#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/parser.h"

namespace kvfuse::tokenizer {

namespace {

using testing::ReadFile;

// A template of tests/data/jinja without its final newline (jinja2 drops it too).
std::string Hostile(const std::string& name) {
  std::string s = ReadFile(std::string(KVFUSE_TEST_DATA) + "/jinja/" + name);
  EXPECT_FALSE(s.empty()) << name;
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

// The output, or "PARSE: <error>" / "RENDER: <error>".
std::string Render(const std::string& source, const jinja::Limits& limits = jinja::Limits()) {
  auto t = ChatTemplate::Create(source, limits);
  if (!t.ok()) return "PARSE: " + t.status().message();
  auto out = t->Render({{"user", "hi"}}, false, "<s>", "</s>");
  return out.ok() ? out.value() : "RENDER: " + out.status().message();
}

// Renders and checks that the error came at `stage` ("PARSE" or "RENDER") and names `limit`,
// well within the time a render may take.
void ExpectLimit(const std::string& source, const std::string& stage, const std::string& limit) {
  const auto start = std::chrono::steady_clock::now();
  const std::string out = Render(source);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(out.rfind(stage + ": ", 0), 0u) << out.substr(0, 200);
  EXPECT_NE(out.find(limit), std::string::npos) << out.substr(0, 200);
  EXPECT_LT(seconds, 10.0) << limit;
}

}  // namespace

TEST(JinjaLimits, Int64MinFloorDivisionIsAnErrorNotSigfpe) {
  const std::string out = Render(Hostile("int64_min_floordiv.jinja"));
  EXPECT_EQ(out.rfind("RENDER: ", 0), 0u) << out;
  EXPECT_NE(out.find("integer overflow"), std::string::npos) << out;
  EXPECT_EQ(Render(Hostile("int64_min_mod.jinja")), "0");  // Python's answer, which fits
  EXPECT_NE(Render("{{ 1 // 0 }}").find("by zero"), std::string::npos);
  EXPECT_NE(Render("{{ 1 % 0 }}").find("by zero"), std::string::npos);
  EXPECT_NE(Render("{{ 1.5 // 0 }}").find("by zero"), std::string::npos);
  // Python's floor division and modulo signs are kept.
  EXPECT_EQ(Render("{{ -7 // 2 }} {{ 7 // -2 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ -7 % -3 }} {{ 7 // -1 }}"), "-4 -4 2 -2 -1 -7");
  EXPECT_EQ(Render("{{ 9223372036854775807 // -1 }} {{ 9223372036854775807 % -2 }}"), "-9223372036854775807 -1");
}

TEST(JinjaLimits, SignedOverflowIsAnError) {
  for (const char* name : {"overflow_add.jinja", "overflow_sub.jinja", "overflow_mul.jinja", "overflow_neg.jinja"}) {
    const std::string out = Render(Hostile(name));
    EXPECT_EQ(out.rfind("RENDER: ", 0), 0u) << name << ": " << out;
    EXPECT_NE(out.find("does not fit in 64 bits"), std::string::npos) << name << ": " << out;
  }
  EXPECT_EQ(Render("{{ 9223372036854775806 + 1 }} {{ -9223372036854775807 - 1 }} {{ 3037000499 * 3037000499 }}"),
            "9223372036854775807 -9223372036854775808 9223372030926249001");
  EXPECT_NE(Render("{{ 99999999999999999999 }}").find("does not fit in 64 bits"), std::string::npos);
  EXPECT_NE(Render("{{ range(9223372036854775807 * 4.0) }}").find("does not fit in a 64-bit integer"), std::string::npos);
}

TEST(JinjaLimits, RangeStepsNeverOverflow) {
  EXPECT_EQ(Render(Hostile("range_step_overflow.jinja")), "9223372036854775800,9223372036854775805,");
  EXPECT_EQ(Render("{% for i in range(-9223372036854775807 - 1, -9223372036854775800, 9223372036854775807) %}{{ i }},{% endfor %}"),
            "-9223372036854775808,");
  EXPECT_EQ(Render("{{ range(0, 10, -9223372036854775807 - 1) | length }} {{ range(10, 0, -9223372036854775807 - 1) }}"), "0 [10]");
  EXPECT_EQ(Render("{{ range(5) }} {{ range(2, 9, 3) }} {{ range(9, 2, -3) }} {{ range(3, 3) }}"), "[0, 1, 2, 3, 4] [2, 5, 8] [9, 6, 3] []");
  ExpectLimit("{{ range(-9223372036854775807 - 1, 9223372036854775807) | length }}", "RENDER", "max_range");
  EXPECT_NE(Render("{{ range(1, 2, 0) }}").find("step must not be zero"), std::string::npos);
  EXPECT_NE(Render("{{ range() }}").find("range() takes"), std::string::npos);
}

TEST(JinjaLimits, DeepBracketsFailAtParse) {
  ExpectLimit("{{ " + Repeat("[", 300000) + Repeat("]", 300000) + " }}", "PARSE", "max_nesting");
  ExpectLimit("{{ " + Repeat("[", 1900) + Repeat("]", 1900) + " }}", "PARSE", "max_nesting");
  ExpectLimit("{{ " + Repeat("(", 300000) + "1" + Repeat(")", 300000) + " }}", "PARSE", "max_nesting");
  ExpectLimit("{{ " + Repeat("{'a': ", 100000) + "1" + Repeat("}", 100000) + " }}", "PARSE", "max_nesting");
  ExpectLimit("{{ x" + Repeat("[0", 300000) + Repeat("]", 300000) + " }}", "PARSE", "max_nesting");
  // Unbalanced, the tag never closes (as jinja2 reads a tag: its brackets first).
  ExpectLimit("{{ " + Repeat("[", 300000) + " }}", "PARSE", "unclosed '{{'");
  EXPECT_EQ(Render("{{ " + Repeat("[", 100) + Repeat("]", 100) + " | length }}"), "1");  // deep enough for anyone
}

TEST(JinjaLimits, LongChainsFailAtParse) {
  ExpectLimit("{{ " + Repeat("not ", 100000) + "x }}", "PARSE", "max_nesting");
  ExpectLimit("{{ 1" + Repeat(" + 1", 100000) + " }}", "PARSE", "max_nesting");
  ExpectLimit("{{ 1" + Repeat(" ~ 1", 100000) + " }}", "PARSE", "max_nesting");
  ExpectLimit("{{ " + Repeat("- ", 100000) + "1 }}", "PARSE", "max_nesting");
  ExpectLimit("{{ 'x'" + Repeat(" | trim", 100000) + " }}", "PARSE", "max_nesting");
  ExpectLimit("{{ x" + Repeat(".a", 100000) + " }}", "PARSE", "max_nesting");
  ExpectLimit("{{ 1" + Repeat(" if x else 1", 50000) + " }}", "PARSE", "max_nesting");
  EXPECT_EQ(Render("{{ 1" + Repeat(" + 1", 200) + " }} {{ " + Repeat("not ", 200) + "true }}"), "201 True");
}

TEST(JinjaLimits, DeepBlocksFailAtParse) {
  ExpectLimit(Repeat("{% if true %}", 20000) + "x" + Repeat("{% endif %}", 20000), "PARSE", "max_nesting");
  ExpectLimit(Repeat("{% for i in [1] %}", 20000) + "x" + Repeat("{% endfor %}", 20000), "PARSE", "max_nesting");
  EXPECT_EQ(Render(Repeat("{% if true %}", 200) + "x" + Repeat("{% endif %}", 200)), "x");
}

TEST(JinjaLimits, EvaluationDepthIsBoundedToo) {
  // Parsing keeps templates far below max_eval_depth; a tighter limit shows the guard.
  jinja::Limits tight;
  tight.max_eval_depth = 20;
  const std::string out = Render("{{ 1" + Repeat(" + 1", 30) + " }}", tight);
  EXPECT_EQ(out.rfind("RENDER: ", 0), 0u) << out;
  EXPECT_NE(out.find("max_eval_depth"), std::string::npos) << out;
  EXPECT_EQ(Render("{{ 1" + Repeat(" + 1", 10) + " }}", tight), "11");
}

TEST(JinjaLimits, HugeRangeIsRefused) {
  ExpectLimit(Hostile("range_huge.jinja"), "RENDER", "max_range");
  EXPECT_EQ(Render("{{ range(100000) | length }}"), "100000");  // Hugging Face's MAX_RANGE still works
  ExpectLimit("{{ range(100001) | length }}", "RENDER", "max_range");
}

TEST(JinjaLimits, StringDoublingIsRefused) {
  // A plain set in a loop lasts one iteration (jinja2's scoping): it doubles nothing, and the
  // outer s is untouched. State carried across iterations goes through a namespace.
  EXPECT_EQ(Render(Hostile("string_doubling.jinja")), "1");
  ExpectLimit(Hostile("string_doubling_namespace.jinja"), "RENDER", "max_string_bytes");
  ExpectLimit(Hostile("string_repeat.jinja"), "RENDER", "max_string_bytes");
  ExpectLimit("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "RENDER",
              "max_string_bytes");
  ExpectLimit("{% set ns = namespace(s='xx') %}{% for i in range(40) %}{% set ns.s = ns.s.replace('x', 'xx') %}{% endfor %}",
              "RENDER", "max_string_bytes");
  ExpectLimit("{% set ns = namespace(l=['x' * 1000000]) %}{% for i in range(20) %}{% set ns.l = ns.l + ns.l %}{% endfor %}"
              "{{ ns.l | join }}",
              "RENDER", "max_string_bytes");
  ExpectLimit(Hostile("tojson_indent.jinja"), "RENDER", "max_string_bytes");
  EXPECT_EQ(Render("{{ 'ab' * 3 }}|{{ 2 * 'c' }}|{{ 'x' * 0 }}|{{ 'x' * -2 }}|{{ true * 'y' }}"), "ababab|cc|||y");
}

TEST(JinjaLimits, ListsAndOutputAreBounded) {
  ExpectLimit(Hostile("split_flood.jinja"), "RENDER", "max_list_items");
  ExpectLimit("{{ ('x' * 2000000) | list | length }}", "RENDER", "max_list_items");
  ExpectLimit(Hostile("output_flood.jinja"), "RENDER", "max_output_bytes");
  ExpectLimit(Repeat("x", 2 << 20), "PARSE", "max_template_bytes");
}

TEST(JinjaLimits, StepBudgetStopsEndlessWork) {
  ExpectLimit(Hostile("nested_loops.jinja"), "RENDER", "max_steps");
  // Values of shared halves are small in memory but huge to walk: compare and print stop.
  ExpectLimit(Hostile("shared_halves_compare.jinja"), "RENDER", "max_steps");
  ExpectLimit(Hostile("shared_halves_print.jinja"), "RENDER", "max_output_bytes");
  // Searching stays linear: this was quadratic in std::string::find.
  EXPECT_EQ(Render("{% set a = 'a' * 4000000 %}{{ (a ~ 'b') in (a ~ a) }} {{ ('a' * 3000 ~ 'b') in a }}"), "False False");
}

TEST(JinjaLimits, ValuesCannotNestWithoutBound) {
  ExpectLimit(Hostile("nested_list_loop.jinja"), "RENDER", "max_value_depth");
  const std::string cycle = Render(Hostile("namespace_cycle.jinja"));
  EXPECT_NE(cycle.find("RENDER: "), std::string::npos) << cycle;
  EXPECT_NE(cycle.find("namespace cannot be stored inside a namespace"), std::string::npos) << cycle;
  const std::string chain = Render(Hostile("namespace_chain.jinja"));
  EXPECT_NE(chain.find("namespace cannot be stored inside a namespace"), std::string::npos) << chain;
  EXPECT_NE(Render("{% set d = {'a': 1} %}{% set d.a = 2 %}").find("only of a namespace"), std::string::npos);
  EXPECT_EQ(Render("{% set ns = namespace(l=[]) %}{% for i in range(3) %}{% set ns.l = ns.l + [i] %}{% endfor %}{{ ns.l }}"),
            "[0, 1, 2]");
}

TEST(JinjaLimits, LinearTimeForManyTags) {
  // Line numbers were recounted from the start for every tag: quadratic in the source.
  const std::string out = Render(Repeat("{{ 1 }}\n", 100000));
  EXPECT_EQ(out.size(), 199999u) << out.substr(0, 200);  // the template's last line break is not output
}

TEST(JinjaLimits, RealTemplatesStillRender) {
  // Every published template of tests/data/chat over a long conversation, within the
  // default limits (their exact output is checked by chat_template_test.cpp).
  std::vector<ChatMessage> conversation = {{"system", "You are a helpful assistant."}};
  for (int i = 0; i < 2000; ++i)
    conversation.push_back({i % 2 ? "assistant" : "user", "message " + std::to_string(i) + " " + std::string(2000, 'w')});
  for (const char* name : {"chatml", "llama3", "phi3", "qwen2", "smollm2", "mistral", "gemma"}) {
    auto t = ChatTemplate::Create(ReadFile(std::string(KVFUSE_TEST_DATA) + "/chat/" + name + ".jinja"));
    ASSERT_TRUE(t.ok()) << name << ": " << t.status().message();
    // Mistral and Gemma refuse a system message (raise_exception): render without it.
    const bool no_system = std::string(name) == "mistral" || std::string(name) == "gemma";
    const std::vector<ChatMessage> messages(conversation.begin() + (no_system ? 1 : 0), conversation.end());
    auto out = t->Render(messages, true, "<s>", "</s>");
    ASSERT_TRUE(out.ok()) << name << ": " << out.status().message();
    EXPECT_NE(out->find("message 1999 "), std::string::npos) << name;
    EXPECT_GT(out->size(), 2000u * 2000u) << name;
  }
}

TEST(JinjaLimits, QwenTemplateWithToolsStillRenders) {
  auto segments = jinja::SplitTemplate(ReadFile(std::string(KVFUSE_TEST_DATA) + "/chat/qwen2.jinja"));
  ASSERT_TRUE(segments.ok());
  auto body = jinja::ParseTemplate(segments.value());
  ASSERT_TRUE(body.ok()) << body.status().message();
  using jinja::Dict;
  using jinja::List;
  using jinja::Value;
  const Value schema(Dict{{"type", "object"},
                          {"properties", Value(Dict{{"city", Value(Dict{{"type", "string"}, {"description", "A city"}})}})},
                          {"required", Value(List{Value("city")})}});
  const Value tool(Dict{{"type", "function"},
                        {"function", Value(Dict{{"name", "get_weather"}, {"description", "Weather now"}, {"parameters", schema}})}});
  List tools(50, tool);
  const Value call(Dict{{"function", Value(Dict{{"name", "get_weather"}, {"arguments", Value(Dict{{"city", "Oslo"}})}})}});
  List messages;
  for (int i = 0; i < 300; ++i) {
    messages.push_back(Value(Dict{{"role", "user"}, {"content", "What is the weather?"}}));
    messages.push_back(Value(Dict{{"role", "assistant"}, {"content", ""}, {"tool_calls", Value(List{call})}}));
    messages.push_back(Value(Dict{{"role", "tool"}, {"content", "{\"temp\": 21}"}}));
  }
  const Dict globals = {{"messages", Value(std::move(messages))}, {"tools", Value(std::move(tools))},
                        {"add_generation_prompt", Value(true)}, {"bos_token", Value("")}, {"eos_token", Value("<|im_end|>")}};
  auto out = jinja::Render(body.value(), globals);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_NE(out->find("{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""), std::string::npos);
  EXPECT_NE(out->find("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>"),
            std::string::npos);
  EXPECT_NE(out->find("<tool_response>\n{\"temp\": 21}\n</tool_response>"), std::string::npos);
}

}  // namespace kvfuse::tokenizer
