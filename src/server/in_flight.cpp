#include "server/in_flight.h"

namespace kvfuse::server {

InFlight::Ticket InFlight::Add(std::shared_ptr<engine::GenerationChannel> channel) {
  const void* key = channel.get();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return nullptr;
    channels_[key].push_back(std::move(channel));
    metrics_.SetRequestsInProgress(channels_.size());
  }
  // The ticket points at the channel (never null) and, when its last copy goes, unregisters it.
  return Ticket(const_cast<void*>(key), [this](void* k) { Remove(k); });
}

void InFlight::Attach(const Ticket& ticket, std::shared_ptr<engine::GenerationChannel> channel) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = channels_.find(ticket.get());
  if (it != channels_.end()) it->second.push_back(std::move(channel));
}

void InFlight::Remove(const void* key) {
  std::lock_guard<std::mutex> lock(mu_);
  channels_.erase(key);
  metrics_.SetRequestsInProgress(channels_.size());
  if (channels_.empty()) idle_.notify_all();
}

void InFlight::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
}

bool InFlight::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}

bool InFlight::WaitIdle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_until(lock, deadline, [&] { return channels_.empty(); });
}

void InFlight::CancelAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, request] : channels_)
    for (auto& channel : request) channel->Cancel();
}

}  // namespace kvfuse::server
