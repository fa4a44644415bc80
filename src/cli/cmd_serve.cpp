// kvfuse serve: the OpenAI-compatible HTTP server, until SIGINT or SIGTERM; then running
// requests get --shutdown-timeout seconds to finish before they are cancelled (a second
// signal exits at once).
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "cli/collection_flag.h"
#include "cli/commands.h"
#include "cli/fidelity_flags.h"
#include "cli/redis_flags.h"
#include "server/server.h"

namespace kvfuse::cli {

namespace {

// The server's options from the command line; an error names the option and its range.
util::Result<server::ServerOptions> ServeOptions(const Args& args) {
  server::ServerOptions o;
  o.engine.model_path = args.Get("-m");
  if (o.engine.model_path.empty()) return util::Status::InvalidArgument("a model is required (-m FILE.gguf)");
  o.model_alias = args.Get("--alias");
  util::Status error;
  auto read = [&](const char* name, long long fallback, long long lo, long long hi) -> long long {
    auto v = args.GetInt(name, fallback);
    if (error.ok() && !v.ok()) error = v.status();
    if (error.ok() && (v.value() < lo || v.value() > hi))
      error = util::Status::InvalidArgument(util::StrFormat("%s must be %lld..%lld", name, lo, hi));
    return error.ok() ? v.value() : fallback;
  };
  o.engine.n_threads = static_cast<int>(read("-t", std::max(1u, std::thread::hardware_concurrency()), 1, 256));
  o.engine.n_ctx = static_cast<int>(read("-c", 4096, 16, 1 << 20));
  o.port = static_cast<int>(read("--port", 8080, 0, 65535));
  o.max_body_bytes = static_cast<size_t>(read("--max-body", 1 << 20, 1024, 1LL << 32));
  o.request_timeout_s = static_cast<int>(read("--timeout", 600, 1, 1 << 30));
  o.max_queue = static_cast<size_t>(read("--queue", 64, 1, 1 << 20));
  o.max_tokens_default = static_cast<int32_t>(read("--max-tokens", 256, 1, 1 << 20));
  o.slots = static_cast<int>(read("-np", 4, 1, 256));
  o.batch_tokens = static_cast<int32_t>(read("--batch-tokens", 512, 16, 1 << 20));
  o.tpot_target_ms = static_cast<int>(read("--tpot-target-ms", 50, 0, 60'000));
  constexpr std::string_view kDecodesRange = "0 (off) or 1..100 (an iteration's length in decode steps)";
  auto decodes = args.GetFloatIn("--tpot-target-x", 0, 0, 100, kDecodesRange);
  if (!decodes.ok()) return decodes.status();
  if (decodes.value() > 0 && decodes.value() < 1)
    return util::Status::InvalidArgument("--tpot-target-x must be " + std::string(kDecodesRange));
  o.tpot_target_decode_steps = decodes.value();
  o.request_read_ms = static_cast<int>(read("--read-timeout", 10, 1, 3600)) * 1000;
  o.max_waiting_per_address = static_cast<int>(read("--max-waiting-per-client", 32, 1, 100000));
  o.shutdown_timeout_s = static_cast<int>(read("--shutdown-timeout", 5, 0, 3600));
  if (!error.ok()) return error;
  o.host = args.Get("--host", "127.0.0.1");
  o.api_key = args.Get("--api-key");
  std::stringstream dirs(args.Get("--collection"));
  for (std::string d; std::getline(dirs, d, ',');) {
    if (d.empty()) continue;
    // Before the model loads, and never an empty collection in place of a mistyped one.
    KVFUSE_RETURN_IF_ERROR(CheckIngested(d));
    o.collections.push_back(d);
  }
  o.collections_dir = args.Get("--collections-dir");
  o.embed_layer = static_cast<int32_t>(read("--embed-layer", 0, 0, 1000));
  if (!error.ok()) return error;
  // Chunk KV is content-addressed: by default the first collection's store, pre-computed at
  // ingest, serves every request; with only a collections directory, its .kv.
  o.engine.chunk_store_dir = args.Get("--store");
  if (o.engine.chunk_store_dir.empty() && !o.collections.empty()) o.engine.chunk_store_dir = rag::Collection::KvDirOf(o.collections.front());
  if (o.engine.chunk_store_dir.empty() && !o.collections_dir.empty()) o.engine.chunk_store_dir = o.collections_dir + "/.kv";
  auto redis = RedisOptionsFromArgs(args);
  if (!redis.ok()) return redis.status();
  o.engine.redis = std::move(redis).value();
  auto fidelity = FidelityOptionsFromArgs(args);
  if (!fidelity.ok()) return fidelity.status();
  o.fidelity = std::move(fidelity).value();
  return o;
}

}  // namespace

int ServeCommand(int argc, char** argv) {
  std::set<std::string> value_options = {"-m", "-t", "-c", "--host", "--port", "--api-key", "--collection",
                                         "--max-body", "--timeout", "--queue", "--max-tokens", "--store", "-np",
                                         "--batch-tokens", "--tpot-target-ms", "--tpot-target-x", "--read-timeout",
                                         "--max-waiting-per-client", "--shutdown-timeout", "--alias",
                                         "--collections-dir", "--embed-layer"};
  value_options.merge(RedisFlags());
  value_options.merge(FidelityFlags());
  auto args = Args::Parse(argc, argv, value_options, {"--metrics"});  // --metrics: llama-server's switch; /metrics is always on
  if (!args.ok()) return Fail(args.status().message());
  if (!args->positional().empty())  // e.g. a model given without -m
    return Fail("serve takes options only, not '" + args->positional()[0] + "' (a model: -m FILE.gguf)");
  auto options = ServeOptions(args.value());
  if (!options.ok()) return Fail(options.status().message());
  const server::ServerOptions& o = options.value();
  if (!o.engine.chunk_store_dir.empty())
    std::fprintf(stderr, "kvfuse: chunk store %s%s\n", o.engine.chunk_store_dir.c_str(),
                 args->Has("--store") ? "" : " (the first collection's; --store DIR for another)");
  if (!o.engine.redis.url.empty())
    std::fprintf(stderr, "kvfuse: shared chunk tier %s, keys %s*, %s KV\n", o.engine.redis.url.c_str(),
                 o.engine.redis.key_prefix.c_str(), engine::RemoteFormatName(o.engine.redis.format));

  // Block the stop signals here; the main thread waits for them below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  server::Server srv(o);
  if (const util::Status st = srv.Start(); !st.ok()) return Fail(st.message());
  std::fprintf(stderr, "kvfuse: listening on http://%s:%d (loading %s)\n", o.host.c_str(), srv.port(),
               o.engine.model_path.c_str());
  if (!srv.WaitReady()) {
    srv.Stop();
    return Fail(srv.load_error());  // names the file and the reason
  }
  std::fprintf(stderr, "kvfuse: model ready\n");
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "kvfuse: stopping (running requests have %d s to finish)\n", o.shutdown_timeout_s);
  std::thread([stop_signals] {  // a second signal does not wait
    int again = 0;
    sigwait(&stop_signals, &again);
    std::fprintf(stderr, "kvfuse: stopped at once\n");
    std::_Exit(128 + again);
  }).detach();
  srv.Stop();
  return 0;
}

}  // namespace kvfuse::cli
