// Per-architecture facts: one function per family, looked up by general.architecture.
#pragma once

#include <string>

#include "gguf/gguf_reader.h"
#include "model/hparams.h"
#include "util/status.h"

namespace kvfuse::model::arch {

// Sets the family's own fields of hp (RoPE order, biases, norms, windows), reading its own
// keys from `file`; called once the keys every family shares are in hp.
using Configure = util::Status (*)(const gguf::GgufFile& file, HParams& hp);

util::Status ConfigureLlama(const gguf::GgufFile& file, HParams& hp);
util::Status ConfigureQwen2(const gguf::GgufFile& file, HParams& hp);
util::Status ConfigureQwen3(const gguf::GgufFile& file, HParams& hp);
util::Status ConfigurePhi3(const gguf::GgufFile& file, HParams& hp);
util::Status ConfigureGemma2(const gguf::GgufFile& file, HParams& hp);
util::Status ConfigureGemma3(const gguf::GgufFile& file, HParams& hp);

// The sliding window `key` gives into out, `fallback` where the file has none; a value that is
// not an integer in 0..2^30 is an error naming the key.
util::Status ReadWindow(const gguf::GgufFile& file, const std::string& key, int fallback, int& out);

// The family of general.architecture `name`; nullptr if it does not load.
Configure ConfigureFor(const std::string& name);
// "llama, qwen2, ...", for messages.
std::string KnownArchitectures();

}  // namespace kvfuse::model::arch
