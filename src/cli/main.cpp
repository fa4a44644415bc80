// The kvfuse command: dispatch to a subcommand, `kvfuse --version`, and the usage texts
// (`kvfuse --help`, `kvfuse <command> --help`), all made from the one table below.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli/args.h"
#include "cli/bench/bench_commands.h"
#include "cli/commands.h"
#include "cli/version.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int argc, char** argv);
  const char* summary;
  const char* synopsis;  // lines after the first are continuations
};

// The fusion knobs every command that fuses takes (cli/fusion_flags).
#define KVFUSE_FUSION_KNOBS \
  "--ratio R --alpha A --sinks K --query-layers L --ape-temperature T --ape-scale S --fallback-below P"
#define KVFUSE_REDIS_FLAGS                                                                             \
  "--redis redis://HOST[:PORT][/DB] --redis-prefix P --redis-format f16|int8 --redis-timeout-ms MS\n" \
  "--redis-password-file FILE (or KVFUSE_REDIS_PASSWORD)"

const Command kCommands[] = {
    {"run", kvfuse::cli::RunCommand, "generate text",
     "kvfuse run -m M.gguf -p TEXT -n N [--temp T --top-k K --top-p P --seed S -t THREADS -c CTX]\n"
     "[--chat [--system TEXT]]"},
    {"perplexity", kvfuse::cli::PerplexityCommand, "llama.cpp-style perplexity",
     "kvfuse perplexity -m M.gguf -f FILE -c CTX [-t N]"},
    {"bench", kvfuse::cli::BenchCommand, "prompt/generation speed",
     "kvfuse bench -m M.gguf -p 512 -n 128 -t 2 [-d DEPTH (tokens in the cache first)] [-r REPS] [--json]\n"
     "[--kernels avx512|avx2|ref (another kernel table than the fastest, to compare)]\n"
     "(then the peak RSS and the KV cache's bytes)"},
    {"bench-rag", kvfuse::cli::BenchRagCommand, "RAG time to first token per fusion mode",
     "kvfuse bench-rag -m M.gguf [-r REQUESTS] [--mode all|MODE[,MODE...] (full always runs)]\n"
     "[" KVFUSE_FUSION_KNOBS "] [--store DIR | " KVFUSE_REDIS_FLAGS " (rows that drop RAM read Redis)]\n"
     "[--json]"},
    {"eval-qa", kvfuse::cli::EvalQaCommand, "demo-world QA accuracy per fusion mode",
     "kvfuse eval-qa -m models/demo.gguf\n"
     "[--world DIR] [--mode all|MODE[,MODE...]] [-n N] [--chunks K] [--split all|validation|test]\n"
     "[--seed S] [" KVFUSE_FUSION_KNOBS "]\n"
     "[--e2e COLLECTION [-k K]] [--sweep] [--plot FILE.svg] [--answers FILE.jsonl] [--json]"},
    {"ingest", kvfuse::cli::IngestCommand, "documents into a collection",
     "kvfuse ingest -m M.gguf --collection DIR PATH... [--chunk-tokens N\n"
     "--overlap N --min-tokens N --embed-layer L --max-file-mb MB --no-warm -t THREADS\n"
     KVFUSE_REDIS_FLAGS " (every chunk's KV published to the shared tier)]\n"
     "(the context is sized from --chunk-tokens)"},
    {"ask", kvfuse::cli::AskCommand, "answer from a collection",
     "kvfuse ask -m M.gguf --collection DIR \"QUESTION\" [-k K] [--mode M] [-n N]\n"
     "[" KVFUSE_FUSION_KNOBS "] [--dense-weight W]\n"
     "[--system TEXT] [-c CTX (default 4096)] [-t THREADS] [--compare] [--audit [--audit-tokens N]]\n"
     "[" KVFUSE_REDIS_FLAGS "]"},
    {"serve", kvfuse::cli::ServeCommand, "OpenAI-compatible server",
     "kvfuse serve -m M.gguf [--host 127.0.0.1 --port 8080 -c CTX -np SLOTS -t THREADS\n"
     "--alias NAME (the model id of /v1/models and of every answer; default: the file's name)\n"
     "--collection DIR[,DIR] (each made by kvfuse ingest) --store DIR (default: DIR/kv of the first collection,\n"
     "else the collections directory's .kv)\n"
     "--collections-dir DIR (collections clients create, fill and delete over HTTP and the web page; each\n"
     "subdirectory is one) --embed-layer N (of documents ingested over HTTP, default 0)\n"
     "--batch-tokens N (the most tokens one iteration runs) --tpot-target-ms MS (while requests decode, each\n"
     "iteration's prefill is sized to keep it near MS; default 50, 0: off) --tpot-target-x F (or near F of its\n"
     "measured decode steps, a target that follows the machine's speed; the shorter of both; default 0: off)\n"
     "--api-key KEY --max-body BYTES --max-tokens N --timeout S --queue N\n"
     "--read-timeout S --max-waiting-per-client N\n"
     "--shutdown-timeout S (running requests' time to finish on SIGTERM/SIGINT, default 5)\n"
     "--audit-rate R (share of fused requests audited against a full prefill when idle, default 0.05)\n"
     "--audit-tokens N (greedy tokens compared, default 16) --fidelity-target T (top-1 agreement each\n"
     "collection's recompute share is kept at, default 0.98; 0: fixed share) --fidelity-window N (default 50)\n"
     KVFUSE_REDIS_FLAGS " (a chunk tier shared by replicas; deploy/README.md)\n"
     "--metrics (accepted, as llama-server's: /metrics is always on)]"},
    {"bench-serve", kvfuse::cli::BenchServeCommand, "serving benchmark against a running server",
     "kvfuse bench-serve --port P [--api kvfuse|openai]\n"
     "[--host H -r REQUESTS --rates 0.5,1,2 -n TOKENS --chunks K --chunk-words W --pool N\n"
     "--mode M --seed S --duration S --api-key KEY --warmup (every pool chunk sent once before the first rate)\n"
     "--json]"},
    {"tokenize", kvfuse::cli::TokenizeCommand, "text to token ids",
     "kvfuse tokenize -m M.gguf TEXT | -f FILE [--ids] [--no-bos] [--parse-special] [--stats]"},
    {"convert-tokenizer", kvfuse::cli::ConvertTokenizerCommand, "a Hugging Face tokenizer.json to a vocabulary GGUF",
     "kvfuse convert-tokenizer DIR -o VOCAB.gguf"},
    {"inspect", kvfuse::cli::InspectCommand, "list GGUF metadata and tensors", "kvfuse inspect M.gguf"},
};

