// Hyper-parameters of a decoder-only transformer, read from GGUF metadata.
#pragma once

#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "kernels/ops.h"
#include "util/status.h"

namespace kvfuse::model {

struct HParams {
  std::string arch;      // "llama", "qwen2", "qwen3"
  int n_vocab = 0;
  int n_ctx_train = 0;
  int n_embd = 0;
  int n_layers = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int n_ff = 0;
  int rope_dim = 0;
  float rope_theta = 10000.f;
  float rms_eps = 1e-5f;
  bool rope_neox = false;  // pair (i, i + d/2) instead of (2i, 2i+1)
  bool qkv_bias = false;
  bool qk_norm = false;  // an RMS norm over each head of q and k before RoPE (qwen3)
  float rope_freq_scale = 1.0f;          // linear RoPE scaling: 1 / rope.scaling.factor
  std::vector<float> rope_freq_factors;  // Llama 3's rope_freqs.weight (rope_dim / 2), or empty
};

// The RoPE of queries and of keys, cached ones re-rotated too; points into hp, which must
// outlive it.
kernels::RopeParams RopeOf(const HParams& hp);

// Reads "<arch>.*" keys shared by the llama family and checks them for consistency.
util::Result<HParams> ReadHParams(const gguf::GgufFile& file);

}  // namespace kvfuse::model
