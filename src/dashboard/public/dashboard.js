// The live page: one EventSource on /events ('snapshot' once, then 'sample' every sampleMs,
// 'detection' and 'failure' as they happen; docs/spec/0017-dashboard.md §Live feed), drawn as inline SVG.
import { boundLabel, clear, humanMs, niceTicks, s, timeOfDay } from './charts.js';

const $ = (id) => document.getElementById(id);
const MAX_ROWS = 200;
const state = { samples: [], sampleMs: 1000, historyLimit: 600, detections: 0, failures: 0, rtt: undefined };

function setStatus(status, text) {
  const el = $('status');
  el.dataset.status = status;
  $('status-text').textContent = text;
}

function showSample(sample) {
  $('open-sessions').textContent = sample.open.toLocaleString('en-US');
  $('detached-sessions').textContent = sample.detached.toLocaleString('en-US');
  $('connections').textContent = sample.connections.toLocaleString('en-US');
  $('load').textContent = `${Math.round((sample.load / 255) * 100)} %`;
  setStatus(sample.status, sample.status);
  const presence = $('presence');
  presence.hidden = !sample.presenceDegraded;
  presence.dataset.state = sample.presenceDegraded ? 'degraded' : 'ok';
}

function addFailure(f) {
  const body = $('failures').tBodies[0];
  const tr = document.createElement('tr');
  tr.dataset.kind = f.kind;
  tr.dataset.code = f.code;
  tr.dataset.t = String(f.t);
  const cell = (text, cls) => {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text;
    tr.append(td);
    return td;
  };
  cell(timeOfDay(f.t), 'num');
  const pill = document.createElement('span');
  pill.className = `pill ${f.kind}`;
  pill.textContent = f.code;
  cell('', 'reason').append(pill);
  cell(f.kind === 'auth-failure' ? 'authentication' : 'TLS / upgrade');
  cell(f.remote ?? '–', 'mono');
  cell(f.transport);
  cell(f.message ?? '', 'detail').title = f.message ?? '';
  body.prepend(tr);
  while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
  $('failures-empty').hidden = true;
  $('failure-count').textContent = state.failures.toLocaleString('en-US');
}

function addDetection(d, prepend) {
  const body = $('feed').tBodies[0];
  const tr = document.createElement('tr');
  tr.dataset.reason = d.reason;
  tr.dataset.session = d.session;
  tr.dataset.t = String(d.t);
  tr.dataset.sinceLastSeenMs = String(d.sinceLastSeenMs);
  const cell = (text, cls) => {
    const td = document.createElement('td');
    if (cls) td.className = cls;
    td.textContent = text;
    tr.append(td);
    return td;
  };
  cell(timeOfDay(d.t), 'num');
  const reason = cell('', 'reason');
  const pill = document.createElement('span');
  pill.className = `pill ${d.reason}`;
  pill.textContent = d.reason;
  pill.title = d.message;
  reason.append(pill);
  cell(humanMs(d.sinceLastSeenMs), 'num since');
  const id = cell(d.session.slice(0, 8), 'mono');
  id.title = d.session;
  cell(d.remote ?? '–', 'mono');
  cell(d.transport);
  cell(d.detached ? 'detached, may resume' : 'closed');
  if (prepend) body.prepend(tr);
  else body.append(tr);
  while (body.rows.length > MAX_ROWS) body.lastElementChild.remove();
  $('feed-empty').hidden = true;
}

