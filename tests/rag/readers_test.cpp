#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "rag/document.h"

namespace kvfuse::rag {
namespace {

std::string TmpFile(const std::string& name) {
  std::filesystem::create_directories(KVFUSE_TEST_TMP);
  return std::string(KVFUSE_TEST_TMP) + "/" + name;
}

void Write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"), 0 if unknown.
size_t ProcStatusBytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1)) * 1024;
  return 0;
}

TEST(Readers, PlainTextParagraphsAreSeparatedByBlankLines) {
  const Document d = ParsePlainText("First line\ncontinues here.\n\n\n  Second   paragraph.\r\n");
  ASSERT_EQ(d.paragraphs.size(), 2u);
  EXPECT_EQ(d.paragraphs[0].text, "First line continues here.");
  EXPECT_EQ(d.paragraphs[1].text, "Second paragraph.");
  EXPECT_EQ(d.paragraphs[0].heading, "");
}

TEST(Readers, MarkdownHeadingsStartSectionsAndMarkupIsStripped) {
  const Document d = ParseMarkdown(
      "# Ada Keller\n\nShe likes **bold** `code` and [links](http://x).\n\n## Work ##\n- item one\n- item two\n\n"
      "```\n# not a heading\n```\n");
  EXPECT_EQ(d.title, "Ada Keller");
  ASSERT_EQ(d.paragraphs.size(), 3u);
  EXPECT_EQ(d.paragraphs[0].heading, "Ada Keller");
  EXPECT_EQ(d.paragraphs[0].text, "She likes bold code and links.");
  EXPECT_EQ(d.paragraphs[1].heading, "Work");
  EXPECT_EQ(d.paragraphs[1].text, "item one item two");
  EXPECT_EQ(d.paragraphs[2].text, "# not a heading");
}

TEST(Readers, HtmlKeepsTextDropsScriptsAndDecodesReferences) {
  const Document d = ParseHtml(
      "<html><head><title>The &amp; Title</title><style>p{}</style></head><body>"
      "<h1>Intro</h1><p>Fish &lt;3 chips&#33; caf&#xE9;</p><script>var x = '<p>no</p>';</script>"
      "<!-- <p>hidden</p> --><div>Second<br>line</div><p>cut off <b");
  EXPECT_EQ(d.title, "The & Title");
  ASSERT_EQ(d.paragraphs.size(), 4u);
  EXPECT_EQ(d.paragraphs[0].heading, "Intro");
  EXPECT_EQ(d.paragraphs[0].text, "Fish <3 chips! caf\xC3\xA9");
  EXPECT_EQ(d.paragraphs[1].text, "Second");
  EXPECT_EQ(d.paragraphs[2].text, "line");
  EXPECT_EQ(d.paragraphs[3].text, "cut off");
}

TEST(Readers, InvalidUtf8BecomesReplacementCharacters) {
  const Document d = ParsePlainText("bad \xFF byte");
  ASSERT_EQ(d.paragraphs.size(), 1u);
  EXPECT_EQ(d.paragraphs[0].text, "bad \xEF\xBF\xBD byte");
}

TEST(Readers, PdfTextIsExtracted) {
  auto d = ReadDocument(std::string(KVFUSE_TEST_DATA) + "/rag/hello.pdf");
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->paragraphs.size(), 1u);
  EXPECT_EQ(d->paragraphs[0].text, "Hello PDF world. Second sentence.");
  EXPECT_EQ(d->title, "hello");
}

TEST(Readers, BadFilesAreClearErrors) {
  const std::string data = KVFUSE_TEST_DATA;
  auto damaged = ReadDocument(data + "/rag/damaged.pdf");
  ASSERT_FALSE(damaged.ok());
  EXPECT_NE(damaged.status().message().find("damaged.pdf"), std::string::npos);
  auto not_pdf = ParsePdf("plain text, not a PDF");
  ASSERT_FALSE(not_pdf.ok());
  EXPECT_NE(not_pdf.status().message().find("not a PDF"), std::string::npos);
  auto missing = ReadDocument(data + "/rag/missing.md");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("no such file"), std::string::npos);
  auto unsupported = ReadDocument(data + "/rag/hello.docx");
  ASSERT_FALSE(unsupported.ok());
  EXPECT_NE(unsupported.status().message().find("unsupported file type"), std::string::npos);
  const std::string dir = std::string(KVFUSE_TEST_TMP) + "/a_directory.md";
  std::filesystem::create_directories(dir);
  auto directory = ReadDocument(dir);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("not a regular file"), std::string::npos);
}

