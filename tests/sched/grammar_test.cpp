// Grammars: GBNF compiled and run against references that do not share its code (a direct
// balanced-parentheses check over every string up to length 8, nlohmann's JSON serializer),
// JSON Schema grammars against documents known to validate or not, and the sampler kept
// inside a grammar whatever the logits prefer.
#include <gtest/gtest.h>

#include <pthread.h>

#include <functional>
#include <random>

#include <nlohmann/json.hpp>

#include "sched/grammar/grammar.h"
#include "sched/grammar/grammar_matcher.h"
#include "sched/grammar/json_schema.h"
#include "sched/sampler.h"

namespace kvfuse::sched::grammar {

namespace {

std::shared_ptr<const Grammar> Compile(const std::string& gbnf) {
  auto g = CompileGbnf(gbnf);
  EXPECT_TRUE(g.ok()) << g.status().message() << "\n" << gbnf;
  return g.ok() ? std::make_shared<const Grammar>(std::move(g).value()) : nullptr;
}

// Whether the grammar takes the whole of `text` as a sentence.
bool Whole(const std::shared_ptr<const Grammar>& g, const std::string& text) {
  GrammarMatcher m(g);
  return m.Advance(text) && m.CanEnd();
}

// Runs `fn` on a thread with a 512 KiB stack (a server thread's may be as small), so that
// recursion as deep as a grammar's input allows crashes the test rather than passing on 8 MiB.
void OnSmallStack(const std::function<void()>& fn) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 512 << 10);
  pthread_t thread;
  auto call = [](void* f) -> void* {
    (*static_cast<const std::function<void()>*>(f))();
    return nullptr;
  };
  ASSERT_EQ(pthread_create(&thread, &attr, call, const_cast<std::function<void()>*>(&fn)), 0);
  pthread_join(thread, nullptr);
  pthread_attr_destroy(&attr);
}

std::string ErrorOf(const std::string& gbnf) {
  auto g = CompileGbnf(gbnf);
  return g.ok() ? "ok" : g.status().message();
}

}  // namespace

TEST(Gbnf, MatchesAsItsNotationSays) {
  const auto g = Compile("root ::= \"a\" [b-d]+ \"e\"? tail{0,2}  # comment\ntail ::= [^a-z] | \"\\x41\"");
  ASSERT_NE(g, nullptr);
  for (const char* ok : {"ab", "abcd", "abe", "abdeA", "ab12", "ab!A"}) EXPECT_TRUE(Whole(g, ok)) << ok;
  for (const char* bad : {"a", "ae", "x", "abee", "ab123", "abz"}) EXPECT_FALSE(Whole(g, bad)) << bad;
  GrammarMatcher m(g);
  EXPECT_TRUE(m.Advance("a"));
  EXPECT_FALSE(m.CanEnd());
  EXPECT_FALSE(m.Accepts("z"));
  EXPECT_TRUE(m.Advance("b"));
  EXPECT_TRUE(m.CanEnd());
}

TEST(Gbnf, BalancedParenthesesAgreeWithADirectCheckOnEveryShortString) {
  const auto g = Compile("root ::= ( \"(\" root \")\" )*");
  ASSERT_NE(g, nullptr);
  std::function<void(const std::string&)> walk = [&](const std::string& s) {
    int depth = 0, lowest = 0;
    for (char c : s) lowest = std::min(lowest, depth += c == '(' ? 1 : -1);
    GrammarMatcher m(g);
    const bool prefix_ok = m.Advance(s);
    EXPECT_EQ(prefix_ok, lowest >= 0) << s;  // a prefix of a balanced string: never below zero
    if (prefix_ok) {
      EXPECT_EQ(m.CanEnd(), depth == 0) << s;
    }
    if (s.size() < 8) {
      walk(s + "(");
      walk(s + ")");
    }
  };
  walk("");
}

