// kvfuse's page: ask (streamed, with the retrieved chunks and the fusion figures), collections
// (create, upload with ingest progress, documents), status (props and plots from /metrics).
// It talks to the server it came from only, with the API key kept in localStorage.
'use strict';

const $ = (id) => document.getElementById(id);
const state = { key: localStorage.getItem('kvfuse-key') || '', docs: new Map(), selected: '', series: [], lastMetrics: null };

// An error for the user; a missing key is asked for by the key bar instead.
function report(e) {
  if (!e.unauthorized) toast(e.message, true);
}

function toast(message, error = false) {
  const t = document.createElement('div');
  t.className = 'toast' + (error ? ' error' : '');
  t.textContent = message;
  $('toasts').appendChild(t);
  setTimeout(() => t.remove(), 6000);
}

// fetch on this origin with the key; a JSON error body becomes an Error with its message.
async function api(path, options = {}) {
  const headers = { ...(options.headers || {}) };
  if (state.key) headers.Authorization = `Bearer ${state.key}`;
  if (options.body && !headers['Content-Type']) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401) {
    const sentKey = headers.Authorization ? headers.Authorization.slice(7) : '';
    const e = new Error('this server needs an API key');
    e.unauthorized = true;
    if (sentKey === state.key) $('key-bar').hidden = false;  // not an answer to a key since replaced
    throw e;
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try { message = (await res.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return res;
}

// Server-sent events of a response, one parsed JSON object per event ([DONE] ends them).
async function* events(res) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (!line.startsWith('data: ')) continue;
      const data = line.slice(6);
      if (data === '[DONE]') return;
      yield JSON.parse(data);
    }
  }
}

function show(view) {
  for (const tab of document.querySelectorAll('.tab')) tab.classList.toggle('active', tab.dataset.view === view);
  for (const v of document.querySelectorAll('.view')) v.hidden = v.id !== `view-${view}`;
  if (view === 'collections') refreshCollections();
  if (view === 'status') refreshStatus();
}

// ---- Ask ----

// The modes that take a recompute share (the server refuses it for the others).
const SHARE_MODES = ['query', 'blend', 'gradual'];
// The modes that place cached chunk KV: they may fall back on a full prefill when unsure.
const REUSING_MODES = ['query', 'blend', 'gradual', 'adaptive', 'sinks', 'naive', 'ape'];
function syncKnobInputs() {
  $('recompute-ratio').disabled = !SHARE_MODES.includes($('fusion-mode').value);
  $('fallback-below').disabled = !REUSING_MODES.includes($('fusion-mode').value);
}

async function chunkInfo(id) {
  const [collection, n] = id.split('#');
  if (!state.docs.has(collection)) {
    const data = (await (await api(`/v1/collections/${encodeURIComponent(collection)}/documents`)).json()).data;
    const byId = new Map();
    for (const doc of data) for (const c of doc.chunks) byId.set(c.id, { file: doc.file, ...c });
    state.docs.set(collection, byId);
  }
  return state.docs.get(collection).get(Number(n));
}

// One streamed answer into `into`; returns the final chunk (timings, usage) and the chunk ids.
async function streamAnswer(body, into) {
  const started = performance.now();
  let firstToken = 0, final = null, used = [];
  const res = await api('/v1/chat/completions', { method: 'POST', body: JSON.stringify({ ...body, stream: true }) });
  for await (const event of events(res)) {
    if (event.error) throw new Error(event.error.message);
    if (event.documents_used) used = event.documents_used;
    const choice = event.choices && event.choices[0];
    if (choice && choice.delta && choice.delta.content) {
      if (!firstToken) firstToken = performance.now() - started;
      into.textContent += choice.delta.content;
    }
    if (choice && choice.finish_reason) final = event;
  }
  return { final, used, ttft: firstToken || performance.now() - started };
}

