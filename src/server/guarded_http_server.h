// An httplib::Server that a slow or idle client cannot starve (slowloris): a request's
// headers and body must arrive within one deadline and one byte budget (headers plus the
// payload limit, also for chunked bodies), and one client address may hold at most a few
// connections that are waiting for or still sending a request. Connections whose request is
// being handled (generating, streaming) do not count: a client may run many.
// Not covered: many addresses at once (use a proxy that limits them, and note that behind a
// proxy every client has the proxy's address: raise max_waiting_per_address there).
//
// The listening socket binds with SO_REUSEADDR alone (httplib's default adds SO_REUSEPORT,
// which let a second server share a port in use), and shutdown has two steps: StopAccepting,
// then, once running requests have had their time, AbortWrites.
//
// Threads: httplib's worker threads run process_and_close_socket, one connection each; route
// handlers call RequestRead() and ClientGone() on the thread that runs them. StopAccepting,
// AbortWrites and WaitListenEnded are called by the thread that stops the server (not a
// worker), Listen by the thread that listens. Everything else is httplib's.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include <httplib.h>

namespace kvfuse::server {

struct ConnectionLimits {
  std::chrono::milliseconds request_read_timeout{10'000};  // headers and body of one request
  int max_waiting_per_address = 32;  // connections idle or sending a request, per client address
  size_t max_header_bytes = 64 << 10;  // request line and headers, on top of the payload limit
  int listen_backlog = 1024;  // httplib's own is 5: a burst of connects waited for SYN retries
};

class GuardedHttpServer final : public httplib::Server {
 public:
  explicit GuardedHttpServer(ConnectionLimits limits);
  ~GuardedHttpServer() override;

  // After bind_to_port: a burst of connections waits in the kernel for the accept loop.
  bool RaiseListenBacklog();
  // Called by a route handler: its request has been read, so its connection no longer counts
  // against its address. A no-op off a worker thread.
  static void RequestRead();
  // Called by a route handler: whether its client has closed the connection (a probe of the
  // socket, no wait). False off a worker thread.
  static bool ClientGone();
  // Closes the listening socket; connections idle between requests, or still sending one,
  // are closed at once. Requests being handled go on; listen_after_bind returns once they end.
  void StopAccepting();
  // After StopAccepting: every write to a client fails at once (one that stops reading
  // cannot hold the shutdown up for the write timeout).
  void AbortWrites();
  // The accept loop (listen_after_bind), on the thread that listens, until StopAccepting.
  void Listen();
  // Returns once Listen has returned. httplib drops a stop that comes before its accept loop
  // runs (a server stopped at once, as when its model fails to load): the stop is repeated
  // until then.
  void WaitListenEnded();

 private:
  // httplib calls this on a worker thread for every accepted connection.
  bool process_and_close_socket(socket_t sock) override;
  bool ServeRequests(socket_t sock, const std::string& address);

  friend class WaitingConnection;
  bool Join(const std::string& address);  // false when the address already has its share
  void Leave(const std::string& address);

  const ConnectionLimits limits_;
  // eventfds, readable once set: waits for reads (StopAccepting) or writes (AbortWrites) end.
  const int stop_reads_, stop_writes_;
  std::mutex mu_;
  std::map<std::string, int> waiting_;  // by client address; guarded by mu_
  std::atomic<bool> listen_ended_{false};
};

}  // namespace kvfuse::server
