// Collections over HTTP on loopback: create, upload (progress streamed), list documents, ask
// with retrieval from it, delete; and each error with its code and the field it names.
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "server/server.h"
#include "tiny_server_options.h"
#include "util/base64.h"

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

class CollectionRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::string(KVFUSE_TEST_TMP) + "/collections-" + std::to_string(::getpid());
    std::filesystem::remove_all(root_);
    ServerOptions o = TinyServerOptions(512);
    o.collections_dir = root_;
    server_ = std::make_unique<Server>(o);
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_TRUE(server_->WaitReady()) << server_->load_error();
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_read_timeout(120, 0);
  }
  void TearDown() override {
    server_->Stop();
    std::filesystem::remove_all(root_);
  }
  std::pair<int, json> Call(const std::string& method, const std::string& path, const json& body = json()) {
    httplib::Result r = method == "GET"      ? client_->Get(path.c_str())
                        : method == "DELETE" ? client_->Delete(path.c_str())
                                             : client_->Post(path.c_str(), body.dump(), "application/json");
    EXPECT_TRUE(r) << method << " " << path;
    if (!r) return {0, json()};
    return {r->status, json::parse(r->body, nullptr, false)};
  }
  // The events of an upload's stream.
  std::vector<json> Upload(const std::string& name, const json& files) {
    const auto r = client_->Post(("/v1/collections/" + name + "/files").c_str(), json{{"files", files}}.dump(), "application/json");
    EXPECT_TRUE(r);
    std::vector<json> events;
    if (!r) return events;
    EXPECT_EQ(r->status, 200) << r->body;
    for (size_t at = 0; (at = r->body.find("data: ", at)) != std::string::npos;) {
      const size_t end = r->body.find("\n\n", at);
      const std::string data = r->body.substr(at + 6, end - at - 6);
      if (data != "[DONE]") events.push_back(json::parse(data));
      at = end;
    }
    return events;
  }

  std::string root_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<httplib::Client> client_;
};

const char* kJulia = "# Julia Oyelaran\n\nJulia Oyelaran lives in Lisbon. She works as a pilot and keeps a parrot.\n";
const char* kPavel = "# Pavel Petrov\n\nPavel Petrov lives in Oslo. He works for Blue Labs as an engineer.\n";

}  // namespace

TEST_F(CollectionRoutesTest, CreateUploadSearchAndDelete) {
  auto [created, body] = Call("POST", "/v1/collections", {{"name", "people"}});
  ASSERT_EQ(created, 201) << body;
  EXPECT_EQ(body["id"], "people");
  // One file as text, one as base64 (a browser's FileReader gives the latter).
  const std::vector<json> events = Upload("people", {{{"name", "julia.md"}, {"content", kJulia}},
                                                     {{"name", "pavel.md"}, {"content", util::Base64Encode(kPavel)}, {"encoding", "base64"}}});
  ASSERT_GE(events.size(), 2u);
  EXPECT_TRUE(events.front().contains("stage")) << events.front();
  const json& report = events.back()["report"];
  EXPECT_EQ(report["files_new"], 2);
  EXPECT_EQ(report["errors"].size(), 0u) << report;
  EXPECT_GE(report["chunks"].get<int>(), 2);
  EXPECT_EQ(report["chunks_warmed"], report["chunks_added"]);

  auto [listed, list] = Call("GET", "/v1/collections");
  ASSERT_EQ(listed, 200);
  ASSERT_EQ(list["data"].size(), 1u);
  EXPECT_EQ(list["data"][0]["files"], 2);
  auto [got, docs] = Call("GET", "/v1/collections/people/documents");
  ASSERT_EQ(got, 200);
  ASSERT_EQ(docs["data"].size(), 2u);
  EXPECT_NE(docs["data"][0]["chunks"][0]["text"].get<std::string>().find("Lisbon"), std::string::npos);

  auto [asked, answer] = Call("POST", "/v1/chat/completions",
                              {{"messages", {{{"role", "user"}, {"content", "Where does Pavel Petrov live?"}}}},
                               {"max_tokens", 4}, {"rag", {{"collection", "people"}, {"top_k", 2}}}});
  ASSERT_EQ(asked, 200) << answer;
  ASSERT_FALSE(answer["documents_used"].empty());
  EXPECT_EQ(answer["documents_used"][0].get<std::string>().rfind("people#", 0), 0u);
  EXPECT_GT(answer["timings"]["chunk_hits"].get<int>(), 0) << "chunks warmed at upload are hits";
  ASSERT_EQ(answer["timings"]["chunks_from_cache"].size(), answer["documents_used"].size());
  for (const json& hit : answer["timings"]["chunks_from_cache"]) EXPECT_TRUE(hit.get<bool>());

  EXPECT_EQ(Call("DELETE", "/v1/collections/people").first, 200);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/people"));
  EXPECT_EQ(Call("GET", "/v1/collections/people/documents").first, 404);
}

