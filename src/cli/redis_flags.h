// The shared chunk tier's flags (serve, ask, ingest, bench-rag): --redis URL, --redis-prefix,
// --redis-format f16|int8, --redis-timeout-ms, --redis-password-file FILE. The password
// comes from that file or from KVFUSE_REDIS_PASSWORD, never from the command line.
#pragma once

#include <set>
#include <string>

#include "cli/args.h"
#include "engine/engine.h"

namespace kvfuse::cli {

std::set<std::string> RedisFlags();
// The options the flags ask for (url empty without --redis); another Redis flag without
// --redis is an error, as are bad values and an unreadable password file.
util::Result<engine::RedisTierOptions> RedisOptionsFromArgs(const Args& args);

}  // namespace kvfuse::cli
