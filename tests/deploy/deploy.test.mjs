// The example deployment of deploy/: HAProxy (deploy/haproxy.cfg, unchanged) in front of two
// `kvfuse serve` replicas that share one redis-server, all on loopback ports. Checked: an
// ingest on another machine warms both replicas; chunks one replica computed are hits of the
// other after the first is killed, and the balancer answers throughout; with Redis killed no
// request fails, and once Redis is back a restarted replica's first request has chunk hits.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const binary = process.env.KVFUSE_BINARY ?? path.join(root, 'build/kvfuse');
const model = process.env.KVFUSE_MODEL ?? path.join(root, 'models/demo.gguf');
const corpus = path.join(root, 'models/demo-world/corpus/people');
const children = new Set();
let dir, redisPort, redisUrl, redis, lb, lbPort;
const replicas = {};  // name -> { child, port }

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function run(cmd, args, options = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  children.add(child);
  child.log = '';
  child.stdout.on('data', (d) => { child.log += d; });
  child.stderr.on('data', (d) => { child.log += d; });
  child.exited = new Promise((resolve) => child.on('exit', (code) => { children.delete(child); resolve(code); }));
  return child;
}

async function until(what, fn, ms = 15000) {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100)))
    if (await fn().catch(() => false)) return;
  throw new Error(`timed out waiting for ${what}`);
}

async function startRedis() {
  redis = run('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  await until('redis-server', async () => redis.log.includes('Ready to accept connections'));
}

async function startReplica(name) {
  const child = run(binary, ['serve', '-m', model, '--port', '0', '-t', '1', '-np', '1', '-c', '2048',
                             '--collection', path.join(dir, name, 'demo'), '--redis', redisUrl]);
  await until(`replica ${name}`, async () => child.log.includes('model ready'));
  replicas[name] = { child, port: Number(/listening on http:\/\/[^:]+:(\d+)/.exec(child.log)[1]) };
}

async function metric(name, line) {
  const text = await (await fetch(`http://127.0.0.1:${replicas[name].port}/metrics`)).text();
  const found = text.split('\n').find((l) => l.startsWith(line + ' '));
  return found ? Number(found.split(' ')[1]) : NaN;
}

// A chat completion through the balancer, routed by the collection header (or straight to
// one replica's port).
async function ask(body, route, port = lbPort) {
  const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Kvfuse-Collection': route },
    body: JSON.stringify({ max_tokens: 8, temperature: 0, ...body }),
  });
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return JSON.parse(text);
}

const question = (q) => [{ role: 'user', content: q }];
const documents = (tag) => [`${tag}: Ines Calloway lives in Marlow and works for Blue Systems.`,
                            `${tag}: Blue Systems is based in Greywater.`, `${tag}: Ines Calloway is 41 years old.`];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvfuse-deploy-'));
  redisPort = await freePort();
  redisUrl = `redis://127.0.0.1:${redisPort}`;
  await startRedis();
  // The ingest runs on a third machine: its chunk KV reaches the replicas through Redis only.
  const files = fs.readdirSync(corpus).sort().slice(0, 12).map((f) => path.join(corpus, f));
  const ingest = run(binary, ['ingest', '-m', model, '--collection', path.join(dir, 'ingest', 'demo'), '--redis', redisUrl, ...files]);
  assert.equal(await ingest.exited, 0, ingest.log);
  assert.match(ingest.log, /chunks written/);
  for (const name of ['a', 'b']) {
    fs.mkdirSync(path.join(dir, name, 'demo'), { recursive: true });
    for (const f of ['collection.json', 'vectors.bin'])
      fs.copyFileSync(path.join(dir, 'ingest', 'demo', f), path.join(dir, name, 'demo', f));
    await startReplica(name);
  }
  lbPort = await freePort();
  lb = run('haproxy', ['-db', '-f', path.join(root, 'deploy/haproxy.cfg')], {
    env: { ...process.env, KVFUSE_LB_BIND: `127.0.0.1:${lbPort}`, KVFUSE_REPLICA_A: `127.0.0.1:${replicas.a.port}`,
           KVFUSE_REPLICA_B: `127.0.0.1:${replicas.b.port}` } });
  await until('haproxy', async () => (await fetch(`http://127.0.0.1:${lbPort}/health`)).status === 200);
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('an ingest on another machine warms every replica through Redis', async () => {
  const body = { messages: question('Where does Ada Novak live?'), rag: { collection: 'demo' } };
  const answers = [];
  for (const port of [lbPort, replicas.a.port, replicas.b.port]) {  // the balancer, then each replica
    const r = await ask(body, 'demo', port);
    assert.ok(r.choices[0].message.content.length > 0);
    assert.ok(r.timings.chunk_hits > 0, JSON.stringify(r.timings));
    assert.equal(r.timings.chunk_misses, 0, 'a replica recomputed chunks the ingest had published');
    answers.push(r.choices[0].message.content);
  }
  assert.equal(new Set(answers).size, 1, `replicas answered differently: ${answers}`);
});

test('chunks one replica computed are hits of the other once the first is killed', async () => {
  const body = { messages: question('Where is the company Ines Calloway works for based?'), rag: { documents: documents('kill') } };
  const written = 'kvfuse_redis_writes_total{result="written"}';
  const before = { a: await metric('a', written), b: await metric('b', written) };
  const first = await ask(body, 'adhoc');
  assert.equal(first.timings.chunk_misses, 3);
  let computedBy;
  await until('the writes to Redis', async () => {
    for (const name of ['a', 'b']) if ((await metric(name, written)) - before[name] >= 3) computedBy = name;
    return computedBy !== undefined;
  });
  replicas[computedBy].child.kill('SIGKILL');
  await replicas[computedBy].child.exited;
  const second = await ask(body, 'adhoc');  // the balancer moves the route to the survivor
  assert.equal(second.timings.chunk_hits, 3, JSON.stringify(second.timings));
  assert.equal(second.choices[0].message.content, first.choices[0].message.content);
  replicas.dead = computedBy;
});

test('with Redis killed no request fails, and hits come back with Redis', async () => {
  assert.ok(replicas.dead, 'needs the previous test to have killed a replica');
  const alive = replicas.dead === 'a' ? 'b' : 'a';
  redis.kill('SIGKILL');
  await redis.exited;
  for (const tag of ['down1', 'down2', 'down3']) {
    const r = await ask({ messages: question('How old is Ines Calloway?'), rag: { documents: documents(tag) } }, tag);
    assert.equal(r.timings.chunk_misses, 3);
  }
  assert.equal(await metric(alive, 'kvfuse_redis_up'), 0);
  await startRedis();  // empty, as a new Redis would be
  await until('the replica reconnecting', async () => (await metric(alive, 'kvfuse_redis_up')) === 1);
  const body = { messages: question('How old is Ines Calloway?'), rag: { documents: documents('back') } };
  const written = 'kvfuse_redis_writes_total{result="written"}';
  const before = await metric(alive, written);
  assert.equal((await ask(body, 'back')).timings.chunk_misses, 3);
  await until('the writes to Redis', async () => (await metric(alive, written)) - before >= 3);
  await startReplica(replicas.dead);  // a new process; its disk never saw these documents
  const res = await fetch(`http://127.0.0.1:${replicas[replicas.dead].port}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ max_tokens: 8, temperature: 0, ...body }) });
  const fresh = await res.json();
  assert.equal(fresh.timings.chunk_hits, 3, JSON.stringify(fresh.timings));
});
