#include "model_gen/random_model.h"

#include <cmath>

#include "gguf/gguf_writer.h"
#include "kernels/quantize.h"
#include "model_gen/test_vocab.h"
#include "tensor/dtype.h"

namespace kvfuse::tools {

using tensor::DType;
using util::Status;

namespace {

const ModelShape kShapes[] = {
    // name, arch, n_embd, n_layers, n_heads, n_kv_heads, n_ff, n_vocab, rope_theta, tied[, head_dim[,
    // rope_original_context[, sliding_window]]]
    {"tiny", "llama", 256, 2, 4, 2, 512, 1152, 10000.f, false},
    {"tiny-qwen2", "qwen2", 256, 2, 4, 2, 512, 1152, 1000000.f, true},
    {"tiny-qwen3", "qwen3", 256, 2, 4, 2, 512, 1152, 1000000.f, true, 96},
    {"tiny-llama3", "llama", 256, 2, 4, 2, 512, 1152, 500000.f, true, 0, 64},
    {"tiny-deep", "llama", 256, 4, 4, 2, 512, 1152, 10000.f, true},
    {"tiny-phi3", "phi3", 256, 2, 4, 2, 512, 1152, 10000.f, false, 0, 0, 8},
    {"tiny-gemma2", "gemma2", 128, 2, 4, 2, 256, 1152, 10000.f, true, 64, 0, 8},
    {"tiny-gemma2-26", "gemma2", 128, 26, 4, 2, 256, 1152, 10000.f, true, 64, 0, 8},
    {"tiny-gemma3", "gemma3", 128, 7, 4, 2, 256, 1152, 1000000.f, true, 64, 0, 8},
    {"smol", "llama", 576, 30, 9, 3, 1536, 49152, 100000.f, true},
    {"qwen05", "qwen2", 896, 24, 14, 2, 4864, 151936, 1000000.f, true},
    {"qwen3-06b", "qwen3", 1024, 28, 16, 8, 3072, 151936, 1000000.f, true, 128},
    // Rows that are multiples of 256, so that q4_k_m is really K-quants.
    {"llama32-1b", "llama", 2048, 16, 32, 8, 8192, 128256, 500000.f, true, 0, 8192},
    {"qwen25-15b", "qwen2", 1536, 28, 12, 2, 8960, 151936, 1000000.f, true},
};

// xorshift64*: fast, seeded, identical on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed * 0x9E3779B97F4A7C15ull + 1) {}
  float Uniform() {  // in [-1, 1)
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    const uint64_t r = state_ * 0x2545F4914F6CDD1Dull;
    return static_cast<float>(r >> 40) / static_cast<float>(1 << 23) - 1.0f;
  }

 private:
  uint64_t state_;
};

// The type a tensor gets under a file type, as llama.cpp's quantizer picks it.
DType PickType(const std::string& type_name, const std::string& tensor, int layer, int n_layers,
               int64_t n_cols) {
  const bool more_bits = layer >= 0 && (layer < n_layers / 8 || layer >= 7 * n_layers / 8 ||
                                        (layer - n_layers / 8) % 3 == 2);
  DType t;
  if (type_name == "q4_k_m" || type_name == "q5_k_m") {
    const DType base = type_name == "q4_k_m" ? DType::kQ4_K : DType::kQ5_K;
    if (tensor == "output") t = DType::kQ6_K;
    else if ((tensor == "attn_v" || tensor == "ffn_down") && more_bits) t = DType::kQ6_K;
    else t = base;
  } else {
    t = *tensor::DTypeFromName(type_name);
  }
  if (n_cols % 256 != 0) {
    if (t == DType::kQ4_K) t = DType::kQ5_0;
    if (t == DType::kQ5_K || t == DType::kQ6_K) t = DType::kQ8_0;
  }
  if (n_cols % 32 != 0 && t != DType::kF32 && t != DType::kF16 && t != DType::kBF16) t = DType::kF16;
  return t;
}

std::vector<uint8_t> RandomMatrix(Rng& rng, DType type, int64_t n_cols, int64_t n_rows, float scale) {
  std::vector<uint8_t> data(tensor::RowBytes(type, n_cols) * n_rows);
  std::vector<float> row(n_cols);
  for (int64_t r = 0; r < n_rows; ++r) {
    for (auto& x : row) x = scale * rng.Uniform();
    kernels::QuantizeRow(type, row.data(), data.data() + r * tensor::RowBytes(type, n_cols), n_cols);
  }
  return data;
}

std::vector<uint8_t> RandomVector(Rng& rng, int64_t n, float center, float spread) {
  std::vector<uint8_t> data(n * sizeof(float));
  float* f = reinterpret_cast<float*>(data.data());
  for (int64_t i = 0; i < n; ++i) f[i] = center + spread * rng.Uniform();
  return data;
}

// Llama 3's RoPE frequency factors, one divisor per rotated pair: 1 for wavelengths under
// original_context / 4, 32 above original_context, and between them a smooth blend of the
// frequency and the frequency / 32.
std::vector<uint8_t> Llama3RopeFactors(float theta, int head_dim, int original_context) {
  const double factor = 32, low = 1, high = 4;
  std::vector<uint8_t> data(head_dim / 2 * sizeof(float));
  float* out = reinterpret_cast<float*>(data.data());
  for (int i = 0; i < head_dim / 2; ++i) {
    const double wavelength = 2 * M_PI * std::pow(theta, 2.0 * i / head_dim);
    double divisor = 1;
    if (wavelength > original_context / low) {
      divisor = factor;
    } else if (wavelength >= original_context / high) {
      const double smooth = (original_context / wavelength - low) / (high - low);
      divisor = 1 / ((1 - smooth) / factor + smooth);
    }
    out[i] = static_cast<float>(divisor);
  }
  return data;
}

}  // namespace