function drawSessions() {
  const box = $('sessions-chart');
  clear(box);
  const W = 760;
  const H = 250;
  const L = 44;
  const R = 12;
  const T = 12;
  const B = 26;
  const pts = state.samples;
  if (pts.length === 0) return;
  const tEnd = pts[pts.length - 1].t;
  const tStart = Math.min(pts[0].t, tEnd - 60_000);
  const max = Math.max(1, ...pts.map((p) => p.open + p.detached));
  const ticks = niceTicks(max, 4);
  const yMax = ticks[ticks.length - 1];
  const x = (t) => L + ((t - tStart) / Math.max(1, tEnd - tStart)) * (W - L - R);
  const y = (v) => T + (1 - v / yMax) * (H - T - B);
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart live-chart', role: 'img', 'aria-label': 'Sessions over time' });
  for (const v of ticks) {
    svg.append(s('line', { x1: L, x2: W - R, y1: y(v), y2: y(v), class: 'grid' }));
    svg.append(s('text', { x: L - 8, y: y(v) + 4, 'text-anchor': 'end', class: 'tick' }, v.toLocaleString('en-US')));
  }
  for (const [t, anchor] of [[tStart, 'start'], [(tStart + tEnd) / 2, 'middle'], [tEnd, 'end']]) {
    svg.append(s('text', { x: x(t), y: H - 6, 'text-anchor': anchor, class: 'tick' }, timeOfDay(t)));
  }
  const line = (get) => pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)} ${y(get(p)).toFixed(1)}`).join('');
  const area = `${line((p) => p.open)}L${x(tEnd).toFixed(1)} ${y(0)}L${x(pts[0].t).toFixed(1)} ${y(0)}Z`;
  svg.append(s('path', { d: area, class: 'area open' }));
  svg.append(s('path', { d: line((p) => p.open), class: 'line open', 'data-series': 'open' }));
  svg.append(s('path', { d: line((p) => p.detached), class: 'line detached', 'data-series': 'detached' }));
  box.append(svg);
}

function drawRtt() {
  const box = $('rtt-chart');
  clear(box);
  const rtt = state.rtt;
  if (!rtt || rtt.count === 0) {
    const p = document.createElement('p');
    p.className = 'empty';
    p.textContent = 'No RTT samples yet. The server measures the heartbeat round trip where it leads the heartbeat (heartbeatLeader: server, or ws clients).';
    box.append(p);
    $('rtt-summary').textContent = '';
    return;
  }
  // Only the buckets from the first to the last non-empty one: the rest would be empty bars.
  const labels = [...rtt.boundsMs.map((b) => `≤ ${boundLabel(b)}`), `> ${boundLabel(rtt.boundsMs[rtt.boundsMs.length - 1])}`];
  const first = Math.max(0, rtt.counts.findIndex((c) => c > 0) - 1);
  const last = Math.min(rtt.counts.length - 1, rtt.counts.length - 1 - [...rtt.counts].reverse().findIndex((c) => c > 0) + 1);
  const rows = rtt.counts.slice(first, last + 1).map((count, i) => ({ count, label: labels[first + i] }));
  const W = 380;
  const rowH = 22;
  const L = 78;
  const R = 56;
  const H = rows.length * rowH + 8;
  const max = Math.max(...rows.map((r) => r.count));
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart live-chart', role: 'img', 'aria-label': 'Heartbeat RTT distribution' });
  rows.forEach((r, i) => {
    const y = 4 + i * rowH;
    const w = r.count === 0 ? 0 : Math.max(2, ((W - L - R) * r.count) / max);
    const g = s('g', { class: 'rtt-bar', 'data-count': r.count });
    g.append(s('text', { x: L - 8, y: y + 14, 'text-anchor': 'end', class: 'tick' }, r.label));
    g.append(s('rect', { x: L, y: y + 3, width: w.toFixed(1), height: rowH - 8, rx: 2, class: 'bar-fill lifeline' }));
    g.append(s('text', { x: L + w + 6, y: y + 14, class: 'value' }, r.count.toLocaleString('en-US')));
    svg.append(g);
  });
  box.append(svg);
  $('rtt-summary').textContent = `${rtt.count.toLocaleString('en-US')} samples · mean ${(rtt.sumMs / rtt.count).toFixed(2)} ms`;
}

function onSnapshot(snap) {
  state.sampleMs = snap.sampleMs;
  state.samples = snap.samples;
  state.rtt = snap.rtt;
  state.detections = Object.values(snap.detectionsByReason).reduce((a, b) => a + b, 0);
  const hb = snap.heartbeat;
  $('heartbeat').textContent = `heartbeat ${humanMs(hb.intervalMs)} / timeout ${humanMs(hb.timeoutMs)} · leader ${hb.leader}`;
  $('metrics-link').hidden = !snap.metrics;
  $('detection-count').textContent = state.detections.toLocaleString('en-US');
  clear($('feed').tBodies[0]);
  $('feed-empty').hidden = snap.detections.length > 0;
  for (const d of snap.detections) addDetection(d, true);
  state.failures = Object.values(snap.failuresByCode ?? {}).reduce((a, b) => a + b, 0);
  clear($('failures').tBodies[0]);
  $('failures-empty').hidden = (snap.failures ?? []).length > 0;
  $('failure-count').textContent = state.failures.toLocaleString('en-US');
  for (const f of snap.failures ?? []) addFailure(f);
  if (snap.samples.length > 0) showSample(snap.samples[snap.samples.length - 1]);
  drawSessions();
  drawRtt();
}

const events = new EventSource('/events');
events.addEventListener('snapshot', (e) => onSnapshot(JSON.parse(e.data)));
events.addEventListener('sample', (e) => {
  const { sample, rtt } = JSON.parse(e.data);
  state.samples.push(sample);
  const keep = Math.ceil(600_000 / state.sampleMs);
  if (state.samples.length > keep) state.samples.splice(0, state.samples.length - keep);
  state.rtt = rtt;
  showSample(sample);
  drawSessions();
  drawRtt();
});
events.addEventListener('detection', (e) => {
  addDetection(JSON.parse(e.data), true);
  state.detections++;
  $('detection-count').textContent = state.detections.toLocaleString('en-US');
});
events.addEventListener('failure', (e) => {
  state.failures++;
  addFailure(JSON.parse(e.data));
});
events.addEventListener('error', () => setStatus('unknown', 'reconnecting…'));
window.lifelineDashboard = state;
