// Random-weight GGUF models with the shapes of real ones (shared/design/BENCHMARKS.md)
// and small test shapes, in every supported tensor type, written with our own writer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/vocab.h"
#include "util/status.h"

namespace kvfuse::tools {

struct ModelShape {
  std::string name;
  std::string arch;  // "llama", "qwen2", "qwen3", "phi3", "gemma2" or "gemma3"
  int n_embd, n_layers, n_heads, n_kv_heads, n_ff, n_vocab;
  float rope_theta;
  bool tied_output;
  int head_dim = 0;  // 0: n_embd / n_heads; else written as attention.key_length (Qwen 3's 128)
  // > 0: Llama 3's RoPE frequency factors (rope_freqs.weight) for this original context, with
  // Llama 3.2's factor 32, low-frequency factor 1 and high-frequency factor 4.
  int rope_original_context = 0;
  // > 0: the sliding window written as <arch>.attention.sliding_window (phi3, gemma2/3).
  int sliding_window = 0;
};

// "tiny", "tiny-qwen2", "tiny-qwen3" (heads wider than n_embd / n_heads, as Qwen 3's),
// "tiny-llama3" (Llama 3's RoPE factors over an original context of 64, so that they matter
// within a few positions), "tiny-deep" (4 layers), "tiny-phi3", "tiny-gemma2",
// "tiny-gemma2-26" (26 layers: llama.cpp loads Gemma 2 only at its real layer counts),
// "tiny-gemma3" (7 layers: the sixth attends globally), with windows of 8 tokens and
// soft-caps small enough to matter, "smol", "qwen05",
// "qwen3-06b", "llama32-1b", "qwen25-15b" (Llama-3.2-1B's and Qwen2.5-1.5B's shapes: every row
// a multiple of 256); false if unknown.
bool FindShape(const std::string& name, ModelShape& out);
std::vector<std::string> ShapeNames();

// Weight types: f32, f16, bf16, q8_0, q4_0, q5_0, q4_k, q5_k, q6_k, or the llama.cpp
// mixes q4_k_m and q5_k_m. Widths that are not multiples of 256 fall back from K-quants
// to 32-blocks as llama.cpp's quantizer does (q4_k -> q5_0, q5_k/q6_k -> q8_0).
std::vector<std::string> TypeNames();

// With `vocab`, the model carries that tokenizer (padded with unused tokens to the shape's
// n_vocab, as llama.cpp pads Qwen's), so that token counts are a real model's; without it,
// the small test vocabulary of test_vocab.h.
util::Status WriteRandomModel(const ModelShape& shape, const std::string& type_name,
                              uint64_t seed, const std::string& path, const tokenizer::Vocab* vocab = nullptr);

}  // namespace kvfuse::tools
