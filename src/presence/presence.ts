/**
 * Presence: one node's view of who is connected (docs/spec/0014-presence.md). It keeps this
 * node's devices — sessions with an identity — from the server's lifecycle calls (open,
 * detached, resumed, closed: §States), hands each change to its store, and answers `get()`,
 * `'change'` and `sendTo()` through the store, which knows the other nodes. The store calls
 * back through PresenceStoreHost (this class). Nothing here throws into the server: a failing
 * store makes presence `degraded` and answers from the local devices.
 *
 * Events: 'change' (PresenceChange) when an identity's state changes, on any node;
 * 'degraded' (Error) when the store stops answering; 'restored' when it answers again;
 * 'warning' (PresenceWarning) when the deployment is wrong (two live processes share a nodeId).
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { InvalidOptionError } from '../errors.js';
import { channels, publish } from '../diagnostics.js';
import { MemoryPresenceStore } from './memory-store.js';
import {
  publicDevice,
  stateOf,
  type DeviceState,
  type NodeDelivery,
  type PresenceChange,
  type PresenceInfo,
  type PresenceNodeStore,
  type CanSubscribe,
  type PresenceSession,
  type PresenceStore,
  type PresenceState,
  type PresenceStoreHost,
  type PresenceWarning,
  type SendResult,
  type StoredDevice,
} from './types.js';

/** The server's `presence` option. */
export interface PresenceOptions {
  /** Where presence is kept. Default: a MemoryPresenceStore of this server alone. */
  store?: PresenceStore;
  /** This node's name in the store (no '/'; ≤ 200 characters). Default: 16 random hex digits. */
  nodeId?: string;
  /** Wall clock for `since` / `lastSeen`, ms since the epoch. Default Date.now. */
  now?: () => number;
  /**
   * Clients' PRESENCE subscriptions (spec 0014 §Subscriptions): whether the session may see
   * `targetId`'s presence, per subscribed id (sync or async; a throw counts as no). Default: yes.
   */
  canSubscribe?: CanSubscribe;
  /** Subscriptions one connection may hold (announced in WELCOME). 0 turns PRESENCE off. Default 1000. */
  maxSubscriptions?: number;
  /**
   * SUBSCRIBE entries a connection may send per second on average (spec 0014 §Subscriptions,
   * rate): each costs a canSubscribe call and a store read. Entries above it wait. Default 100.
   */
  subscribeRate?: number;
  /** Entries a connection may send at once above the rate. Default maxSubscriptions (a whole re-subscribe on connect). */
  subscribeBurst?: number;
  /**
   * SUBSCRIBE frames sent while over the rate that a connection may send before it is closed
   * (CLOSE protocol-error); forgiven once it has kept to the rate for a whole burst. Default 3.
   */
  subscribeStrikes?: number;
  /**
   * What this node's PONGs say while the store does not answer (spec 0014 §Redis outage): 'ok'
   * (default: every node is degraded at once and still serves its sessions fully, so moving
   * clients helps nobody) or 'busy' (clients with other servers prefer them, spec 0004). The load
   * is kept; draining still wins.
   */
  degradedStatus?: 'ok' | 'busy';
}

export interface Presence {
  on(event: 'change', listener: (change: PresenceChange) => void): this;
  on(event: 'degraded', listener: (error: Error) => void): this;
  on(event: 'restored', listener: () => void): this;
  on(event: 'warning', listener: (warning: PresenceWarning) => void): this;
  once(event: 'change', listener: (change: PresenceChange) => void): this;
  once(event: 'degraded', listener: (error: Error) => void): this;
  once(event: 'restored', listener: () => void): this;
  once(event: 'warning', listener: (warning: PresenceWarning) => void): this;
}

/** A device of this node (mutable: its state changes with its session's). */
interface LocalDevice {
  readonly session: PresenceSession;
  readonly identityId: string;
  state: DeviceState;
  since: number;
  lastSeen: number | undefined;
}

const MAX_NODE_ID_LENGTH = 200;
const utf8 = new TextEncoder();

