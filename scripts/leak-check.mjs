#!/usr/bin/env node
/**
 * Leak check at full size (issue 15 item 4): per transport, test/fixtures/leak-probe.ts in its own
 * process (--expose-gc) runs 10,000 connect → one echoed message → close cycles and 10,000
 * dead-peer detections (blackholed path, server heartbeat 250 / 1000 ms), after a warm-up, and
 * compares heap, active handles, live timers and the server's registries with the baseline.
 * Prints one row per transport; exits 1 if handles, timers or registries are not back to baseline
 * or the data heap (heapUsed minus compiled code and bytecode) grew by more than --bound bytes per
 * cycle, or live JS objects by 1 per 10 cycles or more. Loopback only, bounded.
 *
 *   node scripts/leak-check.mjs [--transports tcp,ws,udp] [--cycles 10000] [--deads 10000] [--warmup 500] [--bound 200] [--json]
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const transports = arg('transports', 'tcp,ws,udp').split(',');
const cycles = Math.min(Number(arg('cycles', 10_000)), 20_000);
const deads = Math.min(Number(arg('deads', 10_000)), 20_000);
const warmup = Math.min(Number(arg('warmup', 500)), 2000);
const bound = Number(arg('bound', 200));
const json = process.argv.includes('--json');

function probe(transport) {
  return new Promise((resolve, reject) => {
    const args = ['--expose-gc', '--import', 'tsx', 'test/fixtures/leak-probe.ts', transport, String(cycles), String(deads), String(warmup), '50', '200'];
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    // Bounded: 10 minutes per transport at most.
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`leak-probe ${transport} exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

const kb = (b) => `${(b / 1024).toFixed(1)} KiB`;
const rows = [];
let failed = false;
console.log(`leak check: ${cycles} cycles + ${deads} dead-peer detections per transport, warm-up ${warmup}, Node ${process.version}`);
console.log('transport  cycles  deads  run s   heapUsed Δ   data heap Δ  data B/cycle  objects Δ  handles Δ  timers Δ  registries  server closes');
for (const transport of transports) {
  const r = await probe(transport);
  rows.push(r);
  const registriesEmpty = Object.values(r.registries).every((v) => v === 0);
  const ok = registriesEmpty && Object.keys(r.resourcesDelta).length === 0 && r.timersDelta === 0 && r.dataBytesPerCycle < bound && r.objectsDelta < (r.cycles + r.deads) / 10;
  if (!ok) failed = true;
  console.log(
    [
      transport.padEnd(9),
      String(r.cycles).padStart(6),
      String(r.deads).padStart(6),
      ((r.cyclesMs + r.deadsMs) / 1000).toFixed(1).padStart(6),
      kb(r.heapDelta).padStart(11),
      kb(r.dataHeapDelta).padStart(12),
      r.dataBytesPerCycle.toFixed(1).padStart(12),
      String(r.objectsDelta).padStart(9),
      (JSON.stringify(r.resourcesDelta) === '{}' ? '0' : JSON.stringify(r.resourcesDelta)).padStart(9),
      String(r.timersDelta).padStart(8),
      (registriesEmpty ? 'empty' : JSON.stringify(r.registries)).padStart(10),
      ` ${JSON.stringify(r.serverCloses)}`,
      ok ? '' : '  FAIL',
    ].join('  '),
  );
}
for (const r of rows) console.log(`${r.transport}: objects grown most ${JSON.stringify(r.objectsGrown)}`);
if (json) console.log(JSON.stringify(rows));
process.exit(failed ? 1 : 0);
