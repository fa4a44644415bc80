#include "tokenizer/hf_import.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer/pre_tokenizer.h"
#include "util/json_depth.h"

namespace kvfuse::tokenizer {

using nlohmann::json;
using util::Result;
using util::Status;

namespace {

// Tokenizer files nest a few levels; deeper text is refused before a recursive walk.
constexpr int kMaxDepth = 32;
// Vocabularies are at most a few hundred thousand tokens.
constexpr int64_t kMaxTokens = int64_t{1} << 24;

Result<json> ReadJson(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  if (util::JsonNestingDepth(text.str(), kMaxDepth) > kMaxDepth)
    return Status::InvalidArgument(path.string() + " nests arrays and objects deeper than " + std::to_string(kMaxDepth) + " levels");
  json j = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(path.string() + " is not valid JSON");
  return j;
}

// j[key], or null when j is not an object or has no such key.
const json& Field(const json& j, const char* key) {
  static const json kNull;
  if (!j.is_object()) return kNull;
  const auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

// The parts of a normalizer, pre-tokenizer or decoder: a Sequence's items, or itself.
std::vector<json> Parts(const json& j, const char* list_key) {
  if (!j.is_object()) return {};
  if (j.value("type", "") == "Sequence" && j.contains(list_key) && j[list_key].is_array())
    return j[list_key].get<std::vector<json>>();
  return {j};
}

bool HasPart(const json& j, const char* list_key, const std::string& type) {
  for (const json& p : Parts(j, list_key))
    if (p.value("type", "") == type) return true;
  return false;
}

// A special token of tokenizer_config.json: a string or an AddedToken {"content": ...}.
std::string TokenText(const json& config, const char* key) {
  if (!config.contains(key)) return "";
  const json& t = config[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string()) return t["content"].get<std::string>();
  return "";
}

// Tokens by id from the model's vocab and the added tokens; ids nobody names are unused
// placeholders, as llama.cpp's converter writes them.
Status FillTokens(const json& tok, Vocab* v) {
  const json& model_vocab = Field(Field(tok, "model"), "vocab");
  if (!model_vocab.is_object()) return Status::InvalidArgument("tokenizer.json: model.vocab is not an object");
  const json added = tok.value("added_tokens", json::array());
  const auto id_ok = [](const json& id) { return id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < kMaxTokens; };
  int64_t n = 0;
  for (const auto& [text, id] : model_vocab.items()) {
    if (!id_ok(id)) return Status::InvalidArgument("tokenizer.json: the id of '" + text + "' is not in 0.." + std::to_string(kMaxTokens - 1));
    n = std::max<int64_t>(n, id.get<int64_t>() + 1);
  }
  for (const json& a : added) {
    if (!a.is_object() || !id_ok(a.value("id", json())) || !a.contains("content") || !a["content"].is_string())
      return Status::InvalidArgument("tokenizer.json: an added token without a valid id or content");
    for (const char* flag : {"lstrip", "rstrip", "single_word"})
      if (a.value(flag, false))
        return Status::InvalidArgument("tokenizer.json: added token " + a["content"].get<std::string>() + " has " + flag +
                                       ", which GGUF vocabularies cannot express");
    n = std::max<int64_t>(n, a["id"].get<int64_t>() + 1);
  }
  if (n == 0) return Status::InvalidArgument("tokenizer.json: no tokens");
  v->tokens.assign(n, "");
  v->types.assign(n, TokenType::kUnused);
  for (const auto& [text, id] : model_vocab.items()) {
    v->tokens[id.get<int64_t>()] = text;
    v->types[id.get<int64_t>()] = TokenType::kNormal;
  }
  for (const json& a : added) {
    const int64_t id = a["id"].get<int64_t>();
    v->tokens[id] = a["content"].get<std::string>();
    v->types[id] = a.value("special", false) ? TokenType::kControl : TokenType::kUserDefined;
  }
  for (int64_t id = 0; id < n; ++id) {
    if (v->types[id] != TokenType::kUnused) continue;
    char name[32];
    std::snprintf(name, sizeof(name), "[PAD%lld]", static_cast<long long>(id));
    v->tokens[id] = name;
  }
  return Status::Ok();
}

Status FillMerges(const json& model, Vocab* v) {
  const json merges = model.value("merges", json::array());
  v->merges.reserve(merges.size());
  for (const json& m : merges) {
    if (m.is_string()) v->merges.push_back(m.get<std::string>());
    else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string())
      v->merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    else return Status::InvalidArgument("tokenizer.json: a merge is neither \"a b\" nor [\"a\", \"b\"]");
  }
  return Status::Ok();
}

// Byte-level BPE: the pre-tokenizer is named from its Split expressions.
Status ImportByteLevel(const json& tok, Vocab* v) {
  v->model = "gpt2";
  std::vector<std::string> patterns;
  bool byte_level_regex = false;
  for (const json& p : Parts(Field(tok, "pre_tokenizer"), "pretokenizers")) {
    const std::string type = p.value("type", "");
    if (type == "ByteLevel") {
      byte_level_regex = p.value("use_regex", true);
      if (p.value("add_prefix_space", false))
        return Status::InvalidArgument("tokenizer.json: ByteLevel add_prefix_space is not supported");
    } else if (type == "Split" && p.contains("pattern") && p["pattern"].contains("Regex") &&
               p.value("behavior", "") == "Isolated" && !p.value("invert", false)) {
      patterns.push_back(p["pattern"]["Regex"].get<std::string>());
    } else {
      return Status::InvalidArgument("tokenizer.json: pre-tokenizer part " + p.dump().substr(0, 200) + " is not supported");
    }
  }
  if (patterns.empty() && byte_level_regex) v->pre = "gpt-2";
  else if (!byte_level_regex) v->pre = PreTokenizer::Identify(patterns);
  if (v->pre.empty())
    return Status::InvalidArgument("tokenizer.json: pre-tokenizer not recognised (Split expressions: " +
                                   json(patterns).dump().substr(0, 300) + ")");
  auto pre = PreTokenizer::Create(v->pre);
  if (!pre.ok()) return pre.status();
  bool nfc = false;
  for (const json& n : Parts(Field(tok, "normalizer"), "normalizers")) {
    if (n.value("type", "") == "NFC") nfc = true;
    else return Status::InvalidArgument("tokenizer.json: normalizer " + n.dump().substr(0, 200) + " is not supported");
  }
  if (nfc != pre->nfc())
    return Status::InvalidArgument("tokenizer.json: pre-tokenizer " + v->pre + (nfc ? " does not normalize to NFC, as this file asks"
                                                                                      : " normalizes to NFC, which this file does not ask"));
  if (Field(tok, "model").value("ignore_merges", false) != pre->ignore_merges())
    return Status::InvalidArgument("tokenizer.json: model.ignore_merges differs from pre-tokenizer " + v->pre + "'s");
  return Status::Ok();
}

// BPE over "▁"-spaced text with byte fallback: SentencePiece whose scores give each token
// the rank of the first merge that makes it (earlier merges score higher).
Status ImportSentencePieceBpe(const json& tok, Vocab* v) {
  v->model = "llama";
  v->add_space_prefix = false;
  for (const json& n : Parts(Field(tok, "normalizer"), "normalizers")) {
    const std::string type = n.value("type", "");
    const json pattern = n.value("pattern", json::object());
    if (type == "Replace" && pattern.value("String", "") == " " && n.value("content", "") == "\xE2\x96\x81") continue;
    if (type == "Prepend" && n.value("prepend", "") == "\xE2\x96\x81") {
      v->add_space_prefix = true;
      continue;
    }
    return Status::InvalidArgument("tokenizer.json: normalizer " + n.dump().substr(0, 200) + " is not supported");
  }
  for (const json& p : Parts(Field(tok, "pre_tokenizer"), "pretokenizers")) {
    // Splitting on " " after spaces became "▁" finds nothing to split.
    const bool space_split = p.value("type", "") == "Split" && p.value("pattern", json::object()).value("String", "") == " ";
    if (!space_split) return Status::InvalidArgument("tokenizer.json: pre-tokenizer " + p.dump().substr(0, 200) + " is not supported");
  }
  const float unmerged = -static_cast<float>(v->merges.size()) - 1;
  v->scores.assign(v->tokens.size(), unmerged);
  for (size_t rank = v->merges.size(); rank-- > 0;) {
    const std::string& m = v->merges[rank];
    const size_t space = m.find(' ');
    if (space == std::string::npos) return Status::InvalidArgument("tokenizer.json: merge '" + m + "' has no space");
    const int32_t id = v->Find(m.substr(0, space) + m.substr(space + 1));
    if (id >= 0) v->scores[id] = -static_cast<float>(rank);
  }
  for (size_t id = 0; id < v->tokens.size(); ++id) {
    const std::string& t = v->tokens[id];
    if (v->types[id] == TokenType::kNormal && t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>') v->types[id] = TokenType::kByte;
  }
  v->merges.clear();  // SentencePiece vocabularies carry scores, not merges
  return Status::Ok();
}

// BOS/EOS as Python transformers adds them: its Llama and Gemma tokenizers rebuild the
// post-processor from tokenizer_config.json's add_bos_token (default true) and add_eos_token
// (default false); every other class adds what tokenizer.json's post-processor template adds.
bool ConfigDecidesSpecials(const json& config) {
  const std::string cls = config.value("tokenizer_class", "");
  return cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast" || cls == "GemmaTokenizer" || cls == "GemmaTokenizerFast";
}

void SetSpecialTokens(const json& tok, const json& config, Vocab* v) {
  const auto id_of = [&](const std::string& text) { return text.empty() ? -1 : v->Find(text); };
  v->bos_id = id_of(TokenText(config, "bos_token"));
  v->eos_id = id_of(TokenText(config, "eos_token"));
  v->pad_id = id_of(TokenText(config, "pad_token"));
  const json& unk = Field(Field(tok, "model"), "unk_token");
  v->unk_id = unk.is_string() ? id_of(unk.get<std::string>()) : -1;
  if (v->unk_id >= 0) v->types[v->unk_id] = TokenType::kUnknown;
  json single = json::array();  // the template of one sequence, from the post-processor
  for (const json& p : Parts(Field(tok, "post_processor"), "processors"))
    if (p.value("type", "") == "TemplateProcessing") single = p.value("single", json::array());
  const auto special_at = [&](size_t i) -> int32_t {
    if (i >= single.size() || !single[i].contains("SpecialToken")) return -1;
    return id_of(single[i]["SpecialToken"].value("id", ""));
  };
  const int32_t first = special_at(0), last = single.empty() ? -1 : special_at(single.size() - 1);
  if (v->bos_id < 0) v->bos_id = first;
  if (v->eos_id < 0 && last >= 0) v->eos_id = last;
  const auto config_flag = [&](const char* key, bool fallback) {
    return config.contains(key) && config[key].is_boolean() ? config[key].get<bool>() : fallback;
  };
  v->add_bos = ConfigDecidesSpecials(config) ? config_flag("add_bos_token", true) : first >= 0 && first == v->bos_id;
  v->add_eos = ConfigDecidesSpecials(config) ? config_flag("add_eos_token", false)
                                             : last >= 0 && last == v->eos_id && single.size() > 1;
}

std::string ChatTemplateSource(const json& config) {
  if (!config.contains("chat_template")) return "";
  const json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array())  // named templates: the default one
    for (const json& named : t)
      if (named.value("name", "") == "default" && named.contains("template")) return named["template"].get<std::string>();
  return "";
}

Result<Vocab> Import(const std::filesystem::path& folder) {
  auto tok = ReadJson(folder / "tokenizer.json");
  if (!tok.ok()) return tok.status();
  json config = json::object();
  std::error_code no_config;
  if (std::filesystem::exists(folder / "tokenizer_config.json", no_config)) {
    auto c = ReadJson(folder / "tokenizer_config.json");
    if (!c.ok()) return c.status();
    config = std::move(c).value();
  }
  const json& model = Field(*tok, "model");
  if (!model.is_object() || model.value("type", "") != "BPE")
    return Status::InvalidArgument("tokenizer.json: model type '" + (model.is_object() ? model.value("type", "?") : std::string("?")) +
                                   "' is not supported (only BPE: byte-level, or with byte fallback)");
  Vocab v;
  if (Status s = FillTokens(*tok, &v); !s.ok()) return s;
  IndexVocab(&v);  // the tokens' texts are final from here on (only types and scores change)
  if (Status s = FillMerges(model, &v); !s.ok()) return s;
  const bool byte_level = HasPart(Field(*tok, "pre_tokenizer"), "pretokenizers", "ByteLevel");
  if (!byte_level && !model.value("byte_fallback", false))
    return Status::InvalidArgument("tokenizer.json: a BPE model with neither a ByteLevel pre-tokenizer nor byte_fallback");
  Status s = byte_level ? ImportByteLevel(*tok, &v) : ImportSentencePieceBpe(*tok, &v);
  if (!s.ok()) return s;
  if (v.scores.empty()) v.scores.assign(v.tokens.size(), 0.f);
  SetSpecialTokens(*tok, config, &v);
  v.chat_template = ChatTemplateSource(config);
  return v;
}

}  // namespace

Result<Vocab> ImportHfTokenizer(const std::string& dir) {
  try {
    return Import(dir);
  } catch (const json::exception& e) {  // a field of an unexpected JSON type
    return Status::InvalidArgument("tokenizer files in " + dir + " are malformed: " + e.what());
  }
}

}  // namespace kvfuse::tokenizer
