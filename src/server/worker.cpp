#include "server/worker.h"

#include <future>

namespace kvfuse::server {

using Clock = std::chrono::steady_clock;

Worker::Worker(engine::Engine& engine, Metrics& metrics, size_t max_queue)
    : engine_(engine), metrics_(metrics), max_queue_(max_queue), thread_([this] { Loop(); }) {}

Worker::~Worker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

bool Worker::Submit(GenerationRequest request, std::shared_ptr<GenerationChannel> channel) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= max_queue_) return false;
    queue_.push_back({std::move(request), std::move(channel), nullptr});
    metrics_.SetQueueLength(queue_.size());
  }
  cv_.notify_all();
  return true;
}

void Worker::RunExclusive(const std::function<void(engine::Engine&)>& fn) {
  std::promise<void> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_front({{}, nullptr, [&](engine::Engine& e) {
                         fn(e);
                         done.set_value();
                       }});
  }
  cv_.notify_all();
  done.get_future().wait();
}

size_t Worker::queue_length() {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void Worker::Loop() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping with nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      metrics_.SetQueueLength(queue_.size());
    }
    if (job.task) {
      job.task(engine_);
      continue;
    }
    if (job.channel->cancelled()) {
      job.channel->Finish({});
      continue;
    }
    GenerationResult result = Run(job.request, *job.channel);
    engine_.Reset();  // the sequence's blocks go back to the pool
    metrics_.SetKvUsage(engine_.block_pool().n_blocks() - engine_.block_pool().n_free(), engine_.block_pool().n_blocks());
    job.channel->Finish(std::move(result));
  }
}

GenerationResult Worker::Run(const GenerationRequest& req, GenerationChannel& channel) {
  GenerationResult r;
  const engine::Engine& e = engine_;
  std::vector<float> logits;
  const auto t0 = Clock::now();
  const util::Status st = engine_.PrefillSegments(req.prompt, req.fusion, logits, r.fusion);
  if (!st.ok()) {
    r.error = st.message();
    return r;
  }
  r.prompt_tokens = req.prompt.size();
  // Reused rather than computed: the prefix cache's tokens and those of chunks found in the store.
  r.cached_tokens = r.fusion.prefix_reused + r.fusion.chunk_tokens_hit;
  const auto t1 = Clock::now();
  r.prompt_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  metrics_.ObservePrefill(r.prompt_ms / 1000.0, r.fusion);
  engine::Sampler sampler(req.sampling);
  engine::StreamDecoder decoder(*e.tokenizer());
  StopMatcher stops(req.stop);
  int32_t pos = req.prompt.size();
  r.finish_reason = "length";
  auto last = t1;
  for (int32_t i = 0; i < req.max_tokens; ++i) {
    if (channel.cancelled() || Clock::now() > req.deadline) break;
    const int32_t next = sampler.Sample(logits.data(), e.hparams().n_vocab);
    if (e.EndsTurn(next)) {
      r.finish_reason = "stop";
      break;
    }
    ++r.completion_tokens;
    const std::string piece = stops.Push(decoder.Push(next));
    if (!piece.empty()) {
      r.text += piece;
      channel.Push(piece);
    }
    const auto now = Clock::now();
    if (i > 0) metrics_.ObserveInterToken(std::chrono::duration<double>(now - last).count());
    last = now;
    if (stops.stopped()) {
      r.finish_reason = "stop";
      break;
    }
    if (i + 1 == req.max_tokens || pos + 1 >= e.n_ctx()) break;
    const util::Status s = engine_.Evaluate({next}, pos++, false, logits);
    if (!s.ok()) {
      r.error = s.message();
      return r;
    }
  }
  if (r.finish_reason != "stop" || !stops.stopped()) {
    const std::string tail = stops.Push(decoder.Flush()) + stops.Flush();
    if (!tail.empty()) {
      r.text += tail;
      channel.Push(tail);
    }
  }
  r.predicted_ms = std::chrono::duration<double, std::milli>(Clock::now() - t1).count();
  metrics_.ObserveCompletion(r.completion_tokens);
  return r;
}

}  // namespace kvfuse::server
