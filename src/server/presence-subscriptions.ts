/**
 * Presence subscriptions over the wire (docs/spec/0014-presence.md §Subscriptions, PROTOCOL.md
 * §6.11): a connection's PRESENCE SUBSCRIBE / UNSUBSCRIBE, answered with the ids' current states
 * (a snapshot from `presence.get`) and then each change, fed by `presence`'s 'change' events —
 * which every node hears, for changes on any node (the store's pub/sub). One per server.
 *
 * - Subscriptions belong to the connection, not the session: a new connection (a resumed one
 *   too) starts with none, and the client sends them again (PRESENCE frames are not DATA: they are
 *   neither sequenced nor replayed, so updates a detached session missed could not be replayed).
 * - `canSubscribe(identity, targetId)` (default: allow) runs per subscribed id, also on a
 *   repeated SUBSCRIBE; a refused (or throwing) one is answered `denied` and not kept.
 * - Snapshot vs change: a change heard for an id while its snapshot is being read wins (the
 *   snapshot may have been read before it); a later duplicate of the state last sent is not sent.
 * - After the store's outage ('restored') every subscribed id is read again and changes are
 *   sent: pub/sub messages of the outage were lost (spec 0014 §Redis outage).
 * - Updates are batched per connection per event-loop turn, in frames of at most 1024 entries
 *   and min(the client's maxFrameSize, 64 KiB) bytes.
 */
import type { Presence, PresenceOptions } from '../presence/presence.js';
import type { CanSubscribe, PresenceChange, PresenceState } from '../presence/types.js';
import { InvalidOptionError } from '../errors.js';
import { MAX_PRESENCE_ENTRIES, type PresenceFrame, type WirePresenceState } from '../protocol/frames.js';
import { presenceEntryLength, presenceFrameLength } from '../protocol/presence-frame.js';
import type { Identity } from './auth.js';

/** Subscriptions a connection may hold by default (WELCOME `presence`). */
export const DEFAULT_MAX_PRESENCE_SUBSCRIPTIONS = 1000;
/** Largest PRESENCE frame a server writes, bytes (below the client's maxFrameSize too). */
const MAX_PRESENCE_FRAME_BYTES = 65_536;
/** At most this many `presence.get` reads in flight for one resync after an outage. */
const RESYNC_CONCURRENCY = 64;


/** What a subscription needs of a server connection (ServerPeer satisfies it). */
export interface PresenceSubscriber {
  readonly connection: {
    sendPresence(frame: PresenceFrame): boolean;
    refuse(code: 'protocol-error', message: string): void;
  };
  readonly session: { readonly identity: Identity | undefined } | undefined;
  /** Largest frame the client accepts (its HELLO maxFrameSize, or the server's own limit). */
  readonly peerMaxFrameSize: number;
}

/** One id a connection subscribed to. */
interface Entry {
  /** Bumped by every SUBSCRIBE of the id: an older authorization or snapshot is stale. */
  gen: number;
  /** canSubscribe said yes: the entry is in its topic and hears changes. */
  authorized: boolean;
  lastSent: WirePresenceState | undefined;
}

/** A connection's subscriptions and what is waiting to be written to it. */
interface Subscriptions {
  readonly subscriber: PresenceSubscriber;
  readonly entries: Map<string, Entry>;
  outbox: Array<{ id: string; state: WirePresenceState }>;
  flushing: boolean;
  closed: boolean;
}

/** The connections subscribed to one id, and a counter of the changes heard for it. */
interface Topic {
  readonly subs: Set<Subscriptions>;
  changes: number;
}

export class PresenceSubscriptions {
  /** Subscriptions per connection, announced in WELCOME; 0: PRESENCE is off (not announced). */
  readonly limit: number;
  private readonly canSubscribe: CanSubscribe | undefined;
  private readonly byPeer = new Map<PresenceSubscriber, Subscriptions>();
  private readonly topics = new Map<string, Topic>();

