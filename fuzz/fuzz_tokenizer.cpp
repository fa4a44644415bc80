// Any text through every vocabulary of tests/data/vocab (the shared/vocab set): the first
// byte picks the vocabulary and whether special tokens are parsed; encode, then decode.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "tokenizer/stream_decoder.h"
#include "tokenizer/tokenizer.h"

using namespace kvfuse;

namespace {
std::vector<std::unique_ptr<tokenizer::Tokenizer>>& Tokenizers() {
  static std::vector<std::unique_ptr<tokenizer::Tokenizer>> all;
  return all;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::vector<std::filesystem::path> paths;
  for (const auto& e : std::filesystem::directory_iterator(KVFUSE_SOURCE_DIR "/tests/data/vocab"))
    if (e.path().extension() == ".gguf") paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    auto file = gguf::GgufFile::Open(p.string());
    if (!file.ok()) continue;
    auto vocab = tokenizer::ReadVocab(file.value());
    if (!vocab.ok()) continue;
    auto tok = tokenizer::CreateTokenizer(std::move(vocab).value());
    if (tok.ok()) Tokenizers().push_back(std::move(tok).value());
  }
  if (Tokenizers().empty()) std::abort();  // nothing to fuzz: the data directory moved
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const tokenizer::Tokenizer& tok = *Tokenizers()[data[0] % Tokenizers().size()];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  const std::vector<int32_t> ids = tok.Encode(text, (data[0] & 0x80) != 0);
  (void)tok.Decode(ids);
  tokenizer::StreamDecoder decoder(tok);
  for (int32_t id : ids) (void)decoder.Push(id);
  (void)decoder.Flush();
  return 0;
}
