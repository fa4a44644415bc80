#include "tokenizer/spm_tokenizer.h"

#include "tokenizer/utf8.h"

#include <cstdio>
#include <queue>

namespace kvfuse::tokenizer {

namespace {

const std::string kSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

struct Symbol {
  int prev;
  int next;
  size_t start;
  size_t len;
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t len;
  bool operator<(const Bigram& o) const {  // max-heap: highest score, then leftmost
    return score < o.score || (score == o.score && left > o.left);
  }
};

}  // namespace

util::Result<SpmTokenizer> SpmTokenizer::Create(Vocab vocab) {
  if (vocab.model != "llama")
    return util::Status::Error("tokenizer model '" + vocab.model +
                               "' is not supported yet (only SentencePiece 'llama')");
  return SpmTokenizer(std::move(vocab));
}

SpmTokenizer::SpmTokenizer(Vocab vocab) : vocab_(std::move(vocab)) {
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    byte_ids_[b] = vocab_.Find(name);
  }
  IndexSpecialTokens();
}

void SpmTokenizer::EncodeFragment(std::string_view raw, std::vector<int32_t>& out) const {
  if (raw.empty()) return;
  std::string text;
  if (vocab_.add_space_prefix) text = kSpace;
  for (char c : raw) {
    if (c == ' ') text += kSpace;
    else text += c;
  }

  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = std::min(Utf8Length(static_cast<unsigned char>(text[pos])), text.size() - pos);
    const int index = static_cast<int>(symbols.size());
    symbols.push_back({index - 1, index + 1, pos, len});
    pos += len;
  }
  symbols.back().next = -1;

  std::priority_queue<Bigram> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const std::string_view piece(text.data() + symbols[left].start,
                                 symbols[left].len + symbols[right].len);
    const int32_t id = vocab_.Find(piece);
    if (id < 0) return;
    queue.push({left, right, vocab_.scores[id], piece.size()});
  };
  for (size_t i = 1; i < symbols.size(); ++i) try_add(static_cast<int>(i) - 1, static_cast<int>(i));

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& left = symbols[b.left];
    Symbol& right = symbols[b.right];
    if (left.len == 0 || right.len == 0 || left.len + right.len != b.len) continue;  // stale
    left.len += right.len;
    right.len = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = b.left;
    try_add(left.prev, b.left);
    try_add(b.left, left.next);
  }

  for (int i = 0; i != -1; i = symbols[i].next) {
    const std::string piece = text.substr(symbols[i].start, symbols[i].len);
    const int32_t id = vocab_.Find(piece);
    if (id >= 0) {
      out.push_back(id);
      continue;
    }
    for (unsigned char c : piece) {
      const int32_t byte_id = byte_ids_[c];
      if (byte_id >= 0) out.push_back(byte_id);
      else if (vocab_.unk_id >= 0) out.push_back(vocab_.unk_id);
    }
  }

}

std::string SpmTokenizer::Piece(int32_t id) const {
  if (id < 0 || id >= vocab_.n_tokens()) return "";
  switch (vocab_.types[id]) {
    case TokenType::kControl: case TokenType::kUnknown: case TokenType::kUnused: return "";
    case TokenType::kByte: {
      unsigned value = 0;
      if (std::sscanf(vocab_.tokens[id].c_str(), "<0x%02X>", &value) == 1)
        return std::string(1, static_cast<char>(value));
      return "";
    }
    default: break;
  }
  std::string piece;
  const std::string& token = vocab_.tokens[id];
  for (size_t i = 0; i < token.size();) {
    if (token.compare(i, kSpace.size(), kSpace) == 0) {
      piece += ' ';
      i += kSpace.size();
    } else {
      piece += token[i++];
    }
  }
  return piece;
}

std::string SpmTokenizer::Decode(const std::vector<int32_t>& ids) const {
  std::string text;
  for (int32_t id : ids) text += Piece(id);
  if (vocab_.add_space_prefix && !text.empty() && text[0] == ' ') text.erase(0, 1);
  return text;
}

}  // namespace kvfuse::tokenizer
