// A request the scheduler is running (Scheduler::Live): its sampler, decoder and stop strings,
// its prefill progress and what it has sent. Scheduler thread only; for the scheduler's files.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "sched/scheduler.h"
#include "tokenizer/stream_decoder.h"

namespace kvfuse::sched {

struct Scheduler::Live {
  Job job;
  int32_t seq = 0;
  Sampler sampler;
  tokenizer::StreamDecoder decoder;
  StopMatcher stops;
  GenerationResult result;
  // Prefill progress.
  bool decoding = false;
  int32_t pos = 0;             // prompt tokens in the sequence so far
  std::unique_ptr<PrefillSteps> prefill;  // a RAG prompt's, while unfinished
  std::vector<float> logits;   // the last prompt token's, once prefilled
  // Decoding.
  int32_t next_token = -1;
  size_t bytes_emitted = 0;
  std::chrono::steady_clock::time_point admitted, prefilled, last_token;
  Live(Job j, int32_t s, const tokenizer::Tokenizer& tokenizer)
      : job(std::move(j)), seq(s), sampler(job.request.sampling), decoder(tokenizer), stops(job.request.stop),
        admitted(std::chrono::steady_clock::now()) {}
};

}  // namespace kvfuse::sched
