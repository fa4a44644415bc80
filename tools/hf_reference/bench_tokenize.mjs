// Tokenizer speed, kvfuse against the reference (transformers.js) on the same text, back to
// back in one run: about 1 MiB of mixed text (the test texts of tests/data: code, CJK, emoji,
// Arabic, numbers, whitespace runs, special tokens) through each model's real tokenizer. The
// ids must be identical; the figure is the ratio of encode throughputs (load time excluded
// on both sides: kvfuse's --stats times Encode alone).
//
// Run from the repository root after `make build` and `npm ci` in tools/hf_reference:
//     node tools/hf_reference/bench_tokenize.mjs [build/kvfuse] [MODEL ...]
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { TokenizerLoader } from "@lenml/tokenizers";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, "../..");
const kvfuse = process.argv[2] ?? path.join(root, "build/kvfuse");
const models = process.argv.length > 3 ? process.argv.slice(3) : ["llama3", "qwen3"];
const RUNS = 3;

function mixedText(bytes) {
  const inp = fs.readFileSync(path.join(root, "tests/data/vocab/ggml-vocab-gpt-2.gguf.inp"), "utf8");
  const texts = [...inp.split("\n__ggml_vocab_test__\n").slice(0, -1), ...JSON.parse(fs.readFileSync(path.join(root, "tests/data/hf/texts.json"), "utf8"))];
  const parts = [];
  let size = 0;
  for (let i = 0; size < bytes; ++i) {  // every text in turn, again and again
    const t = texts[i % texts.length];
    parts.push(t);
    size += Buffer.byteLength(t) + 1;
  }
  return parts.join("\n");
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const text = mixedText(1 << 20);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kvfuse-tok-"));
const textFile = path.join(dir, "text.txt");
fs.writeFileSync(textFile, text);
const mib = Buffer.byteLength(text) / (1 << 20);
console.log(`text: ${mib.toFixed(2)} MiB, ${RUNS} runs each, median`);
for (const model of models) {
  const files = path.join(here, "node_modules/@lenml", `tokenizer-${model}`, "models");
  const vocab = path.join(dir, `${model}.gguf`);
  execFileSync(kvfuse, ["convert-tokenizer", files, "-o", vocab], { stdio: "ignore" });
  const tok = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(files, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(files, "tokenizer_config.json"), "utf8")),
  });
  let refIds;
  const refMs = [];
  for (let r = 0; r < RUNS; ++r) {
    const t0 = performance.now();
    refIds = tok.encode(text, { add_special_tokens: false });
    refMs.push(performance.now() - t0);
  }
  let ids;
  const ourMs = [];
  for (let r = 0; r < RUNS; ++r) {
    const run = spawnSync(kvfuse, ["tokenize", "-m", vocab, "-f", textFile, "--ids", "--no-bos", "--parse-special", "--stats"],
                          { encoding: "utf8", maxBuffer: 1 << 28 });
    if (run.status !== 0) throw new Error(`kvfuse tokenize failed: ${run.stderr}`);
    ids = JSON.parse(run.stdout);
    ourMs.push(Number(/in ([0-9.]+) ms/.exec(run.stderr)?.[1] ?? NaN));
  }
  const same = ids.length === refIds.length && ids.every((id, i) => id === refIds[i]);
  const ref = median(refMs), ours = median(ourMs);
  console.log(`${model}: ${ids.length} tokens, ids ${same ? "identical" : "DIFFER"}; ` +
              `kvfuse ${(mib / (ours / 1000)).toFixed(2)} MiB/s, reference ${(mib / (ref / 1000)).toFixed(2)} MiB/s: ` +
              `${(ref / ours).toFixed(2)}x`);
  if (!same) process.exitCode = 1;
}
fs.rmSync(dir, { recursive: true, force: true });
