// A request body from any client: the JSON guard, then the OpenAI request parser with the
// bundled demo model's tokenizer and chat template (RAG requests included, with two fixed
// retrieved chunks). The first byte picks chat or text completion.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "engine/engine.h"
#include "server/json_body.h"
#include "server/openai_api.h"

using namespace kvfuse;

namespace {
std::unique_ptr<engine::Engine>& TheEngine() {
  static std::unique_ptr<engine::Engine> engine;
  return engine;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  engine::EngineOptions o;
  o.model_path = KVFUSE_SOURCE_DIR "/models/demo.gguf";
  o.n_ctx = 512;
  o.n_threads = 1;
  auto engine = engine::Engine::Load(o);
  if (!engine.ok() || !engine.value()->tokenizer()) std::abort();  // nothing to fuzz
  TheEngine() = std::move(engine).value();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  auto body = server::ParseJsonObject(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  if (!std::holds_alternative<nlohmann::json>(body)) return 0;
  server::ApiLimits limits;
  limits.max_prompt_tokens = 511;
  const server::Retriever retrieve = [](const std::string&, const std::string&, int k)
      -> std::variant<server::RetrievedChunks, server::ApiError> {
    if (k > 2) return server::ApiError{404, "no such collection", "not_found_error", "collection"};
    return server::RetrievedChunks{{"c#1", "c#2"}, {"Julia lives in Oslo.", "Pavel works for Blue Labs."}};
  };
  (void)server::ParseCompletionRequest(std::get<nlohmann::json>(body),
                                       std::string_view(reinterpret_cast<const char*>(data + 1), size - 1),
                                       (data[0] & 1) != 0, *TheEngine(), limits, retrieve);
  return 0;
}
