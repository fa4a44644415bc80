#include "rag/chunker.h"

#include <algorithm>


namespace kvfuse::rag {
namespace {

struct Unit {
  std::string text;
  int32_t n_tokens;
};

// Cuts a word too long for a chunk into pieces of at most max_tokens / 4 characters: a
// character is at most four byte tokens, so each piece fits.
void CutWord(std::string_view word, int32_t max_tokens, const TokenCounter& count, std::vector<Unit>& out) {
  const size_t max_chars = std::max<int32_t>(1, max_tokens / 4);
  size_t begin = 0;
  while (begin < word.size()) {
    size_t end = begin, chars = 0;
    while (end < word.size() && chars < max_chars) {
      ++end;
      while (end < word.size() && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) ++end;
      ++chars;
    }
    std::string piece(word.substr(begin, end - begin));
    const int32_t n = count(piece);
    out.push_back({std::move(piece), n});
    begin = end;
  }
}

// A sentence longer than a chunk becomes runs of whole words that fit (by the real count).
void CutSentence(const std::string& sentence, int32_t max_tokens, const TokenCounter& count,
                 std::vector<Unit>& out) {
  std::vector<Unit> words;
  size_t begin = 0;
  while (begin < sentence.size()) {
    size_t end = sentence.find(' ', begin);
    if (end == std::string::npos) end = sentence.size();
    const std::string_view w(sentence.data() + begin, end - begin);
    const int32_t n = count(w);
    if (n > max_tokens) {
      CutWord(w, max_tokens, count, words);
    } else {
      words.push_back({std::string(w), n});
    }
    begin = end + 1;
  }
  Unit run{"", 0};
  for (Unit& w : words) {
    if (!run.text.empty()) {
      std::string longer = run.text + " " + w.text;
      const int32_t n = count(longer);
      if (n <= max_tokens) {
        run = {std::move(longer), n};
        continue;
      }
      out.push_back(std::move(run));
    }
    run = std::move(w);
  }
  if (!run.text.empty()) out.push_back(std::move(run));
}

std::string Join(const std::vector<Unit>& units, size_t begin, size_t end) {
  std::string s;
  for (size_t i = begin; i < end; ++i) {
    if (!s.empty()) s += ' ';
    s += units[i].text;
  }
  return s;
}

}  // namespace

util::Status ValidateChunkOptions(const ChunkOptions& o) {
  if (o.max_tokens < 8) return util::Status::Error("chunk size must be at least 8 tokens");
  if (o.overlap_tokens < 0 || o.overlap_tokens * 2 > o.max_tokens)
    return util::Status::Error("chunk overlap must be between 0 and half the chunk size");
  if (o.min_tokens < 0 || o.min_tokens > o.max_tokens)
    return util::Status::Error("minimum chunk size must be between 0 and the chunk size");
  return util::Status::Ok();
}

std::vector<TextChunk> ChunkDocument(const Document& doc, const ChunkOptions& options,
                                     const TokenCounter& count) {
  const int32_t max = options.max_tokens;
  std::vector<TextChunk> chunks;
  auto emit = [&](const std::string& heading, std::string text, int32_t n) {
    if (!chunks.empty()) {
      TextChunk& last = chunks.back();
      if (last.heading == heading && last.n_tokens < options.min_tokens) {
        std::string merged = last.text + " " + text;
        const int32_t n_merged = count(merged);
        if (n_merged <= max) {
          last.text = std::move(merged);
          last.n_tokens = n_merged;
          return;
        }
      }
    }
    chunks.push_back({heading, std::move(text), n});
  };
  for (const Paragraph& p : doc.paragraphs) {
    std::vector<Unit> units;
    for (std::string& s : SplitSentences(p.text)) {
      const int32_t n = count(s);
      if (n > max) {
        CutSentence(s, max, count, units);
      } else {
        units.push_back({std::move(s), n});
      }
    }
    size_t begin = 0;
    while (begin < units.size()) {
      // Whole units while their sum fits, then the real count decides (joins can merge tokens).
      size_t end = begin + 1;
      int32_t sum = units[begin].n_tokens;
      while (end < units.size() && sum + units[end].n_tokens <= max) sum += units[end++].n_tokens;
      std::string text = Join(units, begin, end);
      int32_t n = count(text);
      while (n > max && end > begin + 1) {
        text = Join(units, begin, --end);
        n = count(text);
      }
      emit(p.heading, std::move(text), n);
      if (end >= units.size()) break;
      // Overlap: trailing whole units of this chunk, never all of it, so each chunk moves on.
      size_t next = end;
      int32_t overlap = 0;
      while (next - 1 > begin && overlap + units[next - 1].n_tokens <= options.overlap_tokens)
        overlap += units[--next].n_tokens;
      begin = next;
    }
  }
  return chunks;
}

}  // namespace kvfuse::rag
