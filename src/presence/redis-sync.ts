/**
 * A node's sync in chunks (docs/spec/0014-presence.md §Stores, sync in chunks): make the node's
 * records in Redis exactly its devices now — at start, after an outage, after a lost lease.
 *
 * One script for all devices would hold Redis for as long as it runs (measured: 583 ms for
 * 30,000 sessions; at 100,000 the argument list alone overflowed the call stack and the node
 * crashed), and every other node waits meanwhile. So: SYNC chunks of at most `chunk` devices
 * (the first takes the lease and starts the set of kept sessions), then SYNC_SWEEP steps that
 * remove, `chunk` records at a time, what the sync did not keep. Other clients' commands run
 * between the scripts.
 *
 * Order: every chunk is written at once, in one turn, with the devices read in that same turn,
 * so the node's own device writes of later turns follow them on the connection (Redis runs a
 * connection's commands in order): a session that ends after the read is removed after its
 * chunk, never re-added by it. A device written while the sweep runs is added to the kept set
 * by the device script. Devices are grouped by identity, so an identity's devices are announced
 * together, from one chunk (unless it alone has more than a chunk).
 */
import type { Redis } from 'ioredis';
import type { PresenceScripts } from './redis-scripts.js';
import type { StoredDevice } from './types.js';

export interface SyncTarget {
  readonly cmd: Redis & PresenceScripts;
  readonly prefix: string;
  /** Last-seen TTL, ms (ARGV[2] of every script). */
  readonly seenTtlMs: number;
  readonly nodeId: string;
  readonly incarnation: string;
  readonly leaseTtlMs: number;
  /** Devices per SYNC script, records per SYNC_SWEEP step. */
  readonly chunk: number;
  now(): number;
}

/**
 * 'synced': the records are exactly `devices` (plus what was written since); 'took-over': the
 * same, and the lease was another incarnation's when we took it; 'restart': the lease or the
 * sync was lost on the way (another process took the nodeId, or the sync set expired): sync again.
 */
export type SyncOutcome = 'synced' | 'took-over' | 'restart';

export async function syncInChunks(t: SyncTarget, devices: Iterable<StoredDevice>): Promise<SyncOutcome> {
  const chunks = chunkByIdentity(devices, t.chunk);
  const head = (first: boolean): Array<string | number> => [t.prefix, t.seenTtlMs, t.nodeId, t.incarnation, Math.round(t.leaseTtlMs), t.now(), first ? '1' : '0'];
  // All chunks in this turn: see the header (order).
  const calls = chunks.map((args, i) => t.cmd.llPresenceSync(...head(i === 0), ...args));
  const answers = await Promise.all(calls);
  if (answers.some((answer) => answer === 0)) return 'restart';
  let cursor = '0';
  do {
    cursor = await t.cmd.llPresenceSyncSweep(t.prefix, t.seenTtlMs, t.nodeId, t.incarnation, cursor, t.chunk, t.now());
    if (cursor === '-1') return 'restart';
  } while (cursor !== '0');
  return answers[0] === 2 ? 'took-over' : 'synced';
}

/** (sessionId, identity, JSON) triples, ≤ `chunk` devices per chunk, an identity's together; always ≥ 1 chunk (the first takes the lease). */
export function chunkByIdentity(devices: Iterable<StoredDevice>, chunk: number): string[][] {
  const byIdentity = new Map<string, string[]>();
  for (const { identityId, ...device } of devices) {
    let list = byIdentity.get(identityId);
    if (list === undefined) byIdentity.set(identityId, (list = []));
    list.push(device.sessionId, identityId, JSON.stringify(device));
  }
  const chunks: string[][] = [[]];
  let current = chunks[0]!;
  for (const list of byIdentity.values()) {
    for (let i = 0; i < list.length; i += 3) {
      // A new chunk at an identity's first device when it would not fit, or mid-identity when one alone is over a chunk.
      const full = current.length / 3 >= chunk || (i === 0 && current.length > 0 && (current.length + list.length) / 3 > chunk);
      if (full) chunks.push((current = []));
      current.push(list[i]!, list[i + 1]!, list[i + 2]!);
    }
  }
  return chunks;
}