bool FindShape(const std::string& name, ModelShape& out) {
  for (const ModelShape& s : kShapes)
    if (s.name == name) {
      out = s;
      return true;
    }
  return false;
}

std::vector<std::string> ShapeNames() {
  std::vector<std::string> names;
  for (const ModelShape& s : kShapes) names.push_back(s.name);
  return names;
}

std::vector<std::string> TypeNames() {
  return {"f32", "f16", "bf16", "q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m"};
}

Status WriteRandomModel(const ModelShape& s, const std::string& type_name, uint64_t seed,
                        const std::string& path, const tokenizer::Vocab* vocab) {
  bool known = false;
  for (const auto& t : TypeNames()) known |= t == type_name;
  if (!known) return Status::Error("unknown weight type '" + type_name + "'");
  if (!vocab && s.n_vocab < MinTestVocabSize()) return Status::Error("vocabulary too small for the test vocab");
  if (vocab && vocab->n_tokens() > s.n_vocab)
    return Status::Error(util::StrFormat("the tokenizer has %d tokens, more than shape %s's %d", vocab->n_tokens(),
                                         s.name.c_str(), s.n_vocab));

  gguf::GgufWriter w;
  const std::string a = s.arch + ".";
  w.Set("general.architecture", gguf::Value::String(s.arch));
  // llama.cpp looks up Phi-3's special tokens in any model whose name holds "phi3" or "phi-3".
  std::string name = s.name;
  if (const size_t at = name.find("phi3"); at != std::string::npos) name.replace(at, 4, "p3");
  w.Set("general.name", gguf::Value::String("kvfuse-random-" + name + "-" + type_name));
  w.Set(a + "context_length", gguf::Value::Uint32(32768));
  w.Set(a + "embedding_length", gguf::Value::Uint32(s.n_embd));
  w.Set(a + "block_count", gguf::Value::Uint32(s.n_layers));
  w.Set(a + "feed_forward_length", gguf::Value::Uint32(s.n_ff));
  w.Set(a + "attention.head_count", gguf::Value::Uint32(s.n_heads));
  w.Set(a + "attention.head_count_kv", gguf::Value::Uint32(s.n_kv_heads));
  w.Set(a + "rope.freq_base", gguf::Value::Float32(s.rope_theta));
  w.Set(a + "attention.layer_norm_rms_epsilon", gguf::Value::Float32(1e-6f));
  if (s.sliding_window > 0) w.Set(a + "attention.sliding_window", gguf::Value::Uint32(s.sliding_window));
  const bool gemma = s.arch == "gemma2" || s.arch == "gemma3";
  if (s.arch == "gemma2") {  // caps small enough to change random-weight logits
    w.Set(a + "attn_logit_softcapping", gguf::Value::Float32(4.0f));
    w.Set(a + "final_logit_softcapping", gguf::Value::Float32(3.0f));
  }
  if (s.arch == "gemma3") {  // Gemma 3 4B's linear scaling of the global layers' RoPE
    w.Set(a + "rope.scaling.type", gguf::Value::String("linear"));
    w.Set(a + "rope.scaling.factor", gguf::Value::Float32(8.0f));
  }
  if (vocab) AddPaddedVocab(w, *vocab, s.n_vocab);
  else AddTestVocab(w, s.n_vocab);

  Rng rng(seed);
  const int head_dim = s.head_dim > 0 ? s.head_dim : s.n_embd / s.n_heads;
  if (s.head_dim > 0) {
    w.Set(a + "attention.key_length", gguf::Value::Uint32(s.head_dim));
    w.Set(a + "attention.value_length", gguf::Value::Uint32(s.head_dim));
  }
  if (s.rope_original_context > 0)
    KVFUSE_RETURN_IF_ERROR(w.AddTensor("rope_freqs.weight", DType::kF32, {head_dim / 2},
                                       Llama3RopeFactors(s.rope_theta, head_dim, s.rope_original_context)));
  const int64_t q_dim = static_cast<int64_t>(s.n_heads) * head_dim;
  const int64_t kv_dim = static_cast<int64_t>(s.n_kv_heads) * head_dim;
  auto matrix = [&](const std::string& name, const std::string& kind, int layer, int64_t n_cols,
                    int64_t n_rows, float scale) {
    const DType t = PickType(type_name, kind, layer, s.n_layers, n_cols);
    return w.AddTensor(name, t, {n_cols, n_rows}, RandomMatrix(rng, t, n_cols, n_rows, scale));
  };
  auto vector = [&](const std::string& name, int64_t n, float center, float spread) {
    return w.AddTensor(name, DType::kF32, {n}, RandomVector(rng, n, center, spread));
  };
  // Uniform weights of std 1/sqrt(n_cols) keep activations of order one.
  auto scale_for = [](int64_t n_cols) { return std::sqrt(3.0f / n_cols); };
  // The embedding doubles as the output projection when tied: logits of std ~2.
  KVFUSE_RETURN_IF_ERROR(matrix("token_embd.weight", s.tied_output ? "output" : "token_embd", -1,
                                s.n_embd, s.n_vocab, 2.0f * scale_for(s.n_embd)));
  KVFUSE_RETURN_IF_ERROR(vector("output_norm.weight", s.n_embd, 1.0f, 0.1f));
  if (!s.tied_output)
    KVFUSE_RETURN_IF_ERROR(matrix("output.weight", "output", -1, s.n_embd, s.n_vocab, 2.0f * scale_for(s.n_embd)));
  for (int il = 0; il < s.n_layers; ++il) {
    const std::string p = "blk." + std::to_string(il) + ".";
    KVFUSE_RETURN_IF_ERROR(vector(p + "attn_norm.weight", s.n_embd, 1.0f, 0.1f));
    if (s.arch == "phi3") {  // q, k and v as one matrix
      KVFUSE_RETURN_IF_ERROR(matrix(p + "attn_qkv.weight", "attn_qkv", il, s.n_embd, q_dim + 2 * kv_dim, scale_for(s.n_embd)));
    } else {
      KVFUSE_RETURN_IF_ERROR(matrix(p + "attn_q.weight", "attn_q", il, s.n_embd, q_dim, scale_for(s.n_embd)));
      KVFUSE_RETURN_IF_ERROR(matrix(p + "attn_k.weight", "attn_k", il, s.n_embd, kv_dim, scale_for(s.n_embd)));
      KVFUSE_RETURN_IF_ERROR(matrix(p + "attn_v.weight", "attn_v", il, s.n_embd, kv_dim, scale_for(s.n_embd)));
    }
    if (s.arch == "qwen2") {
      KVFUSE_RETURN_IF_ERROR(vector(p + "attn_q.bias", q_dim, 0.0f, 0.1f));
      KVFUSE_RETURN_IF_ERROR(vector(p + "attn_k.bias", kv_dim, 0.0f, 0.1f));
      KVFUSE_RETURN_IF_ERROR(vector(p + "attn_v.bias", kv_dim, 0.0f, 0.1f));
    }
    if (s.arch == "qwen3" || s.arch == "gemma3") {  // per-head norms of q and k, spread as the other norms
      KVFUSE_RETURN_IF_ERROR(vector(p + "attn_q_norm.weight", head_dim, 1.0f, 0.1f));
      KVFUSE_RETURN_IF_ERROR(vector(p + "attn_k_norm.weight", head_dim, 1.0f, 0.1f));
    }
    KVFUSE_RETURN_IF_ERROR(matrix(p + "attn_output.weight", "attn_output", il, q_dim, s.n_embd, scale_for(q_dim)));
    if (gemma) KVFUSE_RETURN_IF_ERROR(vector(p + "post_attention_norm.weight", s.n_embd, 1.0f, 0.1f));
    KVFUSE_RETURN_IF_ERROR(vector(p + "ffn_norm.weight", s.n_embd, 1.0f, 0.1f));
    if (s.arch == "phi3") {  // the gate's rows, then the up's
      KVFUSE_RETURN_IF_ERROR(matrix(p + "ffn_up.weight", "ffn_up", il, s.n_embd, 2 * s.n_ff, scale_for(s.n_embd)));
    } else {
      KVFUSE_RETURN_IF_ERROR(matrix(p + "ffn_gate.weight", "ffn_gate", il, s.n_embd, s.n_ff, scale_for(s.n_embd)));
      KVFUSE_RETURN_IF_ERROR(matrix(p + "ffn_up.weight", "ffn_up", il, s.n_embd, s.n_ff, scale_for(s.n_embd)));
    }
    KVFUSE_RETURN_IF_ERROR(matrix(p + "ffn_down.weight", "ffn_down", il, s.n_ff, s.n_embd, scale_for(s.n_ff)));
    if (gemma) KVFUSE_RETURN_IF_ERROR(vector(p + "post_ffw_norm.weight", s.n_embd, 1.0f, 0.1f));
  }
  return w.Write(path);
}

}  // namespace kvfuse::tools
