// Small SVG helpers shared by the two pages: elements built with createElementNS and
// textContent only (no HTML strings from data), "nice" axis ticks and human-friendly numbers.
const NS = 'http://www.w3.org/2000/svg';

/** An SVG element with attributes; children may be elements or strings (text nodes). */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** Round steps (1, 2, 5 × 10^k) from 0 to at least max, about `count` of them. */
export function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((st) => st >= raw);
  const ticks = [];
  for (let v = 0; v < max + step / 2; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  if (ticks[ticks.length - 1] < max) ticks.push(ticks[ticks.length - 1] + step);
  return ticks;
}

/** A duration as people say it: 850 ms, 2.1 s, 45 s, 3 min, 1.5 h. */
export function humanMs(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms / 10) * 10} ms`;
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < 90_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 90 * 60_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3_600_000).toFixed(1)} h`;
}

/** An RTT bucket bound: 0.5 ms, 25 ms, 2.5 s. */
export function boundLabel(ms) {
  return ms < 1000 ? `${ms} ms` : `${ms / 1000} s`;
}

export function timeOfDay(epochMs) {
  return new Date(epochMs).toLocaleTimeString('en-GB', { hour12: false });
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
}
