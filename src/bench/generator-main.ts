/**
 * Benchmark load-generator process (entry file, spawned by harness.ts). Opens `count`
 * connections to one system's server from the given loopback source addresses, keeps them
 * heartbeating at interval T, and counts round trips, late beats, closes and bytes.
 * JSON lines on stdout, commands on stdin:
 *
 *   → {ev:'progress', ready, failed}      while connecting (every 500 ms)
 *   → {ev:'ready', ready, failed, firstError}   every connection is open or has failed
 *   ← {cmd:'mark'}   → {ev:'marked'}      start the window (counters, RTT histogram)
 *   ← {cmd:'report'} → {ev:'report', window}
 *
 * Bounded: at most MAX_IN_FLIGHT handshakes at once, MAX_ATTEMPTS per connection and a connect
 * deadline; only 127.0.0.0/8.
 * The harness ends us with SIGKILL (or we exit when stdin closes).
 */
import net from 'node:net';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { createHistogram } from 'node:perf_hooks';
import { leanProtocol, type LeanProtocol, type LeanProtocolId } from './lean-clients.js';
import { libraryClient, type LibraryConnection, type OpenLibraryClient } from './library-clients.js';
import type { ChildEvent, GeneratorWindow, SystemId } from './types.js';

const MAX_IN_FLIGHT = 128;
/** A connection refused during the connect storm (e.g. handshake timeout on a loaded server) is retried this often. */
const MAX_ATTEMPTS = 3;

const { values } = parseArgs({
  options: {
    system: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    interval: { type: 'string', default: '1000' },
    /** `address:count,address:count…` — how many connections to open from each source address. */
    sources: { type: 'string' },
    'connect-deadline': { type: 'string', default: '120000' },
  },
});
const system = String(values.system) as SystemId;
const host = String(values.host);
const port = Number(values.port);
const intervalMs = Number(values.interval);
const connectDeadlineMs = Number(values['connect-deadline']);
const sources = String(values.sources)
  .split(',')
  .map((s) => {
    const [address, n] = s.split(':');
    return { address: address!, count: Number(n) };
  });
for (const s of [...sources.map((x) => x.address), host]) {
  if (!s.startsWith('127.')) throw new Error(`bench generator: ${s} is not a loopback address (127.0.0.0/8 only)`);
}
const count = sources.reduce((a, s) => a + s.count, 0);

const emit = (event: ChildEvent) => process.stdout.write(`${JSON.stringify(event)}\n`);
const now = () => performance.now();

// Per-connection state in flat arrays (thousands of connections per process).
const lastRtAt = new Float64Array(count);
const sentAt = new Float64Array(count);
const isOpen = new Uint8Array(count);
let readyCount = 0;
let failedCount = 0;
let firstError: string | undefined;
let inFlight = 0;
let next = 0;
const attempts = new Uint8Array(count);
const retryQueue: number[] = [];
let connectDone = false;

const counters = { roundTrips: 0, missed: 0, closed: 0 };
let windowOpen = false;
const rtt = createHistogram();

const leanKind: Partial<Record<SystemId, LeanProtocolId>> = { raw: 'raw', rawsweep: 'rawsweep', lifeline: 'lifeline', 'lifeline-metrics': 'lifeline', 'lifeline-sl': 'lifeline', 'lifeline-tls': 'lifeline', aedes: 'mqtt', mosquitto: 'mqtt', nats: 'nats' };
const lean: LeanProtocol | undefined = leanKind[system] ? leanProtocol(leanKind[system], intervalMs) : undefined;
const openLibrary: OpenLibraryClient | undefined =
  system === 'ws' || system === 'socketio' || system === 'lifeline-ws' || system === 'lifeline-udp' ? await libraryClient(system, intervalMs) : undefined;
if (!lean && !openLibrary) throw new Error(`bench generator: unknown system ${system}`);

const leanSockets = new Set<net.Socket>();
let closedLeanBytes = 0;
const libraryConnections: LibraryConnection[] = [];

function sourceFor(i: number): string {
  let k = i;
  for (const s of sources) {
    if (k < s.count) return s.address;
    k -= s.count;
  }
  return sources[sources.length - 1]!.address;
}

function settled(i: number, ok: boolean, error?: string): void {
  inFlight--;
  if (ok) {
    isOpen[i] = 1;
    readyCount++;
    lastRtAt[i] = now();
  } else if (++attempts[i]! < MAX_ATTEMPTS && !connectDone) {
    retryQueue.push(i);
  } else {
    failedCount++;
    firstError ??= error;
  }
  pump();
}

function roundTrip(i: number): void {
  const t = now();
  if (windowOpen) {
    counters.roundTrips++;
    const beats = Math.round((t - lastRtAt[i]!) / intervalMs);
    if (beats >= 2) counters.missed += beats - 1;
    if (sentAt[i]! > 0) rtt.record(Math.max(1, Math.round((t - sentAt[i]!) * 1000)));
  }
  sentAt[i] = 0;
  lastRtAt[i] = t;
}

/** Connections that were open and closed, since connecting finished (warm-up included). */
let closedSinceReady = 0;

function closed(i: number): void {
  if (!isOpen[i]) return;
  isOpen[i] = 0;
  if (connectDone) closedSinceReady++;
  if (windowOpen) counters.closed++;
}

