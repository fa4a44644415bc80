#include "server/worker.h"

#include <algorithm>
#include <future>

namespace kvfuse::server {

using Clock = std::chrono::steady_clock;

struct Worker::Live {
  Job job;
  int32_t seq = 0;
  engine::Sampler sampler;
  engine::StreamDecoder decoder;
  StopMatcher stops;
  GenerationResult result;
  int32_t next_token = -1;
  int32_t pos = 0;
  std::vector<int32_t> pending;  // prompt tokens still to prefill (a long plain prompt, in chunks)
  Clock::time_point admitted;
  size_t bytes_emitted = 0;
  std::vector<float> next_logits;  // after the last prefill chunk
  Clock::time_point prefilled, last_token;
  Live(Job j, int32_t s, const engine::Engine& e)
      : job(std::move(j)), seq(s), sampler(job.request.sampling), decoder(*e.tokenizer()), stops(job.request.stop) {}
};

Worker::Worker(engine::Engine& engine, Metrics& metrics, size_t max_queue, int slots, int32_t prefill_chunk)
    : engine_(engine), metrics_(metrics), max_queue_(max_queue), slots_(std::max(1, slots)),
      prefill_chunk_(std::max(16, prefill_chunk)), thread_([this] { Loop(); }) {}

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
    queue_.push_back({std::move(request), std::move(channel), 0, 0});
    metrics_.SetQueueLength(queue_.size());
  }
  cv_.notify_all();
  return true;
}

void Worker::RunExclusive(const std::function<void(engine::Engine&)>& fn) {
  std::promise<void> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back([&](engine::Engine& e) {
      fn(e);
      done.set_value();
    });
  }
  cv_.notify_all();
  done.get_future().wait();
}

void Worker::PublishKvUsage() {
  metrics_.SetKvUsage(engine_.block_pool().n_blocks() - engine_.block_pool().n_free(), engine_.block_pool().n_blocks());
}

bool Worker::Admit(Job& job, int32_t seq) {
  auto live = std::make_unique<Live>(std::move(job), seq, engine_);
  const GenerationRequest& req = live->job.request;
  std::vector<float> logits;
  live->admitted = Clock::now();
  // A long plain prompt is prefilled in chunks over several iterations (decodes go on between
  // them); a RAG prompt's fused prefill is one unit.
  engine::SegmentedPrompt first = req.prompt;
  if (req.prompt.chunks.empty() && req.prompt.size() > prefill_chunk_) {
    first.prefix.resize(prefill_chunk_);
    live->pending.assign(req.prompt.prefix.begin() + prefill_chunk_, req.prompt.prefix.end());
  }
  const util::Status st = engine_.PrefillSegments(first, req.fusion, logits, live->result.fusion, seq);
  if (!st.ok()) {
    if (engine::Engine::IsKvCacheFull(st) && !live_.empty()) {
      job = std::move(live->job);  // back to the queue: room comes when a live request ends
      return false;
    }
    live->result.error = st.message();
    live->job.channel->Finish(std::move(live->result));
    return true;
  }
  live->pos = first.size();
  if (live->pending.empty()) {
    StartDecoding(std::move(live), logits.data());
  } else {
    live_.push_back(std::move(live));
  }
  return true;
}

util::Status Worker::ContinuePrefill(Live& live) {
  const size_t n = std::min(live.pending.size(), static_cast<size_t>(prefill_chunk_));
  const std::vector<int32_t> part(live.pending.begin(), live.pending.begin() + n);
  std::vector<float> logits;
  const util::Status st = engine_.Evaluate(part, live.pos, false, logits, prefill_chunk_, live.seq);
  if (!st.ok()) return st;
  live.pos += static_cast<int32_t>(n);
  live.result.fusion.tokens_computed += static_cast<int32_t>(n);
  live.result.fusion.prompt_tokens += static_cast<int32_t>(n);
  live.pending.erase(live.pending.begin(), live.pending.begin() + n);
  if (live.pending.empty()) live.next_logits = std::move(logits);
  return util::Status::Ok();
}

void Worker::StartDecoding(std::unique_ptr<Live> live, const float* logits) {
  GenerationResult& r = live->result;
  r.prompt_tokens = live->job.request.prompt.size();
  // Reused rather than computed: the prefix cache's tokens and those of chunks found in the store.
  r.cached_tokens = r.fusion.prefix_reused + r.fusion.chunk_tokens_hit;
  live->prefilled = live->last_token = Clock::now();
  r.prompt_ms = std::chrono::duration<double, std::milli>(live->prefilled - live->admitted).count();
  metrics_.ObservePrefill(r.prompt_ms / 1000.0, r.fusion);
  r.finish_reason = "length";
  if (Advance(*live, logits)) {
    Finish(*live);
  } else {
    live_.push_back(std::move(live));
  }
}

bool Worker::Advance(Live& live, const float* logits) {
  GenerationResult& r = live.result;
  const GenerationRequest& req = live.job.request;
  if (live.job.channel->cancelled() || Clock::now() > req.deadline) return true;
  const int32_t token = live.sampler.Sample(logits, engine_.hparams().n_vocab);
  if (!req.ignore_eos && engine_.EndsTurn(token)) {
    r.finish_reason = "stop";
    return true;
  }
  ++r.completion_tokens;
  const auto now = Clock::now();
  if (r.completion_tokens > 1) metrics_.ObserveInterToken(std::chrono::duration<double>(now - live.last_token).count());
  live.last_token = now;
  const std::string piece = live.stops.Push(live.decoder.Push(token));
  r.text += piece;
  // One event per token (empty while a character is incomplete or a stop string may be
  // starting), so clients can time tokens; a restarted request sends only what its earlier
  // run had not.
  if (r.completion_tokens > live.job.tokens_sent) {
    const size_t from = std::max(live.bytes_emitted, live.job.bytes_sent);
    live.job.channel->Push(r.text.size() > from ? r.text.substr(from) : std::string());
    live.bytes_emitted = std::max(from, r.text.size());
  }
  if (live.stops.stopped()) {
    r.finish_reason = "stop";
    return true;
  }
  if (r.completion_tokens >= req.max_tokens || live.pos + 1 >= engine_.n_ctx()) return true;
  live.next_token = token;
  return false;
}

