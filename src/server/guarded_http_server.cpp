#include "server/guarded_http_server.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>

namespace kvfuse::server {
namespace {

using Clock = std::chrono::steady_clock;

// Waits until `deadline` for `events` on sock; false on timeout, error, or once `stop` (an
// eventfd, or -1 for none) is readable.
bool WaitFor(int sock, short events, Clock::time_point deadline, int stop = -1) {
  pollfd p[2] = {{sock, events, 0}, {stop, POLLIN, 0}};
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    const int n = ::poll(p, 2, static_cast<int>(std::clamp<int64_t>(left, 0, 60'000)));
    if (n > 0) return p[1].revents == 0;
    if ((n == 0 && left <= 60'000) || (n < 0 && errno != EINTR)) return false;
  }
}

bool WaitFor(int sock, short events, std::chrono::milliseconds timeout, int stop = -1) {
  return WaitFor(sock, events, Clock::now() + timeout, stop);
}

// Readable with nothing to read means the peer has closed (or reset) the connection; a
// read that would block or was interrupted says nothing. (A client that only shut down its
// sending side also reads as closed: HTTP clients wait for the answer with theirs open.)
bool PeerClosed(int sock) {
  if (!WaitFor(sock, POLLIN, std::chrono::milliseconds(0))) return false;
  char byte;
  const ssize_t n = ::recv(sock, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

void Endpoint(int sock, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  auto* a = reinterpret_cast<sockaddr*>(&addr);
  ip.clear();
  port = 0;
  if ((peer ? ::getpeername(sock, a, &len) : ::getsockname(sock, a, &len)) != 0) return;
  char host[INET6_ADDRSTRLEN] = "";
  if (addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &v4->sin_addr, host, sizeof(host));
    port = ntohs(v4->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, host, sizeof(host));
    port = ntohs(v6->sin6_port);
  }
  ip = host;
}

// A socket whose reads share one deadline and one byte budget per request (httplib's own
// stream times out each read alone, so a client sending a header line every few seconds held
// a worker for ever, and bounds a body only by its Content-Length).
// Waits end early, as failures, once the server stops: reads at StopAccepting (stop_reads),
// writes at AbortWrites (stop_writes).
class DeadlineStream final : public httplib::Stream {
 public:
  DeadlineStream(int sock, std::chrono::milliseconds write_timeout, int stop_reads, int stop_writes)
      : sock_(sock), write_timeout_(write_timeout), stop_reads_(stop_reads), stop_writes_(stop_writes) {}

  // True once a request's first bytes are here; false after `idle` without any.
  bool WaitForRequest(std::chrono::milliseconds idle) const {
    return begin_ < end_ || WaitFor(sock_, POLLIN, idle, stop_reads_);
  }
  void StartRequest(Clock::time_point deadline, size_t max_bytes) {
    deadline_ = deadline;
    bytes_left_ = max_bytes;
  }
  // A read failed (deadline, budget, error or end of stream): the connection is done.
  bool failed() const { return failed_; }

  bool is_readable() const override { return begin_ < end_ || WaitFor(sock_, POLLIN, deadline_, stop_reads_); }
  ssize_t read(char* ptr, size_t size) override {
    if (begin_ == end_ && !Fill()) {
      failed_ = true;
      return -1;
    }
    const size_t n = std::min(size, end_ - begin_);
    std::memcpy(ptr, buffer_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }
  bool is_writable() const override { return WaitFor(sock_, POLLOUT, write_timeout_, stop_writes_) && !PeerClosed(sock_); }
  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override { Endpoint(sock_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { Endpoint(sock_, false, ip, port); }
  socket_t socket() const override { return sock_; }

 private:
  // Refills the buffer within the request's deadline and byte budget.
  bool Fill() {
    if (bytes_left_ == 0 || !is_readable()) return false;
    ssize_t n;
    do n = ::recv(sock_, buffer_, std::min(sizeof(buffer_), bytes_left_), 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    begin_ = 0;
    end_ = static_cast<size_t>(n);
    bytes_left_ -= end_;
    return true;
  }
  const int sock_;
  const std::chrono::milliseconds write_timeout_;
  const int stop_reads_, stop_writes_;
  Clock::time_point deadline_ = Clock::now();
  size_t bytes_left_ = 0;
  bool failed_ = false;
  char buffer_[4096];
  size_t begin_ = 0, end_ = 0;
};

// Answers a connection refused for its address without waiting on it, then it is closed.
void RefuseBusy(int sock) {
  static const std::string body =
      R"({"error":{"message":"too many connections from this address are idle or still sending a request",)"
      R"("type":"rate_limit_error","param":null,"code":429}})";
  const std::string response = "HTTP/1.1 429 Too Many Requests\r\nContent-Type: application/json\r\n"
                               "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)!::send(sock, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  // Closing with unread bytes makes the kernel send a reset, which can reach the client
  // before the 429: end our side, then drop what has already arrived.
  ::shutdown(sock, SHUT_WR);
  char sink[4096];
  for (int i = 0; i < 16 && ::recv(sock, sink, sizeof(sink), MSG_DONTWAIT) > 0; ++i) {
  }
}

}  // namespace

// A connection's place in its address's count of waiting connections, held while it is idle
// or its request is still arriving.
class WaitingConnection {
 public:
  WaitingConnection(GuardedHttpServer& server, std::string address)
      : server_(server), address_(std::move(address)), counted_(server_.Join(address_)) {}
  ~WaitingConnection() { StopWaiting(); }
  bool counted() const { return counted_; }
  void StopWaiting() {
    if (counted_) server_.Leave(address_);
    counted_ = false;
  }
  bool WaitAgain() { return counted_ || (counted_ = server_.Join(address_)); }

 private:
  GuardedHttpServer& server_;
  const std::string address_;
  bool counted_;
};

namespace {
thread_local WaitingConnection* tl_connection = nullptr;
thread_local int tl_socket = -1;  // the connection this worker thread serves
}  // namespace

GuardedHttpServer::GuardedHttpServer(ConnectionLimits limits)
    : limits_(limits), stop_reads_(::eventfd(0, EFD_CLOEXEC)), stop_writes_(::eventfd(0, EFD_CLOEXEC)) {
  // httplib's default also sets SO_REUSEPORT: a second server on a port in use would share it.
  set_socket_options([](socket_t sock) {
    const int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
}

GuardedHttpServer::~GuardedHttpServer() {
  if (stop_reads_ >= 0) ::close(stop_reads_);
  if (stop_writes_ >= 0) ::close(stop_writes_);
}

void GuardedHttpServer::StopAccepting() {
  stop();
  (void)!::eventfd_write(stop_reads_, 1);
}

void GuardedHttpServer::AbortWrites() { (void)!::eventfd_write(stop_writes_, 1); }

void GuardedHttpServer::Listen() {
  listen_after_bind();
  listen_ended_ = true;
}

void GuardedHttpServer::WaitListenEnded() {
  while (!listen_ended_) {
    StopAccepting();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool GuardedHttpServer::ClientGone() { return tl_socket >= 0 && PeerClosed(tl_socket); }

bool GuardedHttpServer::RaiseListenBacklog() { return ::listen(svr_sock_, limits_.listen_backlog) == 0; }

void GuardedHttpServer::RequestRead() {
  if (tl_connection) tl_connection->StopWaiting();
}

bool GuardedHttpServer::Join(const std::string& address) {
  std::lock_guard lock(mu_);
  int& n = waiting_[address];
  if (n >= limits_.max_waiting_per_address) return false;
  ++n;
  return true;
}

void GuardedHttpServer::Leave(const std::string& address) {
  std::lock_guard lock(mu_);
  if (--waiting_[address] == 0) waiting_.erase(address);
}

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  std::string address;
  int port = 0;
  Endpoint(sock, true, address, port);
  const bool ok = ServeRequests(sock, address);
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

// httplib's keep-alive loop, with one read deadline per request and the per-address count.
bool GuardedHttpServer::ServeRequests(socket_t sock, const std::string& address) {
  WaitingConnection connection(*this, address);
  if (!connection.counted()) {
    RefuseBusy(sock);
    return false;
  }
  const std::chrono::milliseconds idle(keep_alive_timeout_sec_ * 1000);
  DeadlineStream stream(sock, std::chrono::milliseconds(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000),
                        stop_reads_, stop_writes_);
  bool ok = false;
  for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
    if (!stream.WaitForRequest(idle)) break;
    const size_t body = payload_max_length_;
    stream.StartRequest(Clock::now() + limits_.request_read_timeout,
                        body > SIZE_MAX - limits_.max_header_bytes ? SIZE_MAX : body + limits_.max_header_bytes);
    bool closed = false;
    tl_connection = &connection;
    tl_socket = sock;
    ok = process_request(stream, /*close_connection=*/left == 1, closed, nullptr);
    tl_connection = nullptr;
    tl_socket = -1;
    // After a failed read httplib has answered 400 or 413; what follows on the wire is the
    // rest of a request it gave up on, not a new one.
    if (!ok || closed || stream.failed() || !connection.WaitAgain()) break;
  }
  return ok;
}

}  // namespace kvfuse::server