// `synopsis` with its continuation lines indented by `indent` spaces.
std::string Indented(const char* synopsis, size_t indent) {
  std::string text;
  for (const char* p = synopsis; *p; ++p) text += *p == '\n' ? "\n" + std::string(indent, ' ') : std::string(1, *p);
  return text + "\n";
}

std::string Footer() {
  return "\n-c is the context size wherever one is taken, as in llama.cpp; a collection is --collection DIR.\n"
         "llama.cpp's long spellings: " + kvfuse::cli::LongSpellingsHelp() + ".\n";
}

std::string Usage() {
  std::string text = "usage: kvfuse <command> [options]   (kvfuse <command> --help; kvfuse --version)\n\ncommands:\n";
  for (const Command& c : kCommands) {
    char head[96];
    std::snprintf(head, sizeof head, "  %-11s %s: ", c.name, c.summary);
    text += head + Indented(c.synopsis, 14);
  }
  return text + Footer();
}

std::string CommandHelp(const Command& c) {
  return "kvfuse " + std::string(c.name) + ": " + c.summary + "\n\nusage: " + Indented(c.synopsis, 9) + Footer();
}

const Command* FindCommand(const std::string& name) {
  for (const Command& c : kCommands)
    if (name == c.name) return &c;
  return nullptr;
}

int Print(const std::string& text, FILE* to, int exit_code) {
  std::fputs(text.c_str(), to);
  return exit_code;
}

bool IsHelp(const char* a) { return !std::strcmp(a, "-h") || !std::strcmp(a, "--help"); }

}  // namespace

namespace kvfuse::cli {

int Fail(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return 1;
}

}  // namespace kvfuse::cli

int main(int argc, char** argv) {
  const std::string version = std::string("kvfuse ") + kvfuse::cli::kVersion + "\n";
  if (argc < 2) return Print(Usage(), stderr, 1);
  const std::string first = argv[1];
  if (IsHelp(argv[1])) return Print(Usage(), stdout, 0);
  if (first == "--version" || first == "version") return Print(version, stdout, 0);
  if (first == "help") {  // kvfuse help [COMMAND]
    const Command* c = argc > 2 ? FindCommand(argv[2]) : nullptr;
    if (argc > 2 && !c) return Print("error: unknown command '" + std::string(argv[2]) + "'\n\n" + Usage(), stderr, 1);
    return Print(c ? CommandHelp(*c) : Usage(), stdout, 0);
  }
  const Command* command = FindCommand(first);
  if (!command) return Print("error: unknown command '" + first + "'\n\n" + Usage(), stderr, 1);
  for (int i = 2; i < argc; ++i) {
    // After an option it may be that option's value (run -p -h): the command reads it.
    if (i > 2 && argv[i - 1][0] == '-') continue;
    if (IsHelp(argv[i])) return Print(CommandHelp(*command), stdout, 0);
    if (!std::strcmp(argv[i], "--version")) return Print(version, stdout, 0);
  }
  return command->run(argc - 2, argv + 2);
}
