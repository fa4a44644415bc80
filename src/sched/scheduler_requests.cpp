// The scheduler's entry points for other threads: submitting a request, running a task on its
// thread, and reading its slots (through such a task). Its loop is scheduler.cpp's.
#include <future>

#include "sched/scheduler.h"
#include "sched/scheduler_live.h"

namespace kvfuse::sched {

using Clock = std::chrono::steady_clock;

bool Scheduler::Submit(GenerationRequest request, std::shared_ptr<GenerationChannel> channel) {
  // A RAG prompt whose retrieval found nothing is a plain prompt: its question joins the
  // prefix, and a mode that reuses chunk KV has none to reuse (the prefix cache serves it).
  fuse::SegmentedPrompt& prompt = request.prompt;
  if (prompt.chunks.empty() && !prompt.suffix.empty()) {
    prompt.prefix.insert(prompt.prefix.end(), prompt.suffix.begin(), prompt.suffix.end());
    prompt.suffix.clear();
    if (fuse::ReusesChunkKv(request.fusion.mode)) request.fusion.mode = fuse::FusionMode::kPrefix;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= options_.max_queue) DropCancelledQueuedLocked();
    if (queue_.size() >= options_.max_queue) return false;
    if (request.arrival == Clock::time_point{}) request.arrival = Clock::now();
    queue_.push_back({std::move(request), std::move(channel)});
    events_.SetQueueLength(queue_.size());
  }
  cv_.notify_all();
  return true;
}

void Scheduler::DropCancelledQueuedLocked() {
  std::erase_if(queue_, [](Job& job) {
    if (!job.channel->cancelled()) return false;
    GenerationResult cancelled;
    cancelled.cancelled = true;
    job.channel->Finish(std::move(cancelled));
    return true;
  });
  events_.SetQueueLength(queue_.size());
}

std::vector<SlotState> Scheduler::Slots() {
  std::vector<SlotState> slots(options_.slots);
  for (int i = 0; i < options_.slots; ++i) slots[i].id = i;
  RunExclusive(
      [&] {
        for (const auto& l : live_) {
          SlotState& s = slots[l->seq];
          s.processing = true;
          s.decoding = l->decoding;
          s.prompt_tokens = l->job.request.prompt.size();
          s.completion_tokens = l->result.completion_tokens;
        }
      },
      /*uses_kv=*/false);
  return slots;
}

void Scheduler::RunExclusive(const std::function<void()>& fn, bool uses_kv) {
  std::promise<void> done;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back({[&] {
                        fn();
                        done.set_value();
                      },
                      uses_kv});
  }
  cv_.notify_all();
  done.get_future().wait();
}

}  // namespace kvfuse::sched
