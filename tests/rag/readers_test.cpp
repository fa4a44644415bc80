#include <filesystem>

#include <gtest/gtest.h>

#include "rag/document.h"

namespace kvfuse::rag {
namespace {

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

}  // namespace
}  // namespace kvfuse::rag
