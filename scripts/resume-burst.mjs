#!/usr/bin/env node
// Resume under churn (issue 15 item 3, BENCHMARKS.md §Resume under churn): the server's event-loop
// delay while N resumable sessions resume at once, each with B bytes to replay.
//
//   node scripts/resume-burst.mjs [--dist dist] [--sessions 1000] [--bytes 51200] [--message 512]
//                                 [--rounds 3]
//
// This process is the server (createServer from <dist>/index.js: run `npm run build` first, or
// point --dist at another build to compare); a child process holds N raw protocol clients
// (resumable sessions). Each round: the server cuts every transport at once (destroy, reason
// transport-closed: the sessions detach) and sends B bytes to each detached session (retained,
// never written); the clients open new sockets, then write all N resume HELLOs in one loop, so
// the server reads them together — the worst case of a mass reconnect. Measured from those
// HELLOs until every client has every message: the server's monitorEventLoopDelay (1 ms
// resolution). The clients check that every message arrives exactly once and in order. Round 0
// warms up (JIT) and is printed, not summarized. Bounded: N ≤ 4,000, spread over --addresses
// source addresses 127.0.0.x (default 4); two sockets per session on loopback count against the
// open-files limit. Reaches into the server's internals (a session's connection, its resume state)
// to cut and to wait for ACKs: a script, not an API.
import { fork } from 'node:child_process';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    dist: { type: 'string', default: 'dist' },
    sessions: { type: 'string', default: '1000' },
    bytes: { type: 'string', default: String(50 * 1024) },
    message: { type: 'string', default: '512' },
    rounds: { type: 'string', default: '3' },
    // Client sockets are spread over 127.0.0.1..N as source addresses (a per-address limit).
    addresses: { type: 'string', default: '4' },
    role: { type: 'string', default: 'server' },
    port: { type: 'string', default: '0' },
  },
});
const SESSIONS = Number(values.sessions);
const BYTES = Number(values.bytes);
const MESSAGE = Number(values.message);
const PER_SESSION = Math.ceil(BYTES / MESSAGE);
const ROUNDS = Number(values.rounds);
const ADDRESSES = Number(values.addresses);
if (!(SESSIONS >= 1 && SESSIONS <= 4000)) throw new RangeError('--sessions must be 1..4000');
if (!(ADDRESSES >= 1 && ADDRESSES <= 254)) throw new RangeError('--addresses must be 1..254');
if (!(MESSAGE >= 8 && MESSAGE <= 64 * 1024)) throw new RangeError('--message must be 8..65536 bytes');
if (!(BYTES >= MESSAGE && BYTES <= 1024 * 1024)) throw new RangeError('--bytes must be --message..1 MiB');
const lib = await import(pathToFileURL(resolve(values.dist, 'index.js')).href);

if (values.role === 'clients') await runClients(Number(values.port));
else await runServer();

