// A SentencePiece ("llama") vocabulary for random models: control tokens, the 256 byte
// fallbacks, printable ASCII, U+2581 (space) and every space+letter / letter+letter
// pair, padded with unreachable tokens to the requested size.
#pragma once

#include <cstdint>

#include "gguf/gguf_writer.h"
#include "tokenizer/vocab.h"

namespace kvfuse::tools {

// Requires n_vocab >= MinTestVocabSize().
void AddTestVocab(gguf::GgufWriter& writer, int n_vocab);
int MinTestVocabSize();

// A real tokenizer's vocabulary padded with unused "[PADn]" tokens to n_vocab (>= its size).
void AddPaddedVocab(gguf::GgufWriter& writer, tokenizer::Vocab vocab, int n_vocab);

}  // namespace kvfuse::tools
