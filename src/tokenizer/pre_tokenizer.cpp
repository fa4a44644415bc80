#include "tokenizer/pre_tokenizer.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <new>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "tokenizer/utf8.h"

namespace kvfuse::tokenizer {

using util::Result;
using util::Status;

namespace {

// The expressions of each pre-tokenizer, as the models' tokenizer.json define them, with the
// case-insensitive contractions spelled out as llama.cpp does: PCRE2's (?i) with Unicode would
// also take "'ſ" and "'K" (Kelvin) for contractions, which the reference tokenizers do not
// (a golden text checks it).
constexpr const char* kGpt2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
constexpr const char* kLlama3 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kQwen2 =
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kDeepseekLetters = "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+";
constexpr const char* kCjk = "[一-龥ࠀ-一가-퟿]+";

// The Split expressions of Hugging Face tokenizer.json files, in order, by which
// PreTokenizer::Identify names a pre-tokenizer.
constexpr const char* kHfLlama3 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr const char* kHfQwen2 =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// DeepSeek V3's expressions (the last has raw CR and LF characters, as its file does).
constexpr const char* kDeepseekV3Numbers = "\\p{N}{1,3}";
constexpr const char* kDeepseekV3Cjk = "[一-龥぀-ゟ゠-ヿ]+";
constexpr const char* kDeepseekV3Words =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
    "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+";

struct PreSpec {
  std::vector<const char*> names;
  std::vector<const char*> regexes;
  bool ignore_merges = false;
  bool nfc = false;                     // text is NFC-normalized first (Qwen's tokenizer.json)
  std::vector<const char*> hf_regexes = {};  // empty: not identified from tokenizer.json
};

const std::vector<PreSpec>& Specs() {
  static const std::vector<PreSpec> specs = {
      {{"default", ""}, {"[\\p{P}\\$\\+<=>\\^~\\|]+", kGpt2, "\\p{N}+", "[0-9][0-9][0-9]"}},
      {{"gpt-2", "gpt2", "mpt", "olmo", "phi-2", "jais", "roberta-bpe"}, {kGpt2}},
      {{"llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe"}, {kLlama3}, true, false, {kHfLlama3}},
      {{"qwen2", "deepseek-r1-qwen"}, {kQwen2}, false, true, {kHfQwen2}},
      {{"stablelm2"}, {kQwen2}},
      {{"deepseek-v3"}, {kDeepseekV3Numbers, kDeepseekV3Cjk, kDeepseekV3Words}, false, false,
       {kDeepseekV3Numbers, kDeepseekV3Cjk, kDeepseekV3Words}},
      {{"deepseek-llm"},
       {"[\\r\\n]", kDeepseekLetters, "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", kCjk, "\\p{N}+"}},
      {{"deepseek-coder"}, {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", kCjk, "\\p{N}"}},
      {{"falcon"}, {"[\\p{P}\\$\\+<=>\\^~\\|`]+", kGpt2, "[0-9][0-9][0-9]"}},
      {{"starcoder", "refact", "smollm", "command-r", "codeshell", "exaone", "minerva-7b"}, {"\\p{N}", kGpt2}},
  };
  return specs;
}

}  // namespace

struct PreTokenizer::Regex {
  pcre2_code* code = nullptr;
  ~Regex() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

Result<PreTokenizer> PreTokenizer::Create(const std::string& pre_name) {
  for (const PreSpec& spec : Specs()) {
    for (const char* name : spec.names) {
      if (pre_name != name) continue;
      PreTokenizer p;
      p.ignore_merges_ = spec.ignore_merges;
      p.nfc_ = spec.nfc;
      for (const char* pattern : spec.regexes) {
        int error = 0;
        PCRE2_SIZE offset = 0;
        auto r = std::make_unique<Regex>();
        r->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                PCRE2_UTF | PCRE2_UCP, &error, &offset, nullptr);
        if (!r->code) {
          PCRE2_UCHAR message[256];
          pcre2_get_error_message(error, message, sizeof(message));
          return Status::Error(util::StrFormat("pre-tokenizer %s: %s at offset %zu", pre_name.c_str(),
                                               reinterpret_cast<const char*>(message), offset));
        }
        pcre2_jit_compile(r->code, PCRE2_JIT_COMPLETE);  // optional speed-up; fine if unavailable
        p.regexes_.push_back(std::move(r));
      }
      return p;
    }
  }
  return Status::Error("unsupported BPE pre-tokenizer '" + pre_name + "' (tokenizer.ggml.pre)");
}

std::string PreTokenizer::Identify(const std::vector<std::string>& hf_regexes) {
  for (const PreSpec& spec : Specs()) {
    if (spec.hf_regexes.empty() || spec.hf_regexes.size() != hf_regexes.size()) continue;
    if (std::equal(hf_regexes.begin(), hf_regexes.end(), spec.hf_regexes.begin())) return spec.names[0];
  }
  return "";
}

std::vector<std::string_view> PreTokenizer::Split(std::string_view text) const {
  // Valid UTF-8 runs go through the expressions; each invalid byte is a piece of its own.
  std::vector<std::string_view> pieces;
  std::vector<bool> is_valid;
  for (size_t i = 0, run = 0; i <= text.size();) {
    const size_t len = i < text.size() ? ValidUtf8At(text, i) : 0;
    if (len > 0) {
      i += len;
      continue;
    }
    if (i > run) {
      pieces.push_back(text.substr(run, i - run));
      is_valid.push_back(true);
    }
    if (i == text.size()) break;
    pieces.push_back(text.substr(i, 1));
    is_valid.push_back(false);
    run = ++i;
  }
  for (const auto& regex : regexes_) {
    // Match data per call: Split runs on many threads at once (the server's HTTP threads).
    const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
        pcre2_match_data_create_from_pattern(regex->code, nullptr), &pcre2_match_data_free);
    if (!match) throw std::bad_alloc();
    std::vector<std::string_view> next;
    std::vector<bool> next_valid;
    for (size_t pi = 0; pi < pieces.size(); ++pi) {
      const std::string_view piece = pieces[pi];
      if (!is_valid[pi]) {
        next.push_back(piece);
        next_valid.push_back(false);
        continue;
      }
      const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
      size_t start = 0, last_end = 0;
      while (start <= piece.size()) {
        const int rc = pcre2_match(regex->code, subject, piece.size(), start, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
        if (rc < 0) break;
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(match.get());
        const size_t m_begin = ov[0], m_end = ov[1];
        if (m_end == m_begin) {  // empty match: step over one character
          start = m_end + 1;
          while (start < piece.size() && (static_cast<unsigned char>(piece[start]) & 0xC0) == 0x80) ++start;
          continue;
        }
        if (m_begin > last_end) next.push_back(piece.substr(last_end, m_begin - last_end));
        next.push_back(piece.substr(m_begin, m_end - m_begin));
        last_end = start = m_end;
      }
      if (last_end < piece.size()) next.push_back(piece.substr(last_end));
      next_valid.resize(next.size(), true);
    }
    pieces.swap(next);
    is_valid.swap(next_valid);
  }
  return pieces;
}

}  // namespace kvfuse::tokenizer
