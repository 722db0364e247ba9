/**
 * Stall guard (docs/spec/0004-availability.md): when the server's own event loop is blocked,
 * healthy peers must not be declared dead for that window. 1,000 peers in another process keep
 * pinging (interval 500 ms, timeout 1500 ms) while this process blocks its loop for 2 s.
 * The control run without the guard shows the test can fail: there, the same stall is blamed on
 * the peers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer, type CloseReason } from '../../src/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PEERS = 1000;
const INTERVAL_MS = 500;
const TIMEOUT_MS = 1500;
const BLOCK_MS = 2000;

async function stallWithPeers(stallGuard: boolean) {
  const server = createServer({ minHeartbeatInterval: 100, minHeartbeatTimeout: 100, stallGuard, tcpKeepalive: false, tcpUserTimeout: 0 });
  const { port } = await server.listen(0, '127.0.0.1');
  const reasons: CloseReason[] = [];
  server.on('sessionClose', (_s, reason) => reasons.push(reason));
  const stalls: number[] = [];
  server.on('stall', (ms: number) => stalls.push(ms));
  const peers = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/ping-peers.ts', String(port), String(PEERS), String(INTERVAL_MS), String(TIMEOUT_MS)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('peers not ready within 30 s')), 30_000);
      createInterface({ input: peers.stdout! }).on('line', (line) => {
        if (line === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    assert.equal(server.sessionCount, PEERS);
    await new Promise((resolve) => setTimeout(resolve, 2 * INTERVAL_MS)); // heartbeats flowing
    const end = Date.now() + BLOCK_MS;
    while (Date.now() < end) {
      /* our own event loop is stuck: GC pause, blocking call, suspended VM */
    }
    await new Promise((resolve) => setTimeout(resolve, 2 * TIMEOUT_MS));
    return { reasons, stalls, sessions: server.sessionCount };
  } finally {
    peers.kill('SIGKILL');
    await server.close();
  }
}

test('stall guard - a 2 s stall of our own loop with 1,000 healthy peers declares none of them dead', { timeout: 60_000 }, async () => {
  const { reasons, stalls, sessions } = await stallWithPeers(true);
  const dead = reasons.filter((r) => r.code === 'heartbeat-timeout');
  assert.equal(dead.length, 0, `${dead.length} healthy peers declared dead`);
  assert.equal(sessions, PEERS);
  assert.ok(stalls.length >= 1, 'the stall was reported');
  assert.ok(stalls[0]! >= BLOCK_MS - TIMEOUT_MS, `reported stall of ${stalls[0]} ms`);
});

test('stall guard - control: without the guard the same stall is blamed on the peers', { timeout: 60_000 }, async () => {
  const { reasons } = await stallWithPeers(false);
  const dead = reasons.filter((r) => r.code === 'heartbeat-timeout');
  // Without the guard, the peers whose last ping came early enough before the stall are blamed
  // (typically about half); a handful would already show the test can fail.
  assert.ok(dead.length >= PEERS / 10, `only ${dead.length} false "dead" without the guard`);
});
