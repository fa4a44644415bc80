#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "rag/collection.h"
#include "rag/collection_files.h"
#include "rag/retrieve.h"
#include "rag/text_util.h"

namespace kvfuse::rag {
namespace fs = std::filesystem;

namespace {

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The pid of a process that has exited (and been reaped).
int DeadPid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

// Hooks without a model: words as tokens, a hashed bag of words as the embedding.
struct FakeModel {
  int embedded = 0, warmed = 0;
  IngestHooks Hooks(uint64_t fingerprint = 1) {
    IngestHooks h;
    h.model_fingerprint = fingerprint;
    h.count_tokens = [](std::string_view t) { return static_cast<int32_t>(Words(t).size()); };
    h.embed = [this](const std::string& text) -> util::Result<std::vector<float>> {
      ++embedded;
      std::vector<float> v(16, 0.0f);
      for (const std::string& w : Words(text)) v[std::hash<std::string>()(w) % 16] += 1.0f;
      return v;
    };
    h.warm = [this](const CollectionChunk&) {
      ++warmed;
      return util::Status::Ok();
    };
    return h;
  }
};

class CollectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(KVFUSE_TEST_TMP) / ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(root_);
    Write(root_ / "docs/ada.md", "# Ada Keller\n\nAda Keller works for Deep Textiles. She is 44.\n\nShe owns a cat.\n");
    Write(root_ / "docs/bruno.txt", "Bruno Smith lives in Westbrook.\n\nHe owns a dog.\n");
    Write(root_ / "docs/companies.html",
          "<h2>Deep Textiles</h2><p>Deep Textiles is based in Lowvale.</p><h2>Blue Media</h2><p>Blue Media is in Corvale.</p>");
    Write(root_ / "docs/notes.docx", "ignored in directories");
  }
  fs::path root_;
};

TEST_F(CollectionTest, IngestsSearchesAndReloads) {
  FakeModel model;
  auto c = Collection::Open((root_ / "coll").string());
  ASSERT_TRUE(c.ok());
  const IngestReport r = c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  EXPECT_TRUE(r.errors.empty()) << r.errors[0];
  EXPECT_EQ(r.files_new, 3u);  // the .docx is skipped inside a directory
  // Ada's two paragraphs, Bruno's two merged (the first is below min_tokens), two companies.
  EXPECT_EQ(r.chunks_added, 5u);
  EXPECT_EQ(model.embedded, 5);
  EXPECT_EQ(model.warmed, 5);
  ASSERT_TRUE(c->Save().ok());

  SearchOptions so;
  so.k = 3;
  const auto hits = c->Search("Where is the company that Ada Keller works for based?", nullptr, so);
  ASSERT_GE(hits.size(), 3u);
  // Ada's page first; the Deep Textiles section it names follows as a second hop.
  EXPECT_EQ(c->chunk(hits[0].id)->heading, "Ada Keller");
  bool found_company = false;
  for (const SearchHit& h : hits) found_company |= c->chunk(h.id)->text == "Deep Textiles is based in Lowvale.";
  EXPECT_TRUE(found_company);
  // A pronoun-only chunk is still found through its section heading.
  const auto cat = c->Search("What pet does Ada Keller own? cat", nullptr, so);
  EXPECT_EQ(c->chunk(cat[0].id)->text, "She owns a cat.");

  auto reloaded = Collection::Open((root_ / "coll").string());
  ASSERT_TRUE(reloaded.ok());
  EXPECT_TRUE(reloaded->warning().empty());
  ASSERT_EQ(reloaded->n_chunks(), c->n_chunks());
  for (const CollectionFile& f : c->files())
    for (int32_t id : f.chunk_ids) {
      ASSERT_NE(reloaded->chunk(id), nullptr);
      EXPECT_EQ(reloaded->chunk(id)->text, c->chunk(id)->text);
      EXPECT_EQ(reloaded->chunk(id)->heading, c->chunk(id)->heading);
    }
  std::vector<float> q(16, 0.0f);
  q[std::hash<std::string>()("westbrook") % 16] = 1.0f;
  const auto a = c->Search("Bruno Westbrook", q.data(), so);
  const auto b = reloaded->Search("Bruno Westbrook", q.data(), so);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].id, b[i].id);
  EXPECT_GT(a[0].dense_rank, 0);
}

