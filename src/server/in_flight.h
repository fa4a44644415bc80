// The completion requests the server is answering (waiting in the queue, generating, or
// having their answer sent), by their channels: the requests-in-progress gauge, and what a
// shutdown waits for and then cancels.
//
// Threads: HTTP worker threads call Add (and drop tickets, possibly from httplib's threads
// after a streamed response); the thread that shuts the server down calls Close, WaitIdle and
// CancelAll. All methods are thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/engine.h"
#include "server/metrics.h"

namespace kvfuse::server {

class InFlight {
 public:
  // A request's registration: it is answered until the last copy of its ticket is gone.
  using Ticket = std::shared_ptr<void>;

  explicit InFlight(Metrics& metrics) : metrics_(metrics) {}
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

  // Registers a request; an empty ticket once Close() was called (the server is stopping).
  // Tickets must not outlive this object.
  Ticket Add(std::shared_ptr<engine::GenerationChannel> channel);
  // Registers another channel of the same request (a further choice): cancelled with it,
  // not counted as another request.
  void Attach(const Ticket& ticket, std::shared_ptr<engine::GenerationChannel> channel);
  // No request is registered from now on.
  void Close();
  bool closed() const;
  // Waits until no request is registered, or `deadline`; true when none is.
  bool WaitIdle(std::chrono::steady_clock::time_point deadline);
  // Cancels every registered request: the scheduler stops each at its next step.
  void CancelAll();

 private:
  void Remove(const void* key);

  Metrics& metrics_;
  mutable std::mutex mu_;
  std::condition_variable idle_;
  // A request's channels, by its ticket's key; guarded by mu_.
  std::map<const void*, std::vector<std::shared_ptr<engine::GenerationChannel>>> channels_;
  bool closed_ = false;                                                       // likewise
};

}  // namespace kvfuse::server
