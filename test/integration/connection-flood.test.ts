/**
 * Issue 15 item 2, connection flood: 2,000 sockets from one address against a server with
 * `maxConnectionsPerAddress`. The flooding address gets its share and then CLOSE server-full on
 * every further socket; a client on another address connects, echoes and keeps its heartbeat
 * going meanwhile (its round trips measured during the flood). Real sockets on loopback
 * (127.0.0.2 is a loopback address on Linux: no setup needed), bounded in count and time.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { connect, createServer, type Session } from '../../src/index.js';
import { FrameDecoder } from '../../src/protocol/decoder.js';
import type { Frame } from '../../src/protocol/frames.js';
import { eventually, nextEvent } from './helpers.js';

const FLOOD = 2000;
const LIMIT = 100;

test('connection flood - 2,000 sockets from one address: LIMIT admitted, the rest refused with CLOSE server-full; a client elsewhere is served and keeps its heartbeat', { timeout: 60_000 }, async (t) => {
  const server = createServer({ maxConnectionsPerAddress: LIMIT, handshakeTimeout: 10_000, minHeartbeatInterval: 50, minHeartbeatTimeout: 100 });
  t.after(() => server.close());
  server.on('session', (s: Session) => s.on('message', (m: Buffer) => s.send(m)));
  const { port } = await server.listen(0, '127.0.0.1');

  // The good client, from 127.0.0.1, beating every 100 ms through the flood.
  const good = connect({ host: '127.0.0.1', port, reconnect: false, heartbeatInterval: 100, heartbeatTimeout: 1000 });
  t.after(() => good.close());
  await nextEvent(good, 'open', 5000);
  const rtts: number[] = [];
  good.on('pong', (info: { rttMs?: number }) => {
    if (info.rttMs !== undefined) rtts.push(info.rttMs);
  });
  let goodClosed = false;
  good.on('close', () => (goodClosed = true));

  // The flood, from 127.0.0.2: sockets that connect and then say nothing (as a slowloris would).
  const sockets: net.Socket[] = [];
  let refused = 0;
  const connectErrors: string[] = [];
  let otherFrames = 0;
  t.after(() => {
    for (const s of sockets) s.destroy();
  });
  const opened: Promise<void>[] = [];
  for (let i = 0; i < FLOOD; i++) {
    const socket = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
    sockets.push(socket);
    const decoder = new FrameDecoder();
    // Under load the kernel may refuse a connect itself (a full accept queue): that socket never
    // reached the server, so it is counted apart, with its error, and must stay rare.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!socket.readyState.startsWith('open')) connectErrors.push(err.code ?? err.message);
    });
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (f: Frame) => {
        if (f.type === 'close' && f.code === 'server-full' && /too many connections from 127\.0\.0\.2/.test(f.message)) refused++;
        else otherFrames++;
      }),
    );
    opened.push(new Promise((resolve) => socket.once('connect', () => resolve()).once('error', () => resolve())));
    if (i % 200 === 199) await Promise.all(opened.splice(0));
  }
  await Promise.all(opened);
  assert.ok(await eventually(() => refused + connectErrors.length >= FLOOD - LIMIT, 15_000), `${refused} of ${FLOOD - LIMIT} refused with server-full, ${connectErrors.length} connects failed (${connectErrors.join(', ')})`);
  if (connectErrors.length > 0) t.diagnostic(`${connectErrors.length} connects failed in the kernel: ${[...new Set(connectErrors)].join(', ')}`);
  assert.equal(refused + connectErrors.length, FLOOD - LIMIT, 'every socket past the limit refused (or never reached the server)');
  assert.ok(connectErrors.length <= FLOOD / 100, `${connectErrors.length} connects failed`);
  assert.equal(otherFrames, 0, 'the admitted flood sockets got nothing (they sent no HELLO)');
  assert.ok(server.connectionCount <= LIMIT + 1, `${server.connectionCount} connections held`);

  // Meanwhile the good client is served.
  const echoed = nextEvent<[Buffer]>(good, 'message', 5000);
  good.send('still served');
  assert.equal((await echoed)[0].toString(), 'still served');
  assert.equal(goodClosed, false);
  assert.ok(rtts.length >= 3, `heartbeat round trips during the flood: ${rtts.length}`);
  const sorted = [...rtts].sort((a, b) => a - b);
  t.diagnostic(`good client's RTT during the flood: p50 ${sorted[Math.floor(sorted.length / 2)]?.toFixed(1)} ms, max ${sorted[sorted.length - 1]?.toFixed(1)} ms over ${sorted.length} beats`);

  // Another address is not affected by 127.0.0.2's limit, and the limit frees up as sockets go.
  for (const s of sockets) s.destroy();
  assert.ok(await eventually(() => server.connectionCount === 1, 5000), 'the flood is gone');
  const again = net.connect({ host: '127.0.0.1', port, localAddress: '127.0.0.2' });
  t.after(() => again.destroy());
  await nextEvent(again, 'connect', 3000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal(server.connectionCount, 2, '127.0.0.2 may connect again once its sockets closed');
});

test('connection flood - maxConnectionsPerAddress is checked by name', () => {
  for (const bad of [0, -1, 1.5, 'ten']) {
    assert.throws(() => createServer({ maxConnectionsPerAddress: bad as never }), /option server\.maxConnectionsPerAddress: must be an integer >= 1/);
  }
});
