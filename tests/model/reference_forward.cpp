#include "reference_forward.h"

#include <cmath>
#include <stdexcept>

#include "gguf/gguf_reader.h"
#include "kernels/quantize.h"

namespace kvfuse::model::testing {

namespace {

// [rows][cols], and the type the file stores them in.
struct Matrix : std::vector<std::vector<double>> {
  tensor::DType type = tensor::DType::kF32;
};

Matrix LoadMatrix(const gguf::GgufFile& f, const std::string& name) {
  const gguf::TensorInfo* t = f.FindTensor(name);
  if (!t) throw std::runtime_error("missing " + name);
  const int64_t cols = t->dims[0], rows = t->n_rows();
  Matrix m;
  m.assign(rows, std::vector<double>(cols));
  m.type = t->type;
  std::vector<float> row(cols);
  const size_t row_bytes = tensor::RowBytes(t->type, cols);
  for (int64_t r = 0; r < rows; ++r) {
    kernels::DequantizeRow(t->type, t->data + r * row_bytes, row.data(), cols);
    for (int64_t c = 0; c < cols; ++c) m[r][c] = row[c];
  }
  return m;
}

std::vector<double> LoadVector(const gguf::GgufFile& f, const std::string& name) {
  const gguf::TensorInfo* t = f.FindTensor(name);
  if (!t) return {};
  const float* p = reinterpret_cast<const float*>(t->data);
  return std::vector<double>(p, p + t->n_elements());
}

// x as a product with weights of `type` reads it: quantised weights multiply 8-bit
// activations (kernels::VecDotType, as llama.cpp), so x goes through that format and back.
std::vector<double> AsActivations(tensor::DType type, const std::vector<double>& x) {
  const tensor::DType act = kernels::VecDotType(type);
  if (act == tensor::DType::kF32) return x;
  const int64_t n = static_cast<int64_t>(x.size());
  std::vector<float> f(x.begin(), x.end());
  std::vector<uint8_t> q(tensor::RowBytes(act, n));
  kernels::QuantizeRow(act, f.data(), q.data(), n);
  kernels::DequantizeRow(act, q.data(), f.data(), n);
  return std::vector<double>(f.begin(), f.end());
}

bool round_activations = false;  // set for one ReferenceLogits call

std::vector<double> MatVec(const Matrix& m, const std::vector<double>& x_in) {
  const std::vector<double> x = round_activations ? AsActivations(m.type, x_in) : x_in;
  std::vector<double> y(m.size());
  for (size_t r = 0; r < m.size(); ++r) {
    double s = 0;
    for (size_t c = 0; c < x.size(); ++c) s += m[r][c] * x[c];
    y[r] = s;
  }
  return y;
}

std::vector<double> RmsNorm(const std::vector<double>& x, const std::vector<double>& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double scale = 1.0 / std::sqrt(ss / x.size() + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * scale * w[i];
  return y;
}

// Pair i turns by pos * freq_scale * theta^(-2i/head_dim) / factors[i] (Llama 3's factors;
// none: 1).
void ApplyRope(std::vector<double>& v, int n_heads, int head_dim, int pos, double theta, bool neox,
               double freq_scale, const std::vector<double>& factors) {
  for (int h = 0; h < n_heads; ++h) {
    for (int i = 0; i < head_dim / 2; ++i) {
      const double angle = pos * freq_scale * std::pow(theta, -2.0 * i / head_dim) / (factors.empty() ? 1.0 : factors[i]);
      const int a = h * head_dim + (neox ? i : 2 * i);
      const int b = h * head_dim + (neox ? i + head_dim / 2 : 2 * i + 1);
      const double x0 = v[a], x1 = v[b];
      v[a] = x0 * std::cos(angle) - x1 * std::sin(angle);
      v[b] = x0 * std::sin(angle) + x1 * std::cos(angle);
    }
  }
}

void AddBias(std::vector<double>& v, const std::vector<double>& b) {
  for (size_t i = 0; i < b.size(); ++i) v[i] += b[i];
}

// What each family does beyond the llama block, from the published model definitions
// (Hugging Face's modeling_*.py), read independently of model/arch.
struct Family {
  bool neox = false;
  bool fused = false;         // phi3: attn_qkv (q, k, v rows) and ffn_up (gate rows, then up rows)
  bool gemma = false;         // embeddings * sqrt(n_embd), post-norms, GELU (tanh) gate
  int window = 0;             // sliding window (0: none)
  int global_every = 0;       // 0: every layer slides; k: layers with (il + 1) % k == 0 do not
  double local_theta = 0;     // > 0: the sliding layers' RoPE base, unscaled (gemma3)
  double attn_cap = 0, final_cap = 0;
};

Family FamilyOf(const gguf::GgufFile& f, const std::string& arch) {
  Family fam;
  fam.neox = arch != "llama";
  fam.fused = arch == "phi3";
  fam.gemma = arch == "gemma2" || arch == "gemma3";
  fam.window = static_cast<int>(f.GetIntOr(arch + ".attention.sliding_window", 0));
  if (arch == "gemma2") {
    fam.global_every = 2;
    fam.attn_cap = f.GetFloatOr("gemma2.attn_logit_softcapping", 50.0);
    fam.final_cap = f.GetFloatOr("gemma2.final_logit_softcapping", 30.0);
  }
  if (arch == "gemma3") {
    fam.global_every = 6;
    fam.local_theta = 10000.0;
  }
  return fam;
}

double GeluTanh(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

// Rows [begin, end) of m.
Matrix RowsOf(const Matrix& m, size_t begin, size_t end) {
  Matrix part;
  part.assign(m.begin() + begin, m.begin() + end);
  part.type = m.type;
  return part;
}

}  // namespace

std::vector<std::vector<double>> ReferenceLogits(const std::string& path, const std::vector<int>& tokens,
                                                 bool rounded_activations) {
  round_activations = rounded_activations;
  auto file = gguf::GgufFile::Open(path);
  if (!file.ok()) throw std::runtime_error(file.status().message());
  const gguf::GgufFile& f = file.value();
  const std::string arch = f.GetString("general.architecture").value();
  const std::string p = arch + ".";
  const int n_embd = static_cast<int>(f.GetInt(p + "embedding_length").value());
  const int n_layers = static_cast<int>(f.GetInt(p + "block_count").value());
  const int n_heads = static_cast<int>(f.GetInt(p + "attention.head_count").value());
  const int n_kv_heads = static_cast<int>(f.GetInt(p + "attention.head_count_kv").value());
  const double theta = f.GetFloat(p + "rope.freq_base").value();
  const double eps = f.GetFloat(p + "attention.layer_norm_rms_epsilon").value();
  const Family fam = FamilyOf(f, arch);
  const int head_dim = f.Find(p + "attention.key_length") ? static_cast<int>(f.GetInt(p + "attention.key_length").value())
                                                          : n_embd / n_heads;
  const int n = static_cast<int>(tokens.size());
  const std::vector<double> rope_factors = LoadVector(f, "rope_freqs.weight");
  const double rope_scaling = f.GetFloatOr(p + "rope.scaling.factor", 1.0);  // linear
  const double freq_scale = rope_scaling == 0 ? 1.0 : 1.0 / rope_scaling;

  const Matrix embd = LoadMatrix(f, "token_embd.weight");
  const Matrix output = f.FindTensor("output.weight") ? LoadMatrix(f, "output.weight") : embd;
  std::vector<std::vector<double>> h(n);
  for (int t = 0; t < n; ++t) {
    h[t] = embd[tokens[t]];
    if (fam.gemma)
      for (double& x : h[t]) x *= std::sqrt(static_cast<double>(n_embd));
  }
  const int q_dim = n_heads * head_dim, kv_dim = n_kv_heads * head_dim;

  for (int il = 0; il < n_layers; ++il) {
    const std::string b = "blk." + std::to_string(il) + ".";
    Matrix wq, wk, wv, wg, wu;
    if (fam.fused) {
      const Matrix qkv = LoadMatrix(f, b + "attn_qkv.weight"), gate_up = LoadMatrix(f, b + "ffn_up.weight");
      wq = RowsOf(qkv, 0, q_dim);
      wk = RowsOf(qkv, q_dim, q_dim + kv_dim);
      wv = RowsOf(qkv, q_dim + kv_dim, q_dim + 2 * kv_dim);
      wg = RowsOf(gate_up, 0, gate_up.size() / 2);
      wu = RowsOf(gate_up, gate_up.size() / 2, gate_up.size());
    } else {
      wq = LoadMatrix(f, b + "attn_q.weight");
      wk = LoadMatrix(f, b + "attn_k.weight");
      wv = LoadMatrix(f, b + "attn_v.weight");
      wg = LoadMatrix(f, b + "ffn_gate.weight");
      wu = LoadMatrix(f, b + "ffn_up.weight");
    }
    const Matrix wo = LoadMatrix(f, b + "attn_output.weight"), wd = LoadMatrix(f, b + "ffn_down.weight");
    const auto attn_norm = LoadVector(f, b + "attn_norm.weight"), ffn_norm = LoadVector(f, b + "ffn_norm.weight");
    const auto attn_post = LoadVector(f, b + "post_attention_norm.weight");
    const auto ffn_post = LoadVector(f, b + "post_ffw_norm.weight");
    const auto bq = LoadVector(f, b + "attn_q.bias"), bk = LoadVector(f, b + "attn_k.bias");
    const auto bv = LoadVector(f, b + "attn_v.bias");
    // qwen3, gemma3: each head of q and k RMS-normed with these weights before RoPE.
    const auto q_norm = LoadVector(f, b + "attn_q_norm.weight"), k_norm = LoadVector(f, b + "attn_k_norm.weight");
    const auto norm_heads = [&](std::vector<double>& v, int heads, const std::vector<double>& weight) {
      if (weight.empty()) return;
      for (int hh = 0; hh < heads; ++hh) {
        const std::vector<double> head(v.begin() + hh * head_dim, v.begin() + (hh + 1) * head_dim);
        const std::vector<double> normed = RmsNorm(head, weight, eps);
        std::copy(normed.begin(), normed.end(), v.begin() + hh * head_dim);
      }
    };
    const bool sliding = fam.window > 0 && (fam.global_every == 0 || (il + 1) % fam.global_every != 0);
    const bool local_rope = sliding && fam.local_theta > 0;
    const double layer_theta = local_rope ? fam.local_theta : theta;
    const double layer_scale = local_rope ? 1.0 : freq_scale;

    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (int t = 0; t < n; ++t) {
      const auto x = RmsNorm(h[t], attn_norm, eps);
      q[t] = MatVec(wq, x);
      k[t] = MatVec(wk, x);
      v[t] = MatVec(wv, x);
      AddBias(q[t], bq);
      AddBias(k[t], bk);
      AddBias(v[t], bv);
      norm_heads(q[t], n_heads, q_norm);
      norm_heads(k[t], n_kv_heads, k_norm);
      ApplyRope(q[t], n_heads, head_dim, t, layer_theta, fam.neox, layer_scale, rope_factors);
      ApplyRope(k[t], n_kv_heads, head_dim, t, layer_theta, fam.neox, layer_scale, rope_factors);
    }
    for (int t = 0; t < n; ++t) {
      std::vector<double> attn(q_dim, 0.0);
      const int first = sliding ? std::max(0, t - fam.window + 1) : 0;
      for (int hh = 0; hh < n_heads; ++hh) {
        const int kvh = hh / (n_heads / n_kv_heads);
        std::vector<double> s(t + 1, 0.0);
        double max = -1e300;
        for (int j = first; j <= t; ++j) {
          double d = 0;
          for (int i = 0; i < head_dim; ++i) d += q[t][hh * head_dim + i] * k[j][kvh * head_dim + i];
          s[j] = d / std::sqrt(static_cast<double>(head_dim));
          if (fam.attn_cap > 0) s[j] = fam.attn_cap * std::tanh(s[j] / fam.attn_cap);
          max = std::max(max, s[j]);
        }
        double sum = 0;
        for (int j = first; j <= t; ++j) sum += (s[j] = std::exp(s[j] - max));
        for (int j = first; j <= t; ++j)
          for (int i = 0; i < head_dim; ++i) attn[hh * head_dim + i] += s[j] / sum * v[j][kvh * head_dim + i];
      }
      auto o = MatVec(wo, attn);
      if (!attn_post.empty()) o = RmsNorm(o, attn_post, eps);
      for (int i = 0; i < n_embd; ++i) h[t][i] += o[i];
      const auto x = RmsNorm(h[t], ffn_norm, eps);
      auto g = MatVec(wg, x);
      const auto u = MatVec(wu, x);
      for (size_t i = 0; i < g.size(); ++i) g[i] = (fam.gemma ? GeluTanh(g[i]) : g[i] / (1.0 + std::exp(-g[i]))) * u[i];
      auto d = MatVec(wd, g);
      if (!ffn_post.empty()) d = RmsNorm(d, ffn_post, eps);
      for (int i = 0; i < n_embd; ++i) h[t][i] += d[i];
    }
  }
  const auto out_norm = LoadVector(f, "output_norm.weight");
  std::vector<std::vector<double>> logits(n);
  for (int t = 0; t < n; ++t) {
    logits[t] = MatVec(output, RmsNorm(h[t], out_norm, eps));
    if (fam.final_cap > 0)
      for (double& l : logits[t]) l = fam.final_cap * std::tanh(l / fam.final_cap);
  }
  return logits;
}

}  // namespace kvfuse::model::testing