function timingText(label, r) {
  const t = r.final ? r.final.timings : {};
  const shared = t.prompt_n ? ` · recomputed ${t.tokens_recomputed}/${t.prompt_n} prompt tokens (${(100 * t.tokens_recomputed / t.prompt_n).toFixed(0)}%)` : '';
  const hits = t.chunk_hits + t.chunk_misses ? ` · chunk cache hits ${t.chunk_hits}/${t.chunk_hits + t.chunk_misses}` : '';
  const redone = t.redone_in_full ? ' · unsure, redone as a full prefill' : '';
  return `${label}TTFT ${Math.round(r.ttft)} ms (prefill ${Math.round(t.prompt_ms || 0)} ms)${hits}${shared}${redone}`;
}

async function ask(event) {
  event.preventDefault();
  const question = $('prompt').value.trim();
  if (!question) return;
  $('prompt').value = '';
  $('send').disabled = true;
  const q = document.createElement('li');
  q.className = 'question';
  q.textContent = question;
  const a = document.createElement('li');
  a.className = 'answer';
  a.innerHTML = '<div class="pair"><div><h3 class="label"></h3><div class="text"></div></div></div><div class="stats"></div><ol class="chunks"></ol>';
  $('messages').append(q, a);
  a.scrollIntoView({ block: 'end' });
  const collection = $('collection-select').value;
  const body = { messages: [{ role: 'user', content: question }], max_tokens: Number($('max-tokens').value),
                 temperature: Number($('temperature').value) };
  const mode = $('fusion-mode').value;
  if (collection) {
    body.rag = { collection, top_k: Number($('top-k').value), fusion_mode: mode };
    if (SHARE_MODES.includes(mode)) body.rag.recompute_ratio = Number($('recompute-ratio').value);
    const fallback = Number($('fallback-below').value);
    if (REUSING_MODES.includes(mode) && fallback > 0) body.rag.fallback_below = fallback;
  }
  try {
    const fused = await streamAnswer(body, a.querySelector('.text'));
    a.querySelector('.label').textContent = collection ? `${mode}` : 'answer';
    const fromCache = (fused.final && fused.final.timings.chunks_from_cache) || [];
    for (const [i, id] of fused.used.entries()) {
      const li = document.createElement('li');
      li.className = 'chunk';
      const info = await chunkInfo(id).catch(() => null);
      li.innerHTML = '<span class="source"></span> <span class="cache"></span> <span class="excerpt"></span>';
      li.querySelector('.source').textContent = info ? `${info.file} · ${info.heading}` : id;
      if (i < fromCache.length) li.querySelector('.cache').textContent = fromCache[i] ? '[cache hit]' : '[computed]';
      li.querySelector('.excerpt').textContent = info ? info.text.slice(0, 140) : '';
      a.querySelector('.chunks').appendChild(li);
    }
    const lines = [timingText(collection ? `${mode}: ` : '', fused)];
    if (collection && $('compare-full').checked) {
      const pair = a.querySelector('.pair');
      pair.insertAdjacentHTML('beforeend', '<div class="full"><h3>full prefill</h3><div class="full-text"></div></div>');
      const full = await streamAnswer({ ...body, rag: { collection, top_k: body.rag.top_k, fusion_mode: 'full' } },
                                      a.querySelector('.full-text'));
      lines.push(timingText('full prefill: ', full));
      const same = full.final && a.querySelector('.full-text').textContent === a.querySelector('.text').textContent;
      lines.push(`${same ? 'same answer' : 'answers differ'} · TTFT saved ${Math.round(full.ttft - fused.ttft)} ms`);
    }
    a.querySelector('.stats').textContent = lines.join('\n');
  } catch (e) {
    report(e);
    a.querySelector('.stats').textContent = `error: ${e.message}`;
  } finally {
    $('send').disabled = false;
  }
}

// ---- Collections ----

async function refreshCollections() {
  let list;
  try { list = await (await api('/v1/collections')).json(); } catch (e) { return report(e); }
  const select = $('collection-select'), chosen = select.value;
  select.length = 1;
  $('collection-list').replaceChildren();
  $('create-form').hidden = !list.can_create;
  for (const c of list.data) {
    select.add(new Option(c.ingesting ? `${c.id} (ingesting)` : `${c.id} (${c.chunks} chunks)`, c.id));
    const li = document.createElement('li');
    li.className = 'collection';
    li.dataset.name = c.id;
    li.innerHTML = '<span class="name"></span><span class="counts"></span><button class="secondary open">Open</button>';
    li.querySelector('.name').textContent = c.id;
    li.querySelector('.counts').textContent = c.ingesting ? 'ingesting…' : `${c.files} files · ${c.chunks} chunks`;
    li.querySelector('.open').onclick = () => openCollection(c.id);
    if (c.removable) {
      const del = document.createElement('button');
      del.className = 'secondary delete';
      del.textContent = 'Delete';
      del.onclick = () => removeCollection(c.id);
      li.appendChild(del);
    }
    $('collection-list').appendChild(li);
  }
  select.value = [...select.options].some((o) => o.value === chosen) ? chosen : select.value;
}

