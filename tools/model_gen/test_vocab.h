// A SentencePiece ("llama") vocabulary for random models: control tokens, the 256 byte
// fallbacks, printable ASCII, U+2581 (space) and every space+letter / letter+letter
// pair, padded with unreachable tokens to the requested size.
#pragma once

#include <cstdint>

#include "gguf/gguf_writer.h"

namespace kvfuse::tools {

// Requires n_vocab >= MinTestVocabSize().
void AddTestVocab(gguf::GgufWriter& writer, int n_vocab);
int MinTestVocabSize();

}  // namespace kvfuse::tools
