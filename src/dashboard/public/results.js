// The results page: lists the server's result files, renders one (?file=NAME) or a file the
// user opens or pastes. The server turns the JSON into SVG (docs/spec/0017-dashboard.md
// §Results page); this page only places it.
import { clear } from './charts.js';

const $ = (id) => document.getElementById(id);
const output = $('output');

function message(text, cls = 'empty') {
  clear(output);
  const p = document.createElement('p');
  p.className = cls;
  p.textContent = text;
  output.append(p);
}

function show(result, source) {
  clear(output);
  output.dataset.kind = result.kind;
  const h1 = document.createElement('h1');
  h1.textContent = result.title;
  const meta = document.createElement('p');
  meta.className = 'meta';
  meta.textContent = [source, ...result.meta].filter(Boolean).join(' · ');
  output.append(h1, meta);
  const grid = document.createElement('div');
  grid.className = result.kind === 'bench' ? 'chart-grid' : 'chart-single';
  for (const chart of result.charts) {
    const fig = document.createElement('figure');
    fig.className = 'panel result-chart';
    fig.dataset.chart = chart.id;
    fig.dataset.series = String(chart.series);
    const cap = document.createElement('figcaption');
    const title = document.createElement('span');
    title.className = 'panel-title';
    title.textContent = chart.title;
    const sub = document.createElement('span');
    sub.className = 'muted small';
    sub.textContent = chart.subtitle;
    cap.append(title, sub);
    const holder = document.createElement('div');
    // The SVG comes from our own server, built from escaped strings (results-render.ts).
    holder.innerHTML = chart.svg;
    fig.append(cap, holder);
    grid.append(fig);
  }
  output.append(grid);
  if (result.notes.length > 0) {
    const ul = document.createElement('ul');
    ul.className = 'notes';
    for (const n of result.notes) {
      const li = document.createElement('li');
      li.textContent = n;
      ul.append(li);
    }
    output.append(ul);
  }
}

async function render(request, source) {
  message('Rendering…');
  try {
    const res = await fetch(...request);
    const body = await res.json();
    if (!res.ok) return message(body.error ?? `HTTP ${res.status}`, 'error');
    show(body, source);
  } catch (err) {
    message(String(err), 'error');
  }
}

function openFile(name, push) {
  if (push) history.pushState(null, '', `/results?file=${encodeURIComponent(name)}`);
  for (const a of document.querySelectorAll('#files a')) a.toggleAttribute('aria-current', a.dataset.name === name);
  return render([`/api/results/render?file=${encodeURIComponent(name)}`], name);
}

const renderText = (text, source) => render(['/api/results/render', { method: 'POST', headers: { 'content-type': 'text/plain; charset=utf-8' }, body: text }], source);

async function listFiles() {
  const res = await fetch('/api/results');
  const body = await res.json();
  const list = $('files');
  clear(list);
  if (!res.ok) {
    $('files-note').textContent = 'No results directory: start the server with --dashboard-results DIR to list its files here.';
    return;
  }
  $('files-note').textContent = body.files.length === 0 ? 'The results directory has no .json files yet.' : '';
  for (const f of body.files) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = `/results?file=${encodeURIComponent(f.name)}`;
    a.dataset.name = f.name;
    a.textContent = f.name;
    a.addEventListener('click', (e) => {
      e.preventDefault();
      void openFile(f.name, true);
    });
    const size = document.createElement('span');
    size.className = 'muted small';
    size.textContent = `${Math.max(1, Math.round(f.bytes / 1024))} KiB`;
    li.append(a, size);
    list.append(li);
  }
}

$('file-input').addEventListener('change', async (e) => {
  const file = e.target.files?.[0];
  if (file) await renderText(await file.text(), file.name);
});
$('render').addEventListener('click', () => {
  const text = $('paste').value.trim();
  if (text) void renderText(text, 'pasted');
});
window.addEventListener('popstate', () => {
  const name = new URLSearchParams(location.search).get('file');
  if (name) void openFile(name, false);
});

await listFiles().catch(() => {});
const initial = new URLSearchParams(location.search).get('file');
if (initial) await openFile(initial, false);
document.body.dataset.ready = 'true';
