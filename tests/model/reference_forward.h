// An independent double-precision forward pass for the llama family's blocks (llama, qwen2/3,
// phi3, gemma2/3), written straight from the equations. Weights are dequantised with the
// scalar reference; all arithmetic is in double, attention is causal over positions 0..n-1
// (within the sliding window on the layers that have one).
#pragma once

#include <string>
#include <vector>

namespace kvfuse::model::testing {

// Logits [n_tokens][n_vocab] for tokens at positions 0..n-1 of one sequence. With
// `rounded_activations`, a product with quantised weights first rounds its input to the 8-bit
// format they multiply (kernels::VecDotType), as the runtime does: the exact forward with the
// runtime's kind of rounding noise. Not thread-safe.
std::vector<std::vector<double>> ReferenceLogits(const std::string& gguf_path, const std::vector<int>& tokens,
                                                 bool rounded_activations = false);

}  // namespace kvfuse::model::testing
