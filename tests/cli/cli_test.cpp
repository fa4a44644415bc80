// The `kvfuse` command as users type it: --version, every command's --help, llama.cpp's long
// spellings, -c as the context size everywhere (a collection is --collection), and load
// errors that name the file and the reason.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/version.h"
#include "kvfuse_process.h"
#include "model_gen/test_model_file.h"

namespace kvfuse::cli {
namespace {

namespace fs = std::filesystem;

// Runs `kvfuse ARGS...` to its end; its exit code (-1: no exit within 10 s) and output.
std::pair<int, std::string> RunKvfuse(const std::vector<std::string>& args) {
  KvfuseProcess p(args);
  const std::optional<int> code = p.AwaitExit();
  return {code.value_or(-1), p.output()};
}

std::string TinyModel() {
  auto path = tools::TestModelFile("tiny", "f32", 5);
  EXPECT_TRUE(path.ok()) << path.status().message();
  return path.ok() ? path.value() : "";
}

// A fresh directory of this test process.
std::string TestDir(const std::string& name) {
  const std::string dir = std::string(KVFUSE_TEST_TMP) + "/cli-" + std::to_string(::getpid()) + "-" + name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// The body of GET `path` from 127.0.0.1:port (HTTP/1.0: the server closes when done).
std::string HttpGetBody(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) response.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  const size_t body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

const std::vector<std::string> kCommands = {"run",    "perplexity", "bench", "bench-rag", "eval-qa", "ingest",
                                            "ask",    "serve", "bench-serve", "tokenize", "inspect"};

TEST(Cli, VersionPrintsTheVersion) {
  const std::string expected = std::string("kvfuse ") + kVersion + "\n";
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"--version"}, {"version"}, {"serve", "--version"}}) {
    const auto [code, out] = RunKvfuse(args);
    EXPECT_EQ(code, 0) << args[0];
    EXPECT_EQ(out, expected) << args[0];
  }
}

TEST(Cli, EveryCommandHasHelpFromTheOneUsageText) {
  const auto [usage_code, usage] = RunKvfuse({"--help"});
  ASSERT_EQ(usage_code, 0);
  for (const std::string& command : kCommands) {
    for (const char* flag : {"--help", "-h"}) {
      const auto [code, out] = RunKvfuse({command, flag});
      EXPECT_EQ(code, 0) << command << " " << flag << ": " << out;
      EXPECT_EQ(out.rfind("kvfuse " + command + ": ", 0), 0u) << out;
      const size_t at = out.find("usage: kvfuse " + command + " ");
      ASSERT_NE(at, std::string::npos) << out;
      const std::string synopsis = out.substr(at + 7, out.find('\n', at) - at - 7);
      EXPECT_NE(usage.find(synopsis), std::string::npos) << "not in kvfuse --help: " << synopsis;
    }
  }
  EXPECT_EQ(RunKvfuse({"help", "ask"}).second, RunKvfuse({"ask", "--help"}).second);
  EXPECT_EQ(RunKvfuse({"ask", "-m", "x.gguf", "--help"}).second, RunKvfuse({"ask", "--help"}).second);
  // After an option, -h is that option's value: the prompt here, not a request for help.
  const auto [text_code, text] = RunKvfuse({"run", "-m", TinyModel(), "-n", "1", "-p", "-h"});
  EXPECT_EQ(text_code, 0) << text;
  EXPECT_EQ(text.find("usage:"), std::string::npos) << text;
  const auto [unknown_code, unknown] = RunKvfuse({"no-such-command", "--help"});
  EXPECT_EQ(unknown_code, 1);
  EXPECT_NE(unknown.find("unknown command 'no-such-command'"), std::string::npos) << unknown;
}

