// Published chat templates rendered byte for byte as Hugging Face renders them: the
// expected outputs were made with Python's jinja2 by tools/chat_template_goldens.py.
#include "tokenizer/chat_template.h"
#include "vocab_cases.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace kvfuse::tokenizer {

namespace {

using testing::ReadFile;

std::string Chat(const std::string& name) { return std::string(KVFUSE_TEST_DATA) + "/chat/" + name; }

// Must match tools/chat_template_goldens.py.
const std::vector<ChatMessage> kFull = {
    {"system", "You are a helpful assistant"}, {"user", "Hello"},
    {"assistant", "Hi there"},                 {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},  {"user", "Another question"},
};
const std::map<std::string, std::vector<ChatMessage>> kConversations = {
    {"full", kFull},
    {"nosys", std::vector<ChatMessage>(kFull.begin() + 1, kFull.end())},
    {"single", {{"user", "ünïcödé \"quoted\" 🦙"}}},
};
const std::map<std::string, std::pair<std::string, std::string>> kSpecialTokens = {
    {"chatml", {"", ""}},          {"mistral", {"<s>", "</s>"}},
    {"gemma", {"<bos>", "<eos>"}}, {"llama3", {"<|begin_of_text|>", "<|eot_id|>"}},
    {"phi3", {"<s>", "<|endoftext|>"}}, {"qwen2", {"", "<|im_end|>"}},
    {"smollm2", {"", "<|im_end|>"}},
};

}  // namespace

