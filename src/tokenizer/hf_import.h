// A Hugging Face tokenizer (tokenizer.json and tokenizer_config.json of one folder) as a
// Vocab with the meaning of the GGUF tokenizer.ggml.* keys, derived as llama.cpp's converter
// derives them (BOS/EOS as Python transformers adds them), so that `kvfuse convert-tokenizer` can write it (SetVocabKeys):
// - byte-level BPE (GPT-2 alphabet; Llama 3, Qwen, DeepSeek V3) becomes model "gpt2" with its
//   merges and the pre-tokenizer named by tokenizer.ggml.pre, identified from the Split
//   expressions of the pre_tokenizer;
// - BPE with byte fallback over "▁"-spaced text (Gemma, Llama 2 converted to tokenizer.json)
//   becomes SentencePiece "llama" whose scores rank tokens in merge order;
// - added tokens are control tokens when special, user-defined tokens otherwise.
// Anything it cannot represent faithfully (a WordPiece or Unigram model, a normalizer or a
// pre-tokenizer kvfuse does not apply) is an error that names it, never a silent
// approximation. Threading: a pure function.
#pragma once

#include <string>

#include "tokenizer/vocab.h"
#include "util/status.h"

namespace kvfuse::tokenizer {

// `dir` holds tokenizer.json and, optionally, tokenizer_config.json (special tokens,
// add_bos_token, chat_template).
util::Result<Vocab> ImportHfTokenizer(const std::string& dir);

}  // namespace kvfuse::tokenizer
