#include "store/redis_client.h"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <charconv>
#include <cstring>

namespace kvfuse::store {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

timeval Timeval(int ms) { return {ms / 1000, (ms % 1000) * 1000}; }

bool ParseInt(std::string_view s, int lo, int hi, int& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && out >= lo && out <= hi;
}

uint16_t Crc16(std::string_view s) {  // CRC-16/XMODEM, as Redis Cluster hashes keys
  uint16_t crc = 0;
  for (unsigned char c : s) {
    crc ^= static_cast<uint16_t>(c) << 8;
    for (int i = 0; i < 8; ++i) crc = (crc & 0x8000) ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : static_cast<uint16_t>(crc << 1);
  }
  return crc;
}

}  // namespace

Result<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  const std::string shown(url);
  constexpr std::string_view kScheme = "redis://";
  if (url.substr(0, kScheme.size()) != kScheme)
    return Status::InvalidArgument("redis URL '" + shown + "' must be redis://HOST[:PORT][/DB]");
  std::string_view rest = url.substr(kScheme.size());
  if (rest.find('@') != std::string_view::npos)
    return Status::InvalidArgument("redis URL must not hold a password (it would show in the process list): "
                                   "use --redis-password-file FILE or KVFUSE_REDIS_PASSWORD");
  RedisEndpoint e;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    if (!ParseInt(rest.substr(slash + 1), 0, 1 << 20, e.db))
      return Status::InvalidArgument("redis URL '" + shown + "': database must be a number");
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (!rest.empty() && rest[0] == '[') {  // [IPv6 address][:PORT]
    const size_t close = rest.find(']');
    if (close == std::string_view::npos || (close + 1 < rest.size() && rest[close + 1] != ':'))
      return Status::InvalidArgument("redis URL '" + shown + "': malformed [address]");
    if (close + 1 < rest.size()) port = rest.substr(close + 2);
    rest = rest.substr(1, close - 1);
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
  }
  if (!port.empty() && !ParseInt(port, 1, 65535, e.port))
    return Status::InvalidArgument("redis URL '" + shown + "': port must be 1..65535");
  if (rest.empty()) return Status::InvalidArgument("redis URL '" + shown + "' names no host");
  e.host = std::string(rest);
  return e;
}

uint16_t RedisHashSlot(std::string_view key) {
  if (const size_t open = key.find('{'); open != std::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return Crc16(key) % 16384;
}

struct RedisClient::Reply {
  std::unique_ptr<redisReply, void (*)(void*)> r{nullptr, freeReplyObject};
};

namespace {

// One command on `c`, its arguments binary-safe; a null reply when the connection failed.
std::unique_ptr<redisReply, void (*)(void*)> Send(redisContext* c, const std::vector<std::string_view>& argv) {
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (std::string_view a : argv) ptrs.push_back(a.data()), lens.push_back(a.size());
  return {static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data())),
          freeReplyObject};
}

}  // namespace

RedisClient::RedisClient(RedisClientOptions options) : options_(std::move(options)) {
  nodes_.push_back({options_.endpoint.host, options_.endpoint.port, nullptr});
}

RedisClient::~RedisClient() { Disconnect(); }

void RedisClient::Disconnect() {
  for (Node& n : nodes_) {
    if (n.context) redisFree(n.context);
    n.context = nullptr;
  }
}

Status RedisClient::Connect(Node& node) {
  const std::string name = node.host + ":" + std::to_string(node.port);
  redisContext* c = redisConnectWithTimeout(node.host.c_str(), node.port, Timeval(options_.connect_timeout_ms));
  if (!c || c->err) {
    const std::string why = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return Status::Unavailable("redis " + name + ": " + why);
  }
  redisSetTimeout(c, Timeval(options_.io_timeout_ms));
  redisEnableKeepAlive(c);  // an idle connection a middlebox dropped is found out
  node.context = c;
  auto setup = [&](std::vector<std::string_view> argv, bool refused_is_permission) -> Status {
    Reply reply;
    reply.r = Send(c, argv);
    if (reply.r && reply.r->type != REDIS_REPLY_ERROR) return Status::Ok();
    const std::string why = reply.r ? std::string(reply.r->str, reply.r->len) : std::string(c->errstr);
    const std::string message = "redis " + name + ": " + std::string(argv[0]) + " failed: " + why;
    return refused_is_permission && reply.r ? Status::PermissionDenied(message) : Status::Unavailable(message);
  };
  Status st;
  if (!options_.password.empty()) st = setup({"AUTH", options_.password}, true);
  const std::string db = std::to_string(options_.endpoint.db);
  if (st.ok() && options_.endpoint.db != 0) st = setup({"SELECT", db}, false);
  if (!st.ok()) {
    redisFree(c);
    node.context = nullptr;
  }
  return st;
}