TEST_F(CollectionTest, RetrievedChunksKeepTheirFilesTogetherInReadingOrder) {
  FakeModel model;
  auto c = Collection::Open((root_ / "coll").string());
  ASSERT_TRUE(c.ok());
  c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  SearchOptions so;
  so.k = 4;
  const char* question = "What pet does Ada Keller own? cat";
  const auto best_first = c->Search(question, nullptr, so);
  // The pronoun-only chunk ranks first, before the chunk that names Ada ...
  ASSERT_EQ(c->chunk(best_first[0].id)->text, "She owns a cat.");
  // ... and brings the company her section names (in its other chunk) as a second hop.
  ASSERT_GE(best_first.size(), 2u);
  EXPECT_EQ(c->chunk(best_first[1].id)->heading, "Deep Textiles");
  EXPECT_EQ(best_first[1].linked_from, best_first[0].id);
  auto in_order = Retrieve(c.value(), question, so, {});
  ASSERT_TRUE(in_order.ok());
  ASSERT_EQ(in_order->size(), best_first.size());
  // ... but a prompt gets Ada's page last, nearest the question, as it reads: her first
  // paragraph, then "She owns a cat."; the other files' chunks before it, the file of the
  // worst best hit first.
  const size_t n = in_order->size();
  EXPECT_EQ(c->chunk((*in_order)[n - 2].id)->file, c->chunk(best_first[0].id)->file);
  EXPECT_EQ(c->chunk((*in_order)[n - 2].id)->text, "Ada Keller works for Deep Textiles. She is 44.");
  EXPECT_EQ(c->chunk((*in_order)[n - 1].id)->text, "She owns a cat.");
  std::vector<std::string> earlier_files;
  for (size_t i = 0; i + 2 < n; ++i) earlier_files.push_back(c->chunk((*in_order)[i].id)->file);
  std::vector<std::string> expected_files;
  for (const SearchHit& h : best_first)
    if (c->chunk(h.id)->file != c->chunk(best_first[0].id)->file) expected_files.push_back(c->chunk(h.id)->file);
  std::reverse(expected_files.begin(), expected_files.end());
  EXPECT_EQ(earlier_files, expected_files);
}

TEST_F(CollectionTest, UnchangedFilesAreSkippedAndChangedOnesReplaced) {
  FakeModel model;
  auto c = Collection::Open((root_ / "coll").string());
  ASSERT_TRUE(c.ok());
  c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  const IngestReport again = c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  EXPECT_EQ(again.files_unchanged, 3u);
  EXPECT_EQ(again.chunks_added + again.chunks_embedded + again.chunks_warmed, 0u);
  EXPECT_EQ(model.embedded, 5);

  Write(root_ / "docs/bruno.txt", "Bruno Smith moved to Lowvale.\n\nHe sold his dog and bought a cat.\n");
  const IngestReport changed = c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  EXPECT_EQ(changed.files_changed, 1u);
  EXPECT_EQ(changed.chunks_removed, 1u);
  EXPECT_EQ(changed.chunks_added, 1u);
  EXPECT_EQ(c->n_chunks(), 5u);
  for (const SearchHit& h : c->Search("Westbrook dog", nullptr, SearchOptions{}))
    EXPECT_EQ(c->chunk(h.id)->text.find("Westbrook"), std::string::npos);

  // Another model: everything is embedded and warmed again.
  const IngestReport other = c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks(2));
  EXPECT_EQ(other.chunks_embedded, 5u);
  EXPECT_EQ(other.chunks_warmed, 5u);
}

