#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace kvfuse::kernels {

void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out) {
  double sum_sq = 0;
  for (int64_t i = 0; i < n; ++i) sum_sq += static_cast<double>(x[i]) * x[i];
  const float scale = 1.0f / std::sqrt(static_cast<float>(sum_sq / n) + eps);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * weight[i];
}

namespace {

// The angle pair i turns by at `position` (one formula for Rope and RopeAnglesAt, so that
// both turn alike bit for bit).
float RopeAngle(int i, float position, const RopeParams& p) {
  const float factor = p.freq_factors ? p.freq_factors[i] : 1.0f;
  const float inv_freq = p.freq_scale * std::pow(p.theta_base, -2.0f * i / p.rope_dim) / factor;
  return position * inv_freq;
}

// Pair i of every head turned by (c, s).
void TurnPair(float* x, int n_heads, int i, float c, float s, const RopeParams& p) {
  const int half = p.rope_dim / 2;
  const int i0 = p.neox ? i : 2 * i;
  const int i1 = p.neox ? i + half : 2 * i + 1;
  for (int h = 0; h < n_heads; ++h) {
    float* v = x + h * p.head_dim;
    const float x0 = v[i0], x1 = v[i1];
    v[i0] = x0 * c - x1 * s;
    v[i1] = x0 * s + x1 * c;
  }
}

}  // namespace

void Rope(float* x, int n_heads, float position, const RopeParams& p) {
  for (int i = 0; i < p.rope_dim / 2; ++i) {
    const float theta = RopeAngle(i, position, p);
    TurnPair(x, n_heads, i, std::cos(theta), std::sin(theta), p);
  }
}

RopeAngles RopeAnglesAt(float position, const RopeParams& p) {
  RopeAngles a;
  for (int i = 0; i < p.rope_dim / 2; ++i) {
    const float theta = RopeAngle(i, position, p);
    a.cos.push_back(std::cos(theta));
    a.sin.push_back(std::sin(theta));
  }
  return a;
}

void ShiftKeysF16(const KernelTable& k, const uint16_t* src, uint16_t* dst, int n_heads, const RopeAngles& delta,
                  const RopeParams& p) {
  const int n = n_heads * p.head_dim;
  thread_local std::vector<float> row;
  row.resize(n);
  const int32_t first_row = 0;
  k.gather_f16_rows(n, src, 0, &first_row, 1, row.data());
  for (int i = 0; i < p.rope_dim / 2; ++i) TurnPair(row.data(), n_heads, i, delta.cos[i], delta.sin[i], p);
  k.f32_to_f16(row.data(), dst, n);
}

namespace {

// combine(i, exp(arg(i))) for each i of [0, n), the exps from k, a stack chunk at a time.
template <typename Arg, typename Combine>
void WithExp(const KernelTable& k, int64_t n, Arg arg, Combine combine) {
  constexpr int64_t kChunk = 256;
  float e[kChunk];
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    for (int64_t i = 0; i < m; ++i) e[i] = arg(i0 + i);
    k.exp_f32(m, e, e);
    for (int64_t i = 0; i < m; ++i) combine(i0 + i, e[i]);
  }
}

}  // namespace

void SwiGlu(const KernelTable& k, float* gate, const float* up, int64_t n) {
  WithExp(k, n, [&](int64_t i) { return -gate[i]; },
          [&](int64_t i, float e) { gate[i] = gate[i] / (1.0f + e) * up[i]; });
}

void GeGlu(const KernelTable& k, float* gate, const float* up, int64_t n) {
  // gelu(x) = x * (1 + tanh(u)) / 2 = x * (1 - 1 / (exp(2u) + 1)), u = sqrt(2/pi) (x + 0.044715 x^3)
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  WithExp(k, n,
          [&](int64_t i) {
            const float x = gate[i];
            return 2.0f * (kSqrt2OverPi * (x + 0.044715f * x * x * x));
          },
          [&](int64_t i, float e) { gate[i] *= (1.0f - 1.0f / (e + 1.0f)) * up[i]; });
}

void SoftCap(float* x, int64_t n, float cap) {
  for (int64_t i = 0; i < n; ++i) x[i] = cap * std::tanh(x[i] / cap);
}

void AddInPlace(float* y, const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

}  // namespace kvfuse::kernels