void Worker::Finish(Live& live) {
  GenerationResult& r = live.result;
  if (!live.stops.stopped()) {
    r.text += live.stops.Push(live.decoder.Flush()) + live.stops.Flush();
    const size_t from = std::max(live.bytes_emitted, live.job.bytes_sent);
    if (r.text.size() > from) live.job.channel->Push(r.text.substr(from));
  }
  r.predicted_ms = std::chrono::duration<double, std::milli>(Clock::now() - live.prefilled).count();
  metrics_.ObserveCompletion(r.completion_tokens);
  engine_.Release(live.seq);
  PublishKvUsage();  // before the client hears of the end, so /metrics is current by then
  live.job.channel->Finish(std::move(r));
}

void Worker::Loop() {
  for (;;) {
    std::vector<std::function<void(engine::Engine&)>> tasks;
    std::optional<Job> waiting;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !tasks_.empty() || !live_.empty(); });
      if (stopping_ && queue_.empty() && tasks_.empty() && live_.empty()) return;
      tasks.assign(tasks_.begin(), tasks_.end());
      tasks_.clear();
      while (!queue_.empty() && queue_.front().channel->cancelled()) {
        queue_.front().channel->Finish({});
        queue_.pop_front();
      }
      if (!queue_.empty() && static_cast<int>(live_.size()) < slots_) {
        waiting = std::move(queue_.front());
        queue_.pop_front();
      }
      metrics_.SetQueueLength(queue_.size());
    }
    for (auto& t : tasks) t(engine_);

    // Decode: every live request past its prefill advances by one token in one batch.
    const auto decoding = [&] {
      std::vector<int32_t> ids;
      for (const auto& l : live_)
        if (l->pending.empty()) ids.push_back(l->seq);
      return ids;
    };
    if (!decoding().empty()) {
      while (engine_.ReserveForDecode(decoding()) >= 0) {
        // No block for one of them: preempt the most recent request (its work is the
        // cheapest to redo) and try again.
        std::unique_ptr<Live> victim = std::move(live_.back());
        live_.pop_back();
        engine_.Release(victim->seq);
        metrics_.CountPreemption();
        victim->job.bytes_sent = std::max(victim->job.bytes_sent, victim->bytes_emitted);
        victim->job.tokens_sent = std::max(victim->job.tokens_sent, victim->result.completion_tokens);
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_front(std::move(victim->job));
        if (decoding().empty()) break;
      }
      if (!decoding().empty()) {
        std::vector<int32_t> ids, tokens;
        for (const auto& l : live_)
          if (l->pending.empty()) {
            ids.push_back(l->seq);
            tokens.push_back(l->next_token);
          }
        std::vector<float> logits;
        const util::Status st = engine_.DecodeBatch(ids, tokens, logits);
        const int32_t n_vocab = engine_.hparams().n_vocab;
        std::vector<std::unique_ptr<Live>> still;
        size_t row = 0;
        for (size_t i = 0; i < live_.size(); ++i) {
          Live& l = *live_[i];
          if (!l.pending.empty()) {
            still.push_back(std::move(live_[i]));
            continue;
          }
          if (!st.ok()) {
            l.result.error = st.message();
            Finish(l);
            continue;
          }
          ++l.pos;
          if (Advance(l, logits.data() + row++ * n_vocab)) {
            Finish(l);
          } else {
            still.push_back(std::move(live_[i]));
          }
        }
        live_ = std::move(still);
      }
    }
    // Then one unit of prefill work: the next chunk of a prompt being prefilled, else a new request.
    const auto prefilling = std::find_if(live_.begin(), live_.end(), [](const auto& l) { return !l->pending.empty(); });
    const bool prefill_work = prefilling != live_.end();
    if (prefill_work) {
      std::unique_ptr<Live> l = std::move(*prefilling);
      live_.erase(prefilling);
      if (const util::Status st = ContinuePrefill(*l); !st.ok()) {
        if (engine::Engine::IsKvCacheFull(st) && !live_.empty()) {  // back to the queue until others end
          engine_.Release(l->seq);
          metrics_.CountPreemption();
          std::lock_guard<std::mutex> lock(mu_);
          queue_.push_front(std::move(l->job));
        } else {  // alone and still no room (the prompt cannot fit this server's pool), or an error
          l->result.error = engine::Engine::IsKvCacheFull(st) ? "the prompt does not fit the KV cache" : st.message();
          Finish(*l);
        }
      } else if (l->pending.empty()) {
        const std::vector<float> logits = std::move(l->next_logits);
        StartDecoding(std::move(l), logits.data());
      } else {
        live_.push_back(std::move(l));
      }
    }
    if (waiting && prefill_work) {  // one unit of prefill per iteration
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_front(std::move(*waiting));
      waiting.reset();
    }
    if (waiting) {
      std::vector<bool> used(slots_, false);
      for (const auto& l : live_) used[l->seq] = true;
      const int32_t seq = static_cast<int32_t>(std::find(used.begin(), used.end(), false) - used.begin());
      if (!Admit(*waiting, seq)) {
        std::lock_guard<std::mutex> lock(mu_);
        queue_.push_front(std::move(*waiting));
      }
    }
    PublishKvUsage();
  }
}

}  // namespace kvfuse::server
