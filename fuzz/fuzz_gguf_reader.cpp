// A GGUF file from a stranger: the reader, then everything loading reads from its metadata
// (hyper-parameters, vocabulary, tokenizer). Errors are fine; crashes and hangs are not.
#include <cstdint>

#include "gguf/gguf_reader.h"
#include "model/hparams.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/vocab.h"

using namespace kvfuse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = gguf::GgufFile::Parse(data, size, "fuzz.gguf");
  if (!file.ok()) return 0;
  (void)model::ReadHParams(file.value());
  auto vocab = tokenizer::ReadVocab(file.value());
  if (!vocab.ok()) return 0;
  auto tok = tokenizer::CreateTokenizer(std::move(vocab).value());
  if (tok.ok()) (void)tok.value()->Encode("Hello world", true);
  return 0;
}