TEST_F(CollectionRoutesTest, EachChunkSaysWhetherItsKvCameFromTheStore) {
  const json request = {{"messages", {{{"role", "user"}, {"content", "Who keeps a parrot?"}}}}, {"max_tokens", 2},
                        {"rag", {{"documents", {kJulia, kPavel}}}}};
  auto [first_status, first] = Call("POST", "/v1/chat/completions", request);
  ASSERT_EQ(first_status, 200) << first;
  EXPECT_EQ(first["timings"]["chunks_from_cache"], json({false, false})) << "computed the first time";
  auto [again_status, again] = Call("POST", "/v1/chat/completions", request);
  ASSERT_EQ(again_status, 200) << again;
  EXPECT_EQ(again["timings"]["chunks_from_cache"], json({true, true})) << "found the second time";
}

TEST_F(CollectionRoutesTest, AnEmptyCollectionAnswersAsAPlainChat) {
  ASSERT_EQ(Call("POST", "/v1/collections", {{"name", "empty"}}).first, 201);
  auto [status, body] = Call("POST", "/v1/chat/completions", {{"messages", {{{"role", "user"}, {"content", "Hi?"}}}},
                                                              {"max_tokens", 2}, {"rag", {{"collection", "empty"}}}});
  EXPECT_EQ(status, 200) << body;
  EXPECT_TRUE(body["documents_used"].is_null() || body["documents_used"].empty());
  // An audit of it would compare nothing: refused, not silently skipped.
  auto [audited, error] = Call("POST", "/v1/chat/completions",
                               {{"messages", {{{"role", "user"}, {"content", "Hi?"}}}},
                                {"max_tokens", 2},
                                {"rag", {{"collection", "empty"}, {"audit", true}}}});
  EXPECT_EQ(audited, 400) << error;
  EXPECT_EQ(error["error"]["param"], "rag.audit") << error;
}

// An upload killed before its rename leaves a temporary in the collection's files/, removed
// when the server opens the collection again (not kept forever).
TEST_F(CollectionRoutesTest, TemporariesOfKilledUploadsAreRemovedWhenTheCollectionIsOpened) {
  ASSERT_EQ(Call("POST", "/v1/collections", {{"name", "a"}}).first, 201);
  ASSERT_FALSE(Upload("a", {{{"name", "julia.md"}, {"content", kJulia}}}).empty());
  server_->Stop();
  const pid_t child = fork();  // a pid that no longer runs: a killed writer's
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  const std::string stale = root_ + "/a/files/pavel.md.tmp." + std::to_string(child) + ".0";
  std::ofstream(stale) << "half an upl";
  ServerOptions o = TinyServerOptions(512);
  o.collections_dir = root_;
  server_ = std::make_unique<Server>(o);
  ASSERT_TRUE(server_->Start().ok());
  ASSERT_TRUE(server_->WaitReady()) << server_->load_error();
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/a/files/julia.md"));
}

