#include "sched/scheduler.h"

#include <algorithm>

#include "sched/scheduler_live.h"

namespace kvfuse::sched {

using Clock = std::chrono::steady_clock;

Scheduler::Scheduler(Executor& executor, SchedulerEvents& events, SchedulerOptions options)
    : executor_(executor),
      events_(events),
      options_([&] {
        options.slots = std::max(1, options.slots);
        return options;
      }()),
      budget_(options_.batch_tokens, options_.tpot_target_ms / 1000.0, options_.tpot_target_decode_steps),
      audit_budget_(options_.batch_tokens, 0) {
  KVFUSE_CHECK(executor_.tokenizer() != nullptr);
  if (options_.audit_tokens > 0 && options_.max_pending_audits > 0)
    auditor_ = std::make_unique<AuditRunner>(executor_, options_.audit_tokens, options_.max_pending_audits,
                                             kAuditSequence);
  thread_ = std::thread([this] { Loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Scheduler::PublishKvUsage() { events_.SetKvUsage(executor_.kv_blocks_used(), executor_.kv_blocks_total()); }

void Scheduler::Admit() {
  std::lock_guard<std::mutex> lock(mu_);
  if (live_.empty()) awaiting_room_ = false;
  while (!awaiting_room_ && !queue_.empty() && static_cast<int>(live_.size()) < options_.slots) {
    Job job = std::move(queue_.front());
    queue_.pop_front();
    if (job.channel->cancelled()) {
      GenerationResult cancelled;
      cancelled.cancelled = true;
      job.channel->Finish(std::move(cancelled));
      continue;
    }
    std::vector<bool> used(options_.slots, false);
    for (const auto& l : live_) used[l->seq] = true;
    const auto seq = static_cast<int32_t>(std::find(used.begin(), used.end(), false) - used.begin());
    live_.push_back(std::make_unique<Live>(std::move(job), seq, *executor_.tokenizer()));
  }
  events_.SetQueueLength(queue_.size());
}

void Scheduler::Requeue(std::unique_ptr<Live> live) {
  const bool held_kv = live->pos > 0 || live->prefill;  // a paused RAG prefill holds its blocks
  live->prefill.reset();  // abandoned before its sequence goes
  executor_.Release(live->seq);
  if (held_kv) events_.CountPreemption();
  live->job.bytes_sent = std::max(live->job.bytes_sent, live->bytes_emitted);
  live->job.tokens_sent = std::max(live->job.tokens_sent, live->result.completion_tokens);
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_front(std::move(live->job));
}

int32_t Scheduler::DecodeStep() {
  // Streams whose client is gone or whose time is up end before they take a block: with none
  // left, one took a live request's place.
  const auto now = Clock::now();
  std::erase_if(live_, [&](std::unique_ptr<Live>& l) {
    if (!l->decoding || !(l->job.channel->cancelled() || now > l->job.request.deadline)) return false;
    l->result.cancelled = l->job.channel->cancelled();
    Finish(*l);
    return true;
  });
  const auto decoding = [&] {
    std::vector<int32_t> seqs;
    for (const auto& l : live_)
      if (l->decoding) seqs.push_back(l->seq);
    return seqs;
  };
  std::vector<int32_t> seqs = decoding();
  // No block for one of them: preempt the most recent request (its work is the cheapest to
  // redo) and try again.
  while (!seqs.empty() && executor_.ReserveForDecode(seqs) >= 0) {
    std::unique_ptr<Live> victim = std::move(live_.back());
    live_.pop_back();
    Requeue(std::move(victim));
    seqs = decoding();
  }
  if (seqs.empty()) return 0;
  std::vector<int32_t> tokens;
  for (const auto& l : live_)
    if (l->decoding) tokens.push_back(l->next_token);
  std::vector<float> logits;
  const util::Status st = executor_.DecodeBatch(seqs, tokens, logits);
  std::vector<std::unique_ptr<Live>> still;
  size_t row = 0;
  for (auto& l : live_) {
    if (!l->decoding) {
      still.push_back(std::move(l));
      continue;
    }
    if (!st.ok()) {
      l->result.error = st;
      Finish(*l);
      continue;
    }
    ++l->pos;
    if (Advance(*l, logits.data() + row++ * executor_.n_vocab())) {
      Finish(*l);
    } else {
      still.push_back(std::move(l));
    }
  }
  live_ = std::move(still);
  return static_cast<int32_t>(seqs.size());
}

util::Result<int32_t> Scheduler::PrefillUnit(Live& live, int32_t budget, bool first) {
  const GenerationRequest& req = live.job.request;
  const fuse::SegmentedPrompt& prompt = req.prompt;
  fuse::FusionStats& stats = live.result.fusion;
  if (!prompt.chunks.empty()) {
    if (!live.prefill) live.prefill = executor_.StartPrefill(prompt, req.fusion, live.seq);
    const util::Result<int32_t> cost = live.prefill->Step(budget, first);
    if (!cost.ok() || !live.prefill->done()) return cost;
    live.logits = std::move(live.prefill->logits());
    stats = live.prefill->stats();
    live.prefill.reset();
    live.pos = prompt.size();
    return cost;
  }
  // A plain prompt, in pieces of at most the budget (plus, first, what the prefix cache holds).
  const std::vector<int32_t>& tokens = prompt.prefix;
  const auto n_prompt = static_cast<int32_t>(tokens.size());
  if (live.pos == 0) {
    const int32_t cached = req.fusion.mode == fuse::FusionMode::kPrefix ? executor_.CachedPrefixLength(tokens) : 0;
    fuse::SegmentedPrompt first;
    first.prefix.assign(tokens.begin(), tokens.begin() + std::min(n_prompt, cached + budget));
    KVFUSE_RETURN_IF_ERROR(executor_.PrefillSegments(first, req.fusion, live.logits, stats, live.seq));
    live.pos = first.size();
    return stats.tokens_computed;
  }
  const int32_t n = std::min(n_prompt - live.pos, budget);
  const std::vector<int32_t> piece(tokens.begin() + live.pos, tokens.begin() + live.pos + n);
  KVFUSE_RETURN_IF_ERROR(executor_.Evaluate(piece, live.pos, false, live.logits, n, live.seq));
  live.pos += n;
  stats.tokens_computed += n;
  stats.prompt_tokens += n;
  if (live.pos == n_prompt) executor_.CachePrefix(live.seq, tokens);
  return n;
}

int32_t Scheduler::PrefillStep(int32_t decoding) {
  int32_t budget = budget_.PrefillTokens(decoding), spent = 0;
  for (size_t i = 0; i < live_.size() && spent < budget;) {
    Live& l = *live_[i];
    if (l.decoding) {
      ++i;
      continue;
    }
    if (l.job.channel->cancelled() || Clock::now() > l.job.request.deadline) {
      if (!l.job.channel->cancelled())
        l.result.error = util::Status::Unavailable("the request timed out before its prompt was prefilled");
      l.result.cancelled = l.job.channel->cancelled();
      Finish(l);
      live_.erase(live_.begin() + static_cast<ptrdiff_t>(i));
      continue;
    }
    const util::Result<int32_t> cost = PrefillUnit(l, budget - spent, spent == 0);
    if (!cost.ok()) {
      std::unique_ptr<Live> failed = std::move(live_[i]);
      live_.erase(live_.begin() + static_cast<ptrdiff_t>(i));
      const bool no_room = cost.status().code() == util::StatusCode::kResourceExhausted;
      if (no_room && !live_.empty()) {
        Requeue(std::move(failed));  // room comes when another request ends
        awaiting_room_ = true;
      } else {  // alone and still no room (the prompt cannot fit the pool), or an error
        failed->result.error =
            no_room ? util::Status::InvalidArgument("the prompt does not fit the KV cache") : cost.status();
        Finish(*failed);
      }
      continue;
    }
    spent += cost.value();
    if (l.pos < l.job.request.prompt.size()) break;  // unfinished: what is left of the budget is too little
    StartDecoding(l);
    if (Advance(l, l.logits.data())) {
      Finish(l);
      live_.erase(live_.begin() + static_cast<ptrdiff_t>(i));
    } else {
      // Its next token waits for the rest of this step, which may therefore run no more
      // than an iteration with it decoding would (the step's budget was for fewer streams:
      // with none, the whole batch).
      budget = std::min(budget, spent + budget_.PrefillTokens(++decoding));
      ++i;
    }
  }
  return spent;
}

void Scheduler::StartDecoding(Live& live) {
  GenerationResult& r = live.result;
  live.decoding = true;
  r.prompt_tokens = live.job.request.prompt.size();
  // Reused rather than computed: the prefix cache's tokens and those of chunks found in the store.
  r.cached_tokens = r.fusion.prefix_reused + r.fusion.chunk_tokens_hit;
  live.prefilled = live.last_token = Clock::now();
  r.prompt_ms = std::chrono::duration<double, std::milli>(live.prefilled - live.admitted).count();
  if (!live.job.start_observed) {  // not again when a preempted request restarts
    live.job.start_observed = true;
    events_.ObservePrefill(r.prompt_ms / 1000.0, r.fusion);
    events_.ObserveFirstToken(std::chrono::duration<double>(live.prefilled - live.job.request.arrival).count());
    OfferAudit(live.job.request);
  }
  r.finish_reason = "length";
}

std::string Scheduler::TakeUnsent(Live& live) {
  const std::string& text = live.result.text;
  const size_t from = std::max(live.bytes_emitted, live.job.bytes_sent);
  live.bytes_emitted = std::max(from, text.size());
  return text.size() > from ? text.substr(from) : std::string();
}

bool Scheduler::Advance(Live& live, const float* logits) {
  GenerationResult& r = live.result;
  const GenerationRequest& req = live.job.request;
  if (live.job.channel->cancelled() || Clock::now() > req.deadline) {
    r.cancelled = live.job.channel->cancelled();
    return true;
  }
  const int32_t token = live.sampler.Sample(logits, executor_.n_vocab());
  if (live.sampler.grammar_over_budget()) {
    r.error = grammar::MaskWorkExceeded();
    return true;
  }
  if (!req.ignore_eos && executor_.EndsTurn(token)) {
    r.finish_reason = "stop";
    return true;
  }
  ++r.completion_tokens;
  const auto now = Clock::now();
  if (r.completion_tokens > 1) events_.ObserveInterToken(std::chrono::duration<double>(now - live.last_token).count());
  live.last_token = now;
  r.text += live.stops.Push(live.decoder.Push(token));
  // One event per token (empty while a character is incomplete or a stop string may be
  // starting), so clients can time tokens; a restarted request sends only what its earlier
  // run had not.
  std::optional<TokenLogprob> logprob;
  if (req.logprobs >= 0) logprob = r.logprobs.emplace_back(LogprobOf(logits, executor_.n_vocab(), token, req.logprobs));
  if (r.completion_tokens > live.job.tokens_sent) live.job.channel->Push(TakeUnsent(live), std::move(logprob));
  if (live.stops.stopped()) {
    r.finish_reason = "stop";
    r.stopping_word = live.stops.matched();
    return true;
  }
  if (r.completion_tokens >= req.max_tokens || live.pos + 1 >= executor_.n_ctx()) return true;
  live.next_token = token;
  return false;
}

void Scheduler::Finish(Live& live) {
  GenerationResult& r = live.result;
  if (live.decoding && !live.stops.stopped()) {
    r.text += live.stops.Push(live.decoder.Flush()) + live.stops.Flush();
    if (std::string rest = TakeUnsent(live); !rest.empty()) live.job.channel->Push(std::move(rest));
  }
  if (live.decoding) {
    r.predicted_ms = std::chrono::duration<double, std::milli>(Clock::now() - live.prefilled).count();
    events_.ObserveCompletion(r.completion_tokens);
  }
  live.prefill.reset();  // abandoned before its sequence goes
  executor_.Release(live.seq);
  awaiting_room_ = false;
  PublishKvUsage();  // before the client hears of the end, so /metrics is current by then
  live.job.channel->Finish(std::move(r));
}

void Scheduler::Loop() {
  for (;;) {
    std::deque<Task> tasks;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] {
        return stopping_ || !queue_.empty() || !tasks_.empty() || !live_.empty() || (auditor_ && auditor_->HasWork());
      });
      if (stopping_ && queue_.empty() && tasks_.empty() && live_.empty()) return;  // audits waiting are dropped
      tasks.swap(tasks_);
    }
    for (const Task& t : tasks)
      if (auditor_ && t.uses_kv) auditor_->Abandon();  // its KV is live work's first
    for (const Task& t : tasks) t.fn();
    Admit();
    if (live_.empty()) {
      AuditStep();
      continue;
    }
    if (auditor_) auditor_->Abandon();
    const auto t0 = Clock::now();
    const int32_t decoded = DecodeStep();
    const auto t1 = Clock::now();
    const int32_t prefilled = PrefillStep(decoded);
    const auto t2 = Clock::now();
    if (decoded > 0) budget_.ObserveDecode(std::chrono::duration<double>(t1 - t0).count());
    budget_.ObservePrefill(prefilled, std::chrono::duration<double>(t2 - t1).count());
    if (decoded + prefilled > 0) events_.ObserveIteration(prefilled, std::chrono::duration<double>(t2 - t0).count());
    PublishKvUsage();
  }
}

}  // namespace kvfuse::sched