TEST(Cli, ServeTakesLlamaServerLongSpellings) {
  KvfuseProcess serve({"serve", "--model", TinyModel(), "--port", "0", "--ctx-size", "256", "--threads", "1",
                       "--parallel", "1", "--alias", "my-alias", "--metrics"});
  ASSERT_TRUE(serve.AwaitOutput("model ready", std::chrono::seconds(20))) << serve.output();
  const size_t at = serve.output().find("listening on http://127.0.0.1:");
  ASSERT_NE(at, std::string::npos) << serve.output();
  const int port = std::atoi(serve.output().c_str() + at + 30);
  const nlohmann::json models = nlohmann::json::parse(HttpGetBody(port, "/v1/models"), nullptr, false);
  ASSERT_TRUE(models.contains("data") && models["data"].size() == 1) << models.dump();
  EXPECT_EQ(models["data"][0]["id"], "my-alias");
  EXPECT_EQ(models["data"][0]["meta"]["n_ctx"], 256);
  ASSERT_EQ(::kill(serve.pid(), SIGTERM), 0);
  EXPECT_EQ(serve.AwaitExit(), 0) << serve.output();
}

TEST(Cli, LongSpellingIsTheShortOptionOrUnknown) {
  const std::string model = TinyModel();
  const auto [short_code, short_out] = RunKvfuse({"tokenize", "-m", model, "--ids", "hello world"});
  const auto [long_code, long_out] = RunKvfuse({"tokenize", "--model", model, "--ids", "hello world"});
  EXPECT_EQ(short_code, 0) << short_out;
  EXPECT_EQ(long_code, 0) << long_out;
  EXPECT_EQ(long_out, short_out);
  const auto [code, out] = RunKvfuse({"bench-serve", "--model", model});  // bench-serve takes no -m
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("unknown option --model"), std::string::npos) << out;
  // An option given twice, in either spelling, is refused: the last would silently win.
  const auto [twice_code, twice_out] = RunKvfuse({"tokenize", "-m", model, "--model", model, "hello"});
  EXPECT_EQ(twice_code, 1);
  EXPECT_NE(twice_out.find("--model is given twice (as -m too)"), std::string::npos) << twice_out;
  // A forgotten value is not filled by the next option.
  const auto [forgot_code, forgot] = RunKvfuse({"tokenize", "-m", "--ids", "hello"});
  EXPECT_EQ(forgot_code, 1);
  EXPECT_NE(forgot.find("-m needs a value, not the option --ids"), std::string::npos) << forgot;
  // A fusion knob its mode does not read is refused, not ignored.
  const auto [knob_code, knob] =
      RunKvfuse({"ask", "-m", model, "--collection", "/nonexistent", "--mode", "full", "--ratio", "0.3", "q?"});
  EXPECT_EQ(knob_code, 1);
  EXPECT_NE(knob.find("--ratio does not apply to --mode full"), std::string::npos) << knob;
  // And by a list of modes none of which reads it (bench-rag and eval-qa run several).
  const auto [rag_code, rag] = RunKvfuse({"bench-rag", "-m", model, "--mode", "query,naive", "--alpha", "2"});
  EXPECT_EQ(rag_code, 1);
  EXPECT_NE(rag.find("--alpha does not apply to --mode query,naive"), std::string::npos) << rag;
  const auto [qa_code, qa] = RunKvfuse({"eval-qa", "-m", model, "--mode", "full,naive", "--ratio", "0.3"});
  EXPECT_EQ(qa_code, 1);
  EXPECT_NE(qa.find("--ratio does not apply to --mode full,naive"), std::string::npos) << qa;
}

TEST(Cli, DashCIsTheContextSizeAndACollectionIsDashDashCollection) {
  const std::string dir = TestDir("dash-c") + "/collection";
  const std::string model = TinyModel();
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"ingest", "-m", model, "-c", dir, KVFUSE_TEST_DATA}, {"ask", "-m", model, "-c", dir, "question?"}}) {
    const auto [code, out] = RunKvfuse(args);
    EXPECT_EQ(code, 1) << args[0];
    EXPECT_NE(out.find("-c is the context size"), std::string::npos) << out;
    EXPECT_NE(out.find("--collection DIR"), std::string::npos) << out;
  }
  EXPECT_FALSE(fs::exists(dir)) << "a refused -c DIR still made the collection";
  // ask takes -c as its context: the error is then about the collection, not -c.
  const auto [ask_code, ask_out] = RunKvfuse({"ask", "-m", model, "-c", "512", "--collection", dir, "question?"});
  EXPECT_EQ(ask_code, 1);
  EXPECT_NE(ask_out.find("no collection at " + dir), std::string::npos) << ask_out;
  const auto [run_code, run_out] = RunKvfuse({"run", "-m", model, "-p", "hi", "--ctx-size", "0"});
  EXPECT_EQ(run_code, 1);
  EXPECT_NE(run_out.find("-c must be"), std::string::npos) << run_out;
}

