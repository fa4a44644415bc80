#include "server/rag_request.h"

#include "engine/rag_prompt.h"
#include "server/json_body.h"

namespace kvfuse::server {
namespace {

using json = nlohmann::json;

// The fusion knobs: name, range, whether a whole number is required, and which knob it is
// (one given to a mode that does not read it would be ignored: it is refused).
struct Knob {
  const char* name;
  double lo, hi;
  bool whole;
  engine::FusionKnob knob;
};
constexpr Knob kKnobs[] = {{"recompute_ratio", 0.0, 1.0, false, engine::FusionKnob::kRecomputeRatio},
                           {"adaptive_alpha", 0.0, 1e6, false, engine::FusionKnob::kAdaptiveAlpha},
                           {"sink_tokens", 0.0, 4096.0, true, engine::FusionKnob::kSinkTokens},
                           {"query_layers", 0.0, 1024.0, true, engine::FusionKnob::kQueryLayers},
                           {"ape_temperature", 0.01, 100.0, false, engine::FusionKnob::kApeTemperature},
                           {"ape_scale", 0.0, 100.0, false, engine::FusionKnob::kApeScale},
                           {"fallback_below", 0.0, 1.0, false, engine::FusionKnob::kFallbackBelow}};
constexpr const char* kOtherKeys[] = {"documents", "collection", "top_k", "fusion_mode", "audit"};


std::string Path(const std::string& key) { return "rag." + key; }

bool IsRagKey(const std::string& key) {
  for (const char* k : kOtherKeys)
    if (key == k) return true;
  for (const Knob& k : kKnobs)
    if (key == k.name) return true;
  return false;
}

std::string RagKeyList() {
  std::string list;
  for (const char* k : kOtherKeys) list += std::string(list.empty() ? "" : ", ") + k;
  for (const Knob& k : kKnobs) list += std::string(", ") + k.name;
  return list;
}

// An optional number field of the rag object within [lo, hi].
std::optional<ApiError> ReadNumber(const json& rag, const char* name, double lo, double hi, bool whole, double& out) {
  return ReadNumberField(rag, name, Path(name), lo, hi, whole, out);
}

std::optional<ApiError> ReadFusionOptions(const json& rag, fuse::FusionOptions& f) {
  f.mode = engine::kDefaultReuseMode;
  if (HasValue(rag, "fusion_mode")) {
    if (!rag["fusion_mode"].is_string()) return Invalid("rag.fusion_mode", "'rag.fusion_mode' must be a string");
    const auto mode = engine::ParseFusionMode(rag["fusion_mode"].get<std::string>());
    if (!mode) return Invalid("rag.fusion_mode", std::string("'rag.fusion_mode' must be ") + engine::FusionModeList());
    f.mode = *mode;
  }
  double values[] = {f.recompute_ratio, f.adaptive_alpha, static_cast<double>(f.sink_tokens),
                     static_cast<double>(f.query_layers), f.ape_temperature, f.ape_scale, f.fallback_below};
  for (size_t i = 0; i < std::size(kKnobs); ++i) {
    if (auto err = ReadNumber(rag, kKnobs[i].name, kKnobs[i].lo, kKnobs[i].hi, kKnobs[i].whole, values[i])) return err;
    if (HasValue(rag, kKnobs[i].name) && !engine::ModeReadsKnob(f.mode, kKnobs[i].knob))
      return Invalid(Path(kKnobs[i].name), "'" + Path(kKnobs[i].name) + "' does not apply to fusion_mode '" +
                                               engine::FusionModeName(f.mode) + "'");
  }
  f.recompute_ratio = static_cast<float>(values[0]);
  f.adaptive_alpha = static_cast<float>(values[1]);
  f.sink_tokens = static_cast<int32_t>(values[2]);
  f.query_layers = static_cast<int32_t>(values[3]);
  f.ape_temperature = static_cast<float>(values[4]);
  f.ape_scale = static_cast<float>(values[5]);
  f.fallback_below = static_cast<float>(values[6]);
  return std::nullopt;
}

// rag.documents, appended to texts and ids.
std::optional<ApiError> ReadDocuments(const json& docs, const ApiLimits& limits, std::vector<std::string>& texts,
                                      std::vector<std::string>& ids) {
  const std::string param = "rag.documents";
  if (!docs.is_array() || docs.empty() || docs.size() > limits.max_documents)
    return Invalid(param, "'rag.documents' must be an array of 1 to " + std::to_string(limits.max_documents) + " items");
  for (size_t i = 0; i < docs.size(); ++i) {
    const json& d = docs[i];
    if (d.is_string()) {
      texts.push_back(d.get<std::string>());
      ids.push_back(std::to_string(i));
    } else if (d.is_object() && d.contains("text") && d["text"].is_string()) {
      texts.push_back(d["text"].get<std::string>());
      const json id = d.value("id", json(std::to_string(i)));
      if (!id.is_string() && !id.is_number()) return Invalid(param, "a document's 'id' must be a string or a number");
      ids.push_back(id.is_string() ? id.get<std::string>() : id.dump());
    } else {
      return Invalid(param, "each document must be a string or an object with a string 'text'");
    }
    if (texts.back().empty()) return Invalid(param, "a document is empty");
  }
  return std::nullopt;
}

// The object itself: a JSON object of known keys with documents or a collection.
std::optional<ApiError> CheckRagObject(const json& rag) {
  if (!rag.is_object()) return Invalid("rag", "'rag' must be an object");
  for (const auto& [key, value] : rag.items())
    if (!IsRagKey(key))
      return Invalid(Path(key), "'rag' has no field '" + key.substr(0, 40) + "'; it takes " + RagKeyList());
  if (!HasValue(rag, "documents") && !HasValue(rag, "collection"))
    return Invalid("rag", "'rag' needs 'documents' or 'collection'");
  if (HasValue(rag, "top_k") && !HasValue(rag, "collection"))
    return Invalid("rag.top_k", "'rag.top_k' counts chunks retrieved from 'rag.collection', which is not given");
  return std::nullopt;
}

// The question: the one user message, after an optional system message.
std::optional<ApiError> ReadQuestion(const std::vector<engine::ChatMessage>& messages, std::string& system,
                                     std::string& question) {
  size_t users = 0;
  for (const auto& m : messages) {
    if (m.role == "system") system = m.content;
    if (m.role == "user") question = m.content, ++users;
    if (m.role != "system" && m.role != "user") users = 2;
  }
  if (users != 1)
    return Invalid("messages", "with 'rag', messages are an optional system message and one user message (the question)");
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> RefuseMovedRagFields(const json& body) {
  for (const auto& [key, value] : body.items()) {
    if (value.is_null() || key == "top_k" || !IsRagKey(key)) continue;  // top-level top_k is the sampler's
    return Invalid(key, "'" + key + "' moved into the 'rag' object: {\"rag\": {\"" + key + "\": ...}}");
  }
  return std::nullopt;
}

bool HasRag(const json& body) { return HasValue(body, "rag"); }

std::optional<ApiError> ReadRagRequest(const json& body, const std::vector<engine::ChatMessage>& messages,
                                       const engine::Engine& engine, const ApiLimits& limits,
                                       const Retriever& retrieve, ParsedRequest& out) {
  const json& rag = body["rag"];
  if (auto err = CheckRagObject(rag)) return err;
  if (auto err = ReadFusionOptions(rag, out.generation.fusion)) return err;
  std::string system = engine::kDefaultRagSystemPrompt, question;
  if (auto err = ReadQuestion(messages, system, question)) return err;
  RagRequestInfo& info = out.rag.emplace();
  info.question = question;
  info.share_given = HasValue(rag, "recompute_ratio");
  if (auto err = ReadBoolField(rag, "audit", "rag.audit", info.audit)) return err;
  if (info.audit && !engine::ReusesChunkKv(out.generation.fusion.mode))
    return Invalid("rag.audit", std::string("'rag.audit' compares a fused prefill with a full one; fusion_mode '") +
                                    engine::FusionModeName(out.generation.fusion.mode) + "' reuses no chunk KV");
  std::vector<std::string> texts;
  if (HasValue(rag, "documents"))
    if (auto err = ReadDocuments(rag["documents"], limits, texts, out.document_ids)) return err;
  if (HasValue(rag, "collection")) {
    if (!rag["collection"].is_string()) return Invalid("rag.collection", "'rag.collection' must be a string");
    info.collection = rag["collection"].get<std::string>();
    double k = 6;
    if (auto err = ReadNumber(rag, "top_k", 1, 64, /*whole=*/true, k)) return err;
    if (texts.size() + static_cast<size_t>(k) > limits.max_documents)  // one limit on a prompt's chunks
      return Invalid("rag.top_k", "'rag.documents' and 'rag.top_k' together exceed " +
                                      std::to_string(limits.max_documents) + " chunks");
    auto found = retrieve(rag["collection"].get<std::string>(), question, static_cast<int>(k));
    if (auto* err = std::get_if<ApiError>(&found)) return *err;
    auto& chunks = std::get<RetrievedChunks>(found);
    texts.insert(texts.end(), chunks.texts.begin(), chunks.texts.end());
    out.document_ids.insert(out.document_ids.end(), chunks.ids.begin(), chunks.ids.end());
  }
  if (info.audit && texts.empty())  // a plain chat: no fused prefill to compare, no audit to run
    return Invalid("rag.audit", "'rag.audit' needs a document in the prompt: none was given or retrieved");
  auto prompt = engine::BuildRagPrompt(engine, system, texts, question);
  if (!prompt.ok()) return ApiError{400, prompt.status().message(), "invalid_request_error", "messages"};
  out.generation.prompt = std::move(prompt).value();
  return std::nullopt;
}

}  // namespace kvfuse::server