TEST_F(CollectionTest, BadPathsAreReportedAndTheRestIngested) {
  FakeModel model;
  auto c = Collection::Open((root_ / "coll").string());
  ASSERT_TRUE(c.ok());
  Write(root_ / "bad.pdf", "%PDF-1.4 truncated");
  const IngestReport r = c->Ingest({(root_ / "missing").string(), (root_ / "docs/notes.docx").string(),
                                    (root_ / "bad.pdf").string(), (root_ / "docs/ada.md").string()},
                                   ChunkOptions{}, model.Hooks());
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_NE(r.errors[0].find("missing: no such file"), std::string::npos);
  EXPECT_NE(r.errors[1].find("unsupported file type"), std::string::npos);
  EXPECT_NE(r.errors[2].find("bad.pdf"), std::string::npos);
  EXPECT_EQ(r.files_failed, 3u);
  EXPECT_EQ(r.files_new, 1u);
}

// A file named twice (itself and its directory) is read once: when it changed between two
// reads, the first read's chunks were dropped but still embedded (a null dereference).
TEST_F(CollectionTest, AFileNamedTwiceIsReadOnce) {
  FakeModel model;
  IngestHooks hooks = model.Hooks();
  bool edited = false;
  const auto count = hooks.count_tokens;
  hooks.count_tokens = [&](std::string_view t) {
    if (!edited) Write(root_ / "docs/ada.md", "# Ada Keller\n\nAda Keller moved to Corvale.\n");  // while read
    edited = true;
    return count(t);
  };
  auto c = Collection::Open((root_ / "coll").string());
  ASSERT_TRUE(c.ok());
  const IngestReport r = c->Ingest({(root_ / "docs/ada.md").string(), (root_ / "docs").string()}, ChunkOptions{}, hooks);
  EXPECT_EQ(r.files_new, 3u);
  EXPECT_EQ(r.files_changed + r.files_unchanged + r.chunks_removed, 0u);
  EXPECT_EQ(r.chunks_embedded, c->n_chunks());
  EXPECT_EQ(c->files().size(), 3u);
}

TEST_F(CollectionTest, DamagedFilesAreDetected) {
  FakeModel model;
  const std::string dir = (root_ / "coll").string();
  {
    auto c = Collection::Open(dir);
    c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
    ASSERT_TRUE(c->Save().ok());
  }
  // A flipped byte in the vectors: dense search is off (never served), the next ingest
  // recomputes the vectors.
  std::string bytes;
  {
    std::ifstream in(dir + "/vectors.bin", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 3] ^= 0x40;
  Write(dir + "/vectors.bin", bytes);
  testing::internal::CaptureStderr();
  auto c = Collection::Open(dir);
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->warning().find("damaged"), std::string::npos);
  // Logged once, with the file's name, and counted.
  EXPECT_EQ(log, "kvfuse: " + dir + "/vectors.bin is damaged (checksum mismatch or bad header): dense search is off "
                 "until the next ingest recomputes it\n");
  EXPECT_EQ(c->damaged_files(), 1u);
  std::vector<float> q(16, 1.0f);
  for (const SearchHit& h : c->Search("Bruno", q.data(), SearchOptions{})) EXPECT_EQ(h.dense_rank, 0);
  const IngestReport r = c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  EXPECT_EQ(r.chunks_embedded, 5u);
  EXPECT_TRUE(c->warning().empty());

  Write(dir + "/collection.json", "{\"format\": \"kvfuse-collection\", \"version\": 2, \"files\": [");
  auto broken = Collection::Open(dir);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("damaged"), std::string::npos);
  Write(root_ / "file", "x");
  EXPECT_FALSE(Collection::Open((root_ / "file").string()).ok());
}

