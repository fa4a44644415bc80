// Element-wise and per-row operations of the transformer blocks: scalar, which the compiler
// vectorises, except the gated activations, whose exp comes from a kernel table.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/kernel_table.h"

namespace kvfuse::kernels {

// out[i] = x[i] / sqrt(mean(x^2) + eps) * weight[i]; out may alias x.
void RmsNorm(const float* x, const float* weight, int64_t n, float eps, float* out);

// Rotary embedding in place on n_heads vectors of head_dim (contiguous), for one
// position. Only the first rope_dim elements of each head rotate. `neox` pairs element
// i with i + rope_dim/2 (GPT-NeoX/Qwen2 order); otherwise pairs are (2i, 2i+1) (llama).
// Pair i turns by position * freq_scale * theta_base^(-2i/rope_dim) / freq_factors[i]:
// freq_scale is linear RoPE scaling (1 / factor), freq_factors Llama 3's per-pair divisors
// (rope_dim / 2 of them; nullptr: all 1). Either way the angle is linear in the position.
struct RopeParams {
  int head_dim = 0;
  int rope_dim = 0;
  float theta_base = 10000.f;
  bool neox = false;
  float freq_scale = 1.0f;
  const float* freq_factors = nullptr;
};
void Rope(float* x, int n_heads, float position, const RopeParams& p);
// The cos and sin by which each pair i < rope_dim / 2 turns at one position, computed once
// for many rows turned alike (a chunk's keys moved by one offset).
struct RopeAngles {
  std::vector<float> cos, sin;
};
RopeAngles RopeAnglesAt(float position, const RopeParams& p);
// Moves f16 keys already rotated for position p to position p + delta, given delta's angles
// (RoPE rotations compose, so this is a rotation by delta): exactly Rope at delta between
// k's f16 conversions. src and dst may alias.
void ShiftKeysF16(const KernelTable& k, const uint16_t* src, uint16_t* dst, int n_heads, const RopeAngles& delta,
                  const RopeParams& p);

// gate = silu(gate) * up, with k's exp (the reference table's makes it the scalar version).
void SwiGlu(const KernelTable& k, float* gate, const float* up, int64_t n);
// gate[i] = gelu(gate[i]) * up[i], GELU in its tanh form (Gemma's gelu_pytorch_tanh), its tanh
// from k's exp.
void GeGlu(const KernelTable& k, float* gate, const float* up, int64_t n);
// x[i] = cap * tanh(x[i] / cap): Gemma 2's soft-capping of logits.
void SoftCap(float* x, int64_t n, float cap);

void AddInPlace(float* y, const float* x, int64_t n);

}  // namespace kvfuse::kernels
