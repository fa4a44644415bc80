#include "cli/bench/chunk_variants.h"

namespace kvfuse::cli {

util::Status RecordChunkVariants(engine::Engine& e, const std::vector<engine::SegmentedPrompt>& prompts) {
  engine::FusionOptions record{engine::FusionMode::kFull};
  record.record_chunks = true;
  for (const engine::SegmentedPrompt& p : prompts) {
    std::vector<float> logits;
    engine::FusionStats stats;
    KVFUSE_RETURN_IF_ERROR(e.PrefillSegments(p, record, logits, stats));
  }
  return util::Status::Ok();
}

}  // namespace kvfuse::cli
