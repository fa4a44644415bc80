// A Vocab as the GGUF tokenizer.ggml.* keys (and tokenizer.chat_template) that ReadVocab
// reads back, named and typed as llama.cpp writes them. Any thread (the writer is the caller's).
#pragma once

#include "gguf/gguf_writer.h"
#include "tokenizer/vocab.h"

namespace kvfuse::tokenizer {

void SetVocabKeys(const Vocab& vocab, gguf::GgufWriter* writer);

}  // namespace kvfuse::tokenizer
