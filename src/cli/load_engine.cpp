#include <thread>

#include "cli/commands.h"
#include "cli/redis_flags.h"

namespace kvfuse::cli {

util::Result<std::unique_ptr<engine::Engine>> LoadEngine(const Args& args, int default_ctx) {
  engine::EngineOptions options;
  options.model_path = args.Get("-m");
  if (options.model_path.empty()) return util::Status::InvalidArgument("a model is required (-m FILE.gguf)");
  auto threads = args.GetInt("-t", std::max(1u, std::thread::hardware_concurrency()));
  if (!threads.ok()) return threads.status();
  auto ctx = args.GetInt("-c", default_ctx);
  if (!ctx.ok()) return ctx.status();
  if (threads.value() < 1 || threads.value() > 256) return util::Status::InvalidArgument("-t must be 1..256");
  if (ctx.value() < 1 || ctx.value() > (1 << 20)) return util::Status::InvalidArgument("-c must be 1..1048576");
  options.n_threads = static_cast<int>(threads.value());
  options.n_ctx = static_cast<int>(ctx.value());
  options.chunk_store_dir = args.Get("--store");
  options.kernels = args.Get("--kernels");  // only commands that take it (bench)
  auto redis = RedisOptionsFromArgs(args);  // none unless the command takes --redis
  if (!redis.ok()) return redis.status();
  options.redis = std::move(redis).value();
  return engine::Engine::Load(options);
}

}  // namespace kvfuse::cli
