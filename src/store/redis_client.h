// A blocking Redis connection with timeouts: GET, SET, EXISTS, DEL and PING of binary
// values, AUTH and SELECT on connect, and Redis Cluster's redirections (MOVED teaches the
// slot's node, ASK is followed for one command; at most 3 redirections), so a cluster and a
// single server take the same code. The timeouts bound each wait on the network (connect,
// one send, one receive), not a command as a whole. A connection that was idle and fails is
// replaced and the command tried once more. Every failure is a Status: kUnavailable for a
// connection that failed, timed out or was refused (the connection is dropped and made again
// by the next command), kCorrupt for a key that holds another type than a string,
// kPermissionDenied for a refused or missing password, kResourceExhausted for a write the
// server refuses (a read-only replica, out of memory).
//
// Threading: one thread at a time per client.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

struct redisContext;

namespace kvfuse::store {

struct RedisEndpoint {
  std::string host;
  int port = 6379;
  int db = 0;
  std::string Name() const { return host + ":" + std::to_string(port); }
};

// redis://HOST[:PORT][/DB] (HOST may be [IPv6]). A password in the URL is refused: it would show in the process
// list; pass it from a file or the environment.
util::Result<RedisEndpoint> ParseRedisUrl(std::string_view url);

// The cluster hash slot of a key (CRC16 of its {hash tag}, or of the whole key, mod 16384).
uint16_t RedisHashSlot(std::string_view key);

struct RedisClientOptions {
  RedisEndpoint endpoint;
  std::string password;  // AUTH on connect when not empty
  int connect_timeout_ms = 200;
  int io_timeout_ms = 500;
};

class RedisClient {
 public:
  explicit RedisClient(RedisClientOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  // nullopt when the key does not exist.
  util::Result<std::optional<std::string>> Get(std::string_view key);
  util::Status Set(std::string_view key, std::string_view value);
  util::Result<bool> Exists(std::string_view key);
  util::Status Del(std::string_view key);
  util::Status Ping();
  // Closes every connection; the next command connects again.
  void Disconnect();

 private:
  struct Node {
    std::string host;
    int port = 0;
    redisContext* context = nullptr;
  };
  struct Reply;
  util::Result<Reply> Command(const std::vector<std::string_view>& argv, std::string_view key);
  util::Result<Reply> RunOn(size_t node, const std::vector<std::string_view>& argv, bool asking);
  util::Status Connect(Node& node);
  size_t NodeFor(const std::string& host, int port);

  RedisClientOptions options_;
  std::vector<Node> nodes_;                  // [0] is the endpoint; others learned from redirections
  std::array<uint16_t, 16384> slot_node_{};  // index into nodes_ (0 until a MOVED says otherwise)
};

}  // namespace kvfuse::store
