// kvfuse serve: the OpenAI-compatible HTTP server, until SIGINT or SIGTERM.
#include <csignal>
#include <cstdio>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "server/server.h"

namespace kvfuse::cli {

int ServeCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv,
                          {"-m", "-t", "-c", "--host", "--port", "--api-key", "--collection", "--max-body",
                           "--timeout", "--queue", "--max-tokens", "--store", "-np", "--batch-tokens",
                           "--read-timeout", "--max-waiting-per-client"},
                          {});
  if (!args.ok()) return Fail(args.status().message());
  server::ServerOptions o;
  o.engine.model_path = args->Get("-m");
  if (o.engine.model_path.empty()) return Fail("a model is required (-m FILE.gguf)");
  auto threads = args->GetInt("-t", std::max(1u, std::thread::hardware_concurrency()));
  auto ctx = args->GetInt("-c", 4096);
  auto port = args->GetInt("--port", 8080);
  auto max_body = args->GetInt("--max-body", 1 << 20);
  auto timeout = args->GetInt("--timeout", 600);
  auto queue = args->GetInt("--queue", 64);
  auto max_tokens = args->GetInt("--max-tokens", 256);
  auto slots = args->GetInt("-np", 4);
  auto batch_tokens = args->GetInt("--batch-tokens", 512);
  auto read_timeout = args->GetInt("--read-timeout", 10);
  auto waiting = args->GetInt("--max-waiting-per-client", 32);
  for (const util::Status* st : {&threads.status(), &ctx.status(), &port.status(), &max_body.status(),
                                 &timeout.status(), &queue.status(), &max_tokens.status(), &slots.status(), &batch_tokens.status(),
                                 &read_timeout.status(), &waiting.status()})
    if (!st->ok()) return Fail(st->message());
  if (threads.value() < 1 || threads.value() > 256) return Fail("-t must be 1..256");
  if (ctx.value() < 16 || ctx.value() > (1 << 20)) return Fail("-c must be 16..1048576");
  if (port.value() < 0 || port.value() > 65535) return Fail("--port must be 0..65535");
  if (max_body.value() < 1024) return Fail("--max-body must be at least 1024 bytes");
  if (timeout.value() < 1) return Fail("--timeout must be at least 1 second");
  if (queue.value() < 1) return Fail("--queue must be at least 1");
  if (max_tokens.value() < 1) return Fail("--max-tokens must be at least 1");
  if (slots.value() < 1 || slots.value() > 256) return Fail("-np must be 1..256");
  o.slots = static_cast<int>(slots.value());
  if (read_timeout.value() < 1 || read_timeout.value() > 3600) return Fail("--read-timeout must be 1..3600 seconds");
  if (waiting.value() < 1 || waiting.value() > 100000) return Fail("--max-waiting-per-client must be 1..100000");
  o.request_read_ms = static_cast<int>(read_timeout.value()) * 1000;
  o.max_waiting_per_address = static_cast<int>(waiting.value());
  if (batch_tokens.value() < 16 || batch_tokens.value() > (1 << 20)) return Fail("--batch-tokens must be 16 to 1048576");
  o.batch_tokens = static_cast<int32_t>(batch_tokens.value());
  o.engine.n_threads = static_cast<int>(threads.value());
  o.engine.n_ctx = static_cast<int>(ctx.value());
  o.engine.chunk_store_dir = args->Get("--store");
  o.host = args->Get("--host", "127.0.0.1");
  o.port = static_cast<int>(port.value());
  o.api_key = args->Get("--api-key");
  o.max_body_bytes = static_cast<size_t>(max_body.value());
  o.request_timeout_s = static_cast<int>(timeout.value());
  o.max_queue = static_cast<size_t>(queue.value());
  o.max_tokens_default = static_cast<int32_t>(max_tokens.value());
  std::stringstream dirs(args->Get("--collection"));
  for (std::string d; std::getline(dirs, d, ',');)
    if (!d.empty()) o.collections.push_back(d);
  // Chunk KV is content-addressed: by default the first collection's store, pre-computed at
  // ingest, serves every request.
  if (o.engine.chunk_store_dir.empty() && !o.collections.empty()) o.engine.chunk_store_dir = o.collections.front() + "/kv";
  if (!o.engine.chunk_store_dir.empty())
    std::fprintf(stderr, "kvfuse: chunk store %s%s\n", o.engine.chunk_store_dir.c_str(),
                 args->Has("--store") ? "" : " (the first collection's; --store DIR for another)");

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
    return Fail("the model failed to load");
  }
  std::fprintf(stderr, "kvfuse: model ready\n");
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::fprintf(stderr, "kvfuse: stopping\n");
  srv.Stop();
  return 0;
}

}  // namespace kvfuse::cli
