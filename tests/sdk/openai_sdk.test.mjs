// kvfuse serve driven by the official `openai` npm package, as an SDK user drives it: every
// call the SDK makes for chat, legacy completions, embeddings and models, streamed and not,
// and the server's errors arriving as the SDK's typed exceptions. Run by `make test` (ctest
// OpenAiSdk.Conformance) with KVFUSE_BINARY and KVFUSE_MODEL set.
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Ajv from 'ajv';

const BINARY = process.env.KVFUSE_BINARY;
const MODEL = process.env.KVFUSE_MODEL;
const KEY = 'sk-kvfuse-test';

// Starts `kvfuse serve` on a free port; resolves once the model is ready.
function startServer(extraArgs) {
  const child = spawn(BINARY, ['serve', '-m', MODEL, '--port', '0', '-t', '1', '-c', '2048', '--api-key', KEY,
    '--max-body', '65536', ...extraArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    let log = '', port = 0;
    child.stderr.on('data', (data) => {
      log += data;
      const m = log.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) port = Number(m[1]);
      if (port && log.includes('model ready')) resolve({ child, port });
    });
    child.on('exit', (code) => reject(new Error(`kvfuse serve exited (${code}): ${log}`)));
  });
}

function clientOf(port, apiKey = KEY) {
  return new OpenAI({ apiKey, baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0, timeout: 60_000 });
}

let server, client, modelId;
before(async () => {
  assert.ok(BINARY && MODEL, 'KVFUSE_BINARY and KVFUSE_MODEL must be set');
  server = await startServer(['-np', '2']);
  client = clientOf(server.port);
  modelId = (await client.models.list()).data[0].id;
});
after(() => server?.child.kill('SIGTERM'));

const question = [{ role: 'user', content: 'Where does Julia Oyelaran live?' }];

test('models: list, retrieve, and an unknown id is a NotFoundError', async () => {
  const listed = await client.models.list();
  assert.equal(listed.data.length, 1);
  assert.equal((await client.models.retrieve(modelId)).id, modelId);
  await assert.rejects(client.models.retrieve('no-such-model'), OpenAI.NotFoundError);
});

test('chat: a whole answer, and the same text streamed with usage last', async () => {
  const whole = await client.chat.completions.create({ model: modelId, messages: question, temperature: 0 });
  const choice = whole.choices[0];
  assert.equal(choice.message.role, 'assistant');
  assert.ok(choice.message.content.length > 0);
  assert.ok(['stop', 'length'].includes(choice.finish_reason));
  assert.ok(whole.usage.prompt_tokens > 0 && whole.usage.completion_tokens > 0);
  assert.equal(whole.usage.total_tokens, whole.usage.prompt_tokens + whole.usage.completion_tokens);
  assert.equal(typeof whole.system_fingerprint, 'string');

  const stream = await client.chat.completions.create({
    model: modelId, messages: question, temperature: 0, stream: true, stream_options: { include_usage: true },
  });
  let text = '', usage = null, finish = null;
  for await (const chunk of stream) {
    if (chunk.choices.length === 0) usage = chunk.usage;  // the last chunk
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(text, choice.message.content);
  assert.equal(finish, choice.finish_reason);
  assert.equal(usage.prompt_tokens, whole.usage.prompt_tokens);  // cached_tokens may differ: the prefix cache
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
});

test('legacy completions: whole and streamed agree', async () => {
  const prompt = 'Julia Oyelaran lives in';
  const whole = await client.completions.create({ model: modelId, prompt, max_tokens: 12, temperature: 0 });
  assert.ok(whole.choices[0].text.length > 0);
  const stream = await client.completions.create({ model: modelId, prompt, max_tokens: 12, temperature: 0, stream: true });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, whole.choices[0].text);
});

test('embeddings: the SDK default (base64) decodes to the float answer', async () => {
  const input = ['Julia Oyelaran lives in Lisbon.', 'Pavel Petrov is older.'];
  const sdkDefault = await client.embeddings.create({ model: modelId, input });
  const floats = await client.embeddings.create({ model: modelId, input, encoding_format: 'float' });
  assert.equal(sdkDefault.data.length, 2);
  for (let i = 0; i < 2; ++i) {
    const a = sdkDefault.data[i].embedding, b = floats.data[i].embedding;
    assert.equal(a.length, b.length);
    assert.ok(a.some((x) => x !== 0), 'an embedding of zeros');
    for (let j = 0; j < a.length; ++j) assert.ok(Math.abs(a[j] - b[j]) < 1e-6);
  }
});