TEST_F(CollectionTest, EditedManifestIsNeverServedAndReingestRebuildsIt) {
  FakeModel model;
  const std::string dir = (root_ / "coll").string();
  {
    auto c = Collection::Open(dir);
    c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
    ASSERT_TRUE(c->Save().ok());
  }
  // Chunk text edited in place (still valid JSON, same length).
  std::string manifest = Read(dir + "/collection.json");
  const size_t at = manifest.find("Westbrook");
  ASSERT_NE(at, std::string::npos);
  manifest.replace(at, 4, "East");
  Write(dir + "/collection.json", manifest);

  auto served = Collection::Open(dir);
  ASSERT_FALSE(served.ok());
  EXPECT_EQ(served.status().message(),
            dir + "/collection.json is damaged (checksum mismatch: it was changed after kvfuse wrote it): the "
                  "collection cannot be used; run kvfuse ingest -m MODEL --collection " + dir + " <your documents> to rebuild it (the "
                  "chunk KV in " + dir + "/kv is kept)");

  testing::internal::CaptureStderr();
  auto c = Collection::Open(dir, OpenOptions{.rebuild_damaged = true});
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->n_chunks(), 0u);
  EXPECT_EQ(c->damaged_files(), 1u);
  EXPECT_EQ(log, "kvfuse: " + c->warning() + "\n");
  EXPECT_NE(c->warning().find("rebuilding"), std::string::npos);
  const IngestReport r = c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  EXPECT_EQ(r.files_new, 3u);  // not "unchanged": the edited manifest is gone
  EXPECT_EQ(r.files_unchanged, 0u);
  ASSERT_TRUE(c->Save().ok());
  auto reopened = Collection::Open(dir);
  ASSERT_TRUE(reopened.ok()) << reopened.status().message();
  EXPECT_TRUE(reopened->warning().empty()) << reopened->warning();
  EXPECT_EQ(reopened->damaged_files(), 0u);
  EXPECT_EQ(reopened->n_chunks(), 5u);
  bool westbrook = false;
  for (const CollectionFile& f : reopened->files())
    for (int32_t id : f.chunk_ids) {
      EXPECT_EQ(reopened->chunk(id)->text.find("Eastbrook"), std::string::npos);
      westbrook |= reopened->chunk(id)->text.find("Westbrook") != std::string::npos;
    }
  EXPECT_TRUE(westbrook);
}

TEST_F(CollectionTest, ManifestsOfOtherVersionsAreClearErrors) {
  const std::string dir = (root_ / "coll").string();
  // A manifest as version 1 wrote it (no checksum): re-ingesting rebuilds it.
  Write(dir + "/collection.json",
        R"({"chunks": [{"file": "/a.txt", "heading": "a", "id": 0, "text": "edited", "tokens": 1}], "embed_layer": 0,
            "files": [{"chunks": [0], "hash": "0000000000000001", "path": "/a.txt"}], "format": "kvfuse-collection",
            "model_fingerprint": "0000000000000001", "next_id": 1, "version": 1})");
  auto old = Collection::Open(dir);
  ASSERT_FALSE(old.ok());
  EXPECT_EQ(old.status().message(), dir + "/collection.json: collection format version 1 is older than this kvfuse "
                                          "reads (2): the collection cannot be used; run kvfuse ingest -m MODEL --collection " + dir +
                                          " <your documents> to rebuild it (the chunk KV in " + dir + "/kv is kept)");
  testing::internal::CaptureStderr();
  auto rebuilt = Collection::Open(dir, OpenOptions{.rebuild_damaged = true});
  testing::internal::GetCapturedStderr();
  ASSERT_TRUE(rebuilt.ok());
  EXPECT_EQ(rebuilt->n_chunks(), 0u);
  EXPECT_EQ(rebuilt->damaged_files(), 0u);  // outdated, not damaged

  // A newer kvfuse's collection, or another program's file, is never overwritten.
  Write(dir + "/collection.json", R"({"format":"kvfuse-collection","version":3,"body":{}})");
  for (const bool rebuild : {false, true}) {
    auto newer = Collection::Open(dir, OpenOptions{.rebuild_damaged = rebuild});
    ASSERT_FALSE(newer.ok());
    EXPECT_EQ(newer.status().message(), dir + "/collection.json: collection format version 3 is newer than this "
                                              "kvfuse reads (2): use a newer kvfuse");
  }
  Write(dir + "/collection.json", R"({"format":"something-else","version":2})");
  auto foreign = Collection::Open(dir, OpenOptions{.rebuild_damaged = true});
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().message(), dir + "/collection.json is not a kvfuse collection manifest");
}