  constructor(
    private readonly presence: Presence,
    options: PresenceOptions = {},
  ) {
    const limit = options.maxSubscriptions ?? DEFAULT_MAX_PRESENCE_SUBSCRIPTIONS;
    if (!Number.isSafeInteger(limit) || limit < 0) throw new InvalidOptionError('server.presence.maxSubscriptions', `must be an integer >= 0 (0 = no PRESENCE), got ${String(limit)}`);
    if (options.canSubscribe !== undefined && typeof options.canSubscribe !== 'function') throw new InvalidOptionError('server.presence.canSubscribe', 'must be a function (identity, targetId) => boolean | Promise<boolean>');
    this.limit = limit;
    this.canSubscribe = options.canSubscribe;
    presence.on('change', (change) => this.changed(change));
    presence.on('restored', () => void this.resync());
  }

  /** Connections holding at least one subscription, and subscriptions in all (for tests and metrics). */
  get counts(): { connections: number; subscriptions: number; ids: number } {
    let subscriptions = 0;
    for (const subs of this.byPeer.values()) subscriptions += subs.entries.size;
    return { connections: this.byPeer.size, subscriptions, ids: this.topics.size };
  }

  /** A PRESENCE frame from a client (after the handshake). */
  frame(peer: PresenceSubscriber, frame: PresenceFrame): void {
    if (this.limit === 0) return peer.connection.refuse('protocol-error', 'unexpected PRESENCE: this server did not announce it in WELCOME');
    if (frame.kind === 'state') return peer.connection.refuse('protocol-error', 'PRESENCE STATE from a client: only a server sends it');
    if (frame.kind === 'unsubscribe') return this.unsubscribe(peer, frame.ids);
    this.subscribe(peer, frame.ids);
  }

  /** The connection is gone (closed, or replaced by a resumed one): its subscriptions go. */
  dropped(peer: PresenceSubscriber): void {
    const subs = this.byPeer.get(peer);
    if (subs === undefined) return;
    this.byPeer.delete(peer);
    subs.closed = true;
    for (const id of subs.entries.keys()) this.leaveTopic(id, subs);
    subs.entries.clear();
    subs.outbox = [];
  }

  private subscribe(peer: PresenceSubscriber, ids: readonly string[]): void {
    let subs = this.byPeer.get(peer);
    const unique = new Set(ids);
    let added = 0;
    for (const id of unique) if (subs?.entries.has(id) !== true) added++;
    const total = (subs?.entries.size ?? 0) + added;
    if (total > this.limit) {
      peer.connection.refuse('protocol-error', `PRESENCE SUBSCRIBE would make ${total} subscriptions on this connection, over the ${this.limit} this server announced in WELCOME`);
      return;
    }
    if (subs === undefined) {
      subs = { subscriber: peer, entries: new Map(), outbox: [], flushing: false, closed: false };
      this.byPeer.set(peer, subs);
    }
    const identity = peer.session?.identity;
    for (const id of unique) {
      let entry = subs.entries.get(id);
      if (entry === undefined) subs.entries.set(id, (entry = { gen: 0, authorized: false, lastSent: undefined }));
      const gen = ++entry.gen;
      entry.lastSent = undefined; // this SUBSCRIBE is answered: by its snapshot, or by a change heard meanwhile
      this.authorize(identity, id, (allowed) => {
        if (subs.closed || subs.entries.get(id) !== entry || entry.gen !== gen) return;
        if (!allowed) {
          subs.entries.delete(id);
          if (entry.authorized) this.leaveTopic(id, subs);
          this.send(subs, id, 'denied');
          return;
        }
        if (!entry.authorized) {
          entry.authorized = true;
          this.joinTopic(id, subs);
        }
        this.snapshot(subs, id, entry, gen);
      });
    }
  }

  private unsubscribe(peer: PresenceSubscriber, ids: readonly string[]): void {
    const subs = this.byPeer.get(peer);
    if (subs === undefined) return;
    for (const id of ids) {
      const entry = subs.entries.get(id);
      if (entry === undefined) continue;
      subs.entries.delete(id);
      if (entry.authorized) this.leaveTopic(id, subs);
    }
    if (subs.entries.size === 0 && subs.outbox.length === 0) this.byPeer.delete(peer);
  }