test('sampling: n choices, each as its own seed gives it', async () => {
  const two = await client.chat.completions.create({ model: modelId, messages: question, temperature: 1, seed: 3, n: 2, max_tokens: 8 });
  assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
  const second = await client.chat.completions.create({ model: modelId, messages: question, temperature: 1, seed: 4, max_tokens: 8 });
  assert.equal(two.choices[1].message.content, second.choices[0].message.content);
});

test('sampling: logprobs of every token, the chosen one the likeliest at temperature 0', async () => {
  const r = await client.chat.completions.create({
    model: modelId, messages: question, temperature: 0, max_tokens: 4, logprobs: true, top_logprobs: 2,
  });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const t of content) {
    assert.equal(t.top_logprobs.length, 2);
    assert.equal(t.token, t.top_logprobs[0].token);
    assert.ok(t.logprob <= 0);
  }
});

test('sampling: a seed repeats an answer, max_tokens and stop cut it', async () => {
  const sampled = () => client.chat.completions.create({
    model: modelId, messages: question, temperature: 1, seed: 7, max_tokens: 16,
  });
  assert.equal((await sampled()).choices[0].message.content, (await sampled()).choices[0].message.content);

  const short = await client.chat.completions.create({ model: modelId, messages: question, temperature: 0, max_tokens: 2 });
  assert.ok(short.usage.completion_tokens <= 2);
  const full = (await client.chat.completions.create({ model: modelId, messages: question, temperature: 0 }))
    .choices[0].message.content;
  const cut = full.indexOf('e');
  assert.ok(cut >= 0, `no 'e' to stop at in ${JSON.stringify(full)}`);
  const stopped = await client.chat.completions.create({ model: modelId, messages: question, temperature: 0, stop: ['e'] });
  assert.equal(stopped.choices[0].message.content, full.slice(0, cut));
  assert.equal(stopped.choices[0].finish_reason, 'stop');
});

test('messages: tool results and assistant content null are accepted', async () => {
  const messages = [
    { role: 'user', content: 'Where does Julia Oyelaran live?' },
    { role: 'assistant', content: null },
    { role: 'tool', tool_call_id: 'call_1', content: 'Lisbon' },
    { role: 'user', content: 'And where is that?' },
  ];
  const r = await client.chat.completions.create({ model: modelId, messages, max_tokens: 4 });
  assert.equal(r.choices.length, 1);
});

test('RAG: documents in the rag object', async () => {
  const r = await client.chat.completions.create({
    model: modelId, messages: question, temperature: 0, max_tokens: 8,
    rag: { documents: ['Julia Oyelaran lives in Lisbon.', 'Pavel Petrov works for Acme.'] },
  });
  assert.ok(r.choices[0].message.content.length > 0);
});

test('errors: parameters the server cannot honour are a BadRequestError naming them', async () => {
  const pattern = { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'string', pattern: '^a+$' } } };
  for (const [param, extra] of [['top_logprobs', { top_logprobs: 3 }], ['response_format', { response_format: pattern }],
    ['tools', { tools: [{ type: 'function', function: { parameters: {} } }] }]]) {
    await assert.rejects(client.chat.completions.create({ model: modelId, messages: question, ...extra }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === param, param);
  }
});

test('structured output: 100 answers to a JSON schema all parse and validate (ajv)', async () => {
  const schema = {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 12 },
      age: { type: 'integer' },
      city: { enum: ['Oslo', 'Lisbon', 'Accra'] },
      pets: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
      retired: { type: ['boolean', 'null'] },
    },
    required: ['name', 'age', 'city'],
    additionalProperties: false,
  };
  const validate = new Ajv().compile(schema);
  let answers = 0;
  for (let r = 0; r < 10; ++r) {
    const res = await client.chat.completions.create({
      model: modelId, messages: [{ role: 'user', content: `Describe person number ${r} as JSON.` }],
      n: 10, temperature: 1, seed: r, max_tokens: 400,
      response_format: { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } },
    });
    for (const c of res.choices) {
      assert.equal(c.finish_reason, 'stop', c.message.content);
      const value = JSON.parse(c.message.content);
      assert.ok(validate(value), `${c.message.content}: ${JSON.stringify(validate.errors)}`);
      ++answers;
    }
  }
  assert.equal(answers, 100);
});

