// Chat templates: the Jinja subset that real tokenizer.chat_template strings use
// (text with whitespace control; {{ }} output; if/elif/else, for with loop variables and
// filters, set incl. namespace attributes, break/continue; literals, lists, dicts,
// arithmetic, comparisons, in, is-tests, slices; filters such as trim, length, tojson,
// default, join, selectattr; string and dict methods; raise_exception, range,
// namespace), rendered as Hugging Face renders them. A model without a template gets
// ChatML. Threading: a ChatTemplate is immutable; Render may run on any number of threads at
// once (each render has its own interpreter).
//
// Templates come from strangers' GGUF files: jinja::Limits bounds what one may take to
// parse and render (nesting, steps, sizes), and going past a limit is an error.
#pragma once

#include <string>
#include <vector>

#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/limits.h"
#include "tokenizer/jinja/value.h"
#include "util/status.h"

namespace kvfuse::tokenizer {

struct ChatMessage {
  std::string role;
  std::string content;
};

class ChatTemplate {
 public:
  // A syntax error, an unsupported construct or a template over `limits` is an error
  // naming its line; Render keeps to the same limits.
  static util::Result<ChatTemplate> Create(const std::string& source, const jinja::Limits& limits = jinja::Limits());
  // <|im_start|>role\ncontent<|im_end|>\n ... [<|im_start|>assistant\n]
  static ChatTemplate ChatMl();

  util::Result<std::string> Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                   const std::string& bos_token, const std::string& eos_token) const;
  // With any variables (messages with tool calls, tools, enable_thinking, ...): `variables`
  // is the template's global scope, exactly as given.
  util::Result<std::string> Render(const jinja::Dict& variables) const;
  const std::string& source() const { return source_; }

 private:
  ChatTemplate(std::string source, jinja::Body body, const jinja::Limits& limits)
      : source_(std::move(source)), body_(std::make_shared<jinja::Body>(std::move(body))), limits_(limits) {}
  std::string source_;
  std::shared_ptr<const jinja::Body> body_;
  jinja::Limits limits_;
};

}  // namespace kvfuse::tokenizer