TEST_F(CollectionRoutesTest, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(Call("POST", "/v1/collections", {{"name", "../up"}}).first, 400);
  EXPECT_EQ(Call("POST", "/v1/collections", {{"name", ".hidden"}}).first, 400);
  EXPECT_EQ(Call("POST", "/v1/collections", {{"name", 5}}).first, 400);
  ASSERT_EQ(Call("POST", "/v1/collections", {{"name", "a"}}).first, 201);
  EXPECT_EQ(Call("POST", "/v1/collections", {{"name", "a"}}).first, 409) << "a name in use";
  // Another site's page may not reach the collections (a browser sends its Origin).
  const auto foreign = client_->Post("/v1/collections", {{"Origin", "http://evil.example"}}, json{{"name", "b"}}.dump(), "application/json");
  ASSERT_TRUE(foreign);
  EXPECT_EQ(foreign->status, 403) << foreign->body;
  const auto own = client_->Get("/v1/collections", {{"Origin", "http://127.0.0.1:" + std::to_string(server_->port())}});
  ASSERT_TRUE(own);
  EXPECT_EQ(own->status, 200) << "the server's own page";
  EXPECT_EQ(Call("POST", "/v1/collections/nope/files", {{"files", {{{"name", "x.md"}, {"content", "x"}}}}}).first, 404);
  EXPECT_EQ(Call("DELETE", "/v1/collections/nope").first, 404);
  auto [bad64, error] = Call("POST", "/v1/collections/a/files",
                             {{"files", {{{"name", "x.md"}, {"content", "!!"}, {"encoding", "base64"}}}}});
  EXPECT_EQ(bad64, 400);
  EXPECT_EQ(error["error"]["param"], "files");
  EXPECT_EQ(Call("POST", "/v1/collections/a/files", {{"files", {{{"name", "../x.md"}, {"content", "x"}}, {{"name", "My notes.md"}, {"content", "y"}}}}}).first, 200)
      << "a path is reduced to its file name, odd characters to '_'";
  EXPECT_TRUE(std::filesystem::exists(root_ + "/a/files/x.md"));
  EXPECT_TRUE(std::filesystem::exists(root_ + "/a/files/My_notes.md"));
  // A bad file anywhere in an upload writes none of them.
  EXPECT_EQ(Call("POST", "/v1/collections/a/files", {{"files", {{{"name", "z.md"}, {"content", "z"}}, {{"name", "w.md"}, {"content", 5}}}}}).first, 400);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/a/files/z.md"));
  EXPECT_EQ(Call("POST", "/v1/collections/a/files", {{"files", json::array()}}).first, 400);
  // Names that reduce to one file would overwrite each other; an encoding that is not a string
  // or a field nobody reads is refused, not taken as text or ignored. None writes a file.
  for (const json& files : {json{{{"name", "a b.md"}, {"content", "one"}}, {{"name", "a_b.md"}, {"content", "two"}}},
                            json{{{"name", "a_b.md"}, {"content", "one"}, {"encoding", 5}}},
                            json{{{"name", "a_b.md"}, {"content", "one"}, {"mime", "text/markdown"}}},
                            json{{{"name", "a_b.md.tmp.1234.0"}, {"content", "one"}}}}) {
    auto [status, body] = Call("POST", "/v1/collections/a/files", {{"files", files}});
    EXPECT_EQ(status, 400) << files.dump();
    EXPECT_EQ(body["error"]["param"], "files") << files.dump();
  }
  EXPECT_FALSE(std::filesystem::exists(root_ + "/a/files/a_b.md"));
  EXPECT_EQ(Call("POST", "/v1/collections/a/files",
                 {{"files", {{{"name", "n.md"}, {"content", "x"}, {"encoding", nullptr}, {"mime", nullptr}}}}})
                .first,
            200)
      << "a null field asks for nothing";
}

}  // namespace kvfuse::server