  /** canSubscribe's answer, sync or async; a throw or rejection counts as no. */
  private authorize(identity: Identity | undefined, id: string, done: (allowed: boolean) => void): void {
    const hook = this.canSubscribe;
    if (hook === undefined) return done(true);
    let answer: boolean | Promise<boolean>;
    try {
      answer = hook(identity, id);
    } catch {
      return done(false);
    }
    if (typeof (answer as Promise<boolean> | undefined)?.then === 'function') {
      (answer as Promise<boolean>).then((allowed) => done(allowed === true), () => done(false));
    } else done(answer === true);
  }

  /** The id's current state, unless a change heard meanwhile (already sent) is newer. */
  private snapshot(subs: Subscriptions, id: string, entry: Entry, gen: number): void {
    const topic = this.topics.get(id)!;
    const before = topic.changes;
    void this.presence.get(id).then((info) => {
      if (subs.closed || subs.entries.get(id) !== entry || entry.gen !== gen || topic.changes !== before) return;
      // Always answered: the client asked (a repeated SUBSCRIBE re-reads, e.g. after a resume).
      this.send(subs, id, info.state);
    });
  }

  private changed(change: PresenceChange): void {
    const topic = this.topics.get(change.id);
    if (topic === undefined) return;
    topic.changes++;
    for (const subs of topic.subs) {
      if (subs.entries.get(change.id)?.lastSent !== change.state) this.send(subs, change.id, change.state);
    }
  }

  /** After an outage: read every subscribed id again, send what differs from what was sent. */
  private async resync(): Promise<void> {
    const ids = [...this.topics.keys()];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < ids.length) {
        const id = ids[next++]!;
        const topic = this.topics.get(id);
        if (topic === undefined) continue;
        const before = topic.changes;
        const info = await this.presence.get(id);
        if (topic.changes !== before || info.degraded) continue;
        for (const subs of topic.subs) if (subs.entries.get(id)?.lastSent !== info.state) this.send(subs, id, info.state);
      }
    };
    await Promise.all(Array.from({ length: Math.min(RESYNC_CONCURRENCY, ids.length) }, worker));
  }

  private joinTopic(id: string, subs: Subscriptions): void {
    let topic = this.topics.get(id);
    if (topic === undefined) this.topics.set(id, (topic = { subs: new Set(), changes: 0 }));
    topic.subs.add(subs);
  }

  private leaveTopic(id: string, subs: Subscriptions): void {
    const topic = this.topics.get(id);
    if (topic === undefined) return;
    topic.subs.delete(subs);
    if (topic.subs.size === 0) this.topics.delete(id);
  }

  private send(subs: Subscriptions, id: string, state: PresenceState | 'denied'): void {
    const entry = subs.entries.get(id);
    if (entry !== undefined) entry.lastSent = state;
    subs.outbox.push({ id, state });
    if (subs.flushing) return;
    subs.flushing = true;
    // One write per connection per turn: a snapshot of many ids, or a burst of changes, is batched.
    setImmediate(() => this.flush(subs));
  }

  private flush(subs: Subscriptions): void {
    subs.flushing = false;
    const outbox = subs.outbox;
    subs.outbox = [];
    if (subs.closed) return;
    if (subs.entries.size === 0 && this.byPeer.get(subs.subscriber) === subs) this.byPeer.delete(subs.subscriber);
    const budget = Math.min(subs.subscriber.peerMaxFrameSize, MAX_PRESENCE_FRAME_BYTES);
    let batch: Array<{ id: string; state: WirePresenceState }> = [];
    let batchBytes = 0;
    for (const update of outbox) {
      const bytes = presenceEntryLength(utf8Length(update.id), true);
      // An entry that fits no frame the client accepts (maxFrameSize below ~270 bytes) is skipped.
      if (presenceFrameLength(1, bytes) > budget) continue;
      if (batch.length === MAX_PRESENCE_ENTRIES || presenceFrameLength(batch.length + 1, batchBytes + bytes) > budget) {
        subs.subscriber.connection.sendPresence({ type: 'presence', kind: 'state', states: batch });
        batch = [];
        batchBytes = 0;
      }
      batch.push(update);
      batchBytes += bytes;
    }
    if (batch.length > 0) subs.subscriber.connection.sendPresence({ type: 'presence', kind: 'state', states: batch });
  }
}

const utf8 = new TextEncoder();

function utf8Length(text: string): number {
  return utf8.encode(text).length;
}
