// kvfuse bench-serve: BENCHMARKS.md section 4. Streaming clients on loopback send the RAG
// workload (a system prompt, k chunks drawn from a pool with Zipf(1.0) popularity in shuffled
// order, a question) with Poisson arrivals at each rate, bounded in count and time, to a
// running server: kvfuse (chunks as `rag.documents`, fused prefill) or any OpenAI-compatible one
// such as llama-server (chunks inside the user message, its prompt cache on). Reports TTFT
// p50/p99, time per output token and completed requests per second. --warmup sends every
// chunk of the pool once first, so that the first rate is not the only one computing them.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "cli/bench/bench_commands.h"
#include "cli/bench/rag_workload.h"
#include "cli/bench/stats.h"
#include "cli/commands.h"

namespace kvfuse::cli {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
// Send times are offsets of fractional seconds from the start of a run.
using TimePoint = decltype(Clock::now() + std::chrono::duration<double>(0));

struct BenchServeOptions {
  std::string host, api, mode;
  std::optional<std::string> api_key;
  int port = 0, n_requests = 0, n_chunks = 0, chunk_words = 0, pool_size = 0;
  long long max_tokens = 0;
  double duration_s = 0;
  uint32_t seed = 0;
  std::vector<double> rates;
  bool json = false, warmup = false;
};

util::Result<std::vector<double>> ParseRates(const std::string& list) {
  std::vector<double> rates;
  std::stringstream rs(list);
  for (std::string r; std::getline(rs, r, ',');) {
    try {
      rates.push_back(std::stod(r));
    } catch (...) {
      return util::Status::Error("--rates must be numbers separated by commas");
    }
    if (!(rates.back() > 0 && std::isfinite(rates.back())))
      return util::Status::Error("--rates must be positive and finite");
  }
  return rates;
}

util::Result<BenchServeOptions> ParseOptions(int argc, char** argv) {
  auto parsed = Args::Parse(argc, argv,
                            {"--host", "--port", "--api", "-r", "--rates", "--duration", "-n", "--chunks",
                             "--chunk-words", "--pool", "--mode", "--seed", "--api-key"},
                            {"--json", "--warmup"});
  if (!parsed.ok()) return parsed.status();
  const Args& args = parsed.value();
  BenchServeOptions o;
  o.api = args.Get("--api", "kvfuse");
  if (o.api != "kvfuse" && o.api != "openai") return util::Status::Error("--api must be kvfuse or openai");
  auto port = args.GetInt("--port", 8080);
  auto n_requests = args.GetInt("-r", 16);
  auto duration = args.GetFloat("--duration", 120);
  auto max_tokens = args.GetInt("-n", 16);
  auto n_chunks = args.GetInt("--chunks", 6);
  auto chunk_words = args.GetInt("--chunk-words", 180);
  auto pool_size = args.GetInt("--pool", 40);
  auto seed = args.GetInt("--seed", 42);
  for (const util::Status* st : {&port.status(), &n_requests.status(), &duration.status(), &max_tokens.status(),
                                 &n_chunks.status(), &chunk_words.status(), &pool_size.status(), &seed.status()})
    if (!st->ok()) return *st;
  if (n_requests.value() < 1 || n_requests.value() > 1000) return util::Status::Error("-r must be 1..1000");
  if (!(duration.value() > 0 && duration.value() <= 86400))  // NaN too; 0 would end every rate at once
    return util::Status::Error("--duration must be a number of seconds, more than 0 and at most 86400");
  if (port.value() < 1 || port.value() > 65535) return util::Status::Error("--port must be 1..65535");
  if (max_tokens.value() < 1 || max_tokens.value() > 1'000'000) return util::Status::Error("-n must be 1..1000000");
  if (chunk_words.value() < 1 || chunk_words.value() > 100'000)
    return util::Status::Error("--chunk-words must be 1..100000");
  if (pool_size.value() > 100'000) return util::Status::Error("--pool must be at most 100000");
  if (seed.value() < 0 || seed.value() > UINT32_MAX) return util::Status::Error("--seed must be 0..4294967295");
  if (n_chunks.value() < 1 || n_chunks.value() > pool_size.value())
    return util::Status::Error("--chunks must be 1..--pool");
  auto rates = ParseRates(args.Get("--rates", "0.5,1,2"));
  if (!rates.ok()) return rates.status();
  o.rates = std::move(rates.value());
  o.host = args.Get("--host", "127.0.0.1");
  o.mode = args.Get("--mode", engine::FusionModeName(engine::kDefaultReuseMode));
  if (args.Has("--api-key")) o.api_key = args.Get("--api-key");
  o.port = static_cast<int>(port.value());
  o.n_requests = static_cast<int>(n_requests.value());
  o.duration_s = duration.value();
  o.max_tokens = max_tokens.value();
  o.n_chunks = static_cast<int>(n_chunks.value());
  o.chunk_words = static_cast<int>(chunk_words.value());
  o.pool_size = static_cast<int>(pool_size.value());
  o.seed = static_cast<uint32_t>(seed.value());
  o.json = args.Has("--json");
  o.warmup = args.Has("--warmup");
  return o;
}

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

// The chat-completion request bodies of the workload, for the API under test.
class RequestMaker {
 public:
  explicit RequestMaker(const BenchServeOptions& o) : o_(o), picker_(o.pool_size) {
    std::mt19937 rng(o.seed);
    pool_ = ChunkPool(o.pool_size, o.chunk_words, rng);
  }

  std::string Body(std::mt19937& r) {
    const std::vector<int> ids = picker_.Pick(o_.n_chunks, r);
    const std::string question = "Question " + std::to_string(r() % 100000) + ": what do the documents say about " +
                                 pool_[r() % pool_.size()].substr(0, 24) + "?";
    return BodyOf(ids, question, o_.max_tokens);
  }

  // The chunks [first, first + --chunks) of the pool (wrapping), one token asked for.
  std::string WarmUpBody(int first) const {
    std::vector<int> ids;
    for (int c = 0; c < o_.n_chunks; ++c) ids.push_back((first + c) % o_.pool_size);
    return BodyOf(ids, "What do the documents say?", 1);
  }

 private:
  std::string BodyOf(const std::vector<int>& ids, const std::string& question, long long max_tokens) const {
    json body = {{"max_tokens", max_tokens}, {"temperature", 0}, {"stream", true}, {"ignore_eos", true}};
    if (o_.api == "kvfuse") {
      json docs = json::array();
      for (int c : ids) docs.push_back(pool_[c]);
      body["messages"] = {{{"role", "user"}, {"content", question}}};
      body["rag"] = {{"documents", docs}, {"fusion_mode", o_.mode}};
    } else {
      // The same prompt as kvfuse builds it, as one user message.
      std::string user;
      for (int c : ids) user += "Document: " + pool_[c] + "\n";
      body["messages"] = {{{"role", "system"}, {"content", "Answer the question from the documents."}},
                          {{"role", "user"}, {"content", user + "Question: " + question}}};
      body["cache_prompt"] = true;
    }
    return body.dump();
  }

  const BenchServeOptions& o_;
  std::vector<std::string> pool_;
  ZipfChunkPicker picker_;
};

struct Sample {
  bool ok = false;
  double ttft_s = 0, tpot_s = 0, done_s = 0;  // done_s: since the run began
  int tokens = 0;
  std::string error;  // why it failed, when it did
};

// Reads a streamed chat completion as it arrives: a token per content event, an error event's text.
struct EventStreamReader {
  explicit EventStreamReader(Sample& sample) : s(sample) {}

  Sample& s;
  std::string buffer;
  Clock::time_point first, last;

  void Append(const char* data, size_t n) {
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
  }
};

// Sends one streaming request and times its tokens into `s`.
void SendRequest(const BenchServeOptions& o, const std::string& body, TimePoint start, TimePoint deadline,
                 Sample& s) {
  httplib::Client c(o.host, o.port);
  // Nothing outlives the run's time bound, a request still waiting in a queue included.
  const double left = std::chrono::duration<double>(deadline - Clock::now()).count();
  c.set_read_timeout(static_cast<time_t>(std::max(1.0, left)), 0);
  if (o.api_key) c.set_bearer_token_auth(*o.api_key);
  const auto t0 = Clock::now();
  EventStreamReader reader(s);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body;
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    reader.Append(data, n);
    return Clock::now() < deadline;
  };
  auto res = c.send(req);
  s.ok = res && res->status == 200 && s.tokens > 0 && s.error.empty();
  if (!s.ok) {
    if (s.error.empty())
      s.error = !res ? "no response: " + httplib::to_string(res.error())
                     : "HTTP " + std::to_string(res->status) + " " + reader.buffer.substr(0, 300);
    return;
  }
  s.ttft_s = std::chrono::duration<double>(reader.first - t0).count();
  s.tpot_s = s.tokens > 1 ? std::chrono::duration<double>(reader.last - reader.first).count() / (s.tokens - 1) : 0;
  s.done_s = std::chrono::duration<double>(reader.last - start).count();
}

// Sends the requests with Poisson arrivals at `rate` per second until the count or the
// duration runs out; returns a sample per request (those never sent stay empty) and how
// many were sent. Each rate (`rate_index`) draws requests of its own from the same pool: the
// same sequence at every rate made every rate after the first one of fully cached prompts.
std::vector<Sample> SendAtRate(const BenchServeOptions& o, RequestMaker& requests, double rate, int rate_index,
                               size_t& n_sent) {
  std::mt19937 r(o.seed + 1 + rate_index);
  std::exponential_distribution<double> gap(rate);
  std::vector<Sample> samples(o.n_requests);
  std::vector<std::thread> clients;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::duration<double>(o.duration_s);
  double at = 0;
  for (int i = 0; i < o.n_requests; ++i) {
    if (i > 0) at += gap(r);
    const std::string body = requests.Body(r);
    const auto send_at = start + std::chrono::duration<double>(at);
    if (send_at > deadline) break;
    clients.emplace_back([&o, &samples, i, body, send_at, start, deadline] {
      std::this_thread::sleep_until(send_at);
      SendRequest(o, body, start, deadline, samples[i]);
    });
  }
  for (auto& t : clients) t.join();
  n_sent = clients.size();
  return samples;
}

// Sends every chunk of the pool once, a request at a time, so that every rate meets the same
// warm chunk caches (without it the first rate computes the pool cold and later ones do not).
util::Status WarmUp(const BenchServeOptions& o, const RequestMaker& requests) {
  for (int first = 0; first < o.pool_size; first += o.n_chunks) {
    Sample s;
    const auto now = Clock::now();
    SendRequest(o, requests.WarmUpBody(first), now, now + std::chrono::duration<double>(o.duration_s), s);
    if (!s.ok) return util::Status::Error("bench-serve: a warm-up request failed: " + s.error);
  }
  return util::Status::Ok();
}

struct RateResult {
  double rate = 0;
  int ok = 0, errors = 0;
  // TPOT: a request's time per output token after its first; mean and p99 over requests.
  double ttft_p50_s = 0, ttft_p99_s = 0, tpot_ms = 0, tpot_p99_ms = 0, requests_per_s = 0;
};

RateResult Summarise(double rate, const std::vector<Sample>& samples, size_t n_sent) {
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
  return {rate, ok, static_cast<int>(n_sent) - ok, NearestRankPercentile(ttft, 0.5),
          NearestRankPercentile(ttft, 0.99), Mean(tpot) * 1000, NearestRankPercentile(tpot, 0.99) * 1000,
          end_s > 0 ? ok / end_s : 0};
}

void ReportFirstError(const RateResult& r, const std::vector<Sample>& samples) {
  for (const Sample& s : samples)
    if (!s.error.empty()) {
      std::fprintf(stderr, "bench-serve: at %.2f/s, %d failed; the first: %s\n", r.rate, r.errors, s.error.c_str());
      break;
    }
}

}  // namespace

int BenchServeCommand(int argc, char** argv) {
  auto options = ParseOptions(argc, argv);
  if (!options.ok()) return Fail(options.status().message());
  const BenchServeOptions& o = options.value();

  RequestMaker requests(o);
  if (o.warmup)
    if (util::Status st = WarmUp(o, requests); !st.ok()) return Fail(st.message());
  json report = json::array();
  if (!o.json)
    std::printf("%-8s %5s %6s %10s %10s %10s %10s %9s\n", "rate/s", "ok", "errors", "TTFT p50", "TTFT p99",
                "TPOT ms", "TPOT p99", "req/s");
  for (size_t i = 0; i < o.rates.size(); ++i) {
    const double rate = o.rates[i];
    size_t n_sent = 0;
    const std::vector<Sample> samples = SendAtRate(o, requests, rate, static_cast<int>(i), n_sent);
    const RateResult r = Summarise(rate, samples, n_sent);
    ReportFirstError(r, samples);
    report.push_back({{"rate", r.rate}, {"ok", r.ok}, {"errors", r.errors}, {"ttft_p50_s", r.ttft_p50_s},
                      {"ttft_p99_s", r.ttft_p99_s}, {"tpot_ms", r.tpot_ms}, {"tpot_p99_ms", r.tpot_p99_ms},
                      {"requests_per_s", r.requests_per_s}});
    if (!o.json)
      std::printf("%-8.2f %5d %6d %9.3fs %9.3fs %10.1f %10.1f %9.3f\n", r.rate, r.ok, r.errors, r.ttft_p50_s,
                  r.ttft_p99_s, r.tpot_ms, r.tpot_p99_ms, r.requests_per_s);
    std::fflush(stdout);
  }
  if (o.json) std::printf("%s\n", report.dump(1).c_str());
  return 0;
}

}  // namespace kvfuse::cli