TEST(Gbnf, ACharacterMaySpanTokens) {
  const auto g = Compile("root ::= \"\\u00e9\" | \"\\u00fc\" | [\\u4e00-\\u9fff]");
  ASSERT_NE(g, nullptr);
  GrammarMatcher m(g);
  EXPECT_TRUE(m.Accepts("\xC3"));        // é and ü start so
  EXPECT_FALSE(m.Accepts("\xC4"));       // U+0100..U+013F: neither
  EXPECT_TRUE(m.Accepts("\xE4\xB8"));    // a CJK ideograph's first two bytes
  EXPECT_FALSE(m.Accepts("\xFF"));       // never a UTF-8 lead byte
  const auto brace = Compile("root ::= \"{\"");
  for (const char* overlong : {"\xC1", "\xE0", "\xF0", "\xC1\xBB", "\xE0\x81\xBB"})  // '{' spelt overlong
    EXPECT_FALSE(GrammarMatcher(brace).Accepts(overlong)) << overlong;
  ASSERT_TRUE(m.Advance("\xC3"));
  EXPECT_FALSE(m.CanEnd());
  EXPECT_FALSE(m.Accepts("\xA0"));       // à
  ASSERT_TRUE(m.Advance("\xA9"));
  EXPECT_TRUE(m.CanEnd());
  EXPECT_TRUE(m.Closed());
}

TEST(Gbnf, ErrorsNameWhatIsWrong) {
  EXPECT_NE(ErrorOf("root ::= missing").find("'missing' is used but not defined"), std::string::npos);
  EXPECT_NE(ErrorOf("start ::= \"a\"").find("no rule named root"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= root \"a\" | \"b\"").find("left-recursive"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= e root\ne ::= \"\"?").find("left-recursive"), std::string::npos);
  // Through a chain of 300 nullable rules, each defined before the one it names (one pass
  // over the rules finds one more of them): the rules found nullable reach the others.
  std::string chain = "root ::= c0 root | \"x\"\n";
  for (int i = 0; i < 300; ++i) chain += "c" + std::to_string(i) + " ::= c" + std::to_string(i + 1) + " | \"y\"\n";
  EXPECT_NE(ErrorOf(chain + "c300 ::= \"\"").find("left-recursive"), std::string::npos);
  EXPECT_EQ(ErrorOf(chain + "c300 ::= \"z\""), "ok") << "no rule of the chain is nullable";
  EXPECT_NE(ErrorOf("root ::= \"a").find("line 1"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"a\"\nx ::= [b").find("line 2"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"a\"{3,2}").find("n < m"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"a\"{5000}").find("above"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"a\"\nroot ::= \"b\"").find("defined twice"), std::string::npos);
}

TEST(Gbnf, HostileGrammarsAreRefusedNotRun) {
  EXPECT_NE(ErrorOf("root ::= " + std::string(1000, '(') + "\"a\"" + std::string(1000, ')')).find("nest deeper"), std::string::npos);
  EXPECT_NE(ErrorOf("root ::= \"" + std::string(200000, 'a') + "\"{1000}").find("too many elements"), std::string::npos);
  std::string fork = "root ::=";
  for (int i = 0; i < 60; ++i) fork += " \"\"?";  // 2^60 ways to begin
  fork += " \"b\"";
  auto g = CompileGbnf(fork);
  ASSERT_TRUE(g.ok()) << g.status().message();
  EXPECT_FALSE(CheckGrammarCost(std::make_shared<const Grammar>(std::move(g).value())).ok());
  EXPECT_TRUE(CheckGrammarCost(Compile(JsonObjectGbnf())).ok());
}

// Each of a row of nullable references opens a rule before any character is read: the matcher
// expanded them by recursion, one call per reference, as deep as its whole work bound.
TEST(Gbnf, ALongRowOfNullableRulesIsExpandedWithoutDeepRecursion) {
  const auto row_of = [](int n) {  // n optional "b"s, then "c"
    std::string row = "n ::= \"\" | \"b\"\nroot ::=";
    for (int i = 0; i < n; ++i) row += " n";
    return row + " \"c\"";
  };
  auto g = CompileGbnf(row_of(120000));  // under the 256 KiB bound on a grammar
  ASSERT_TRUE(g.ok()) << g.status().message();
  const auto grammar = std::make_shared<const Grammar>(std::move(g).value());
  bool refused = false;
  OnSmallStack([&] { refused = !CheckGrammarCost(grammar).ok(); });
  EXPECT_TRUE(refused);
  const auto ok = Compile(row_of(12));
  ASSERT_NE(ok, nullptr);
  EXPECT_TRUE(Whole(ok, "bbbc"));
  EXPECT_TRUE(Whole(ok, "c"));
  EXPECT_FALSE(Whole(ok, std::string(13, 'b') + "c"));
}

