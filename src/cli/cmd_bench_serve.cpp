// kvfuse bench-serve: BENCHMARKS.md section 4. Streaming clients on loopback send the RAG
// workload (a system prompt, k chunks drawn from a pool with Zipf(1.0) popularity in shuffled
// order, a question) with Poisson arrivals at each rate, bounded in count and time, to a
// running server: kvfuse (chunks as `documents`, fused prefill) or any OpenAI-compatible one
// such as llama-server (chunks inside the user message, its prompt cache on). Reports TTFT
// p50/p99, time per output token and completed requests per second.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"

namespace kvfuse::cli {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Sample {
  bool ok = false;
  double ttft_s = 0, tpot_s = 0, done_s = 0;  // done_s: since the run began
  int tokens = 0;
  std::string error;  // why it failed, when it did
};

// Text chunks of `words` pseudo-words each (fixed seed: both servers see the same text).
std::vector<std::string> ChunkPool(int n, int words, std::mt19937& rng) {
  static const char* kSyllables[] = {"ka", "lo", "mi", "ren", "to", "sa", "vel", "dor", "qui", "an", "es", "ul"};
  std::vector<std::string> pool;
  for (int c = 0; c < n; ++c) {
    std::string text;
    for (int w = 0; w < words; ++w) {
      if (w) text += (w % 12 == 11) ? ". " : " ";
      const int syllables = 1 + static_cast<int>(rng() % 3);
      for (int s = 0; s < syllables; ++s) text += kSyllables[rng() % 12];
    }
    pool.push_back(text + ".");
  }
  return pool;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace

int BenchServeCommand(int argc, char** argv) {
  auto args = Args::Parse(argc, argv,
                          {"--host", "--port", "--api", "-r", "--rates", "--duration", "-n", "--chunks", "--chunk-words",
                           "--pool", "--mode", "--seed", "--api-key"},
                          {"--json"});
  if (!args.ok()) return Fail(args.status().message());
  const std::string api = args->Get("--api", "kvfuse");
  if (api != "kvfuse" && api != "openai") return Fail("--api must be kvfuse or openai");
  auto port = args->GetInt("--port", 8080);
  auto n_requests = args->GetInt("-r", 16);
  auto duration = args->GetFloat("--duration", 120);
  auto max_tokens = args->GetInt("-n", 16);
  auto n_chunks = args->GetInt("--chunks", 6);
  auto chunk_words = args->GetInt("--chunk-words", 180);
  auto pool_size = args->GetInt("--pool", 40);
  auto seed = args->GetInt("--seed", 42);
  for (const util::Status* st : {&port.status(), &n_requests.status(), &duration.status(), &max_tokens.status(),
                                 &n_chunks.status(), &chunk_words.status(), &pool_size.status(), &seed.status()})
    if (!st->ok()) return Fail(st->message());
  if (n_requests.value() < 1 || n_requests.value() > 1000) return Fail("-r must be 1..1000");
  if (n_chunks.value() < 1 || n_chunks.value() > pool_size.value()) return Fail("--chunks must be 1..--pool");
  std::vector<double> rates;
  std::stringstream rs(args->Get("--rates", "0.5,1,2"));
  for (std::string r; std::getline(rs, r, ',');) {
    try {
      rates.push_back(std::stod(r));
    } catch (...) {
      return Fail("--rates must be numbers separated by commas");
    }
    if (!(rates.back() > 0)) return Fail("--rates must be positive");
  }
  const std::string host = args->Get("--host", "127.0.0.1");
  const std::string mode = args->Get("--mode", "blend");

  std::mt19937 rng(static_cast<uint32_t>(seed.value()));
  const std::vector<std::string> pool = ChunkPool(static_cast<int>(pool_size.value()), static_cast<int>(chunk_words.value()), rng);
  std::vector<double> zipf(pool.size());
  for (size_t i = 0; i < pool.size(); ++i) zipf[i] = 1.0 / static_cast<double>(i + 1);
  std::discrete_distribution<int> pick(zipf.begin(), zipf.end());
  auto make_body = [&](std::mt19937& r) {
    std::vector<int> ids;
    while (ids.size() < static_cast<size_t>(n_chunks.value())) {
      const int c = pick(r);
      if (std::find(ids.begin(), ids.end(), c) == ids.end()) ids.push_back(c);
    }
    std::shuffle(ids.begin(), ids.end(), r);
    const std::string question = "Question " + std::to_string(r() % 100000) + ": what do the documents say about " +
                                 pool[r() % pool.size()].substr(0, 24) + "?";
    json body = {{"max_tokens", max_tokens.value()}, {"temperature", 0}, {"stream", true}, {"ignore_eos", true}};
    if (api == "kvfuse") {
      json docs = json::array();
      for (int c : ids) docs.push_back(pool[c]);
      body["messages"] = {{{"role", "user"}, {"content", question}}};
      body["documents"] = docs;
      body["fusion_mode"] = mode;
    } else {
      // The same prompt as kvfuse builds it, as one user message.
      std::string user;
      for (int c : ids) user += "Document: " + pool[c] + "\n";
      body["messages"] = {{{"role", "system"}, {"content", "Answer the question from the documents."}},
                          {{"role", "user"}, {"content", user + "Question: " + question}}};
      body["cache_prompt"] = true;
    }
    return body.dump();
  };

  json report = json::array();
  if (!args->Has("--json"))
    std::printf("%-8s %5s %6s %10s %10s %10s %9s\n", "rate/s", "ok", "errors", "TTFT p50", "TTFT p99", "TPOT ms",
                "req/s");
  for (double rate : rates) {
    std::mt19937 r(static_cast<uint32_t>(seed.value()) + 1);
    std::exponential_distribution<double> gap(rate);
    std::vector<Sample> samples(n_requests.value());
    std::vector<std::thread> clients;
    const auto start = Clock::now();
    const auto deadline = start + std::chrono::duration<double>(duration.value());
    double at = 0;
    for (long long i = 0; i < n_requests.value(); ++i) {
      if (i > 0) at += gap(r);
      const std::string body = make_body(r);
      const auto send_at = start + std::chrono::duration<double>(at);
      if (send_at > deadline) break;
      clients.emplace_back([&, i, body, send_at] {
        std::this_thread::sleep_until(send_at);
        httplib::Client c(host, static_cast<int>(port.value()));
        // Nothing outlives the run's time bound, a request still waiting in a queue included.
        const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
        c.set_read_timeout(static_cast<time_t>(std::max(1.0, left)), 0);
        if (args->Has("--api-key")) c.set_bearer_token_auth(args->Get("--api-key"));
        Sample& s = samples[i];
        const auto t0 = Clock::now();
        Clock::time_point first, last;
        std::string buffer;
        httplib::Request req;
        req.method = "POST";
        req.path = "/v1/chat/completions";
        req.body = body;
        req.set_header("Content-Type", "application/json");
        req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
          buffer.append(data, n);
          for (size_t end; (end = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, end + 2)) {
            const std::string event = buffer.substr(0, end);
            if (event.rfind("data: {", 0) != 0) continue;
            const json chunk = json::parse(event.substr(6), nullptr, false);
            if (!chunk.is_discarded() && chunk.contains("error")) s.error = chunk["error"].dump();
            if (chunk.is_discarded() || !chunk.contains("choices") || chunk["choices"].empty()) continue;
            const json& delta = chunk["choices"][0].value("delta", json::object());
            // A token per content event, empty ones included (a piece of a character).
            if (delta.contains("content") && delta["content"].is_string() &&
                (!delta.contains("role") || !delta["content"].get<std::string>().empty())) {
              last = Clock::now();
              if (s.tokens++ == 0) first = last;
            }
          }
          return Clock::now() < deadline;
        };
        auto res = c.send(req);
        s.ok = res && res->status == 200 && s.tokens > 0 && s.error.empty();
        if (!s.ok) {
          if (s.error.empty())
            s.error = !res ? "no response: " + httplib::to_string(res.error())
                           : "HTTP " + std::to_string(res->status) + " " + buffer.substr(0, 300);
          return;
        }
        s.ttft_s = std::chrono::duration<double>(first - t0).count();
        s.tpot_s = s.tokens > 1 ? std::chrono::duration<double>(last - first).count() / (s.tokens - 1) : 0;
        s.done_s = std::chrono::duration<double>(last - start).count();
      });
    }
    for (auto& t : clients) t.join();
    std::vector<double> ttft, tpot;
    double end_s = 0;
    int ok = 0;
    for (const Sample& s : samples)
      if (s.ok) {
        ++ok;
        ttft.push_back(s.ttft_s);
        tpot.push_back(s.tpot_s);
        end_s = std::max(end_s, s.done_s);
      }
    const double throughput = end_s > 0 ? ok / end_s : 0;
    const int errors = static_cast<int>(clients.size()) - ok;
    for (const Sample& s : samples)
      if (!s.error.empty()) {
        std::fprintf(stderr, "bench-serve: at %.2f/s, %d failed; the first: %s\n", rate, errors, s.error.c_str());
        break;
      }
    double mean_tpot = 0;
    for (double t : tpot) mean_tpot += t / std::max<size_t>(1, tpot.size());
    report.push_back({{"rate", rate}, {"ok", ok}, {"errors", errors}, {"ttft_p50_s", Percentile(ttft, 0.5)},
                      {"ttft_p99_s", Percentile(ttft, 0.99)}, {"tpot_ms", mean_tpot * 1000}, {"requests_per_s", throughput}});
    if (!args->Has("--json"))
      std::printf("%-8.2f %5d %6d %9.3fs %9.3fs %10.1f %9.3f\n", rate, ok, errors, Percentile(ttft, 0.5),
                  Percentile(ttft, 0.99), mean_tpot * 1000, throughput);
    std::fflush(stdout);
  }
  if (args->Has("--json")) std::printf("%s\n", report.dump(1).c_str());
  return 0;
}

}  // namespace kvfuse::cli