size_t RedisClient::NodeFor(const std::string& host, int port) {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].host == host && nodes_[i].port == port) return i;
  nodes_.push_back({host, port, nullptr});
  return nodes_.size() - 1;
}

Result<RedisClient::Reply> RedisClient::RunOn(size_t index, const std::vector<std::string_view>& argv, bool asking) {
  for (int attempt = 0;; ++attempt) {
    Node& node = nodes_[index];
    const bool reused = node.context != nullptr;
    if (!node.context) KVFUSE_RETURN_IF_ERROR(Connect(node));
    Reply reply;
    if (asking) reply.r = Send(node.context, {"ASKING"});
    if (!asking || reply.r) reply.r = Send(node.context, argv);
    if (reply.r) return reply;
    // The connection failed or timed out and cannot be used again. One that had been idle
    // may have died meanwhile (a Redis restart): that one gets a second try on a new one.
    const std::string why = node.context->errstr;
    redisFree(node.context);
    node.context = nullptr;
    if (!reused || attempt > 0)
      return Status::Unavailable(StrFormat("redis %s:%d: %s", node.host.c_str(), node.port, why.c_str()));
  }
}

Result<RedisClient::Reply> RedisClient::Command(const std::vector<std::string_view>& argv, std::string_view key) {
  const uint16_t slot = RedisHashSlot(key);
  size_t node = slot_node_[slot];
  bool asking = false;
  for (int redirects = 0;; ++redirects) {
    auto reply = RunOn(node, argv, asking);
    if (!reply.ok() && node != 0 && redirects < 3) {
      // A node learned from a redirection is gone (a failover): its slots are asked of the
      // endpoint again, whose MOVED names their new owner.
      for (uint16_t& n : slot_node_)
        if (n == node) n = 0;
      node = 0;
      asking = false;
      continue;
    }
    if (!reply.ok()) return reply.status();
    const redisReply* r = reply->r.get();
    if (r->type != REDIS_REPLY_ERROR) return reply;
    const std::string error(r->str, r->len);
    const bool moved = error.rfind("MOVED ", 0) == 0, ask = error.rfind("ASK ", 0) == 0;
    const std::string name = nodes_[node].host + ":" + std::to_string(nodes_[node].port);
    if (error.rfind("NOAUTH", 0) == 0 || error.rfind("WRONGPASS", 0) == 0)
      return Status::PermissionDenied("redis " + name + ": " + error +
                                      " (a password: --redis-password-file FILE or KVFUSE_REDIS_PASSWORD)");
    if (error.rfind("WRONGTYPE", 0) == 0) return Status::Corrupt("redis " + name + ": " + error);
    if (error.rfind("READONLY", 0) == 0 || error.rfind("OOM", 0) == 0)  // a replica, or full: reads still work
      return Status::ResourceExhausted("redis " + name + ": " + std::string(argv[0]) + " refused: " + error);
    if ((!moved && !ask) || redirects == 3)
      return Status::Unavailable("redis " + name + ": " + std::string(argv[0]) + " failed: " + error);
    // "MOVED <slot> <host>:<port>"; the host may be empty (the node we asked).
    const std::string target = error.substr(error.rfind(' ') + 1);
    const size_t colon = target.rfind(':');
    int port = 0;
    if (colon == std::string::npos || !ParseInt(std::string_view(target).substr(colon + 1), 1, 65535, port))
      return Status::Unavailable("redis: cannot follow '" + error + "'");
    const std::string host = colon == 0 ? nodes_[node].host : target.substr(0, colon);
    node = NodeFor(host, port);
    if (moved) slot_node_[slot] = static_cast<uint16_t>(node);
    asking = ask;
  }
}

Result<std::optional<std::string>> RedisClient::Get(std::string_view key) {
  auto reply = Command({"GET", key}, key);
  if (!reply.ok()) return reply.status();
  const redisReply* r = reply->r.get();
  if (r->type == REDIS_REPLY_NIL) return std::optional<std::string>();
  if (r->type != REDIS_REPLY_STRING) return Status::Corrupt("redis: " + std::string(key) + " holds no string");
  return std::optional<std::string>(std::string(r->str, r->len));
}

Status RedisClient::Set(std::string_view key, std::string_view value) {
  auto reply = Command({"SET", key, value}, key);
  return reply.ok() ? Status::Ok() : reply.status();
}

Result<bool> RedisClient::Exists(std::string_view key) {
  auto reply = Command({"EXISTS", key}, key);
  if (!reply.ok()) return reply.status();
  return reply->r->type == REDIS_REPLY_INTEGER && reply->r->integer > 0;
}

Status RedisClient::Del(std::string_view key) {
  auto reply = Command({"DEL", key}, key);
  return reply.ok() ? Status::Ok() : reply.status();
}

Status RedisClient::Ping() {
  auto reply = Command({"PING"}, "");
  return reply.ok() ? Status::Ok() : reply.status();
}

}  // namespace kvfuse::store
