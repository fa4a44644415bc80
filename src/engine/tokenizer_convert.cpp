#include "engine/engine.h"
#include "gguf/gguf_writer.h"
#include "tokenizer/hf_import.h"
#include "tokenizer/vocab_writer.h"

namespace kvfuse::engine {

util::Result<tokenizer::Vocab> ConvertHfTokenizer(const std::string& hf_dir, const std::string& gguf_path) {
  auto vocab = tokenizer::ImportHfTokenizer(hf_dir);
  if (!vocab.ok()) return vocab.status();
  // The vocabulary must load as a tokenizer before it is written.
  auto check = tokenizer::CreateTokenizer(vocab.value());
  if (!check.ok()) return check.status();
  gguf::GgufWriter writer;
  writer.Set("general.type", gguf::Value::String("vocab"));
  tokenizer::SetVocabKeys(vocab.value(), &writer);
  if (util::Status s = writer.Write(gguf_path); !s.ok()) return s;
  return vocab;
}

}  // namespace kvfuse::engine