TEST(Readers, BinaryContentIsRefusedWithAClearError) {
  const std::string data = KVFUSE_TEST_DATA;
  auto binary = ReadDocument(data + "/rag/binary.txt");  // a PNG renamed .txt
  ASSERT_FALSE(binary.ok());
  EXPECT_EQ(binary.status().message(),
            data + "/rag/binary.txt: binary content (a NUL byte at offset 8), not text; skipped");
  auto legacy = ReadDocument(data + "/rag/cp1251.txt");  // Russian in a legacy 8-bit encoding
  ASSERT_FALSE(legacy.ok());
  EXPECT_NE(legacy.status().message().find("cp1251.txt: not UTF-8 text ("), std::string::npos)
      << legacy.status().message();
  std::string bytes;
  {
    std::ifstream in(data + "/rag/binary.txt", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  for (const char* name : {"binary.md", "binary.html"}) {
    auto d = ParseDocument(name, bytes);
    ASSERT_FALSE(d.ok()) << name;
    EXPECT_NE(d.status().message().find("binary content"), std::string::npos) << name;
  }
  // Text with a few Latin-1 accents, tabs and terminal colours is still text.
  auto latin1 = ParseDocument("notes.txt", "Caf\xE9 cr\xE8me, \x1B[1mbold\x1B[0m\tand plain text around it.\n");
  ASSERT_TRUE(latin1.ok()) << latin1.status().message();
  EXPECT_EQ(latin1->paragraphs[0].text,
            "Caf\xEF\xBF\xBD cr\xEF\xBF\xBDme, \x1B[1mbold\x1B[0m and plain text around it.");
  EXPECT_TRUE(ParseDocument("empty.md", "").ok());
}

TEST(Readers, OversizedDocumentsAreRefusedBeforeReading) {
  EXPECT_EQ(ReadOptions{}.max_file_bytes, uint64_t{64} << 20);
  const std::string path = TmpFile("big.txt");
  Write(path, std::string(3 << 20, 'a'));
  auto d = ReadDocument(path, ReadOptions{uint64_t{1} << 20});
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().message(),
            path + ": 3 MiB, over the 1 MiB limit for one document; skipped (kvfuse ingest --max-file-mb raises it)");
  EXPECT_TRUE(ReadDocument(path, ReadOptions{3 << 20}).ok());
}

// The file is read once, in place, and parsed without whole copies: the peak is the file
// plus its Document, 2.2 times the file (4.3 before: a stream buffer and its copy, two
// copies for UTF-8 repair, a paragraph buffer and its collapsed copy).
TEST(Readers, PeakMemoryIsASmallMultipleOfTheFile) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer holds freed memory in quarantine: RSS is not the reader's";
#endif
  const std::string path = TmpFile("large.md");
  size_t size = 0;
  {
    std::ofstream out(path, std::ios::binary);
    std::ostringstream para;
    for (int s = 0; s < 6; ++s) para << "Sentence number " << s << " of this   paragraph says\tlittle. ";
    for (int i = 0; size < (size_t{24} << 20); ++i) {
      const std::string block = (i % 50 == 0 ? "## Section " + std::to_string(i) + "\n\n" : "") + para.str() + "\n\n";
      out << block;
      size += block.size();
    }
  }
  Write("/proc/self/clear_refs", "5");  // resets VmHWM where the kernel allows it
  const size_t before = ProcStatusBytes("VmRSS");
  auto d = ReadDocument(path);
  const size_t peak = ProcStatusBytes("VmHWM");
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_GT(d->paragraphs.size(), 50000u);
  if (before == 0 || peak == 0) GTEST_SKIP() << "no /proc/self/status";
  EXPECT_LT(peak - before, size * 3) << "peak " << (peak - before) / 1e6 << " MB for a " << size / 1e6 << " MB file";
}

}  // namespace
}  // namespace kvfuse::rag