TEST(JsonGrammar, TakesWhatNlohmannWritesAndNothingElse) {
  const auto g = Compile(JsonObjectGbnf());
  ASSERT_NE(g, nullptr);
  const nlohmann::json docs[] = {
      nlohmann::json::object(),
      {{"a", 1}, {"b", {1.5, -2, "x\"y\\z\n", nullptr, true}}, {"c", {{"d", false}}}},
      {{"unicode", "h\u00e9 \u4e2d \U0001F999"}, {"e", 6.02e23}, {"neg", -0.5}},
  };
  for (const auto& doc : docs) {
    EXPECT_TRUE(Whole(g, doc.dump())) << doc.dump();
    EXPECT_TRUE(Whole(g, doc.dump(1))) << doc.dump(1);
  }
  for (const char* bad : {"[]", "{", "{\"a\" 1}", "{\"a\": 01}", "{\"a\": tru}", "{\"a\": \"\x01\"}", "{'a': 1}", "{} x"})
    EXPECT_FALSE(Whole(g, bad)) << bad;
}

TEST(JsonSchemaGrammar, ValidDocumentsOnly) {
  const auto schema = nlohmann::ordered_json::parse(R"({
    "type": "object",
    "properties": {
      "name": {"type": "string", "maxLength": 5},
      "age": {"type": "integer"},
      "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 2},
      "pet": {"$ref": "#/$defs/pet"},
      "note": {"type": ["string", "null"]}
    },
    "required": ["name", "age"],
    "$defs": {"pet": {"type": "object", "properties": {"kind": {"const": "cat"}}, "required": ["kind"]}}
  })");
  auto gbnf = JsonSchemaToGbnf(schema);
  ASSERT_TRUE(gbnf.ok()) << gbnf.status().message();
  const auto g = Compile(gbnf.value());
  ASSERT_NE(g, nullptr);
  for (const char* ok : {R"({"name": "Ann", "age": 3})", R"({"name":"","age":-1,"tags":["a"],"pet":{"kind":"cat"}})",
                         R"({"name": "Bo", "age": 0, "note": null})", R"({"name": "Bo", "age": 0, "tags": ["b", "a"], "note": "x"})"})
    EXPECT_TRUE(Whole(g, ok)) << ok;
  for (const char* bad : {R"({"age": 3})", R"({"name": "Annabel", "age": 3})", R"({"name": "A", "age": 1.5})",
                          R"({"name": "A", "age": 1, "tags": []})", R"({"name": "A", "age": 1, "tags": ["c"]})",
                          R"({"name": "A", "age": 1, "pet": {"kind": "dog"}})", R"({"name": "A", "age": 1, "extra": 1})",
                          R"({"age": 1, "name": "A"})"})
    EXPECT_FALSE(Whole(g, bad)) << bad;
}