test('structured output: JSON mode answers are JSON objects', async () => {
  const res = await client.chat.completions.create({
    model: modelId, messages: question, n: 4, temperature: 1, seed: 3, max_tokens: 400,
    response_format: { type: 'json_object' },
  });
  for (const c of res.choices) {
    assert.equal(c.finish_reason, 'stop', c.message.content);
    const value = JSON.parse(c.message.content);
    assert.ok(value !== null && typeof value === 'object' && !Array.isArray(value), c.message.content);
  }
});

test('tool calls: a forced call comes back as tool_calls and its result goes back in, streamed or not', async () => {
  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather', description: 'The weather in a city',
      parameters: { type: 'object', properties: { city: { type: 'string', maxLength: 20 } }, required: ['city'] },
    },
  }];
  const messages = [{ role: 'user', content: 'What is the weather in Oslo?' }];
  const r = await client.chat.completions.create({ model: modelId, messages, tools, tool_choice: 'required', max_tokens: 200, temperature: 0 });
  const choice = r.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, null);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.equal(typeof JSON.parse(call.function.arguments).city, 'string');
  const follow = await client.chat.completions.create({
    model: modelId, tools, max_tokens: 8, temperature: 0,
    messages: [...messages, choice.message, { role: 'tool', tool_call_id: call.id, content: '{"sky": "clear"}' }],
  });
  assert.equal(follow.choices[0].message.role, 'assistant');
  const stream = client.chat.completions.stream({
    model: modelId, messages, tools, max_tokens: 200, temperature: 0,
    tool_choice: { type: 'function', function: { name: 'get_weather' } },
  });
  const streamed = await stream.finalChatCompletion();
  assert.equal(streamed.choices[0].finish_reason, 'tool_calls');
  assert.deepEqual(streamed.choices[0].message.tool_calls.map((c) => c.function), choice.message.tool_calls.map((c) => c.function));
});

test('errors: a wrong key, an oversized body', async () => {
  await assert.rejects(clientOf(server.port, 'sk-wrong').models.list(), OpenAI.AuthenticationError);
  const huge = [{ role: 'user', content: 'x'.repeat(100_000) }];
  await assert.rejects(client.chat.completions.create({ model: modelId, messages: huge }),
    (e) => e instanceof OpenAI.APIError && e.status === 413);
});

// The server's gauge of requests it is working on, from /metrics.
async function requestsInProgress(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { Authorization: `Bearer ${KEY}` } })).text();
  return Number(text.match(/^kvfuse_requests_in_progress (\d+)/m)[1]);
}

test('streams: a client that aborts is let go by the server', async () => {
  const controller = new AbortController();
  const stream = await client.chat.completions.create(
    { model: modelId, messages: question, stream: true, max_tokens: 2000, ignore_eos: true },
    { signal: controller.signal });
  let chunks = 0;
  try {
    for await (const _ of stream) {
      ++chunks;
      controller.abort();
    }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError, String(e));
  }
  assert.ok(chunks < 1000, `${chunks} chunks: the abort did not cut the stream short`);
  let busy = 1;
  for (let i = 0; i < 100 && busy > 0; ++i) {
    busy = await requestsInProgress(server.port);  // the /metrics request itself is not counted
    if (busy > 0) await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(busy, 0, 'the aborted stream still runs on the server');
  const next = await client.chat.completions.create({ model: modelId, messages: question, max_tokens: 4 });
  assert.equal(next.choices.length, 1);
});

test('errors: a full queue is a RateLimitError', async () => {
  const busy = await startServer(['-np', '1', '--queue', '1']);
  try {
    const c = clientOf(busy.port);
    const long = () => c.chat.completions.create({ model: modelId, messages: question, max_tokens: 400, ignore_eos: true });
    const outcomes = await Promise.allSettled([long(), long(), long(), long()]);
    const refused = outcomes.filter((o) => o.status === 'rejected');
    assert.ok(refused.length >= 1, 'four requests fit one slot and a queue of one');
    for (const o of refused) assert.ok(o.reason instanceof OpenAI.RateLimitError, String(o.reason));
  } finally {
    busy.child.kill('SIGTERM');
  }
});
