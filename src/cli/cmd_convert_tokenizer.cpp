// kvfuse convert-tokenizer: a Hugging Face tokenizer folder (tokenizer.json and
// tokenizer_config.json) to a vocabulary-only GGUF that `kvfuse tokenize -m` and the tests read.
#include <cstdio>

#include "cli/commands.h"
#include "engine/engine.h"

namespace kvfuse::cli {

int ConvertTokenizerCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"-o"}, {});
  if (!args.ok()) return Fail(args.status().message());
  if (args->positional().size() != 1 || args->Get("-o").empty())
    return Fail("usage: kvfuse convert-tokenizer DIR -o VOCAB.gguf (DIR holds tokenizer.json)");
  auto vocab = engine::ConvertHfTokenizer(args->positional()[0], args->Get("-o"));
  if (!vocab.ok()) return Fail(vocab.status().message());
  std::printf("%s: %d tokens, model %s%s%s, %zu merges, BOS %s, EOS %s, chat template %s\n", args->Get("-o").c_str(),
              vocab->n_tokens(), vocab->model.c_str(), vocab->pre.empty() ? "" : ", pre ", vocab->pre.c_str(),
              vocab->merges.size(), vocab->add_bos ? "added" : "not added", vocab->add_eos ? "added" : "not added",
              vocab->chat_template.empty() ? "none" : "kept");
  return 0;
}

}  // namespace kvfuse::cli
