/**
 * Presence types and the store port (docs/spec/0014-presence.md). Nothing here knows the
 * server: a device is described by plain values, a session by the few members presence uses
 * (PresenceSession), so presence/ stays below server/ (test/unit/layers.test.ts).
 */

/** An identity's state: some device connected / only detached resumable ones / none. */
export type PresenceState = 'online' | 'away' | 'offline';

/** A device's state: its session is open, or detached within its resume window. */
export type DeviceState = 'online' | 'away';

/** One session of an identity, on some node. */
export interface PresenceDevice {
  readonly sessionId: string;
  readonly nodeId: string;
  readonly state: DeviceState;
  /** When the device entered `state`, wall-clock ms (Date.now()). */
  readonly since: number;
  /** Away devices: when the client was last heard from, wall-clock ms. */
  readonly lastSeen?: number;
}

/** A device of this node, as given to the store. */
export interface StoredDevice extends PresenceDevice {
  readonly identityId: string;
}

export interface PresenceInfo {
  readonly id: string;
  readonly state: PresenceState;
  readonly devices: readonly PresenceDevice[];
  /** The store could not answer: only this node's devices are in `devices`. */
  readonly degraded: boolean;
  /**
   * Offline identities: when their last device went away (wall-clock ms: an away device's
   * lastSeen, else when it was removed), if the store still keeps it (spec 0014 §Last seen).
   */
  readonly lastSeen?: number;
}

/** Something an operator should fix (spec 0014): the 'warning' event and `lifeline:presence:warning`. */
export interface PresenceWarning {
  /** 'node-id-conflict': another live process holds this node's lease (two processes, one nodeId). */
  readonly code: 'node-id-conflict';
  readonly nodeId: string;
  readonly message: string;
}

/** An identity's state changed (spec 0014 §API). */
export interface PresenceChange {
  readonly id: string;
  readonly state: PresenceState;
  readonly previous: PresenceState;
  /** The identity's devices after the change. */
  readonly devices: readonly PresenceDevice[];
  /** The node whose event caused it (for a dead node's identities: the dead node). */
  readonly nodeId: string;
  /** Wall-clock ms, as the causing node saw it. */
  readonly at: number;
}

/** What one node's delivery of a sendTo did. */
export interface NodeDelivery {
  /** Devices that took the message (online + away). */
  readonly delivered: number;
  /** Of those, away devices (kept for their resume). */
  readonly away: number;
}

/** `server.sendTo()`'s answer (spec 0014 §Routing). */
export interface SendResult extends NodeDelivery {
  /** The store said the identity has no device anywhere: nothing was sent. */
  readonly offline: boolean;
  /** Nodes asked to deliver that did not answer in time: they may have delivered (never twice). */
  readonly unconfirmed: number;
  /** The store could not be asked: only this node's devices were tried. */
  readonly degraded: boolean;
}

/** The node's side of a store (what a store calls back). */
export interface PresenceStoreHost {
  readonly nodeId: string;
  /** An identity's state changed, on any node. */
  changed(change: PresenceChange): void;
  /** Another node's sendTo: deliver to this node's devices of the identity. */
  deliver(identityId: string, payload: Uint8Array): NodeDelivery;
  /** Every device of this node now (for a re-publish after an outage or a lost lease). */
  localDevices(): Iterable<StoredDevice>;
  /** The store stopped answering (error) or answers again (undefined). */
  degradedChanged(error: Error | undefined): void;
  /** Something is wrong with the deployment (not with the store's connection). */
  warning(warning: PresenceWarning): void;
}

/**
 * Where presence lives (spec 0014 §Stores): in this process (MemoryPresenceStore, which several
 * in-process nodes may share) or shared by many nodes (RedisPresenceStore: one node per store).
 */
export interface PresenceStore {
  /** Attach a node (once per node); its handle's `ready` resolves once its state is in the store. */
  attach(host: PresenceStoreHost): PresenceNodeStore;
}

/**
 * One node's handle on its store. Writes are fire and forget: a store that fails reports
 * `degraded` (host.degradedChanged) and re-publishes `host.localDevices()` when it recovers.
 */
export interface PresenceNodeStore {
  /** Resolves once the node's state is in the store, or the store gave up waiting for now (degraded). Never rejects. */
  readonly ready: Promise<void>;
  /** Upsert one of this node's devices. */
  put(device: StoredDevice): void;
  /** One of this node's devices is gone. */
  remove(identityId: string, sessionId: string): void;
  /** The identity as the store sees it (live nodes' devices only). Rejects when it cannot answer. */
  get(identityId: string): Promise<PresenceInfo>;
  /** Many identities' states, in order, in one round trip (a SUBSCRIBE's snapshot). Rejects when it cannot answer. */
  states(identityIds: readonly string[]): Promise<PresenceState[]>;
  /** Ask another node to deliver to its devices of the identity; undefined: no answer in time. */
  sendToNode(nodeId: string, identityId: string, payload: Uint8Array): Promise<NodeDelivery | undefined>;
  readonly degraded: boolean;
  /** Detach the node: its records are removed (its devices there go at once). */
  close(): Promise<void>;
}

/** The members of a server Session that presence uses (a narrow port; Session satisfies it). */
export interface PresenceSession {
  readonly id: string;
  readonly identity: { readonly id: string } | undefined;
  readonly state: 'open' | 'detached' | 'closed';
  send(data: Uint8Array | string): boolean;
}

/**
 * May a session see `targetId`'s presence (spec 0014 §Subscriptions)? `identity` is the session's
 * (what `authenticate` answered, with all its fields; undefined on a server without it).
 */
export type CanSubscribe = (identity: { readonly id: string } | undefined, targetId: string) => boolean | Promise<boolean>;

/** An identity's state from its devices' states. */
export function stateOf(devices: Iterable<{ readonly state: DeviceState }>): PresenceState {
  let state: PresenceState = 'offline';
  for (const device of devices) {
    if (device.state === 'online') return 'online';
    state = 'away';
  }
  return state;
}

/** A device as `get()` and `'change'` give it: without the identity id a StoredDevice carries. */
export function publicDevice(device: PresenceDevice): PresenceDevice {
  const { sessionId, nodeId, state, since, lastSeen } = device;
  return lastSeen === undefined ? { sessionId, nodeId, state, since } : { sessionId, nodeId, state, since, lastSeen };
}
