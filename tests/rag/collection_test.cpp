#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "rag/collection.h"
#include "rag/text_util.h"

namespace kvfuse::rag {
namespace fs = std::filesystem;

namespace {

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
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
  auto c = Collection::Open(dir);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->warning().find("damaged"), std::string::npos);
  std::vector<float> q(16, 1.0f);
  for (const SearchHit& h : c->Search("Bruno", q.data(), SearchOptions{})) EXPECT_EQ(h.dense_rank, 0);
  const IngestReport r = c->Ingest({(root_ / "docs").string()}, ChunkOptions{}, model.Hooks());
  EXPECT_EQ(r.chunks_embedded, 5u);
  EXPECT_TRUE(c->warning().empty());

  Write(dir + "/collection.json", "{\"format\": \"kvfuse-collection\", \"version\": 1, \"files\": [");
  auto broken = Collection::Open(dir);
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.status().message().find("damaged"), std::string::npos);
  Write(root_ / "file", "x");
  EXPECT_FALSE(Collection::Open((root_ / "file").string()).ok());
}

}  // namespace
}  // namespace kvfuse::rag
