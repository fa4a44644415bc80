// kvfuse-gen-model --shape smol --type q8_0 [--seed N] [--vocab VOCAB.gguf] -o FILE.gguf
// --vocab: a real tokenizer instead of the test one (e.g. Qwen's from kvfuse convert-tokenizer).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

#include "gguf/gguf_reader.h"
#include "model_gen/random_model.h"

int main(int argc, char** argv) {
  std::string shape_name = "tiny", type = "q8_0", out, vocab_path;
  uint64_t seed = 42;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--shape" && has_value) shape_name = argv[++i];
    else if (a == "--type" && has_value) type = argv[++i];
    else if (a == "--seed" && has_value) seed = std::strtoull(argv[++i], nullptr, 10);
    else if (a == "-o" && has_value) out = argv[++i];
    else if (a == "--vocab" && has_value) vocab_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: kvfuse-gen-model --shape NAME --type TYPE [--seed N] [--vocab VOCAB.gguf] -o FILE.gguf\n");
      return 1;
    }
  }
  kvfuse::tools::ModelShape shape;
  if (out.empty() || !kvfuse::tools::FindShape(shape_name, shape)) {
    std::fprintf(stderr, "error: need -o and a known --shape (");
    for (const auto& n : kvfuse::tools::ShapeNames()) std::fprintf(stderr, " %s", n.c_str());
    std::fprintf(stderr, " )\n");
    return 1;
  }
  std::optional<kvfuse::tokenizer::Vocab> vocab;
  if (!vocab_path.empty()) {
    auto file = kvfuse::gguf::GgufFile::Open(vocab_path);
    auto read = file.ok() ? kvfuse::tokenizer::ReadVocab(file.value()) : file.status();
    if (!read.ok()) {
      std::fprintf(stderr, "error: %s\n", read.status().message().c_str());
      return 1;
    }
    vocab = std::move(read).value();
  }
  kvfuse::util::Status st = kvfuse::tools::WriteRandomModel(shape, type, seed, out, vocab ? &*vocab : nullptr);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", st.message().c_str());
    return 1;
  }
  std::printf("wrote %s (%s, %s)\n", out.c_str(), shape_name.c_str(), type.c_str());
  return 0;
}