// A numeric flag out of its range (NaN and infinities too) is refused with its name and range,
// not used as given or ignored.
TEST(Cli, NumericFlagsOutOfRangeAreRefused) {
  const std::string model = TinyModel();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      // No time to send in: refused before a request is sent (the warm-up's would time out at once).
      {{"bench-serve", "--duration", "0", "--warmup"}, "--duration must be a number of seconds"},
      {{"bench-serve", "--port", "99999"}, "--port must be 1..65535"},
      {{"bench-serve", "-n", "0"}, "-n must be 1..1000000"},
      {{"bench-serve", "--chunk-words", "0"}, "--chunk-words must be 1..100000"},
      {{"bench-serve", "--seed", "-1"}, "--seed must be 0..4294967295"},
      {{"bench-serve", "--rates", "1,inf"}, "--rates must be positive and finite"},
      {{"bench-rag", "-m", model, "--seed", "-1"}, "--seed must be 0..4294967295"},
      {{"eval-qa", "-m", model, "-n", "-5"}, "-n must be 1 or more"},
      {{"eval-qa", "-m", model, "--seed", "5000000000"}, "--seed must be 0..4294967295"},
      {{"ask", "-m", model, "--collection", "/nonexistent", "--dense-weight", "nan", "q?"},
       "--dense-weight must be 0..10"},
      // The fallback to a full prefill guards a fused one: full has none to guard.
      {{"eval-qa", "-m", model, "--mode", "full", "--fallback-below", "0.4"},
       "--fallback-below does not apply to --mode full"},
      {{"eval-qa", "-m", model, "--mode", "query", "--fallback-below", "2"}, "--fallback-below must be within [0, 1]"},
      // Sampling: the server's ranges.
      {{"run", "-m", model, "-p", "hi", "-n", "1", "--temp", "-1"}, "--temp must be a number 0..2"},
      {{"run", "-m", model, "-p", "hi", "-n", "1", "--temp", "inf"}, "--temp must be"},
      {{"run", "-m", model, "-p", "hi", "-n", "1", "--top-p", "nan"}, "--top-p must be a number 0..1"},
      {{"run", "-m", model, "-p", "hi", "-n", "1", "--top-k", "-5"}, "--top-k must be"},
      {{"run", "-m", model, "-p", "hi", "-n", "1", "--seed", "-3"}, "--seed must be 0 or more"}};
  for (const auto& [args, message] : cases) {
    const auto [code, out] = RunKvfuse(args);
    EXPECT_EQ(code, 1) << args[0] << " " << args[args.size() - 2] << " " << args.back();
    EXPECT_NE(out.find(message), std::string::npos) << out;
  }
}

TEST(Cli, AMissingModelIsNamedWithTheReason) {
  const std::string missing = TestDir("missing-model") + "/no-such-model.gguf";
  const std::string reason = missing + ": cannot open: " + std::strerror(ENOENT);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"run", "-m", missing, "-p", "hi"}, {"serve", "--model", missing, "--port", "0"}}) {
    const auto [code, out] = RunKvfuse(args);
    EXPECT_EQ(code, 1) << args[0];
    EXPECT_NE(out.find("error: " + reason), std::string::npos) << out;
  }
}