async function createCollection(event) {
  event.preventDefault();
  const name = $('new-collection').value.trim();
  try {
    await api('/v1/collections', { method: 'POST', body: JSON.stringify({ name }) });
    $('new-collection').value = '';
    await refreshCollections();
    openCollection(name);
  } catch (e) { report(e); }
}

async function removeCollection(name) {
  if (!confirm(`Delete collection ${name} and its files?`)) return;
  try { await api(`/v1/collections/${encodeURIComponent(name)}`, { method: 'DELETE' }); } catch (e) { report(e); }
  state.docs.delete(name);
  if (state.selected === name) $('collection-panel').hidden = true;
  refreshCollections();
}

async function openCollection(name) {
  state.selected = name;
  $('collection-panel').hidden = false;
  $('panel-title').textContent = name;
  const list = $('documents');
  list.replaceChildren();
  try {
    const data = (await (await api(`/v1/collections/${encodeURIComponent(name)}/documents`)).json()).data;
    for (const doc of data) {
      const li = document.createElement('li');
      li.className = 'document';
      li.textContent = `${doc.file} `;
      const count = document.createElement('span');
      count.className = 'chunk-count';
      count.textContent = `(${doc.chunks.length} chunks)`;
      li.appendChild(count);
      list.appendChild(li);
    }
  } catch (e) { report(e); }
}

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(',')[1] || '');
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function upload() {
  const files = [...$('upload-input').files];
  if (!state.selected || !files.length) return toast('Choose a collection and files first', true);
  $('upload-button').disabled = true;
  $('ingest-status').textContent = 'uploading…';
  try {
    const payload = { files: await Promise.all(files.map(async (f) => ({ name: f.name, content: await readBase64(f), encoding: 'base64' }))) };
    const res = await api(`/v1/collections/${encodeURIComponent(state.selected)}/files`, { method: 'POST', body: JSON.stringify(payload) });
    for await (const event of events(res)) {
      if (event.stage) {
        $('ingest-progress').value = event.total ? event.done / event.total : 0;
        $('ingest-status').textContent = `${event.stage}: ${event.done}/${event.total}`;
      } else if (event.report) {
        const r = event.report;
        $('ingest-progress').value = 1;
        $('ingest-status').textContent = `done: ${r.files_new} new, ${r.files_changed} changed, ${r.files_failed} failed files; ` +
          `${r.chunks_added} chunks added, ${r.chunks_warmed} KV pre-computed; ${r.chunks} chunks in all`;
        for (const err of r.errors) toast(err, true);
      }
      if (event.error) throw new Error(event.report ? `ingested, but not saved: ${event.error.message}` : event.error.message);
    }
    state.docs.delete(state.selected);
    await openCollection(state.selected);
    await refreshCollections();
  } catch (e) {
    report(e);
    $('ingest-status').textContent = `error: ${e.message}`;
  } finally {
    $('upload-button').disabled = false;
  }
}

// ---- Status ----

function parseMetrics(text) {
  const m = {};
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const [name, value] = line.split(/\s+/);
    const base = name.replace(/\{.*\}$/, '');
    m[base] = (m[base] || 0) + Number(value);  // labelled series summed
  }
  return m;
}

