/**
 * What a bad peer leaves behind besides its CLOSE (issue 15 item 2: "a clear close reason (and a
 * metric and log line)"): the server's log lines (docs/spec/0016-logging.md §Bad peers) and its
 * counters (what lifeline_connections_closed_total and the other metrics read, spec 0015). The
 * bad-peer tests (bad-peers, slow-consumer, half-open) give their server this logger — pino at
 * debug, into memory — and check here, one place for all of them, for each attacking connection
 * by its remote address: exactly which lines it caused, at which level, each with the reason code
 * and the address, and nothing of what it sent.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import type { LifelineServer } from '../../src/index.js';

export type LogLine = Record<string, unknown> & { level: number; msg: string };

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error' };

export interface BadPeerLog {
  /** For createServer({ logger }). */
  readonly logger: pino.Logger;
  readonly lines: LogLine[];
  /** The exact text written. */
  readonly raw: string[];
  /** The lines of one connection, by its remote address as the server saw it ('addr:port'). */
  from(remote: string): LogLine[];
  /** `from(remote)` as `'<level> <event>[ <code>]'` strings, in order: what a test compares. */
  shapes(remote: string): string[];
}

export function badPeerLog(): BadPeerLog {
  const raw: string[] = [];
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug', base: null }, {
    write(chunk: string) {
      raw.push(chunk);
      lines.push(JSON.parse(chunk) as LogLine);
    },
  });
  const from = (remote: string) => lines.filter((l) => l.remote === remote);
  return { logger, lines, raw, from, shapes: (remote) => from(remote).map(shape) };
}

export function shape(line: LogLine): string {
  return `${LEVEL_NAMES[line.level] ?? line.level} ${String(line.event)}${line.code === undefined ? '' : ` ${String(line.code)}`}`;
}

/**
 * Every line is flat — strings, numbers, booleans: no object or array, so no bytes a peer sent
 * (pino would write a Uint8Array as an object) — and none holds `payload` in hex, base64 or as
 * text (when it is long enough to tell).
 */
export function assertNothingOfPayload(log: BadPeerLog, payloads: Iterable<Uint8Array>): void {
  for (const line of log.lines) {
    for (const [key, value] of Object.entries(line)) assert.ok(value === null || typeof value !== 'object', `log field ${key} is an object: ${JSON.stringify(line)}`);
  }
  const out = log.raw.join('');
  for (const payload of payloads) {
    if (payload.byteLength < 4) continue;
    const b = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    for (const text of [b.toString('hex'), b.toString('base64')]) assert.ok(!out.includes(text), `the attack's bytes (${text.slice(0, 16)}…) reached the log`);
  }
}

/** Lines of one connection as `LogLine`s with the reason code and the address: `expected` shapes, in order. */
export function assertPeerLines(log: BadPeerLog, remote: string, expected: readonly string[]): void {
  assert.deepEqual(log.shapes(remote), expected, `log lines of ${remote}: ${JSON.stringify(log.from(remote))}`);
  for (const line of log.from(remote)) {
    if (line.event === 'connection-close' || line.event === 'detection' || line.event === 'goaway' || line.event === 'session-close' || line.event === 'session-detach') {
      assert.equal(typeof line.code, 'string', `a reason code: ${JSON.stringify(line)}`);
    }
  }
}

/**
 * The counters the metrics read (server-counters.ts), by close code: connections
 * (lifeline_connections_closed_total, lifeline_detections_total) and, when given, sessions
 * (lifeline_sessions_closed_total). Admission refusals (server-full, overloaded) have no counter:
 * they never became connections.
 */
export function assertCounted(server: LifelineServer, counts: { connections?: Record<string, number>; sessions?: Record<string, number> }): void {
  for (const [code, n] of Object.entries(counts.connections ?? {})) assert.equal(server.counters.connectionsClosed.get(code) ?? 0, n, `connections closed with ${code}`);
  for (const [code, n] of Object.entries(counts.sessions ?? {})) assert.equal(server.counters.sessionsClosed.get(code) ?? 0, n, `sessions closed with ${code}`);
}