async function runServer() {
  const server = lib.createServer({
    tcpKeepalive: false,
    tcpUserTimeout: 0,
    maxResumeBytesPerSession: Math.max(1024 * 1024, 2 * BYTES),
    maxResumeBytes: 1024 * 1024 * 1024,
    heartbeatInterval: 5000,
    heartbeatTimeout: 20000,
  });
  const sessions = [];
  server.on('session', (s) => sessions.push(s));
  const { port } = await server.listen(0, '127.0.0.1');
  const child = fork(new URL(import.meta.url), ['--role', 'clients', '--port', String(port), '--dist', values.dist, '--sessions', String(SESSIONS), '--bytes', String(BYTES), '--message', String(MESSAGE), '--addresses', String(ADDRESSES)], { stdio: 'inherit' });
  const messages = [];
  child.on('message', (m) => messages.push(m));
  const next = async (type, timeoutMs = 60_000) => {
    const until = performance.now() + timeoutMs;
    for (;;) {
      const i = messages.findIndex((m) => m.type === type);
      if (i >= 0) return messages.splice(i, 1)[0];
      if (performance.now() > until) throw new Error(`no '${type}' from the clients within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  await next('ready');
  if (sessions.length !== SESSIONS) throw new Error(`${sessions.length} sessions, expected ${SESSIONS}`);
  const payload = Buffer.alloc(MESSAGE, 0x2e);
  const results = [];
  for (let round = 0; round <= ROUNDS; round++) {
    child.send({ type: 'round', round });
    await next('armed');
    // Cut every transport at once, as a dead path would: the sessions detach.
    for (const s of sessions) {
      s.currentPeer.connection.destroy({ code: 'transport-closed', message: 'cut by resume-burst', initiator: 'transport', detectedBy: 'transport' });
    }
    while (server.detachedCount < SESSIONS) await new Promise((r) => setTimeout(r, 5));
    child.send({ type: 'cut' });
    await next('dialed');
    // What the clients will find waiting: PER_SESSION messages each, numbered, never written.
    for (const s of sessions) {
      for (let i = 0; i < PER_SESSION; i++) {
        payload.writeUInt32BE(round, 0);
        payload.writeUInt32BE(i, 4);
        s.send(Buffer.from(payload));
      }
    }
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    let resumed = 0;
    const onResume = () => void resumed++;
    server.on('sessionResume', onResume);
    // GC pauses during the burst, to tell the replay's share of a long delay from the collector's.
    const gc = { count: 0, totalMs: 0, maxMs: 0 };
    const gcObserver = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        gc.count++;
        gc.totalMs += e.duration;
        gc.maxMs = Math.max(gc.maxMs, e.duration);
      }
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    histogram.enable();
    const goAt = performance.now();
    child.send({ type: 'go' });
    const delivered = await next('delivered');
    const burstMs = performance.now() - goAt;
    histogram.disable();
    gcObserver.disconnect();
    server.off('sessionResume', onResume);
    if (resumed !== SESSIONS) throw new Error(`${resumed} resumes, expected ${SESSIONS}`);
    const ms = (ns) => Math.round(ns / 1e5) / 10;
    const result = {
      round,
      sessions: SESSIONS,
      replayBytesPerSession: PER_SESSION * MESSAGE,
      burstMs: Math.round(burstMs),
      loopDelayP50Ms: ms(histogram.percentile(50)),
      loopDelayP99Ms: ms(histogram.percentile(99)),
      loopDelayMaxMs: ms(histogram.max),
      gcPauses: gc.count,
      gcMaxMs: Math.round(gc.maxMs * 10) / 10,
      gcTotalMs: Math.round(gc.totalMs),
      delivered: delivered.count,
      errors: delivered.errors,
    };
    if (round > 0) results.push(result);
    else result.note = 'warm-up';
    console.log(JSON.stringify(result));
    if (delivered.errors.length > 0) break;
    // Let the ACKs come back before the next cut (the replay buffers empty).
    while (sessions.some((s) => s.resume.unackedCount > 0)) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 200));
  }
  child.send({ type: 'stop' });
  await new Promise((r) => child.once('exit', r));
  await server.close();
  const median = (key) => results.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
  console.log(
    JSON.stringify({ summary: values.dist, sessions: SESSIONS, replayBytesPerSession: PER_SESSION * MESSAGE, rounds: results.length, medianBurstMs: median('burstMs'), medianP99Ms: median('loopDelayP99Ms'), medianMaxMs: median('loopDelayMaxMs') }),
  );
}

/**
 * N raw protocol clients (lean: a socket, a decoder, a few numbers each), so the client process
 * can bring every resume HELLO to the server at the same moment: on 'cut' each reconnects its
 * TCP socket at once (no HELLO yet); on 'go' all HELLOs are written in one loop, and the kernel
 * hands them to the server together.
 */
async function runClients(port) {
  const { encodeFrame, encodeAck } = await import(pathToFileURL(resolve(values.dist, 'protocol/encode.js')).href);
  const { FrameDecoder } = await import(pathToFileURL(resolve(values.dist, 'protocol/decoder.js')).href);
  const net = await import('node:net');
  let round = -1;
  let count = 0;
  const errors = [];
  const hello = { type: 'hello', version: 1, heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 20000, resumable: true };
  const clients = [];
  const onFrame = (c, f) => {
    if (f.type === 'welcome') {
      c.sessionId ??= f.sessionId;
      c.welcomed = true;
      if (c.resuming && f.resumed !== true && errors.length < 5) errors.push('a session was not resumed');
      if (!c.resuming && clients.every((x) => x.welcomed)) process.send({ type: 'ready' });
      return;
    }
    if (f.type !== 'data') return;
    // Exactly once, in order: the next seq, and this round's next message index.
    if (f.seq !== c.receivedSeq + 1 && errors.length < 5) errors.push(`seq ${f.seq} after ${c.receivedSeq}`);
    c.receivedSeq = f.seq;
    const view = Buffer.from(f.payload.buffer, f.payload.byteOffset, f.payload.byteLength);
    const r = view.readUInt32BE(0);
    const i = view.readUInt32BE(4);
    if ((r !== round || i !== c.next) && errors.length < 5) errors.push(`round ${round}: got ${r}/${i}, expected ${round}/${c.next}`);
    c.next = i + 1;
    if (c.next === PER_SESSION) c.socket.write(encodeAck(c.receivedSeq));
    if (++count === SESSIONS * PER_SESSION) process.send({ type: 'delivered', count, errors: [...errors] });
  };
  const dial = (c) =>
    new Promise((resolveDial) => {
      const socket = net.connect({ host: '127.0.0.1', port, localAddress: c.localAddress });
      const decoder = new FrameDecoder({ maxFrameSize: 1 << 20 });
      c.socket = socket;
      c.welcomed = false;
      socket.on('error', () => {});
      socket.on('data', (chunk) => decoder.push(chunk, (f) => onFrame(c, f)));
      socket.once('connect', resolveDial);
    });
  for (let i = 0; i < SESSIONS; i++) {
    const localAddress = `127.0.0.${1 + (i % ADDRESSES)}`;
    const c = { socket: undefined, localAddress, sessionId: undefined, receivedSeq: 0, next: 0, welcomed: false, resuming: false };
    clients.push(c);
    await dial(c);
    c.socket.write(encodeFrame(hello));
  }
  // Client-led heartbeat: a PING now and then keeps every session alive between rounds.
  let pingId = 0;
  const pinger = setInterval(() => {
    pingId = (pingId + 1) & 0x1f;
    for (const c of clients) if (c.welcomed) c.socket.write(encodeFrame({ type: 'ping', id: pingId }));
  }, 2000);
  process.on('message', async (m) => {
    if (m.type === 'round') {
      round = m.round;
      count = 0;
      errors.length = 0;
      for (const c of clients) c.next = 0;
      process.send({ type: 'armed' });
    } else if (m.type === 'cut') {
      // The server cut every transport: open new sockets now, say HELLO only on 'go'.
      await Promise.all(clients.map((c) => (c.socket.destroy(), dial(c))));
      process.send({ type: 'dialed' });
    } else if (m.type === 'go') {
      for (const c of clients) {
        c.resuming = true;
        c.socket.write(encodeFrame({ ...hello, resumeSessionId: c.sessionId, resumeLastSeq: c.receivedSeq }));
      }
    } else if (m.type === 'stop') {
      clearInterval(pinger);
      for (const c of clients) c.socket.destroy();
      setTimeout(() => process.exit(0), 100).unref();
    }
  });
}
