// ape: APE's attention rescaling of parallel-encoded chunks (Adaptive Parallel Encoding,
// ICLR 2025), training-free and recomputing nothing: every chunk's cached KV as placed, and
// the question (then every generated token) attends to the chunk tokens with logits divided
// by ape_temperature and their log-sum-exp multiplied by ape_scale. The chunk head the
// engine computes every chunk behind stands for APE's shared prefix.
#include "fuse/fusion_methods.h"

namespace kvfuse::fuse {

void FinishApe(const MethodInput& in, std::vector<float>& logits, FusionStats& stats) {
  const int32_t n_suffix = static_cast<int32_t>(in.prompt.suffix.size());
  const int32_t chunks_begin = in.prompt.ChunkOffset(0), suffix_begin = in.prompt.size() - n_suffix;
  in.target.kv.SetContextReshape(in.target.seq, kv::ContextReshape{chunks_begin, suffix_begin, in.options.ape_temperature,
                                                                     in.options.ape_scale});
  ComputeTokens(in.target, in.prompt.suffix, suffix_begin, &logits);
  stats.tokens_computed += n_suffix;
}

}  // namespace kvfuse::fuse
