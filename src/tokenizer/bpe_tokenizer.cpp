#include "tokenizer/bpe_tokenizer.h"

#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"

#include <algorithm>
#include <queue>

namespace kvfuse::tokenizer {

using util::Result;
using util::Status;

namespace {

std::string Utf8(uint32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

}  // namespace

Result<BpeTokenizer> BpeTokenizer::Create(Vocab vocab) {
  if (vocab.model != "gpt2")
    return Status::Error("not a byte-level BPE vocabulary (tokenizer.ggml.model = '" + vocab.model + "')");
  if (vocab.merges.empty()) return Status::Error("BPE vocabulary without tokenizer.ggml.merges");
  auto pre = PreTokenizer::Create(vocab.pre.empty() ? "default" : vocab.pre);
  if (!pre.ok()) return pre.status();
  return BpeTokenizer(std::move(vocab), std::move(pre).value());
}

BpeTokenizer::BpeTokenizer(Vocab vocab, PreTokenizer pre) : vocab_(std::move(vocab)), pre_(std::move(pre)) {
  // GPT-2's byte alphabet: printable Latin-1 bytes stand for themselves, the others map
  // to code points from U+0100 upwards in byte order.
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
    byte_char_[b] = Utf8(cp);
    char_byte_[cp] = static_cast<uint8_t>(b);
    byte_token_[b] = vocab_.Find(byte_char_[b]);
  }
  merge_rank_.reserve(vocab_.merges.size());
  for (size_t i = 0; i < vocab_.merges.size(); ++i) merge_rank_.emplace(vocab_.merges[i], static_cast<int32_t>(i));
  IndexSpecialTokens();
}

void BpeTokenizer::EncodeWord(std::string_view word, std::vector<int32_t>& out) const {
  std::string mapped;
  for (unsigned char b : word) mapped += byte_char_[b];
  if (pre_.ignore_merges()) {
    if (const int32_t id = vocab_.Find(mapped); id >= 0) {
      out.push_back(id);
      return;
    }
  }
  // Symbols as [begin, end) ranges of `mapped` in a linked list; merges join neighbours.
  struct Symbol {
    size_t begin, end;
    int prev, next;
  };
  std::vector<Symbol> sym;
  for (size_t i = 0; i < mapped.size();) {
    const size_t len = Utf8Length(static_cast<unsigned char>(mapped[i]));
    sym.push_back({i, i + len, static_cast<int>(sym.size()) - 1, static_cast<int>(sym.size()) + 1});
    i += len;
  }
  sym.back().next = -1;
  struct Candidate {
    int32_t rank;
    int left;
    size_t size;  // bytes of the merged pair when queued: a stale entry no longer matches
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  std::string key;
  auto push = [&](int left) {
    if (left < 0) return;  // the first symbol has no left neighbour
    const int right = sym[left].next;
    if (right < 0) return;
    key.assign(mapped, sym[left].begin, sym[left].end - sym[left].begin);
    key += ' ';
    key.append(mapped, sym[right].begin, sym[right].end - sym[right].begin);
    if (auto it = merge_rank_.find(key); it != merge_rank_.end())
      queue.push({it->second, left, sym[right].end - sym[left].begin});
  };
  for (int i = 0; i + 1 < static_cast<int>(sym.size()); ++i) push(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Symbol& left = sym[c.left];
    if (left.end == left.begin || left.next < 0) continue;  // merged away
    Symbol& right = sym[left.next];
    if (right.end - left.begin != c.size) continue;  // a neighbour changed since queued
    left.end = right.end;
    right.end = right.begin;  // mark empty
    left.next = right.next;
    if (right.next >= 0) sym[right.next].prev = c.left;
    push(left.prev);
    push(c.left);
  }
  for (int i = 0; i >= 0; i = sym[i].next) {
    const std::string piece = mapped.substr(sym[i].begin, sym[i].end - sym[i].begin);
    if (const int32_t id = vocab_.Find(piece); id >= 0) {
      out.push_back(id);
      continue;
    }
    for (size_t k = 0; k < piece.size();) {  // byte fallback, one alphabet character each
      const size_t len = Utf8Length(static_cast<unsigned char>(piece[k]));
      const uint32_t cp = DecodeUtf8(piece, k, len);
      if (auto it = char_byte_.find(cp); it != char_byte_.end() && byte_token_[it->second] >= 0)
        out.push_back(byte_token_[it->second]);
      k += len;
    }
  }
}

void BpeTokenizer::EncodeFragment(std::string_view text, std::vector<int32_t>& out) const {
  if (pre_.nfc()) {
    const std::string normalized = ToNfc(text);
    for (std::string_view word : pre_.Split(normalized)) EncodeWord(word, out);
    return;
  }
  for (std::string_view word : pre_.Split(text)) EncodeWord(word, out);
}

std::string BpeTokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= vocab_.n_tokens()) return "";
  const TokenType type = vocab_.types[id];
  if (type == TokenType::kControl || type == TokenType::kUnknown) return "";
  const std::string& text = vocab_.tokens[id];
  if (type == TokenType::kUserDefined) return text;
  std::string bytes;
  for (size_t k = 0; k < text.size();) {
    const size_t len = std::min(Utf8Length(static_cast<unsigned char>(text[k])), text.size() - k);
    const uint32_t cp = DecodeUtf8(text, k, len);
    if (auto it = char_byte_.find(cp); it != char_byte_.end()) bytes += static_cast<char>(it->second);
    else bytes.append(text, k, len);
    k += len;
  }
  return bytes;
}

}  // namespace kvfuse::tokenizer