TEST(JsonSchemaGrammar, DefaultsAndEdgesFollowJsonSchema) {
  const auto whole = [](const char* schema, const char* doc) {
    auto gbnf = JsonSchemaToGbnf(nlohmann::ordered_json::parse(schema));
    EXPECT_TRUE(gbnf.ok()) << gbnf.status().message();
    return gbnf.ok() && Whole(Compile(gbnf.value()), doc);
  };
  EXPECT_TRUE(whole(R"({"type": "object"})", R"({"any": [1, {"x": null}]})"));  // additionalProperties defaults to true
  EXPECT_FALSE(whole(R"({"type": "object", "additionalProperties": false})", R"({"a": 1})"));
  EXPECT_TRUE(whole(R"({"enum": [1, "one", null], "type": "string"})", R"("one")"));
  EXPECT_FALSE(whole(R"({"enum": [1, "one", null], "type": "string"})", "1"));
  const char* near_names = R"({"type": "object", "properties": {"p": {"$ref": "#/$defs/a.b"}, "q": {"$ref": "#/$defs/a_b"}},
    "required": ["p", "q"], "$defs": {"a.b": {"type": "integer"}, "a_b": {"type": "string"}}})";
  EXPECT_TRUE(whole(near_names, R"({"p": 1, "q": "x"})"));
  EXPECT_FALSE(whole(near_names, R"({"p": "x", "q": 1})"));
  nlohmann::ordered_json chain = {{"$ref", "#/$defs/d0"}, {"$defs", nlohmann::ordered_json::object()}};
  for (int i = 0; i < 200; ++i) chain["$defs"]["d" + std::to_string(i)] = {{"$ref", "#/$defs/d" + std::to_string(i + 1)}};
  chain["$defs"]["d200"] = {{"type", "integer"}};
  for (const auto& [schema, error] : std::vector<std::pair<nlohmann::ordered_json, const char*>>{
           {chain, "deeper than"},
           {nlohmann::ordered_json::parse(R"({"$ref": "#/$defs/x"})"), "names no definition"},
           {nlohmann::ordered_json::parse(R"({"type": ["object", "object"]})"), "twice"},
           // 150,000 entries: the pairwise check for repeats took about a minute.
           {{{"type", std::vector<int>(150000, 0)}}, "more than the 7 JSON types"}}) {
    auto r = JsonSchemaToGbnf(schema);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find(error), std::string::npos) << r.status().message();
  }
}

TEST(JsonSchemaGrammar, ConstraintsItCannotKeepAreRefusedByName) {
  for (const auto& [schema, keyword] : std::vector<std::pair<const char*, const char*>>{
           {R"({"type": "string", "pattern": "^a"})", "pattern"},
           {R"({"type": "integer", "minimum": 0})", "minimum"},
           {R"({"allOf": [{"type": "string"}]})", "allOf"},
           {R"({"type": "object", "properties": {"a": {"type": "string", "format": "date"}}})", "format"},
           {R"({"type": "object", "required": ["x"]})", "required"}}) {
    auto r = JsonSchemaToGbnf(nlohmann::ordered_json::parse(schema));
    ASSERT_FALSE(r.ok()) << schema;
    EXPECT_NE(r.status().message().find(keyword), std::string::npos) << r.status().message();
  }
}

namespace {

// Greedy sampling within `g` over a vocabulary of `bytes` (token 0 ends the turn), each first
// character tested once per mask as the engine's grammars do.
SamplingParams GreedyWithin(std::shared_ptr<const Grammar> g, std::vector<std::string> bytes) {
  auto texts = std::make_shared<TokenTexts>();
  texts->bytes = std::move(bytes);
  texts->ends_turn.assign(texts->bytes.size(), false);
  texts->ends_turn[0] = true;
  SamplingParams p;
  p.temperature = 0;
  p.grammar = std::make_shared<TokenGrammar>(
      TokenGrammar{std::move(g), texts, std::make_shared<const std::vector<uint32_t>>(FirstChars(*texts))});
  return p;
}

}  // namespace

// A grammar whose every step fans out to the per-step bound (40 empty choices of two ways)
// made one mask of a vocabulary cost that bound per token and character: minutes on the
// scheduler's thread. The first character is stepped once per mask now; tokens of many
// spaces still pay per character, and the mask stops at kMaxMaskWork and the sampler says so.
TEST(GrammarSampling, AMaskPastItsWorkBoundIsReportedNotComputedForMinutes) {
  std::string x = "x ::=";
  for (int i = 0; i < 40; ++i) x += " e";
  const auto g = Compile("root ::= ( \" \" x )+\n" + x + "\ne ::= \"\" | \"\"");
  ASSERT_NE(g, nullptr);
  std::vector<std::string> bytes = {"", "Z"};
  for (int i = 0; i < 3000; ++i) bytes.push_back(std::string(2 + i % 39, ' ') + std::to_string(i));
  Sampler sampler(GreedyWithin(g, bytes));
  std::vector<float> logits(bytes.size(), 0.f);
  logits[1] = 10;  // "Z", which the grammar refuses: the mask is computed
  sampler.Sample(logits.data(), static_cast<int32_t>(logits.size()));  // a few seconds; unbounded, minutes
  EXPECT_TRUE(sampler.grammar_over_budget());
}