export class Presence extends EventEmitter implements PresenceStoreHost {
  readonly nodeId: string;
  private readonly store: PresenceStore;
  private readonly now: () => number;
  private readonly devices = new Map<string, LocalDevice>();
  private readonly byIdentity = new Map<string, Set<LocalDevice>>();
  /** Attached on first use (listen(), get(), sendTo()): a store connects only for a server that is used. */
  private handle: PresenceNodeStore | undefined;
  private isDegraded = false;
  /** performance.now() when the store became degraded (for the 'restored' diagnostics). */
  private degradedAtMs = 0;
  private closing: Promise<void> | undefined;

  constructor(options: PresenceOptions = {}) {
    super();
    const nodeId = options.nodeId ?? randomBytes(8).toString('hex');
    if (typeof nodeId !== 'string' || nodeId === '' || nodeId.length > MAX_NODE_ID_LENGTH || nodeId.includes('/')) {
      throw new InvalidOptionError('server.presence.nodeId', `must be a non-empty string of at most ${MAX_NODE_ID_LENGTH} characters without '/', got ${JSON.stringify(nodeId)}`);
    }
    const store = options.store ?? new MemoryPresenceStore();
    if (typeof store !== 'object' || store === null || typeof store.attach !== 'function') {
      throw new InvalidOptionError('server.presence.store', 'must be a PresenceStore (MemoryPresenceStore, RedisPresenceStore)');
    }
    if (options.now !== undefined && typeof options.now !== 'function') throw new InvalidOptionError('server.presence.now', 'must be a function');
    this.nodeId = nodeId;
    this.store = store;
    this.now = options.now ?? Date.now;
  }

  /** Resolves once the store holds this node's state (or gave up waiting for now: `degraded`). */
  get ready(): Promise<void> {
    return this.node().ready;
  }

  /** The store is not answering: `get()` and `sendTo()` cover this node's devices only. */
  get degraded(): boolean {
    return this.handle?.degraded ?? false;
  }

  /** How many of this node's sessions count as devices. */
  get localDeviceCount(): number {
    return this.devices.size;
  }

  /** The identity's state and devices, on every node (spec 0014 §API). Never rejects. */
  async get(identityId: string): Promise<PresenceInfo> {
    try {
      return await this.node().get(identityId);
    } catch {
      const devices = [...(this.byIdentity.get(identityId) ?? [])].map((d) => this.stored(d));
      return { id: identityId, state: stateOf(devices), devices: devices.map(publicDevice), degraded: true };
    }
  }

  /**
   * Many identities' states, in order, in one store round trip (what a SUBSCRIBE's snapshot
   * reads). Never rejects: a store that cannot answer gives this node's view (`degraded`).
   */
  async getStates(identityIds: readonly string[]): Promise<{ states: PresenceState[]; degraded: boolean }> {
    if (identityIds.length === 0) return { states: [], degraded: this.degraded };
    try {
      return { states: await this.node().states(identityIds), degraded: this.degraded };
    } catch {
      return { states: identityIds.map((id) => stateOf([...(this.byIdentity.get(id) ?? [])])), degraded: true };
    }
  }

  /**
   * Deliver to every device of the identity, on any node, at most once each (spec 0014
   * §Routing): this node's devices at once, each other node that holds some by one request.
   */
  async sendTo(identityId: string, message: Uint8Array | string): Promise<SendResult> {
    const payload = typeof message === 'string' ? utf8.encode(message) : message;
    const localCount = this.byIdentity.get(identityId)?.size ?? 0;
    const local = this.deliver(identityId, payload);
    let info: PresenceInfo;
    try {
      info = await this.node().get(identityId);
    } catch {
      return { ...local, offline: false, unconfirmed: 0, degraded: true };
    }
    const nodes = new Set(info.devices.map((d) => d.nodeId));
    nodes.delete(this.nodeId);
    const answers = await Promise.all([...nodes].map((nodeId) => this.node().sendToNode(nodeId, identityId, payload).catch(() => undefined)));
    let { delivered, away } = local;
    let unconfirmed = 0;
    for (const answer of answers) {
      if (answer === undefined) unconfirmed++;
      else {
        delivered += answer.delivered;
        away += answer.away;
      }
    }
    return { delivered, away, offline: localCount === 0 && nodes.size === 0, unconfirmed, degraded: info.degraded };
  }