TEST(Cli, ServeRefusesACollectionThatWasNeverIngested) {
  const std::string base = TestDir("missing-collection");
  const std::string typo = base + "/typo";
  for (const std::string& dir : {typo, base}) {  // no such directory; a directory without collection.json
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"serve", "-m", TinyModel(), "--port", "0", "--collection", dir},
             {"ask", "-m", TinyModel(), "--collection", dir, "question?"}}) {
      const auto [code, out] = RunKvfuse(args);
      EXPECT_EQ(code, 1) << out;
      EXPECT_NE(out.find("error: no collection at " + dir), std::string::npos) << out;
      EXPECT_NE(out.find("kvfuse ingest -m MODEL.gguf --collection " + dir), std::string::npos) << out;
      EXPECT_EQ(out.find("listening"), std::string::npos) << "serve started: " << out;
    }
  }
  EXPECT_FALSE(fs::exists(typo)) << "an empty collection was made in place of a mistyped one";
}

TEST(Cli, RedisFlagsAreCheckedBeforeAnythingLoadsAndAPasswordNeverRidesOnTheCommandLine) {
  const std::string model = TinyModel();
  const std::string dir = TestDir("redis-flags");
  const std::string empty_file = dir + "/empty";
  { std::ofstream(empty_file) << "\n"; }
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"serve", "-m", model, "--port", "0", "--redis", "redis://:hunter2@127.0.0.1:6379"}, "--redis-password-file"},
      {{"serve", "-m", model, "--port", "0", "--redis-prefix", "x:"}, "--redis-prefix needs --redis URL"},
      {{"serve", "-m", model, "--port", "0", "--redis", "redis://127.0.0.1:1", "--redis-format", "fp8"}, "f16 or int8"},
      {{"serve", "-m", model, "--port", "0", "--redis", "redis://127.0.0.1:1", "--redis-password-file", empty_file}, "is empty"},
      {{"serve", "-m", model, "--port", "0", "--redis", "redis://127.0.0.1:1", "--redis-prefix", "a{b}"}, "braces"},
      {{"bench-rag", "-m", model, "--redis", "redis://127.0.0.1:1", "--store", "/tmp/x"}, "would read the disk"},
      {{"ingest", "-m", model, "--collection", dir + "/c", "--redis", "redis://127.0.0.1:1", "--no-warm",
        empty_file}, "cannot go with --no-warm"}};
  for (const auto& [args, expected] : cases) {
    const auto [code, out] = RunKvfuse(args);
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find(expected), std::string::npos) << out;
    EXPECT_EQ(out.find("hunter2"), std::string::npos) << "the password was echoed: " << out;
    EXPECT_EQ(out.find("listening"), std::string::npos) << "serve started: " << out;
  }
}

TEST(Cli, BenchRunsTheKernelTableItIsToldOrNamesWhatThisCpuRuns) {
  const auto [code, out] = RunKvfuse({"bench", "-m", TinyModel(), "-p", "8", "-n", "0", "-r", "1", "--kernels", "avx9"});
  EXPECT_EQ(code, 1);
  EXPECT_NE(out.find("no 'avx9' kernels: this CPU runs "), std::string::npos) << out;
  const auto [ref_code, ref_out] = RunKvfuse({"bench", "-m", TinyModel(), "-p", "8", "-n", "0", "-r", "1", "--kernels", "ref"});
  EXPECT_EQ(ref_code, 0) << ref_out;
  EXPECT_NE(ref_out.find("pp8"), std::string::npos) << ref_out;
}

TEST(Cli, ServeRefusesATpotTargetOutOfRangeNamingTheFlag) {
  const std::string model = TinyModel();
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"serve", "-m", model, "--port", "0", "--tpot-target-x", "0.5"}, "--tpot-target-x must be 0 (off) or 1..100"},
      {{"serve", "-m", model, "--port", "0", "--tpot-target-x", "fast"}, "--tpot-target-x"},
      {{"serve", "-m", model, "--port", "0", "--tpot-target-x", "nan"}, "--tpot-target-x must be 0 (off) or 1..100"},
      {{"serve", "-m", model, "--port", "0", "--tpot-target-x", "101"}, "--tpot-target-x must be 0 (off) or 1..100"},
      {{"serve", "-m", model, "--port", "0", "--tpot-target-ms", "-1"}, "--tpot-target-ms must be 0..60000"}};
  for (const auto& [args, expected] : cases) {
    const auto [code, out] = RunKvfuse(args);
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find(expected), std::string::npos) << out;
    EXPECT_EQ(out.find("listening"), std::string::npos) << "serve started: " << out;
  }
}

