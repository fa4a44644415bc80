// Views of a model's weights inside the mapped GGUF file (nothing is copied).
#pragma once

#include <vector>

#include "gguf/gguf_reader.h"
#include "kernels/matmul.h"
#include "model/hparams.h"

namespace kvfuse::model {

struct LayerWeights {
  const float* attn_norm = nullptr;  // [n_embd]
  kernels::WeightView wq;            // [n_heads*head_dim rows, n_embd cols]
  kernels::WeightView wk;            // [n_kv_heads*head_dim, n_embd]
  kernels::WeightView wv;            // [n_kv_heads*head_dim, n_embd]
  const float* bq = nullptr;         // biases (qwen2), else nullptr
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;     // [head_dim] (qwen3, gemma3), else nullptr
  const float* k_norm = nullptr;
  kernels::WeightView wo;            // [n_embd, n_heads*head_dim]
  const float* attn_post_norm = nullptr;  // [n_embd] (hp.post_norms), else nullptr
  const float* ffn_norm = nullptr;   // [n_embd]
  kernels::WeightView w_gate;        // [n_ff, n_embd]
  kernels::WeightView w_up;          // [n_ff, n_embd]
  const float* ffn_post_norm = nullptr;   // [n_embd] (hp.post_norms), else nullptr
  kernels::WeightView w_down;        // [n_embd, n_ff]
};

struct ModelWeights {
  kernels::WeightView token_embd;  // [n_vocab rows, n_embd]
  const float* output_norm = nullptr;
  kernels::WeightView output;      // [n_vocab, n_embd]; token_embd when tied
  std::vector<LayerWeights> layers;
  // The f32 vectors above (norms, biases), copied out of the file: the forward pass reads them
  // every token, and reading them through the mapping kept the pages around them resident.
  std::vector<std::vector<float>> vectors;
};

// Finds and shape-checks every tensor; sets hp.n_vocab from the embedding. A fused matrix
// (hp.fused_qkv, hp.fused_gate_up) is viewed as its parts, rows [begin, end) each.
util::Result<ModelWeights> LoadWeights(const gguf::GgufFile& file, HParams& hp);

}  // namespace kvfuse::model
