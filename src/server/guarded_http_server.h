// An httplib::Server that a slow or idle client cannot starve (slowloris): a request's
// headers and body must arrive within one deadline, and one client address may hold at most
// a few connections that are waiting for or still sending a request. Connections whose
// request is being handled (generating, streaming) do not count: a client may run many.
//
// Threads: httplib's worker threads run ProcessConnection, one connection each; route handlers
// call RequestRead() on the thread that runs them. Everything else is httplib's.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include <httplib.h>

namespace kvfuse::server {

struct ConnectionLimits {
  std::chrono::milliseconds request_read_timeout{10'000};  // headers and body of one request
  int max_waiting_per_address = 32;  // connections idle or sending a request, per client address
  int listen_backlog = 1024;         // httplib's own is 5
};

class GuardedHttpServer final : public httplib::Server {
 public:
  explicit GuardedHttpServer(ConnectionLimits limits) : limits_(limits) {}

  // After bind_to_port: lets connections wait in the kernel while workers are busy.
  bool RaiseListenBacklog();
  // Called by a route handler: its request has been read, so its connection no longer counts
  // against its address and is no longer under the read deadline. A no-op off a worker thread.
  static void RequestRead();

 private:
  // httplib calls this on a worker thread for every accepted connection.
  bool process_and_close_socket(socket_t sock) override;
  bool ServeRequests(socket_t sock, const std::string& address);

  friend class WaitingConnection;
  bool Join(const std::string& address);  // false when the address already has its share
  void Leave(const std::string& address);

  const ConnectionLimits limits_;
  std::mutex mu_;
  std::map<std::string, int> waiting_;  // by client address; guarded by mu_
};

}  // namespace kvfuse::server
