// An independent double-precision forward pass for the llama/qwen2 block, written
// straight from the equations. Weights are dequantised with the scalar reference; all
// arithmetic is in double, attention is plain causal over positions 0..n-1.
#pragma once

#include <string>
#include <vector>

namespace kvfuse::model::testing {

// Logits [n_tokens][n_vocab] for tokens at positions 0..n-1 of one sequence.
std::vector<std::vector<double>> ReferenceLogits(const std::string& gguf_path,
                                                 const std::vector<int>& tokens);

}  // namespace kvfuse::model::testing
