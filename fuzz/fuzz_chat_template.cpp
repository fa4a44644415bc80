// A chat template from a GGUF file (tokenizer.chat_template is a stranger's code): parse it,
// then render a conversation. Input: the template, optionally followed by a NUL byte and the
// user's message. Errors are fine; crashes, hangs and unbounded memory are not.
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/chat_template.h"

using namespace kvfuse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string source = input.substr(0, nul);
  const std::string user = nul == std::string::npos ? "Hello" : input.substr(nul + 1);
  // A step budget well under the default keeps each input within libFuzzer's timeout under
  // the sanitizers; exceeding it is the same code path as exceeding the real one.
  tokenizer::jinja::Limits limits;
  limits.max_steps = 200'000;
  auto chat = tokenizer::ChatTemplate::Create(source, limits);
  if (!chat.ok()) return 0;
  const std::vector<tokenizer::ChatMessage> messages = {
      {"system", "You are terse."}, {"user", user}, {"assistant", "Hi."}, {"user", "And then?"}};
  for (const bool generation_prompt : {false, true})
    (void)chat.value().Render(messages, generation_prompt, "<s>", "</s>");
  return 0;
}