TEST(ChatTemplate, PublishedTemplatesRenderLikeHuggingFace) {
  int checked = 0;
  for (const auto& [name, tokens] : kSpecialTokens) {
    auto tmpl = ChatTemplate::Create(ReadFile(Chat(name + ".jinja")));
    ASSERT_TRUE(tmpl.ok()) << name << ": " << tmpl.status().message();
    for (const auto& [conv, messages] : kConversations) {
      for (bool gen : {false, true}) {
        const std::string stem = Chat(name + "." + conv + (gen ? ".gen" : ".nogen"));
        auto out = tmpl->Render(messages, gen, tokens.first, tokens.second);
        if (std::filesystem::exists(stem + ".error")) {
          EXPECT_FALSE(out.ok()) << stem << " must raise";
          if (!out.ok()) {
            EXPECT_NE(out.status().message().find("template error"), std::string::npos);
          }
        } else {
          ASSERT_TRUE(out.ok()) << stem << ": " << out.status().message();
          EXPECT_EQ(out.value(), ReadFile(stem + ".expected")) << stem;
        }
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 42);
}

TEST(ChatTemplate, ChatMlFallback) {
  auto out = ChatTemplate::ChatMl().Render({{"user", "Hi"}}, true, "", "");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out.value(), "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, LanguageDetails) {
  auto render = [](const std::string& source) {
    auto t = ChatTemplate::Create(source);
    if (!t.ok()) return "PARSE: " + t.status().message();
    auto out = t->Render({{"user", "a"}, {"assistant", "b"}}, false, "<s>", "</s>");
    return out.ok() ? out.value() : "RENDER: " + out.status().message();
  };
  EXPECT_EQ(render("{% for m in messages %}{{ loop.index }}/{{ loop.length }}{% if not loop.last %},{% endif %}{% endfor %}"), "1/2,2/2");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}"), "2");
  EXPECT_EQ(render("{% set x = 1 %}{% for m in messages %}{% set x = 5 %}{% endfor %}{{ x }}"), "1");  // loop scope
  // ... and each iteration's own, as jinja2's: a set in one iteration is gone in the next.
  EXPECT_EQ(render("{% for m in messages %}{% if loop.first %}{% set x = m.content %}{% endif %}[{{ x }}]{% endfor %}"),
            "[a][]");
  EXPECT_EQ(render("{% set n = 0 %}{% for m in messages %}{% set n = n + 1 %}{{ n }}{% endfor %}"), "11");
  EXPECT_EQ(render("{{ messages[1:] | length }} {{ messages[-1].content }} {{ 7 // 2 }} {{ -7 % 3 }} {{ 1 / 2 }}"), "1 b 3 2 0.5");
  EXPECT_EQ(render("{{ '  x  ' | trim }}|{{ 'Ab'.upper() }}|{{ 'a,b'.split(',') | join('-') }}|{{ 'hello world' | title }}"), "x|AB|a-b|Hello World");
  EXPECT_EQ(render("{{ {'k': [1, 2.5, none, true, 'q\"']} | tojson }}"), "{\"k\": [1, 2.5, null, true, \"q\\\"\"]}");
  // Floats as Python writes them (repr, which json.dumps uses too): positional for exponents
  // -4..15 ("1500.0", not "1.5e+03"), scientific past them.
  EXPECT_EQ(render("{{ 1500.0 }} {{ 10.0 }} {{ 0.0001 }} {{ 1 / 100000 }} {{ 100000000.0 * 100000000.0 }} "
                   "{{ 123.456 }} {{ 0.0 }} {{ 1 / 3 }} {{ [20.0, 0.5] | tojson }}"),
            "1500.0 10.0 0.0001 1e-05 1e+16 123.456 0.0 0.3333333333333333 [20.0, 0.5]");
  // tojson's arguments as Hugging Face's (json.dumps's), not ignored: Kimi-K2's template packs
  // its tools with separators=(',', ':').
  EXPECT_EQ(render("{{ {'b': 1, 'a': [2, 3]} | tojson(separators=(',', ':')) }}|"
                   "{{ {'b': 1, 'a': {'d': 4, 'c': 5}} | tojson(sort_keys=true) }}|{{ {'a': [1]} | tojson(indent=1) }}"),
            "{\"b\":1,\"a\":[2,3]}|{\"a\": {\"c\": 5, \"d\": 4}, \"b\": 1}|{\n \"a\": [\n  1\n ]\n}");
  EXPECT_EQ(render("{{ 1 | tojson(ensure_ascii=false) }}"), "1");
  EXPECT_EQ(render("{{ [1] | tojson(false, 1) }}"), "[\n 1\n]") << "positional as Hugging Face's: ensure_ascii, indent";
  // As jinja2 renders for Hugging Face: one final line break of a template is not output, and
  // break / continue outside a loop are refused.
  EXPECT_EQ(render("{{ 'a' }}\n"), "a");
  EXPECT_EQ(render("{{ 'a' }}\n\n"), "a\n");
  EXPECT_NE(render("a{% if true %}{% break %}{% endif %}b").find("PARSE: "), std::string::npos);
  EXPECT_NE(render("{% for m in messages %}{% else %}{% continue %}{% endfor %}").find("outside a for loop"), std::string::npos);
  // A tag ends at its delimiter outside strings and brackets, as jinja2 reads it.
  EXPECT_EQ(render("{{ '}}' }}|{% set x = '%}' %}{{ x }}|{{ {'a': {'b': 1}}['a']['b'] }}|{# it's #}ok"), "}}|%}|1|ok");
  EXPECT_NE(render("{{ 1 | tojson(ensure_ascii=true) }}").find("RENDER: "), std::string::npos);
  EXPECT_NE(render("{{ 1 | tojson(default=str) }}").find("tojson takes no argument 'default'"), std::string::npos);
  EXPECT_NE(render("{{ 1 | tojson(separators=',') }}").find("two strings"), std::string::npos);
  // Comparisons chain as Python's: a > b > c is a > b and b > c (b evaluated once, the rest
  // skipped once one is false); in brackets, a comparison is a value like any other.
  EXPECT_EQ(render("{{ 3 > 2 > 1 }} {{ (3 > 2) > 1 }} {{ 0 == 0 == 0 }} {{ 2 < 1 < undefined_x }} {{ 'a' in 'ab' in 'abc' }}"),
            "True False True False True");
  EXPECT_EQ(render("{{ undefined_thing is defined }} {{ x | default('d') }} {{ 'b' in 'abc' }} {{ 3 if false else 4 }}"), "False d True 4");
  EXPECT_EQ(render("{%- for m in messages -%}\n  {{- m.role }}\n{%- endfor %}"), "userassistant");
  EXPECT_EQ(render("{% for m in messages %}\n    {% if true %}\n{{ m.role }}\n    {% endif %}\n{% endfor %}"), "user\nassistant\n");
  EXPECT_EQ(render("{% for i in range(3) %}{% if i == 1 %}{% continue %}{% endif %}{{ i }}{% endfor %}"), "02");
  EXPECT_EQ(render("{{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | join }}"), "a");
  // Slices and indexes as Python's (by code point, steps, clamped bounds); Qwen3's template
  // walks messages[::-1].
  EXPECT_EQ(render("{{ 'abcdef'[::-1] }}|{{ 'abcdef'[::2] }}|{{ 'abcdef'[1:5:2] }}|{{ 'abcdef'[-1:-4:-1] }}|"
                   "{{ 'h\u00e9llo'[1] }}{{ 'h\u00e9llo'[::-1] }}|{{ messages[::-1] | map(attribute='role') | join(',') }}|"
                   "{{ 'abc'[5:] }}|{{ 'abc'[:-5:-1] }}|{{ [1, 2, 3][::-2] }}"),
            "fedcba|ace|bd|fed|\u00e9oll\u00e9h|assistant,user||cba|[3, 1]");
  EXPECT_NE(render("{{ 'abc'[::0] }}").find("slice step cannot be zero"), std::string::npos);
  EXPECT_EQ(render("{{ [1, 2, 3][1::9223372036854775807] }}|{{ 'abc'[-9223372036854775807:] }}|{{ 'abc'[none:none:-1] }}"),
            "[2]|abc|cba");
  EXPECT_EQ(render("{{ 'h\u00e9!' | length }} {{ 'h\u00e9' | last }} {{ 'h\u00e9' | reverse }} {{ 'h\u00e9' | list }}"),
            "3 \u00e9 \u00e9h ['h', '\u00e9']");
}

TEST(ChatTemplate, ErrorsAreClearAndNameTheLine) {
  auto unsupported = ChatTemplate::Create("ok\n{% macro f() %}{% endmacro %}");
  ASSERT_FALSE(unsupported.ok());
  EXPECT_NE(unsupported.status().message().find("line 2"), std::string::npos) << unsupported.status().message();
  EXPECT_NE(unsupported.status().message().find("macro"), std::string::npos);
  EXPECT_FALSE(ChatTemplate::Create("{% if x %}never closed").ok());
  EXPECT_FALSE(ChatTemplate::Create("{{ 'unterminated }}").ok());
  EXPECT_FALSE(ChatTemplate::Create("{{ a b }}").ok());
  auto raised = ChatTemplate::Create("{{ raise_exception('no system role') }}");
  ASSERT_TRUE(raised.ok());
  auto out = raised->Render({}, false, "", "");
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("no system role"), std::string::npos);
  auto bad_op = ChatTemplate::Create("{{ messages + 1 }}");
  ASSERT_TRUE(bad_op.ok());
  EXPECT_FALSE(bad_op->Render({}, false, "", "").ok());
}

}  // namespace kvfuse::tokenizer
