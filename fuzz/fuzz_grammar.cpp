// Grammars from requests (a client's `grammar`, `json_schema`, `response_format` and tools'
// parameters are strangers' text): compile, check the cost, then run the matcher over the input's
// own bytes. Input: a first byte choosing GBNF (even) or JSON Schema (odd), then the text.
// Errors are fine; crashes, hangs and unbounded memory are not.
#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "sched/grammar/grammar.h"
#include "sched/grammar/grammar_matcher.h"
#include "sched/grammar/json_schema.h"

using namespace kvfuse::sched::grammar;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string gbnf = text;
  if (data[0] & 1) {  // JSON Schema, nested no deeper than the server lets a body nest
    const nlohmann::ordered_json schema = nlohmann::ordered_json::parse(text, nullptr, false);
    if (schema.is_discarded()) return 0;
    auto converted = JsonSchemaToGbnf(schema);
    if (!converted.ok()) return 0;
    gbnf = converted.value();
  }
  auto compiled = CompileGbnf(gbnf);
  if (!compiled.ok()) return 0;
  const auto grammar = std::make_shared<const Grammar>(std::move(compiled).value());
  if (!CheckGrammarCost(grammar).ok()) return 0;
  GrammarMatcher matcher(grammar);
  // Feed the text in pieces of a few bytes, as tokens come; a refused piece is skipped.
  for (size_t at = 0; at < text.size() && at < 512; at += 3) {
    const std::string piece = text.substr(at, 3);
    if (matcher.Accepts(piece)) matcher.Advance(piece);
    (void)matcher.CanEnd();
  }
  return 0;
}
