/**
 * Storm shedding (issue 5 §5): a server over its accept rate answers GOAWAY overloaded with a
 * retry-after instead of a handshake; reconnecting clients honour it, so a burst of 300 clients
 * is admitted at the configured rate instead of all at once — and every one gets in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Client, type CloseReason, type GoawayFrame } from '../../src/index.js';
import { eventually } from './helpers.js';

test('shedding - over maxAcceptRate: GOAWAY overloaded with spread retry-after; all clients get in at about the rate', { timeout: 30_000 }, async (t) => {
  const RATE = 200; // connections per second
  const CLIENTS = 300;
  const server = createServer({ maxAcceptRate: RATE, acceptBurst: 50, tcpKeepalive: false, tcpUserTimeout: 0 });
  t.after(() => server.close());
  const { port } = await server.listen(0, '127.0.0.1');
  const admittedAt: number[] = [];
  const startedAt = performance.now();
  server.on('session', () => admittedAt.push(performance.now() - startedAt));

  const clients: Client[] = [];
  const retryAfters: number[] = [];
  const disconnects: CloseReason[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = connect({ servers: [`127.0.0.1:${port}`], reconnect: { initialDelay: 50, maxDelay: 2000 }, tcpKeepalive: false, tcpUserTimeout: 0 });
    c.on('goaway', (g: GoawayFrame) => retryAfters.push(g.retryAfterMs));
    c.on('disconnect', (r: CloseReason) => disconnects.push(r));
    clients.push(c);
  }
  t.after(() => clients.forEach((c) => c.close()));
  assert.ok(await eventually(() => server.sessionCount === CLIENTS, 20_000), `only ${server.sessionCount} of ${CLIENTS} got in`);

  const shed = disconnects.filter((r) => r.code === 'goaway' && r.goaway?.code === 'overloaded');
  t.diagnostic(`${shed.length} shed connection attempts; retry-after up to ${Math.max(...retryAfters)} ms; last admitted at ${Math.round(admittedAt.at(-1)!)} ms`);
  assert.ok(shed.length >= CLIENTS - 50 - RATE / 2, `only ${shed.length} connections were shed`);
  assert.ok(retryAfters.every((ms) => ms > 0), 'every GOAWAY carries a retry-after');
  assert.ok(new Set(retryAfters).size > 10, 'retry-afters are spread, not one value for all');
  // Admitted at about the rate: the burst first, the rest over ≥ (300 − 50) / 200 s.
  const last = admittedAt.at(-1)!;
  assert.ok(last >= ((CLIENTS - 50) / RATE) * 1000 * 0.8, `all admitted within ${Math.round(last)} ms: faster than the rate allows`);
});