async function sampleMetrics() {
  if (state.sampling) return;  // one reading at a time: a slow server gets no pile of them
  state.sampling = true;
  let now;
  try {
    now = parseMetrics(await (await api('/metrics', { signal: AbortSignal.timeout(5000) })).text());
  } catch (e) {
    return;
  } finally {
    state.sampling = false;
  }
  now.time = performance.now() / 1000;
  const last = state.lastMetrics;
  state.lastMetrics = now;
  if (!last) return;
  const rate = (sum, count) => (now[count] - last[count] > 0 ? (now[sum] - last[sum]) / (now[count] - last[count]) : null);
  state.series.push({
    ttft: rate('kvfuse_time_to_first_token_seconds_sum', 'kvfuse_time_to_first_token_seconds_count'),
    tpot: rate('kvfuse_inter_token_seconds_sum', 'kvfuse_inter_token_seconds_count'),
    tps: (now.kvfuse_completion_tokens_total - last.kvfuse_completion_tokens_total) / (now.time - last.time),
  });
  if (state.series.length > 150) state.series.shift();  // five minutes at one sample per 2 s
  if (!$('view-status').hidden) drawPlots();
}

function plot(canvas, values) {
  const g = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height;
  g.clearRect(0, 0, w, h);
  const known = values.filter((v) => v !== null && Number.isFinite(v));
  const max = Math.max(1e-9, ...known) * 1.1;
  g.strokeStyle = '#c3ccd6';
  g.strokeRect(0.5, 0.5, w - 1, h - 1);
  g.fillStyle = '#4a5561';
  g.font = '11px system-ui';
  g.fillText(known.length ? max.toPrecision(2) : 'no data yet', 4, 12);
  g.strokeStyle = '#1d3557';
  g.lineWidth = 2;
  g.beginPath();
  let started = false;
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return;
    const x = (i / Math.max(1, values.length - 1)) * (w - 8) + 4, y = h - 4 - (v / max) * (h - 20);
    if (started) g.lineTo(x, y); else g.moveTo(x, y);
    started = true;
    g.fillStyle = '#1d3557';
    g.fillRect(x - 2, y - 2, 4, 4);  // a lone reading shows too
  });
  g.stroke();
  canvas.dataset.points = String(known.length);
}

function drawPlots() {
  plot($('plot-ttft'), state.series.map((s) => s.ttft));
  plot($('plot-tpot'), state.series.map((s) => s.tpot));
  plot($('plot-tps'), state.series.map((s) => s.tps));
}

async function refreshStatus() {
  try {
    const props = await (await api('/props')).json();
    const slots = await (await api('/slots')).json();
    const s = props.chunk_store;
    $('status-model').textContent = props.model_alias;
    $('status-ctx').textContent = `${props.default_generation_settings.n_ctx} tokens`;
    $('status-slots').textContent = `${slots.filter((x) => x.is_processing).length} busy of ${props.total_slots}`;
    const lookups = s.ram_hits + s.disk_hits + s.misses;
    $('status-store').textContent = `RAM ${(s.ram_bytes / 1048576).toFixed(1)} of ${(s.ram_budget_bytes / 1048576).toFixed(0)} MiB, ` +
      `${s.ram_entries} chunks; disk tier ${s.disk_tier ? 'on' : 'off'}; hit rate ` +
      `${lookups ? (100 * (s.ram_hits + s.disk_hits) / lookups).toFixed(0) : '–'}% (${s.ram_hits} RAM, ${s.disk_hits} disk, ${s.misses} misses)`;
  } catch (e) { report(e); }
  drawPlots();
}

// ---- Wiring ----

for (const tab of document.querySelectorAll('.tab')) tab.onclick = () => show(tab.dataset.view);
document.addEventListener('keydown', (e) => {
  const views = { 1: 'chat', 2: 'collections', 3: 'status' };
  if (e.altKey && views[e.key]) { e.preventDefault(); show(views[e.key]); }
});
$('ask-form').onsubmit = ask;
$('fusion-mode').onchange = syncKnobInputs;
$('prompt').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('ask-form').requestSubmit(); }
});
$('create-form').onsubmit = createCollection;
$('upload-button').onclick = upload;
$('key-bar').onsubmit = (e) => {
  e.preventDefault();
  state.key = $('api-key').value;
  localStorage.setItem('kvfuse-key', state.key);
  $('key-bar').hidden = true;
  refreshCollections();
  sampleMetrics();  // the plots' first reading: from now on every request falls in an interval
};
refreshCollections();
sampleMetrics();
setInterval(sampleMetrics, 2000);
