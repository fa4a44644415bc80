// The thread that owns the engine and schedules requests with continuous batching: up to
// `slots` requests are live at once, each in its own sequence; every iteration first
// advances all decoding requests by one token in a single batched forward pass, then does
// one unit of prefill work: the next chunk (prefill_chunk tokens) of a long plain prompt, or
// the admission of a waiting request with its first chunk or its whole fused prefill, so
// decoding waits for one unit at most (Sarathi-Serve's chunked prefill; a fused RAG prefill
// is one unit). When the KV pool has no block for a decode, the most recently admitted
// request is preempted: its sequence is released and it waits again at the front of the
// queue, restarting later (text it already sent is not sent twice). A request whose client
// went away is dropped at its next token, its blocks back to the pool.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "server/generation.h"
#include "server/metrics.h"

namespace kvfuse::server {

class Worker {
 public:
  // prefill_chunk: the most prompt tokens one iteration prefills for a plain prompt.
  Worker(engine::Engine& engine, Metrics& metrics, size_t max_queue, int slots, int32_t prefill_chunk = 512);
  ~Worker();

  // False when the queue is full.
  bool Submit(GenerationRequest request, std::shared_ptr<GenerationChannel> channel);
  // Runs fn on the worker thread between iterations and waits for it (for work that needs
  // the engine itself, such as embeddings).
  void RunExclusive(const std::function<void(engine::Engine&)>& fn);

 private:
  struct Job {
    GenerationRequest request;
    std::shared_ptr<GenerationChannel> channel;
    size_t bytes_sent = 0;     // by an earlier, preempted run
    int32_t tokens_sent = 0;  // likewise
  };
  struct Live;
  void Loop();
  // Admits the job into sequence `seq`; false when the KV pool has no room for its prompt.
  bool Admit(Job& job, int32_t seq);
  // The next chunk of a long prompt.
  util::Status ContinuePrefill(Live& live);
  void StartDecoding(std::unique_ptr<Live> live, const float* logits);
  // Samples the next token of `live` from its logits row and delivers it; true when done.
  bool Advance(Live& live, const float* logits);
  void Finish(Live& live);
  void PublishKvUsage();

  engine::Engine& engine_;
  Metrics& metrics_;
  const size_t max_queue_;
  const int slots_;
  const int32_t prefill_chunk_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::deque<std::function<void(engine::Engine&)>> tasks_;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Live>> live_;  // worker thread only
  std::thread thread_;
};

}  // namespace kvfuse::server
