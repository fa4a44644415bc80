#include "tokenizer/tokenizer.h"

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace kvfuse::tokenizer {

util::Result<std::unique_ptr<Tokenizer>> CreateTokenizer(Vocab vocab) {
  if (vocab.model == "llama") {
    auto spm = SpmTokenizer::Create(std::move(vocab));
    if (!spm.ok()) return spm.status();
    return std::unique_ptr<Tokenizer>(std::make_unique<SpmTokenizer>(std::move(spm).value()));
  }
  if (vocab.model == "gpt2") {
    auto bpe = BpeTokenizer::Create(std::move(vocab));
    if (!bpe.ok()) return bpe.status();
    return std::unique_ptr<Tokenizer>(std::make_unique<BpeTokenizer>(std::move(bpe).value()));
  }
  return util::Status::Error("unsupported tokenizer model '" + vocab.model + "' (tokenizer.ggml.model)");
}

}  // namespace kvfuse::tokenizer
