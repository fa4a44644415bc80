// kvfuse's web page in Debian's headless chromium (puppeteer-core, pinned by this folder's
// lockfile; `make test` installs both): create a collection, upload two files from
// tests/data/web, wait for the ingest, ask a question and see the streamed answer with its
// chunks' sources, the full-prefill answer beside it, then the status view's plots. Every
// request must stay on the server's origin. Screenshots of each step go to
// $KVFUSE_SCREENSHOT_DIR (default: build/web-screenshots).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import puppeteer from 'puppeteer-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '../..');
const binary = process.env.KVFUSE_BINARY ?? path.join(root, 'build/kvfuse');
const model = process.env.KVFUSE_MODEL ?? path.join(root, 'models/demo.gguf');
const shots = process.env.KVFUSE_SCREENSHOT_DIR ?? path.join(root, 'build/web-screenshots');
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => fs.existsSync(p));
const KEY = 'sk-web-test';

let server, browser, page, origin, dir;
const foreign = [], pageErrors = [];

function startServer(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['serve', '-m', model, '--port', '0', '-np', '2', '-c', '4096', '--collections-dir', dir,
                                 '--api-key', KEY], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.stderr.on('data', (d) => {
      log += d;
      const port = /listening on http:\/\/[^:]+:(\d+)/.exec(log);
      if (port && log.includes('model ready')) resolve({ child, port: Number(port[1]) });
    });
    child.on('exit', (code) => reject(new Error(`kvfuse serve exited ${code}: ${log}`)));
  });
}

async function shot(name) {
  fs.mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: path.join(shots, `${name}.png`), fullPage: true });
}

before(async () => {
  assert.ok(chromium, 'chromium not found: make test installs it (apt package chromium)');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kvfuse-web-'));
  server = await startServer(dir);
  origin = `http://127.0.0.1:${server.port}`;
  browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
  page = await browser.newPage();
  await page.setViewport({ width: 1200, height: 900 });
  page.on('request', (r) => { if (!r.url().startsWith(origin) && !r.url().startsWith('data:')) foreign.push(r.url()); });
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close();
  server?.child.kill('SIGTERM');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the page loads from the server alone and asks for the key', async () => {
  // Layout shifts are summed from here on (streaming must not move what the user reads).
  await page.evaluateOnNewDocument(() => {
    window.layoutShift = 0;
    new PerformanceObserver((list) => { for (const e of list.getEntries()) if (!e.hadRecentInput) window.layoutShift += e.value; })
      .observe({ type: 'layout-shift', buffered: true });
  });
  await page.goto(`${origin}/`, { waitUntil: 'load' });
  const ms = await page.evaluate(() => performance.getEntriesByType('navigation')[0].loadEventEnd);
  console.log(`page load: ${ms.toFixed(0)} ms`);
  await page.waitForSelector('#key-bar:not([hidden])');
  await page.type('#api-key', KEY);
  await page.click('#key-bar button');
  await shot('1-loaded');
});

test('a collection is created, two files uploaded and ingested', async () => {
  await page.click('#tab-collections');
  await page.type('#new-collection', 'people');
  await page.click('#create-collection');
  await page.waitForFunction(() => document.getElementById('panel-title').textContent === 'people');
  const input = await page.$('#upload-input');
  await input.uploadFile(path.join(root, 'tests/data/web/julia-oyelaran.md'), path.join(root, 'tests/data/web/pavel-petrov.md'));
  await page.click('#upload-button');
  await page.waitForFunction(() => document.getElementById('ingest-status').textContent.startsWith('done'), { timeout: 120_000 });
  await page.waitForFunction(() => document.querySelectorAll('#documents .document').length === 2);
  await page.waitForSelector('#upload-button:not([disabled])');  // the list is refreshed by then
  const status = await page.$eval('#ingest-status', (e) => e.textContent);
  assert.match(status, /done: 2 new/);
  await shot('2-ingested');
});

test('an answer streams in with its chunks and the full-prefill answer beside it', async () => {
  await page.click('#tab-chat');
  await page.select('#collection-select', 'people');
  await page.click('#compare-full');
  await page.type('#prompt', 'Where does Pavel Petrov live?');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => /full prefill:/.test(document.querySelector('.answer .stats')?.textContent ?? ''), { timeout: 120_000 });
  const answer = await page.$eval('.answer .text', (e) => e.textContent);
  const full = await page.$eval('.answer .full-text', (e) => e.textContent);
  const sources = await page.$$eval('.answer .chunk .source', (list) => list.map((e) => e.textContent));
  assert.ok(answer.length > 0 && full.length > 0, 'both answers have text');
  // In prompt order: the best document last, nearest the question.
  assert.ok(sources.length > 0 && sources[sources.length - 1].startsWith('pavel-petrov.md'), sources.join(' | '));
  const cached = await page.$$eval('.answer .chunk .cache', (list) => list.map((e) => e.textContent));
  assert.ok(cached.length === sources.length && cached.every((c) => c === '[cache hit]'), `chunks warmed at upload: ${cached}`);
  const shift = await page.evaluate(() => window.layoutShift);
  console.log(`cumulative layout shift: ${shift.toFixed(4)}`);
  assert.ok(shift < 0.1, `layout shift ${shift}`);  // "good" by the web's own measure
  await shot('3-answered');
});

test('a fused answer unsure of its first token is redone as a full prefill when asked', async () => {
  await page.click('#compare-full');  // off again: one answer
  await page.$eval('#fallback-below', (e) => { e.value = '1'; });  // every fused answer is less sure than 1
  await page.type('#prompt', 'Where does Julia Oyelaran live?');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.querySelectorAll('.answer').length === 2 &&
    /TTFT/.test(document.querySelectorAll('.answer .stats')[1].textContent), { timeout: 120_000 });
  const stats = await page.$$eval('.answer .stats', (list) => list.map((e) => e.textContent));
  assert.match(stats[1], /unsure, redone as a full prefill/);
  assert.doesNotMatch(stats[0], /redone/, 'the first answer was not asked to');
  await page.$eval('#fallback-below', (e) => { e.value = '0'; });
});

test('the status view shows the store and non-empty plots', async () => {
  await page.click('#tab-status');
  await page.waitForFunction(() => document.getElementById('status-store').textContent.includes('hit rate'));
  // The metrics are sampled every 2 s: the requests above fall in some interval.
  await page.waitForFunction(() => ['plot-ttft', 'plot-tps'].every((id) => Number(document.getElementById(id).dataset.points) > 0),
    { timeout: 20_000 });
  await shot('4-status');
  assert.deepEqual(foreign, [], 'no request left the server\'s origin');
  assert.deepEqual(pageErrors, [], 'the page raised no error');
});

test('at phone width nothing runs off the side', async () => {
  await page.setViewport({ width: 390, height: 844 });
  for (const tab of ['#tab-chat', '#tab-collections', '#tab-status']) {
    await page.click(tab);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `${tab}: the page is ${width} px wide`);
  }
  await page.click('#tab-chat');
  await shot('5-phone');
});
