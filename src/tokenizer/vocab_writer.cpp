#include "tokenizer/vocab_writer.h"

namespace kvfuse::tokenizer {

void SetVocabKeys(const Vocab& vocab, gguf::GgufWriter* writer) {
  writer->Set("tokenizer.ggml.model", gguf::Value::String(vocab.model));
  if (!vocab.pre.empty()) writer->Set("tokenizer.ggml.pre", gguf::Value::String(vocab.pre));
  writer->Set("tokenizer.ggml.tokens", gguf::Value::StringArray(vocab.tokens));
  writer->Set("tokenizer.ggml.scores", gguf::Value::Float32Array({vocab.scores.begin(), vocab.scores.end()}));
  std::vector<int64_t> types;
  types.reserve(vocab.types.size());
  for (TokenType t : vocab.types) types.push_back(static_cast<int64_t>(t));
  writer->Set("tokenizer.ggml.token_type", gguf::Value::Int32Array(std::move(types)));
  if (!vocab.merges.empty()) writer->Set("tokenizer.ggml.merges", gguf::Value::StringArray(vocab.merges));
  const std::pair<const char*, int32_t> ids[] = {
      {"tokenizer.ggml.bos_token_id", vocab.bos_id},
      {"tokenizer.ggml.eos_token_id", vocab.eos_id},
      {"tokenizer.ggml.unknown_token_id", vocab.unk_id},
      {"tokenizer.ggml.padding_token_id", vocab.pad_id},
  };
  for (const auto& [key, id] : ids)
    if (id >= 0) writer->Set(key, gguf::Value::Uint32(static_cast<uint32_t>(id)));
  writer->Set("tokenizer.ggml.add_bos_token", gguf::Value::Bool(vocab.add_bos));
  writer->Set("tokenizer.ggml.add_eos_token", gguf::Value::Bool(vocab.add_eos));
  if (vocab.model == "llama") writer->Set("tokenizer.ggml.add_space_prefix", gguf::Value::Bool(vocab.add_space_prefix));
  if (!vocab.chat_template.empty()) writer->Set("tokenizer.chat_template", gguf::Value::String(vocab.chat_template));
}

}  // namespace kvfuse::tokenizer
