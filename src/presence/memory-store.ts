/**
 * MemoryPresenceStore (docs/spec/0014-presence.md §Stores): presence kept in this process, the
 * default for a single server. Several servers of one process may share one store, each with
 * its own nodeId: changes reach all of them and a sendTo reaches the other node by a direct
 * call — the same contract as RedisPresenceStore, with no Redis (for tests and single-process
 * deployments with more than one server). Synchronous inside; never degraded.
 */
import { InvalidOptionError } from '../errors.js';
import {
  publicDevice,
  stateOf,
  type NodeDelivery,
  type PresenceInfo,
  type PresenceNodeStore,
  type PresenceState,
  type PresenceStore,
  type PresenceStoreHost,
  type StoredDevice,
} from './types.js';

export interface MemoryPresenceStoreOptions {
  /** Wall clock for a change's `at`, ms. Default Date.now. */
  now?: () => number;
  /** How long an offline identity's last-seen time is kept, ms; 0 keeps none. Default 30 days (as RedisPresenceStore). */
  lastSeenTtlMs?: number;
}

/** Expired last-seen times are dropped every this many records (so the map stays bounded by the TTL). */
const PRUNE_EVERY = 1024;

export class MemoryPresenceStore implements PresenceStore {
  private readonly hosts = new Map<string, PresenceStoreHost>();
  /** identity → "node/session" → device. An identity with no device has no entry (offline). */
  private readonly identities = new Map<string, Map<string, StoredDevice>>();
  private readonly now: () => number;
  private readonly lastSeenTtlMs: number;
  /** identity → when its last device went away (wall-clock ms); expiry checked on read. */
  private readonly seen = new Map<string, number>();
  private seenWrites = 0;

  constructor(options: MemoryPresenceStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.lastSeenTtlMs = options.lastSeenTtlMs ?? 30 * 24 * 3600 * 1000;
    if (!Number.isSafeInteger(this.lastSeenTtlMs) || this.lastSeenTtlMs < 0) throw new InvalidOptionError('MemoryPresenceStore.lastSeenTtlMs', `must be an integer >= 0, got ${String(options.lastSeenTtlMs)}`);
  }

  attach(host: PresenceStoreHost): PresenceNodeStore {
    if (this.hosts.has(host.nodeId)) throw new InvalidOptionError('server.presence.nodeId', `node ${host.nodeId} is already attached to this store`);
    this.hosts.set(host.nodeId, host);
    for (const device of host.localDevices()) this.put(device);
    return new MemoryNodeStore(this, host);
  }

  /** @internal */
  put(device: StoredDevice): void {
    const id = device.identityId;
    const before = this.stateOf(id);
    let devices = this.identities.get(id);
    if (devices === undefined) this.identities.set(id, (devices = new Map()));
    devices.set(`${device.nodeId}/${device.sessionId}`, device);
    this.announce(id, before, device.nodeId);
  }

  /** @internal */
  remove(nodeId: string, identityId: string, sessionId: string): void {
    const devices = this.identities.get(identityId);
    const key = `${nodeId}/${sessionId}`;
    if (devices === undefined || !devices.has(key)) return;
    const before = stateOf(devices.values());
    this.went(identityId, devices.get(key)!.lastSeen ?? this.now());
    devices.delete(key);
    if (devices.size === 0) this.identities.delete(identityId);
    this.announce(identityId, before, nodeId);
  }

  /** @internal */
  get(identityId: string): PresenceInfo {
    const devices = [...(this.identities.get(identityId)?.values() ?? [])];
    const info = { id: identityId, state: stateOf(devices), devices: devices.map(publicDevice), degraded: false };
    const lastSeen = info.state === 'offline' ? this.seen.get(identityId) : undefined;
    return lastSeen === undefined || lastSeen + this.lastSeenTtlMs <= this.now() ? info : { ...info, lastSeen };
  }

  /** @internal */
  states(identityIds: readonly string[]): PresenceState[] {
    return identityIds.map((id) => this.stateOf(id));
  }

  /** @internal */
  sendToNode(nodeId: string, identityId: string, payload: Uint8Array): NodeDelivery | undefined {
    return this.hosts.get(nodeId)?.deliver(identityId, payload);
  }

  /** @internal the node is leaving: its devices go, announced. */
  detach(host: PresenceStoreHost): void {
    if (this.hosts.get(host.nodeId) !== host) return;
    for (const [identityId, devices] of [...this.identities]) {
      for (const device of [...devices.values()]) if (device.nodeId === host.nodeId) this.remove(host.nodeId, identityId, device.sessionId);
    }
    this.hosts.delete(host.nodeId);
  }

  /** A device of the identity went away, its client last heard at `at`: the latest such time is the identity's last seen. */
  private went(identityId: string, at: number): void {
    if (this.lastSeenTtlMs === 0) return;
    this.seen.set(identityId, Math.max(at, this.seen.get(identityId) ?? 0));
    if (++this.seenWrites % PRUNE_EVERY !== 0) return;
    const expired = this.now() - this.lastSeenTtlMs;
    for (const [id, seenAt] of this.seen) if (seenAt <= expired) this.seen.delete(id);
  }

  private stateOf(identityId: string): PresenceState {
    return stateOf(this.identities.get(identityId)?.values() ?? []);
  }

  private announce(identityId: string, previous: PresenceState, nodeId: string): void {
    const state = this.stateOf(identityId);
    if (state === previous) return;
    const change = { id: identityId, state, previous, devices: this.get(identityId).devices, nodeId, at: this.now() };
    for (const host of [...this.hosts.values()]) host.changed(change);
  }
}

/** One node's handle on a MemoryPresenceStore. */
class MemoryNodeStore implements PresenceNodeStore {
  readonly ready = Promise.resolve();
  readonly degraded = false;
  private attached = true;

  constructor(
    private readonly store: MemoryPresenceStore,
    private readonly host: PresenceStoreHost,
  ) {}

  put(device: StoredDevice): void {
    if (this.attached) this.store.put(device);
  }

  remove(identityId: string, sessionId: string): void {
    if (this.attached) this.store.remove(this.host.nodeId, identityId, sessionId);
  }

  get(identityId: string): Promise<PresenceInfo> {
    return Promise.resolve(this.store.get(identityId));
  }

  states(identityIds: readonly string[]): Promise<PresenceState[]> {
    return Promise.resolve(this.store.states(identityIds));
  }

  sendToNode(nodeId: string, identityId: string, payload: Uint8Array): Promise<NodeDelivery | undefined> {
    return Promise.resolve(this.store.sendToNode(nodeId, identityId, payload));
  }

  close(): Promise<void> {
    this.attached = false;
    this.store.detach(this.host);
    return Promise.resolve();
  }
}
