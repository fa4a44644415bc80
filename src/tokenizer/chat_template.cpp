#include "tokenizer/chat_template.h"

#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/lexer.h"
#include "tokenizer/jinja/parser.h"

namespace kvfuse::tokenizer {

using util::Result;

namespace {
constexpr const char* kChatMl =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}  // namespace

Result<ChatTemplate> ChatTemplate::Create(const std::string& source, const jinja::Limits& limits) {
  auto segments = jinja::SplitTemplate(source, limits);
  if (!segments.ok()) return segments.status().WithContext("chat template");
  auto body = jinja::ParseTemplate(segments.value(), limits);
  if (!body.ok()) return body.status().WithContext("chat template");
  return ChatTemplate(source, std::move(body).value(), limits);
}

ChatTemplate ChatTemplate::ChatMl() { return std::move(Create(kChatMl)).value(); }

Result<std::string> ChatTemplate::Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                         const std::string& bos_token, const std::string& eos_token) const {
  jinja::List list;
  for (const ChatMessage& m : messages) list.push_back(jinja::Value(jinja::Dict{{"role", m.role}, {"content", m.content}}));
  const jinja::Dict globals = {
      {"messages", jinja::Value(std::move(list))},
      {"add_generation_prompt", jinja::Value(add_generation_prompt)},
      {"bos_token", jinja::Value(bos_token)},
      {"eos_token", jinja::Value(eos_token)},
      {"tools", jinja::Value::MakeNone()},
      {"documents", jinja::Value::MakeNone()},
  };
  return Render(globals);
}

Result<std::string> ChatTemplate::Render(const jinja::Dict& variables) const {
  auto out = jinja::Render(*body_, variables, limits_);
  if (!out.ok()) return out.status().WithContext("chat template");
  return out;
}

}  // namespace kvfuse::tokenizer