  /** Detach from the store: this node's records go (graceful: its identities change at once). */
  close(): Promise<void> {
    const handle = this.handle;
    return (this.closing ??= handle === undefined ? Promise.resolve() : handle.ready.then(() => handle.close()).catch(() => undefined));
  }

  // --- the server's lifecycle calls (src/server/presence-wiring.ts) ------------------------------

  /** @internal a session completed its handshake. */
  opened(session: PresenceSession): void {
    const identityId = session.identity?.id;
    if (identityId === undefined || this.devices.has(session.id)) return;
    const device: LocalDevice = { session, identityId, state: 'online', since: this.now(), lastSeen: undefined };
    this.devices.set(session.id, device);
    let set = this.byIdentity.get(identityId);
    if (set === undefined) this.byIdentity.set(identityId, (set = new Set()));
    set.add(device);
    this.node().put(this.stored(device));
  }

  /** @internal a resumable session lost its transport; its client was last heard `sinceLastSeenMs` ago. */
  detached(session: PresenceSession, sinceLastSeenMs: number): void {
    const device = this.devices.get(session.id);
    if (device === undefined || device.state === 'away') return;
    const now = this.now();
    device.state = 'away';
    device.since = now;
    device.lastSeen = now - Math.max(0, sinceLastSeenMs);
    this.node().put(this.stored(device));
  }

  /** @internal a detached (or half-open) session's client came back. */
  resumed(session: PresenceSession): void {
    const device = this.devices.get(session.id);
    if (device === undefined || device.state === 'online') return;
    device.state = 'online';
    device.since = this.now();
    device.lastSeen = undefined;
    this.node().put(this.stored(device));
  }

  /** @internal the session is over. */
  closed(session: PresenceSession): void {
    const device = this.devices.get(session.id);
    if (device === undefined) return;
    this.devices.delete(session.id);
    const set = this.byIdentity.get(device.identityId);
    set?.delete(device);
    if (set?.size === 0) this.byIdentity.delete(device.identityId);
    this.node().remove(device.identityId, session.id);
  }

  // --- PresenceStoreHost ------------------------------------------------------------------------

  /** @internal */
  changed(change: PresenceChange): void {
    this.emit('change', change);
  }

  /** @internal deliver to this node's devices of the identity (local sendTo, and other nodes' requests). */
  deliver(identityId: string, payload: Uint8Array): NodeDelivery {
    let delivered = 0;
    let away = 0;
    for (const device of this.byIdentity.get(identityId) ?? []) {
      try {
        device.session.send(payload);
      } catch {
        continue; // above the device's frame limit, or its buffers are full: not counted
      }
      delivered++;
      if (device.state === 'away') away++;
    }
    return { delivered, away };
  }

  /** @internal */
  *localDevices(): Iterable<StoredDevice> {
    for (const device of this.devices.values()) yield this.stored(device);
  }

  /** @internal */
  degradedChanged(error: Error | undefined): void {
    if (error !== undefined && !this.isDegraded) {
      this.isDegraded = true;
      this.degradedAtMs = performance.now();
      publish(channels.presenceDegraded, () => ({ presence: this, nodeId: this.nodeId, error }));
      this.emit('degraded', error);
    } else if (error === undefined && this.isDegraded) {
      this.isDegraded = false;
      publish(channels.presenceRestored, () => ({ presence: this, nodeId: this.nodeId, degradedForMs: performance.now() - this.degradedAtMs }));
      this.emit('restored');
    }
  }

  /** @internal */
  warning(warning: PresenceWarning): void {
    publish(channels.presenceWarning, () => ({ presence: this, ...warning }));
    this.emit('warning', warning);
  }

  private node(): PresenceNodeStore {
    return (this.handle ??= this.store.attach(this));
  }

  private stored(device: LocalDevice): StoredDevice {
    return {
      identityId: device.identityId,
      sessionId: device.session.id,
      nodeId: this.nodeId,
      state: device.state,
      since: device.since,
      ...(device.lastSeen !== undefined ? { lastSeen: device.lastSeen } : {}),
    };
  }
}
