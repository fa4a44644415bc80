#include "engine/generate_sync.h"

#include <algorithm>
#include <chrono>

#include "util/timing.h"

namespace kvfuse::engine {

namespace {
using Clock = std::chrono::steady_clock;
using util::MsSince;
}  // namespace

util::Result<SyncResult> GenerateSync(Engine& e, const SegmentedPrompt& prompt, const SyncRequest& request) {
  if (!e.tokenizer()) return util::Status::InvalidArgument("cannot tokenize: " + e.tokenizer_error());
  // The last token generated is never evaluated: the sequence holds max_tokens - 1 more.
  if (request.max_tokens < 0 || prompt.size() + std::max(request.max_tokens - 1, 0) > e.n_ctx())
    return util::Status::InvalidArgument(util::StrFormat(
        "the prompt (%d tokens) and %d tokens to generate do not fit the context of %d", prompt.size(),
        request.max_tokens, e.n_ctx()));
  SyncResult r;
  std::vector<float> logits;
  Sampler sampler(request.sampling);
  StreamDecoder decoder(*e.tokenizer());
  const auto emit = [&](const std::string& piece) {
    r.text += piece;
    if (request.on_text && !piece.empty()) request.on_text(piece);
  };
  const auto t0 = Clock::now();
  KVFUSE_RETURN_IF_ERROR(e.PrefillSegments(prompt, request.fusion, logits, r.stats));
  r.ttft_ms = MsSince(t0);  // with the first token's choice below, when there is one
  r.first_logits = logits;  // outside the time to first token
  auto t1 = Clock::now();
  int32_t pos = prompt.size();
  for (int i = 0; i < request.max_tokens; ++i) {
    const int32_t next = sampler.Sample(logits.data(), e.hparams().n_vocab);
    if (i == 0) r.ttft_ms += MsSince(t1), t1 = Clock::now();
    if (request.stop_at_end_of_turn && e.EndsTurn(next)) break;
    r.tokens.push_back(next);
    emit(decoder.Push(next));
    if (i + 1 < request.max_tokens) KVFUSE_RETURN_IF_ERROR(e.Evaluate({next}, pos++, false, logits));
  }
  emit(decoder.Flush());
  r.decode_ms = MsSince(t1);
  return r;
}

}  // namespace kvfuse::engine