function openLean(i: number, protocol: LeanProtocol): void {
  let settledOnce = false;
  let opened = false;
  const settle = (ok: boolean, error?: string, serverLeads = false) => {
    if (settledOnce) return;
    settledOnce = true;
    opened = ok;
    settled(i, ok, error);
    if (ok && protocol.clientPings && !serverLeads) startPinging();
  };
  // lifeline-tls: the same lean client inside TLS (the certificate is the bench's own, not verified).
  const socket =
    system === 'lifeline-tls'
      ? // tls.connect passes socket.connect() options such as localAddress on (its typings omit them).
        tls.connect({ host, port, localAddress: sourceFor(i), rejectUnauthorized: false } as tls.ConnectionOptions)
      : net.connect({ host, port, localAddress: sourceFor(i), noDelay: true });
  leanSockets.add(socket);
  let timer: NodeJS.Timeout | undefined;
  const ping = () => {
    if (!socket.writable) return;
    if (sentAt[i] === 0) sentAt[i] = now();
    socket.write(protocol.ping);
  };
  const startPinging = () => {
    // Spread the connections' beats over the interval, as independent clients would be.
    timer = setTimeout(() => {
      ping();
      timer = setInterval(ping, intervalMs);
    }, Math.random() * intervalMs);
  };
  const session = protocol.create({
    write: (bytes) => void (socket.writable && socket.write(bytes)),
    ready: (serverLeads) => settle(true, undefined, serverLeads),
    roundTrip: () => roundTrip(i),
    fail: (message) => {
      settle(false, message);
      socket.destroy();
    },
  });
  socket.on('connect', () => {
    const hello = session.hello();
    if (hello) socket.write(hello);
    if (protocol.readyOnConnect) settle(true);
  });
  socket.on('data', (chunk: Buffer) => session.onData(chunk));
  socket.on('error', (err) => settle(false, err.message));
  socket.on('close', () => {
    clearTimeout(timer);
    clearInterval(timer);
    leanSockets.delete(socket);
    closedLeanBytes += socket.bytesRead + socket.bytesWritten;
    settle(false, 'closed during handshake');
    // A failed attempt's late close must not mark its successful retry closed.
    if (opened) closed(i);
  });
}

function openLibraryConnection(i: number, open: OpenLibraryClient): void {
  let settledOnce = false;
  let opened = false;
  const settle = (ok: boolean, error?: string) => {
    if (settledOnce) return;
    settledOnce = true;
    opened = ok;
    settled(i, ok, error);
  };
  const scheme = system === 'lifeline-udp' ? 'udp' : 'ws';
  libraryConnections.push(
    open(`${scheme}://${host}:${port}`, sourceFor(i), {
      ready: () => settle(true),
      roundTrip: () => roundTrip(i),
      fail: (message) => settle(false, message),
      closed: () => {
        settle(false, 'closed during handshake');
        if (opened) closed(i);
      },
    }),
  );
}

function pump(): void {
  while (inFlight < MAX_IN_FLIGHT && (next < count || retryQueue.length > 0)) {
    const i = retryQueue.length > 0 ? retryQueue.shift()! : next++;
    inFlight++;
    if (lean) openLean(i, lean);
    else openLibraryConnection(i, openLibrary!);
  }
  if (readyCount + failedCount === count) finishConnecting();
}

const progress = setInterval(() => emit({ ev: 'progress', ready: readyCount, failed: failedCount }), 500);
const deadline = setTimeout(() => {
  firstError ??= `connect deadline (${connectDeadlineMs} ms) reached`;
  finishConnecting();
}, connectDeadlineMs);

function finishConnecting(): void {
  if (connectDone) return;
  connectDone = true;
  clearInterval(progress);
  clearTimeout(deadline);
  emit({ ev: 'ready', ready: readyCount, failed: count - readyCount, ...(firstError ? { firstError } : {}) });
}

function bytesNow(): number | undefined {
  if (lean) {
    let total = closedLeanBytes;
    for (const s of leanSockets) total += s.bytesRead + s.bytesWritten;
    return total;
  }
  let total = 0;
  for (const c of libraryConnections) {
    const b = c.bytes();
    if (b === undefined) return undefined;
    total += b;
  }
  return total;
}

let markBytes: number | undefined;
createInterface({ input: process.stdin })
  .on('line', (line) => {
    const cmd = JSON.parse(line) as { cmd: string };
    if (cmd.cmd === 'mark') {
      counters.roundTrips = counters.missed = counters.closed = 0;
      rtt.reset();
      markBytes = bytesNow();
      windowOpen = true;
      emit({ ev: 'marked' });
    } else if (cmd.cmd === 'report') {
      windowOpen = false;
      // Connections silent at the end of the window missed beats too.
      const t = now();
      let missed = counters.missed;
      for (let i = 0; i < count; i++) {
        if (!isOpen[i]) continue;
        const beats = Math.round((t - lastRtAt[i]!) / intervalMs);
        if (beats >= 2) missed += beats - 1;
      }
      const b = bytesNow();
      const window: GeneratorWindow = {
        roundTrips: counters.roundTrips,
        bytes: b !== undefined && markBytes !== undefined ? b - markBytes : undefined,
        missed,
        closed: counters.closed,
        closedSinceReady,
        open: isOpen.reduce((a, v) => a + v, 0),
        rttP50Ms: lean?.clientPings && rtt.count > 0 ? rtt.percentile(50) / 1000 : undefined,
        rttP99Ms: lean?.clientPings && rtt.count > 0 ? rtt.percentile(99) / 1000 : undefined,
      };
      emit({ ev: 'report', window });
    }
  })
  .on('close', () => process.exit(0));

pump();
