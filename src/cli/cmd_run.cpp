// kvfuse run: generate text from a prompt, streaming pieces as they come.
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "engine/generate_sync.h"

namespace kvfuse::cli {

int RunCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv, {"-m", "-p", "-n", "-t", "-c", "--temp", "--top-k", "--top-p", "--seed", "--system"},
                           {"--chat"});
  if (!args.ok()) return Fail(args.status().message());
  auto n_predict = args->GetInt("-n", 64);
  // The server's ranges (server/openai_api).
  auto temp = args->GetFloatIn("--temp", 0.8, 0, 2, "a number 0..2 (0: greedy)");
  auto top_k = args->GetInt("--top-k", 40);
  auto top_p = args->GetFloatIn("--top-p", 0.95, 0, 1, "a number 0..1");
  auto seed = args->GetInt("--seed", 0);
  for (const util::Status* st : {&n_predict.status(), &temp.status(), &top_k.status(), &top_p.status(), &seed.status()})
    if (!st->ok()) return Fail(st->message());
  if (n_predict.value() < 0 || n_predict.value() > (1 << 24)) return Fail("-n must be 0..16777216");
  if (top_k.value() < 0 || top_k.value() > 1'000'000) return Fail("--top-k must be 0..1000000 (0: off)");
  if (seed.value() < 0) return Fail("--seed must be 0 or more");

  auto engine = LoadEngine(args.value(), 2048);
  if (!engine.ok()) return Fail(engine.status().message());
  engine::Engine& e = *engine.value();
  if (!e.tokenizer()) return Fail("cannot tokenize: " + e.tokenizer_error());

  std::vector<int32_t> tokens;
  if (args->Has("--chat")) {
    std::vector<engine::ChatMessage> messages;
    if (args->Has("--system")) messages.push_back({"system", args->Get("--system")});
    messages.push_back({"user", args->Get("-p")});
    auto chat = e.EncodeChat(messages, /*add_generation_prompt=*/true);
    if (!chat.ok()) return Fail(chat.status().message());
    tokens = std::move(chat).value();
  } else {
    tokens = e.tokenizer()->Encode(args->Get("-p"), true);
  }
  if (tokens.empty()) return Fail("the prompt is empty");
  if (!args->Has("--chat")) {
    std::fputs(args->Get("-p").c_str(), stdout);
    std::fflush(stdout);
  }
  engine::SyncRequest request;
  request.fusion = {engine::FusionMode::kFull};
  request.sampling = {static_cast<float>(temp.value()), static_cast<int>(top_k.value()),
                      static_cast<float>(top_p.value()), static_cast<uint64_t>(seed.value())};
  request.max_tokens = static_cast<int>(n_predict.value());
  request.on_text = [](const std::string& piece) {
    std::fputs(piece.c_str(), stdout);
    std::fflush(stdout);
  };
  engine::SegmentedPrompt prompt;
  prompt.prefix = tokens;
  auto out = engine::GenerateSync(e, prompt, request);
  if (!out.ok()) return Fail(out.status().message());
  const double prompt_s = out->ttft_ms / 1000, gen_s = out->decode_ms / 1000;
  const auto n_generated = static_cast<int>(out->tokens.size());
  std::fprintf(stderr, "\n\nprompt: %zu tokens in %.3f s (%.2f tokens/s)\n", tokens.size(), prompt_s,
               tokens.size() / prompt_s);
  std::fprintf(stderr, "generation: %d tokens in %.3f s (%.2f tokens/s)\n", n_generated, gen_s,
               n_generated > 0 ? n_generated / gen_s : 0.0);
  return 0;
}

}  // namespace kvfuse::cli
