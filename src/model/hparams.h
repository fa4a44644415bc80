// Hyper-parameters of a decoder-only transformer, read from GGUF metadata.
#pragma once

#include <string>
#include <vector>

#include "gguf/gguf_reader.h"
#include "kernels/ops.h"
#include "util/status.h"

namespace kvfuse::model {

struct HParams {
  std::string arch;      // "llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"
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
  bool qk_norm = false;  // an RMS norm over each head of q and k before RoPE (qwen3, gemma3)
  float rope_freq_scale = 1.0f;          // linear RoPE scaling: 1 / rope.scaling.factor
  std::vector<float> rope_freq_factors;  // Llama 3's rope_freqs.weight (rope_dim / 2), or empty

  // Sliding-window attention: on a sliding layer (SlidingLayer) a token at position p attends
  // to the keys at positions p - n_swa + 1 .. p only.
  int n_swa = 0;         // 0: no layer slides
  int swa_period = 0;    // 0: every layer slides; k: layer il attends globally when (il + 1) % k == 0
  float rope_theta_swa = 0;  // > 0: the local layers' RoPE base, unscaled (Gemma 3's 10000)
  float attn_scale = 0;      // the queries' scale; 0: 1 / sqrt(head_dim)
  float attn_softcap = 0;    // > 0: attention logits become cap * tanh(logit / cap) (Gemma 2)
  float final_softcap = 0;   // > 0: the same for the output logits
  float embd_scale = 1.0f;   // token embeddings are multiplied by it (Gemma: sqrt(n_embd))
  bool post_norms = false;   // RMS norms of the attention and FFN outputs before their residual adds (Gemma 2/3)
  bool fused_qkv = false;     // attn_qkv, where the file has it: q's rows, then k's, then v's (phi3)
  bool fused_gate_up = false; // ffn_up holds the gate's rows, then the up's; no ffn_gate (phi3)
  enum class Activation { kSilu, kGeluTanh };
  Activation ffn_activation = Activation::kSilu;  // of the gate, times up: SwiGLU or GeGLU (Gemma)
};

// Whether layer `layer` is one of the family's local layers (swa_period), and whether it
// attends through the sliding window (a local layer of a model with one).
bool LocalLayer(const HParams& hp, int layer);
bool SlidingLayer(const HParams& hp, int layer);

// The query scale of attention logits.
float AttentionScale(const HParams& hp);

// The RoPE of layer `layer`'s queries and keys, cached ones re-rotated too; points into hp,
// which must outlive it.
kernels::RopeParams RopeOf(const HParams& hp, int layer);

// Reads "<arch>.*" keys shared by the llama family, then the architecture's own
// (model/arch), and checks them for consistency.
util::Result<HParams> ReadHParams(const gguf::GgufFile& file);

}  // namespace kvfuse::model
