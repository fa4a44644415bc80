#include "cli/redis_flags.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace kvfuse::cli {

using util::Result;
using util::Status;

std::set<std::string> RedisFlags() {
  return {"--redis", "--redis-prefix", "--redis-format", "--redis-timeout-ms", "--redis-password-file"};
}

namespace {

Result<std::string> ReadPassword(const std::string& file) {
  std::ifstream in(file);
  if (!in) return Status::InvalidArgument("--redis-password-file " + file + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  std::string password = text.str();
  while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  if (password.empty()) return Status::InvalidArgument("--redis-password-file " + file + " is empty");
  return password;
}

}  // namespace

Result<engine::RedisTierOptions> RedisOptionsFromArgs(const Args& args) {
  engine::RedisTierOptions o;
  if (!args.Has("--redis")) {
    for (const std::string& flag : RedisFlags())
      if (args.Has(flag)) return Status::InvalidArgument(flag + " needs --redis URL");
    return o;
  }
  o.url = args.Get("--redis");
  // Before anything prints it or loads: a URL with a password is refused here.
  if (auto endpoint = engine::ParseRedisUrl(o.url); !endpoint.ok()) return endpoint.status().WithContext("--redis");
  o.key_prefix = args.Get("--redis-prefix", o.key_prefix);
  if (o.key_prefix.find_first_of("{} \t\r\n") != std::string::npos)
    return Status::InvalidArgument("--redis-prefix must not hold braces or spaces (it is part of every key)");
  auto format = engine::ParseRemoteFormat(args.Get("--redis-format", "f16"));
  if (!format.ok()) return format.status().WithContext("--redis-format");
  o.format = format.value();
  auto timeout = args.GetInt("--redis-timeout-ms", o.io_timeout_ms);
  if (!timeout.ok()) return timeout.status();
  if (timeout.value() < 1 || timeout.value() > 60'000) return Status::InvalidArgument("--redis-timeout-ms must be 1..60000");
  o.io_timeout_ms = static_cast<int>(timeout.value());
  o.connect_timeout_ms = std::min(o.connect_timeout_ms, o.io_timeout_ms);
  if (args.Has("--redis-password-file")) {
    auto password = ReadPassword(args.Get("--redis-password-file"));
    if (!password.ok()) return password.status();
    o.password = std::move(password).value();
  } else if (const char* env = std::getenv("KVFUSE_REDIS_PASSWORD"); env && *env) {
    o.password = env;
  }
  return o;
}

}  // namespace kvfuse::cli