// A collection at `dir` of one file of two paragraphs, ingested with `model`; false on failure.
bool IngestTwoNotes(const std::string& model, const std::string& dir, const std::string& name) {
  const std::string docs = TestDir(name + "-docs");
  std::ofstream(docs + "/notes.txt") << "Mara bakes rye bread.\n\nThe lighthouse keeper counts ships at night.\n";
  const auto [code, out] = RunKvfuse({"ingest", "-m", model, "--collection", dir, docs});
  EXPECT_EQ(code, 0) << out;
  return code == 0;
}

TEST(Cli, AuditFlagsAreCheckedAndAskAuditsItsAnswer) {
  const std::string model = TinyModel();
  const std::string dir = TestDir("audit") + "/collection";
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"serve", "-m", model, "--port", "0", "--audit-rate", "2"}, "--audit-rate must be a number 0..1"},
      // NaN passed these checks (and the server started) until the float flags shared one reader.
      {{"serve", "-m", model, "--port", "0", "--audit-rate", "nan"}, "--audit-rate must be a number 0..1"},
      {{"serve", "-m", model, "--port", "0", "--fidelity-target", "nan"}, "--fidelity-target must be a number 0..1"},
      {{"serve", "-m", model, "--port", "0", "--audit-tokens", "0"}, "--audit-tokens must be a whole number 1..256"},
      {{"serve", "-m", model, "--port", "0", "--fidelity-target", "1"}, "--fidelity-target must be below 1"},
      {{"serve", "-m", model, "--port", "0", "--fidelity-window", "2.5"}, "--fidelity-window must be a whole number"},
      {{"ask", "-m", model, "--collection", dir, "--mode", "full", "--audit", "q?"}, "--mode full reuses no chunk KV"},
      {{"ask", "-m", model, "--collection", dir, "--audit-tokens", "4", "q?"}, "--audit-tokens needs --audit"}};
  for (const auto& [args, expected] : cases) {
    const auto [code, out] = RunKvfuse(args);
    EXPECT_EQ(code, 1) << out;
    EXPECT_NE(out.find(expected), std::string::npos) << out;
    EXPECT_EQ(out.find("listening"), std::string::npos) << "serve started: " << out;
  }
  ASSERT_TRUE(IngestTwoNotes(model, dir, "audit"));
  const auto [code, out] =
      RunKvfuse({"ask", "-m", model, "--collection", dir, "-n", "3", "--audit", "--audit-tokens", "5", "question?"});
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("audit of query against full prefill: first-token KL "), std::string::npos) << out;
  EXPECT_NE(out.find(" of 5 greedy tokens agree"), std::string::npos) << out;
}

// A redo counts the chunk tokens twice in the stats; ask reports the method's share and the
// redo apart (it printed "306 of 278 chunk tokens recomputed").
TEST(Cli, AskSaysWhatTheMethodRecomputedBeforeARedoInFull) {
  const std::string model = TinyModel();
  const std::string dir = TestDir("redo") + "/collection";
  ASSERT_TRUE(IngestTwoNotes(model, dir, "redo"));
  const auto [code, out] = RunKvfuse(
      {"ask", "-m", model, "--collection", dir, "-n", "1", "--mode", "naive", "--fallback-below", "1", "question?"});
  EXPECT_EQ(code, 0) << out;
  const size_t at = out.find(" chunk tokens recomputed");
  ASSERT_NE(at, std::string::npos) << out;
  const size_t from = out.rfind(", ", at);
  int recomputed = -1, chunk_tokens = -1;
  ASSERT_EQ(std::sscanf(out.c_str() + from, ", %d of %d", &recomputed, &chunk_tokens), 2) << out;
  EXPECT_EQ(recomputed, 0) << out;  // naive recomputes no chunk token
  EXPECT_GT(chunk_tokens, 0) << out;
  EXPECT_NE(out.find("then redone as a full prefill (all " + std::to_string(chunk_tokens) + " chunk tokens again)"),
            std::string::npos)
      << out;
}

}  // namespace
}  // namespace kvfuse::cli
