// Limits that keep a hostile chat template (tokenizer.chat_template comes from whoever
// made the GGUF file) from crashing, hanging or exhausting the process. Exceeding one is
// an error naming the limit and its value, at parse or at render time.
//
// Published templates stay far below every one: they are a few KB (the largest tens of
// KB), nest under 10 levels, build values 2-3 levels deep and render a conversation in
// some thousands of steps; their output is a prompt that must fit a context window.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvfuse::tokenizer::jinja {

struct Limits {
  // Template source, in bytes. The parsed form takes ~100x the source in memory.
  size_t max_template_bytes = 1 << 20;
  // Parse: levels of nested blocks plus the depth of the expression tree inside them
  // (brackets, operators, filters, chained `not` or `+`). Parsing, evaluating and
  // freeing a tree all recurse, so depth is what overflows the stack.
  int max_nesting = 256;
  // Render: nested statement and expression evaluations. A parsed template stays within
  // max_nesting + 1; this bounds the recursion itself.
  int max_eval_depth = 512;
  // Render: units of work, one per statement or expression evaluated, loop iteration,
  // list item or dict entry copied or scanned, and kBytesPerStep bytes of text built.
  // Bounds the time of a render (a few seconds at most).
  int64_t max_steps = 5'000'000;
  static constexpr size_t kBytesPerStep = 64;
  // Render: the rendered prompt, and any one string a template builds, in bytes.
  size_t max_output_bytes = 16 << 20;
  size_t max_string_bytes = 16 << 20;
  // Render: items of any list a template builds (split, range, +, ...).
  size_t max_list_items = 1 << 20;
  // Render: items of range(); the same as Hugging Face's sandboxed jinja2 (MAX_RANGE).
  int64_t max_range = 100'000;
  // Render: levels of lists and dicts a template builds, as [[[...]]] or namespaces.
  // Printing, comparing and freeing a value recurse over them.
  int max_value_depth = 128;
};

}  // namespace kvfuse::tokenizer::jinja
