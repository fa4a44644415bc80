#include <cstdio>
#include <cstring>
#include <string>

#include "cli/bench/bench_commands.h"
#include "cli/commands.h"

namespace {

const char* kUsage =
    "usage: kvfuse <command> [options]\n"
    "\n"
    "commands:\n"
    "  run         generate text:   kvfuse run -m M.gguf -p TEXT -n N [--temp T --top-k K\n"
    "              --top-p P --seed S -t THREADS -c CTX] [--chat [--system TEXT]]\n"
    "  perplexity  llama.cpp-style perplexity: kvfuse perplexity -m M.gguf -f FILE -c CTX [-t N]\n"
    "  bench       prompt/generation speed: kvfuse bench -m M.gguf -p 512 -n 128 -t 2 [-r REPS] [--json]\n"
    "  bench-rag   RAG time to first token per fusion mode: kvfuse bench-rag -m M.gguf [-r REQUESTS]\n"
    "              [--ratio R --alpha A --sinks K --query-layers L --ape-temperature T --ape-scale S] [--store DIR] [--json]\n"
    "  eval-qa     demo-world QA accuracy per fusion mode: kvfuse eval-qa -m models/demo.gguf\n"
    "              [--world DIR] [--mode all|MODE[,MODE...]] [-n N] [--chunks K] [--split all|validation|test]\n"
    "              [--seed S] [--ratio R --alpha A --sinks K --query-layers L --ape-temperature T --ape-scale S] [--e2e COLLECTION [-k K]]\n"
    "              [--sweep] [--plot FILE.svg] [--answers FILE.jsonl] [--json]\n"
    "  ingest      documents into a collection: kvfuse ingest -m M.gguf -c DIR PATH... [--chunk-tokens N\n"
    "              --overlap N --min-tokens N --embed-layer L --max-file-mb MB --no-warm -t THREADS]\n"
    "  ask         answer from a collection: kvfuse ask -m M.gguf -c DIR \"QUESTION\" [-k K] [--mode M]\n"
    "              [-n N] [--ratio R --alpha A --sinks K --query-layers L --ape-temperature T --ape-scale S] [--dense-weight W] [--system TEXT]\n"
    "              [--ctx CTX] [--compare]\n"
    "  serve       OpenAI-compatible server: kvfuse serve -m M.gguf [--host 127.0.0.1 --port 8080 -c CTX -np SLOTS\n"
    "              --batch-tokens N --api-key KEY --collection DIR[,DIR] --store DIR (default: DIR/kv of the\n"
    "              first collection) --max-body BYTES\n"
    "              --max-tokens N --timeout S --queue N -t THREADS --read-timeout S --max-waiting-per-client N\n"
    "              --shutdown-timeout S (running requests' time to finish on SIGTERM/SIGINT, default 5)]\n"
    "  bench-serve serving benchmark against a running server: kvfuse bench-serve --port P [--api kvfuse|openai]\n"
    "              [--host H -r REQUESTS --rates 0.5,1,2 -n TOKENS --chunks K --chunk-words W --pool N\n"
    "              --mode M --seed S --duration S --api-key KEY --json]\n"
    "  tokenize    text to token ids: kvfuse tokenize -m M.gguf TEXT | -f FILE [--ids] [--no-bos]\n"
    "  inspect     list GGUF metadata and tensors: kvfuse inspect M.gguf\n";

}  // namespace

namespace kvfuse::cli {

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

}  // namespace kvfuse::cli

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 1 : 0;
  }
  const std::string command = argv[1];
  if (command == "run") return kvfuse::cli::RunCommand(argc - 2, argv + 2);
  if (command == "perplexity") return kvfuse::cli::PerplexityCommand(argc - 2, argv + 2);
  if (command == "bench") return kvfuse::cli::BenchCommand(argc - 2, argv + 2);
  if (command == "bench-rag") return kvfuse::cli::BenchRagCommand(argc - 2, argv + 2);
  if (command == "eval-qa") return kvfuse::cli::EvalQaCommand(argc - 2, argv + 2);
  if (command == "ingest") return kvfuse::cli::IngestCommand(argc - 2, argv + 2);
  if (command == "ask") return kvfuse::cli::AskCommand(argc - 2, argv + 2);
  if (command == "serve") return kvfuse::cli::ServeCommand(argc - 2, argv + 2);
  if (command == "bench-serve") return kvfuse::cli::BenchServeCommand(argc - 2, argv + 2);
  if (command == "tokenize") return kvfuse::cli::TokenizeCommand(argc - 2, argv + 2);
  if (command == "inspect") return kvfuse::cli::InspectCommand(argc - 2, argv + 2);
  std::fprintf(stderr, "error: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 1;
}
