// naive: every chunk's cached KV as placed; the suffix (the question) is computed over it.
#include "fuse/fusion_methods.h"

namespace kvfuse::fuse {

void FinishNaive(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  const int32_t n_suffix = static_cast<int32_t>(in.prompt.suffix.size());
  ComputeTokens(in.target, in.prompt.suffix, in.prompt.size() - n_suffix, &logits);
  stats.tokens_computed += n_suffix;
}

}  // namespace kvfuse::fuse