TEST_F(CollectionTest, EveryKindOfManifestDamageIsDetected) {
  FakeModel model;
  const std::string dir = (root_ / "coll").string();
  {
    auto c = Collection::Open(dir);
    c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
    ASSERT_TRUE(c->Save().ok());
  }
  const std::string good = Read(dir + "/collection.json");
  ASSERT_TRUE(Collection::Open(dir).ok());
  for (size_t at = 0; at < good.size(); at += 7) {  // a flipped bit anywhere
    std::string bad = good;
    bad[at] ^= 0x08;
    Write(dir + "/collection.json", bad);
    auto c = Collection::Open(dir);
    EXPECT_FALSE(c.ok()) << "byte " << at << " of " << good.size();
  }
  for (size_t keep : {good.size() - 1, good.size() - 20, good.size() / 2, size_t{10}}) {
    Write(dir + "/collection.json", good.substr(0, keep));
    EXPECT_FALSE(Collection::Open(dir).ok()) << "truncated to " << keep;
  }
  Write(dir + "/collection.json", good + " ");
  EXPECT_FALSE(Collection::Open(dir).ok());
}

// Sealed by its checksum yet inconsistent (another tool's, or a hand edit resealed): a file
// that lists a chunk the manifest does not store is damaged, not a chunk id that reads null.
TEST_F(CollectionTest, AManifestWhoseFilesListChunksItDoesNotStoreIsDamaged) {
  const std::string path = (root_ / "manifest.json").string();
  fs::create_directories(root_);
  const ManifestHeader header{.next_id = 2};
  const std::vector<CollectionChunk> chunks = {{0, "/a.md", "A", "text", 1}};
  ASSERT_TRUE(WriteManifest(path, header, {{"/a.md", 7, {0}}}, chunks).ok());
  EXPECT_EQ(ReadManifest(path).state, StoredFileState::kOk);
  for (const int32_t listed : {1, 2, -1}) {
    ASSERT_TRUE(WriteManifest(path, header, {{"/a.md", 7, {0, listed}}}, chunks).ok());
    const ManifestRead r = ReadManifest(path);
    EXPECT_EQ(r.state, StoredFileState::kDamaged) << listed;
    EXPECT_NE(r.error.message().find("lists chunk " + std::to_string(listed)), std::string::npos) << r.error.message();
  }
}

TEST_F(CollectionTest, VectorsOfAnotherSaveAreNotUsed) {
  FakeModel model;
  const std::string dir = (root_ / "coll").string();
  auto c = Collection::Open(dir);
  c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  ASSERT_TRUE(c->Save().ok());
  const std::string manifest = Read(dir + "/collection.json");
  c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks(2));  // another model
  ASSERT_TRUE(c->Save().ok());
  Write(dir + "/collection.json", manifest);  // as if the save was killed between the files
  auto reopened = Collection::Open(dir);
  ASSERT_TRUE(reopened.ok());
  EXPECT_NE(reopened->warning().find("vectors.bin was not saved with collection.json"), std::string::npos);
  EXPECT_EQ(reopened->damaged_files(), 0u);
  std::vector<float> q(16, 1.0f);
  for (const SearchHit& h : reopened->Search("Bruno", q.data(), SearchOptions{})) EXPECT_EQ(h.dense_rank, 0);
}

TEST_F(CollectionTest, OpenRemovesTemporariesOfKilledWrites) {
  FakeModel model;
  const std::string dir = (root_ / "coll").string();
  {
    auto c = Collection::Open(dir);
    c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
    ASSERT_TRUE(c->Save().ok());
  }
  const std::string dead = std::to_string(DeadPid());
  Write(dir + "/collection.json.tmp." + dead + ".0", "{\"format\": \"kvfuse-coll");
  Write(dir + "/vectors.bin.tmp." + dead + ".1", "KVFVEC01");
  Write(dir + "/notes.tmp", "not a temporary of ours");
  testing::internal::CaptureStderr();
  auto c = Collection::Open(dir);
  const std::string log = testing::internal::GetCapturedStderr();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(log, "kvfuse: " + dir + ": removed 2 temporary files left by interrupted writes\n");
  EXPECT_FALSE(fs::exists(dir + "/collection.json.tmp." + dead + ".0"));
  EXPECT_FALSE(fs::exists(dir + "/vectors.bin.tmp." + dead + ".1"));
  EXPECT_TRUE(fs::exists(dir + "/notes.tmp"));
  EXPECT_EQ(c->n_chunks(), 5u);
}

