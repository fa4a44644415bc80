// Cost of a constrained token against an unconstrained one, measured through a running
// `kvfuse serve` (the server's own timings: predicted_ms / predicted_n), in one run:
// unconstrained (ignore_eos, so answers are long), JSON mode, and a JSON schema.
//     build/kvfuse serve -m models/demo.gguf --port 8090 -np 1 -t 2 &
//     node tools/bench_constrained.mjs 8090
const port = process.argv[2] ?? 8080;
async function run(extra, label) {
  let ms = 0, n = 0;
  for (let i = 0; i < 30; ++i) {
    const r = await (await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: `Describe person ${i} as JSON.` }], max_tokens: 120, temperature: 1, seed: i, ...extra }) })).json();
    ms += r.timings.predicted_ms; n += r.timings.predicted_n;
    if (i === 0) console.log(label, JSON.stringify(r.choices[0].message.content).slice(0, 200));
  }
  console.log(`${label}: ${n} tokens, ${(ms / n).toFixed(3)} ms/token`);
  return ms / n;
}
const schema = { type: 'object', properties: { name: { type: 'string', maxLength: 12 }, age: { type: 'integer' }, city: { enum: ['Oslo', 'Lisbon', 'Accra'] } }, required: ['name', 'age', 'city'] };
const free = await run({ ignore_eos: true }, 'unconstrained');
const mode = await run({ response_format: { type: 'json_object' } }, 'json_object');
const sch = await run({ response_format: { type: 'json_schema', json_schema: { name: 'p', schema } } }, 'json_schema');
console.log(`ratio json_object ${(mode / free).toFixed(2)}x, json_schema ${(sch / free).toFixed(2)}x`);
