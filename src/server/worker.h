// The thread that owns the engine. Requests wait in a bounded FIFO queue and run one at a
// time to completion (the continuous-batching scheduler of sched/ is still to come); a
// request whose client went away is skipped or stopped at its next token, and every
// request ends with its sequence released, so its KV blocks return to the pool (the prefix
// tree keeps what it caches).
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
  Worker(engine::Engine& engine, Metrics& metrics, size_t max_queue);
  ~Worker();

  // False when the queue is full.
  bool Submit(GenerationRequest request, std::shared_ptr<GenerationChannel> channel);
  // Runs fn on the worker thread between requests and waits for it (for work that needs the
  // engine itself, such as embeddings).
  void RunExclusive(const std::function<void(engine::Engine&)>& fn);
  size_t queue_length();

 private:
  struct Job {
    GenerationRequest request;
    std::shared_ptr<GenerationChannel> channel;
    std::function<void(engine::Engine&)> task;
  };
  void Loop();
  GenerationResult Run(const GenerationRequest& request, GenerationChannel& channel);

  engine::Engine& engine_;
  Metrics& metrics_;
  const size_t max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kvfuse::server