TEST_F(CollectionTest, BinaryAndOversizedFilesAreSkippedAndTheRestIngested) {
  FakeModel model;
  fs::copy_file(fs::path(KVFUSE_TEST_DATA) / "rag/binary.txt", root_ / "docs/binary.txt");
  Write(root_ / "docs/large.md", "# Large\n\n" + std::string(10000, 'x') + "\n");
  auto c = Collection::Open((root_ / "coll").string());
  ASSERT_TRUE(c.ok());
  const IngestReport r =
      c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks(), ReadOptions{.max_file_bytes = 8192});
  ASSERT_EQ(r.errors.size(), 2u);
  const std::string docs = fs::weakly_canonical(root_ / "docs").string();
  EXPECT_EQ(r.errors[0], docs + "/binary.txt: binary content (a NUL byte at offset 8), not text; skipped");
  EXPECT_EQ(r.errors[1], docs + "/large.md: 10010 bytes, over the 8192 bytes limit for one document; skipped "
                                "(kvfuse ingest --max-file-mb raises it)");
  EXPECT_EQ(r.files_failed, 2u);
  EXPECT_EQ(r.files_new, 3u);
  EXPECT_EQ(c->n_chunks(), 5u);
}

TEST_F(CollectionTest, FilesWhoseNameIsNotUtf8AreSkipped) {
  FakeModel model;
  Write(root_ / "docs/caf\xE9.txt", "A Latin-1 file name.\n");
  auto c = Collection::Open((root_ / "coll").string());
  ASSERT_TRUE(c.ok());
  const IngestReport r = c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("caf\xEF\xBF\xBD.txt: the file name is not valid UTF-8; rename it; skipped"),
            std::string::npos);
  EXPECT_EQ(r.files_new, 3u);
  ASSERT_TRUE(c->Save().ok());  // threw (invalid UTF-8 in JSON) before
  EXPECT_EQ(c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks()).files_unchanged, 3u);
}

}  // namespace
}  // namespace kvfuse::rag

namespace kvfuse::rag {
namespace {

TEST_F(CollectionTest, RetrieveEmbedsTheQuestionOnlyWithTheCollectionsModel) {
  FakeModel model;
  auto c = Collection::Open((root_ / "coll").string());
  ASSERT_TRUE(c.ok());
  c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks(/*fingerprint=*/1));
  const std::string question = "Where is Deep Textiles based?";
  int calls = 0, layer = -1;
  const auto embed = model.Hooks().embed;
  QueryEmbedder same{1, [&](const std::string& text, int32_t l) {
                       ++calls, layer = l;
                       return embed(text);
                     }};
  auto hybrid = Retrieve(c.value(), question, SearchOptions{}, same);
  ASSERT_TRUE(hybrid.ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(layer, c->embed_layer());
  const std::vector<float> q = embed(question).value();
  const auto ids = [](const std::vector<SearchHit>& hits) {
    std::vector<int32_t> out;
    for (const SearchHit& h : hits) out.push_back(h.id);
    return out;
  };
  EXPECT_EQ(ids(hybrid.value()), ids(InPromptOrder(c.value(), c->Search(question, q.data(), SearchOptions{}))));

  QueryEmbedder other = same;
  other.model_fingerprint = 2;  // another model's vectors are not comparable: lexical only
  auto lexical = Retrieve(c.value(), question, SearchOptions{}, other);
  ASSERT_TRUE(lexical.ok());
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ids(lexical.value()), ids(InPromptOrder(c.value(), c->Search(question, nullptr, SearchOptions{}))));

  QueryEmbedder failing{1, [](const std::string&, int32_t) -> util::Result<std::vector<float>> {
                          return util::Status::InvalidArgument("too long");
                        }};
  auto failed = Retrieve(c.value(), question, SearchOptions{}, failing);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), util::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace kvfuse::rag
