#!/usr/bin/env node
/**
 * Heap and RSS per idle connection of minimal server apps, without the benchmark's own
 * per-socket instrumentation (its byte and close counting costs every system ≈ 0.2 KB per
 * connection, and lifeline's lean sockets do not get it): a net echo server, and a lifeline
 * server with leanSockets on and off. Each server runs in its own process (--expose-gc); this
 * process holds N idle connections to it (lifeline: HELLO with a 10-minute heartbeat, so nothing
 * beats while measuring), then asks for heapUsed / RSS after two GCs, minus the same before any
 * connection. Alternates the systems for `--rounds` rounds. Loopback only, bounded.
 *
 *   npm run build && node scripts/heap-probe.mjs [--connections 5000] [--rounds 2]
 */
import { fork } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const N = Math.min(arg('connections', 5000), 15_000);
const ROUNDS = Math.min(arg('rounds', 2), 10);
const SYSTEMS = ['net', 'lifeline', 'lifeline-net'];

if (process.argv[2] === '--serve') {
  const system = process.argv[3];
  let port;
  if (system === 'net') {
    const server = net.createServer({ noDelay: true }, (s) => {
      s.on('data', (c) => s.write(c));
      s.on('error', () => {});
    });
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    port = server.address().port;
  } else {
    const { createServer } = await import(path.join(root, 'dist/index.js'));
    const server = createServer({ leanSockets: system === 'lifeline', maxHeartbeatInterval: 600_000, maxHeartbeatTimeout: 1_800_000 });
    let closes = 0;
    server.on('sessionClose', () => closes++);
    ({ port } = await server.listen(0, '127.0.0.1'));
    if (server.leanSockets !== (system === 'lifeline')) throw new Error(`leanSockets is ${server.leanSockets} for ${system}`);
  }
  process.send({ port });
  process.on('message', () => {
    globalThis.gc();
    globalThis.gc();
    const { heapUsed, rss } = process.memoryUsage();
    process.send({ heapUsed, rss });
  });
} else {
  const { encodeFrame } = await import(path.join(root, 'dist/protocol/encode.js'));
  const hello = encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: 600_000, heartbeatTimeoutMs: 1_800_000 });
  const ask = (child) =>
    new Promise((resolve) => {
      child.once('message', resolve);
      child.send('measure');
    });
  console.log(`${N} idle connections per system, ${ROUNDS} rounds, Node ${process.version}`);
  for (let round = 1; round <= ROUNDS; round++) {
    for (const system of SYSTEMS) {
      const child = fork(fileURLToPath(import.meta.url), ['--serve', system], { execArgv: ['--expose-gc'] });
      const { port } = await new Promise((resolve) => child.once('message', resolve));
      const before = await ask(child);
      const sockets = [];
      for (let i = 0; i < N; i++) {
        const s = net.connect(port, '127.0.0.1');
        s.on('error', () => {});
        await new Promise((resolve, reject) => {
          s.once('connect', resolve);
          s.once('error', reject);
        });
        sockets.push(s);
        // One exchange each, so every connection has been through the read path.
        await new Promise((resolve) => {
          s.once('data', resolve);
          s.write(system === 'net' ? Buffer.from('x') : hello);
        });
      }
      const after = await ask(child);
      const kb = (bytes) => `${(bytes / N / 1024).toFixed(2)} KB`;
      console.log(`round ${round}  ${system.padEnd(12)}  heap/conn ${kb(after.heapUsed - before.heapUsed)}  RSS/conn ${kb(after.rss - before.rss)}`);
      for (const s of sockets) s.destroy();
      child.kill();
    }
  }
  process.exit(0);
}