// ... while a large enum, whose value position holds a stack per value, stays well inside
// it: stepped for every space token, 40,000 of them against 2,000 values passed the bound.
TEST(GrammarSampling, ALargeEnumOverALargeVocabularyStaysInsideTheMaskBound) {
  nlohmann::ordered_json values = nlohmann::ordered_json::array();
  for (int i = 0; i < 2000; ++i) values.push_back("value" + std::to_string(i));
  auto schema = JsonSchemaToGbnf({{"type", "object"}, {"properties", {{"k", {{"enum", values}}}}}, {"required", {"k"}}});
  ASSERT_TRUE(schema.ok()) << schema.status().message();
  const auto g = Compile(schema.value());
  ASSERT_NE(g, nullptr);
  std::vector<std::string> bytes = {"", "Z", "{\"k\":"};
  for (int i = 0; i < 40000; ++i) bytes.push_back(" t" + std::to_string(i));
  Sampler sampler(GreedyWithin(g, bytes));
  std::vector<float> logits(bytes.size(), 0.f);
  logits[2] = 10;
  ASSERT_EQ(sampler.Sample(logits.data(), static_cast<int32_t>(logits.size())), 2);
  logits[2] = 0;
  logits[1] = 10;  // "Z" at the value: refused, the mask is computed over every space token
  sampler.Sample(logits.data(), static_cast<int32_t>(logits.size()));
  EXPECT_FALSE(sampler.grammar_over_budget());
}

TEST(GrammarSampling, TokensStayInsideTheGrammarWhateverTheLogitsPrefer) {
  // Tokens: 0 end, 1 "{", 2 "}", 3 "\"k\"", 4 ":", 5 " ", 6 "7", 7 "x", 8 "{\"k\":"
  auto texts = std::make_shared<TokenTexts>();
  texts->bytes = {"", "{", "}", "\"k\"", ":", " ", "7", "x", "{\"k\":"};
  texts->ends_turn = {true, false, false, false, false, false, false, false, false};
  auto schema = JsonSchemaToGbnf(nlohmann::ordered_json::parse(
      R"({"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"]})"));
  ASSERT_TRUE(schema.ok());
  const auto g = Compile(schema.value());
  ASSERT_NE(g, nullptr);
  std::mt19937 rng(7);
  for (int run = 0; run < 200; ++run) {
    SamplingParams p;
    p.temperature = run % 2 ? 0.f : 1.5f;
    p.seed = static_cast<uint64_t>(run);
    // Half the runs test each first character once per mask, as the engine's grammars do.
    auto first = run % 4 < 2 ? std::make_shared<const std::vector<uint32_t>>(FirstChars(*texts)) : nullptr;
    p.grammar = std::make_shared<TokenGrammar>(TokenGrammar{g, texts, first});
    Sampler sampler(p);
    std::string text;
    bool ended = false;
    for (int step = 0; step < 40 && !ended; ++step) {
      std::vector<float> logits(texts->bytes.size());
      for (float& l : logits) l = std::uniform_real_distribution<float>(-3, 3)(rng);
      logits[7] = 10;  // "x" is never allowed: the sampler must not take it
      const int32_t t = sampler.Sample(logits.data(), static_cast<int32_t>(logits.size()));
      ASSERT_NE(t, 7);
      if (texts->ends_turn[t]) ended = true;
      else text += texts->bytes[t];
    }
    if (ended) {
      EXPECT_TRUE(Whole(g, text)) << text;
    } else {
      EXPECT_TRUE(GrammarMatcher(g).Accepts(text)) << text;
    }
  }
}

}  // namespace kvfuse::sched::grammar
