/**
 * Where NatLearner state lives between connections and processes (docs/spec/0007 §Store). Pure:
 * the port and an in-memory store; the JSON-file store needs node:fs and lives in
 * src/client/nat-file-store.ts (STYLE.md §1.7). A browser client would back the port with
 * localStorage.
 *
 * The key names the *path* whose middleboxes we learn: the same server reached from a different
 * local address (another Wi-Fi, the cellular interface) crosses other NATs, and the same local
 * address towards another server may cross another firewall. Mars keys by network (Wi-Fi SSID /
 * cellular carrier); we have no portable access to those, so the local address stands in for
 * the network (a new Wi-Fi usually hands out a new address).
 */
import type { NatLearnerState } from './nat-learner.js';

/** The narrow port the client needs (STYLE.md §1.2). Implementations must never throw from load. */
export interface NatStateStore {
  load(key: string): NatLearnerState | undefined;
  save(key: string, state: NatLearnerState): void;
}

/** Keys kept by default; the least recently saved key goes first (Mars keeps 20 networks). */
export const DEFAULT_MAX_NAT_KEYS = 32;

/** A process-lifetime store, bounded like the file store. Also the fake for tests. */
export class MemoryNatStore implements NatStateStore {
  private readonly entries = new Map<string, NatLearnerState>();

  constructor(readonly maxKeys = DEFAULT_MAX_NAT_KEYS) {
    if (!(Number.isInteger(maxKeys) && maxKeys >= 1)) throw new RangeError(`MemoryNatStore maxKeys must be an integer >= 1, got ${maxKeys}`);
  }

  load(key: string): NatLearnerState | undefined {
    const state = this.entries.get(key);
    return state === undefined ? undefined : { ...state };
  }

  save(key: string, state: NatLearnerState): void {
    // Map keeps insertion order: re-inserting moves the key to the newest end.
    this.entries.delete(key);
    this.entries.set(key, { ...state });
    while (this.entries.size > this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * `server|localAddress`. `server` as formatServer() prints it (`host:port`, `[v6]:port`);
 * `localAddress` is the socket's local IP (no port: the ephemeral port changes every connection).
 * Case and IPv4-mapped IPv6 (`::ffff:a.b.c.d`) are normalised so one interface gives one key.
 */
export function networkKey(server: string, localAddress: string): string {
  const local = localAddress.trim().toLowerCase().replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/, '');
  return `${server.trim().toLowerCase()}|${local}`;
}
