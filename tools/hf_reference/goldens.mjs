// Writes the expected token ids and chat-template renderings of six real
// tokenizers (Llama 3 and 3.1, Qwen 2.5 and 3, Gemma 3, DeepSeek V3), made by reference implementations and not by kvfuse: transformers.js
// (@lenml/tokenizers) for ids, @huggingface/jinja for templates. The C++ tests
// (tests/tokenizer/hf_tokenizer_test.cpp) compare kvfuse with these files.
//
// Inputs: tests/data/vocab/ggml-vocab-gpt-2.gguf.inp (llama.cpp's tokenizer test texts),
// tests/data/hf/texts.json and tests/data/hf/conversations.json.
// Outputs: tests/data/hf/MODEL.tokens.json and tests/data/hf/MODEL.chat.json.
//
// Run from the repository root after `npm ci` in tools/hf_reference:
//     node tools/hf_reference/goldens.mjs
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TokenizerLoader } from "@lenml/tokenizers";
import { Template } from "@huggingface/jinja";

const here = path.dirname(fileURLToPath(import.meta.url));
const data = path.join(here, "../../tests/data");
export const MODELS = ["llama3", "llama3_1", "qwen2_5", "qwen3", "gemma3", "deepseek_v3"];

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, "utf8"));
}

function modelFiles(model) {
  const dir = path.join(here, "node_modules/@lenml", `tokenizer-${model}`, "models");
  return { json: readJson(path.join(dir, "tokenizer.json")), config: readJson(path.join(dir, "tokenizer_config.json")) };
}

function testTexts() {
  const inp = fs.readFileSync(path.join(data, "vocab/ggml-vocab-gpt-2.gguf.inp"), "utf8");
  const llamaCpp = inp.split("\n__ggml_vocab_test__\n").slice(0, -1);
  return [...llamaCpp, ...readJson(path.join(data, "hf/texts.json"))];
}

// Special tokens read as plain text (llama.cpp's parse_special = false, Hugging Face's
// split_special_tokens = True): the tokenizer without its special added tokens. Added
// tokens that are not special are still matched, as in both of those.
function withoutSpecialTokens(json) {
  return { ...json, added_tokens: json.added_tokens.filter((t) => !t.special) };
}

// Python transformers' Llama and Gemma tokenizers rebuild the post-processor from
// tokenizer_config.json's add_bos_token (default true) and add_eos_token (default false)
// (update_post_processor), where transformers.js keeps tokenizer.json's: follow Python, the
// stack the models ship for. Other classes keep tokenizer.json's post-processor in both.
const CONFIG_DECIDES_SPECIALS = ["LlamaTokenizer", "LlamaTokenizerFast", "GemmaTokenizer", "GemmaTokenizerFast"];

function withSpecials(text, tok, config) {
  if (!CONFIG_DECIDES_SPECIALS.includes(config.tokenizer_class)) return tok.encode(text, { add_special_tokens: true });
  const ids = tok.encode(text, { add_special_tokens: false });
  const bos = config.add_bos_token !== false ? [tok.model.tokens_to_ids.get(tokenText(config.bos_token))] : [];
  const eos = config.add_eos_token === true ? [tok.model.tokens_to_ids.get(tokenText(config.eos_token))] : [];
  return [...bos, ...ids, ...eos];
}

function tokenGoldens(model) {
  const { json, config } = modelFiles(model);
  const tok = TokenizerLoader.fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config });
  const plain = TokenizerLoader.fromPreTrained({ tokenizerJSON: withoutSpecialTokens(json), tokenizerConfig: config });
  return testTexts().map((text) => ({
    text,
    ids: tok.encode(text, { add_special_tokens: false }),
    ids_special_as_text: plain.encode(text, { add_special_tokens: false }),
    ids_with_bos_eos: withSpecials(text, tok, config),
  }));
}

function tokenText(token) {
  return token && typeof token === "object" ? token.content : token ?? "";
}

function chatGoldens(model) {
  const { config } = modelFiles(model);
  const template = new Template(config.chat_template);
  const variants = [
    { add_generation_prompt: false },
    { add_generation_prompt: true },
    { add_generation_prompt: true, enable_thinking: false },
    { add_generation_prompt: true, enable_thinking: true },
  ];
  const cases = [];
  for (const [name, { templates, ...conversation }] of Object.entries(readJson(path.join(data, "hf/conversations.json")))) {
    if (templates && !templates.includes(model)) continue;  // a shape only these templates support
    for (const variant of variants) {
      const context = { ...conversation, ...variant, bos_token: tokenText(config.bos_token), eos_token: tokenText(config.eos_token) };
      const c = { name, context };
      try {
        c.expected = template.render(context);
      } catch (e) {
        c.error = String(e.message ?? e);
      }
      cases.push(c);
    }
  }
  return cases;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const model of MODELS) {
    const tokens = tokenGoldens(model);
    fs.writeFileSync(path.join(data, `hf/${model}.tokens.json`), JSON.stringify(tokens) + "\n");
    const chat = chatGoldens(model);
    fs.writeFileSync(path.join(data, `hf/${model}.chat.json`), JSON.stringify(chat, null, 1) + "\n");
    console.log(`${model}: ${tokens.length} texts, ${chat.length} chat cases (${chat.filter((c) => c.error).length} errors)`);
  }
}
