// Structured output for the layers above the engine: JSON Schema (and JSON mode) as GBNF,
// which Engine::CompileGrammar binds to the model's vocabulary. Pure functions: any thread.
#pragma once

#include "sched/grammar/json_schema.h"

namespace kvfuse::engine {

using sched::grammar::GbnfLiteral;
using sched::grammar::JsonObjectGbnf;
using sched::grammar::JsonSchemaRules;
using sched::grammar::JsonSchemaToGbnf;
using sched::grammar::JsonSharedRules;

}  // namespace kvfuse::engine
