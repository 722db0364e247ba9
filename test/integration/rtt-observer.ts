/**
 * A well-behaved lifeline client that watches its own heartbeat while the tests beside it attack
 * the server (bad-peers.test.ts, slow-consumer.test.ts, half-open.test.ts): the RTT of every
 * PONG to its PINGs, and whether the connection was ever lost. Tests report the figures with
 * t.diagnostic and assert only what must hold on any machine: it was never declared dead, and
 * its heartbeat kept being answered.
 */
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Client, type CloseReason, type PongInfo } from '../../src/index.js';
import { eventually, nextEvent } from './helpers.js';

export const OBSERVER_INTERVAL_MS = 200;
export const OBSERVER_TIMEOUT_MS = 3000;

export interface RttObserver {
  readonly client: Client;
  /** Heartbeat RTT samples, ms, since the last start(). */
  readonly samples: number[];
  /** The first loss of its connection, if any. */
  readonly lost: CloseReason | undefined;
  /** Forget the samples so far: measure from now (the attack begins). */
  start(): void;
  /**
   * Report the samples since start() and assert the observer was served throughout (an attack
   * shorter than its interval gets the next beat's sample, at most a few intervals later).
   */
  check(t: TestContext, label: string): Promise<void>;
}

export async function rttObserver(t: TestContext, port: number): Promise<RttObserver> {
  const client = connect({ host: '127.0.0.1', port, reconnect: false, heartbeatInterval: OBSERVER_INTERVAL_MS, heartbeatTimeout: OBSERVER_TIMEOUT_MS });
  t.after(() => client.close());
  await nextEvent(client, 'open', 5000);
  const state = { samples: [] as number[], lost: undefined as CloseReason | undefined };
  client.on('pong', (info: PongInfo) => {
    if (info.rttMs !== undefined) state.samples.push(info.rttMs);
  });
  client.on('disconnect', (reason: CloseReason) => (state.lost ??= reason));
  client.on('close', (reason: CloseReason) => (state.lost ??= reason));
  return {
    client,
    get samples() {
      return state.samples;
    },
    get lost() {
      return state.lost;
    },
    start() {
      state.samples = [];
    },
    async check(t: TestContext, label: string) {
      await eventually(() => state.samples.length > 0 || state.lost !== undefined, 10 * OBSERVER_INTERVAL_MS);
      const sorted = [...state.samples].sort((a, b) => a - b);
      const at = (q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
      t.diagnostic(
        `${label}: a well-behaved client's heartbeat RTT during the attack: ${sorted.length} samples, median ${at(0.5).toFixed(2)} ms, p99 ${at(0.99).toFixed(2)} ms, max ${(sorted.at(-1) ?? NaN).toFixed(2)} ms`,
      );
      assert.equal(state.lost, undefined, `the well-behaved client lost its connection: ${state.lost?.code} ${state.lost?.message}`);
      assert.equal(client.state, 'open');
      assert.ok(sorted.length >= 1, 'its heartbeat was answered during the attack');
      // Generous: an answer slower than the timeout would have been a death.
      assert.ok((sorted.at(-1) ?? 0) < OBSERVER_TIMEOUT_MS, `a heartbeat took ${sorted.at(-1)} ms`);
    },
  };
}
