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
 * - A SUBSCRIBE's snapshot is one store read for all its ids (`presence.getStates`: one Redis
 *   round trip), after canSubscribe answered for each.
 * - Rate (presence/subscribe-rate.ts): entries above the connection's token bucket wait and are
 *   served as tokens come; past `subscribeStrikes` SUBSCRIBEs over it, the connection is closed.
 * - Updates are batched per connection per event-loop turn, in frames of at most 1024 entries
 *   and min(the client's maxFrameSize, 64 KiB) bytes.
 */
import type { Presence, PresenceOptions } from '../presence/presence.js';
import type { CanSubscribe, PresenceChange, PresenceState } from '../presence/types.js';
import { DEFAULT_SUBSCRIBE_RATE, DEFAULT_SUBSCRIBE_STRIKES, SubscribeRatePolicy, type SubscribeRateState } from '../presence/subscribe-rate.js';
import { InvalidOptionError } from '../errors.js';
import { MAX_PRESENCE_ENTRIES, type PresenceFrame, type WirePresenceState } from '../protocol/frames.js';
import { presenceEntryLength, presenceFrameLength } from '../protocol/presence-frame.js';
import type { Identity } from './auth.js';

/** Subscriptions a connection may hold by default (WELCOME `presence`). */
export const DEFAULT_MAX_PRESENCE_SUBSCRIPTIONS = 1000;
/** Largest PRESENCE frame a server writes, bytes (below the client's maxFrameSize too). */
const MAX_PRESENCE_FRAME_BYTES = 65_536;
/** Ids per `presence.getStates` read of a resync after an outage (one store round trip each). */
const RESYNC_CHUNK = 1000;


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

/** An id of a SUBSCRIBE, with the entry and generation it was subscribed as (stale once either changed). */
interface Asked {
  readonly id: string;
  readonly entry: Entry;
  readonly gen: number;
}

/**
 * A connection's subscriptions and what is waiting to be written to it. Kept until the connection
 * goes (its rate state with it: unsubscribing everything must not refill the bucket).
 */
interface Subscriptions {
  readonly subscriber: PresenceSubscriber;
  readonly entries: Map<string, Entry>;
  outbox: Array<{ id: string; state: WirePresenceState }>;
  flushing: boolean;
  closed: boolean;
  readonly rate: SubscribeRateState;
  /** Entries over the rate, in arrival order, waiting for tokens: id → the generation asked. */
  readonly waiting: Map<string, number>;
  timer: ReturnType<typeof setTimeout> | undefined;
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
  private readonly rate: SubscribeRatePolicy;
  /** Waiting entries are served in steps of this many (a tenth of a second's worth). */
  private readonly step: number;
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
    this.rate = new SubscribeRatePolicy(options.subscribeRate ?? DEFAULT_SUBSCRIBE_RATE, options.subscribeBurst ?? Math.max(1, limit), options.subscribeStrikes ?? DEFAULT_SUBSCRIBE_STRIKES);
    this.step = Math.max(1, Math.ceil(this.rate.ratePerSec / 10));
    presence.on('change', (change) => this.changed(change));
    presence.on('restored', () => void this.resync());
  }

  /** Connections holding at least one subscription, and subscriptions in all (for tests and metrics). */
  get counts(): { connections: number; subscriptions: number; ids: number } {
    let subscriptions = 0;
    let connections = 0;
    for (const subs of this.byPeer.values()) {
      subscriptions += subs.entries.size;
      if (subs.entries.size > 0) connections++;
    }
    return { connections, subscriptions, ids: this.topics.size };
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
    clearTimeout(subs.timer);
    subs.waiting.clear();
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
      subs = { subscriber: peer, entries: new Map(), outbox: [], flushing: false, closed: false, rate: this.rate.fresh(performance.now()), waiting: new Map(), timer: undefined };
      this.byPeer.set(peer, subs);
    }
    const asked: Asked[] = [];
    for (const id of unique) {
      let entry = subs.entries.get(id);
      if (entry === undefined) subs.entries.set(id, (entry = { gen: 0, authorized: false, lastSent: undefined }));
      // This SUBSCRIBE is answered: by its snapshot, or by a change heard meanwhile.
      entry.lastSent = undefined;
      asked.push({ id, entry, gen: ++entry.gen });
    }
    const verdict = this.rate.admit(subs.rate, asked.length, performance.now(), subs.waiting.size > 0);
    if (verdict === 'too-many') {
      peer.connection.refuse('protocol-error', `PRESENCE SUBSCRIBE faster than this server allows (${this.rate.ratePerSec} ids/s, bursts of ${this.rate.burst}): ${subs.rate.strikes} SUBSCRIBEs over the rate, ${this.rate.maxStrikes} tolerated`);
      return;
    }
    if (verdict === 'ok') return this.serve(subs, asked);
    for (const { id, gen } of asked) subs.waiting.set(id, gen);
    this.scheduleWaiting(subs);
  }

  /** Serve waiting entries as the connection's tokens come, a step at a time. */
  private scheduleWaiting(subs: Subscriptions): void {
    if (subs.timer !== undefined || subs.closed || subs.waiting.size === 0) return;
    const delay = this.rate.waitMs(subs.rate, Math.min(subs.waiting.size, this.step), performance.now());
    subs.timer = setTimeout(() => {
      subs.timer = undefined;
      if (subs.closed) return;
      const asked: Asked[] = [];
      for (const [id, gen] of subs.waiting) {
        const entry = subs.entries.get(id);
        // Unsubscribed or subscribed again since: costs nothing.
        if (entry === undefined || entry.gen !== gen) subs.waiting.delete(id);
      }
      const n = this.rate.take(subs.rate, subs.waiting.size, performance.now());
      for (const [id, gen] of subs.waiting) {
        if (asked.length === n) break;
        subs.waiting.delete(id);
        asked.push({ id, entry: subs.entries.get(id)!, gen });
      }
      if (asked.length > 0) this.serve(subs, asked);
      this.scheduleWaiting(subs);
    }, delay);
    subs.timer.unref?.();
  }

  /** canSubscribe for each asked id, then one snapshot read for those allowed. */
  private serve(subs: Subscriptions, asked: readonly Asked[]): void {
    const identity = subs.subscriber.session?.identity;
    const allowed: Asked[] = [];
    let left = asked.length;
    const answered = () => {
      if (--left === 0 && allowed.length > 0) this.snapshot(subs, allowed);
    };
    for (const item of asked) {
      const { id, entry, gen } = item;
      this.authorize(identity, id, (yes) => {
        if (subs.closed || subs.entries.get(id) !== entry || entry.gen !== gen) return answered();
        if (!yes) {
          subs.entries.delete(id);
          if (entry.authorized) this.leaveTopic(id, subs);
          this.send(subs, id, 'denied');
          return answered();
        }
        if (!entry.authorized) {
          entry.authorized = true;
          this.joinTopic(id, subs);
        }
        allowed.push(item);
        answered();
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
      subs.waiting.delete(id);
      if (entry.authorized) this.leaveTopic(id, subs);
    }
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

  /** The ids' current states in one read, except where a change heard meanwhile (already sent) is newer. */
  private snapshot(subs: Subscriptions, allowed: readonly Asked[]): void {
    // Unsubscribed (or subscribed again) while a slower canSubscribe answered for another id: not read.
    const asked = allowed.filter(({ id, entry, gen }) => subs.entries.get(id) === entry && entry.gen === gen && this.topics.has(id));
    if (subs.closed || asked.length === 0) return;
    const before = asked.map(({ id }) => this.topics.get(id)!.changes);
    void this.presence.getStates(asked.map(({ id }) => id)).then(({ states }) => {
      if (subs.closed) return;
      asked.forEach(({ id, entry, gen }, i) => {
        if (subs.entries.get(id) !== entry || entry.gen !== gen || this.topics.get(id)?.changes !== before[i]) return;
        // Always answered: the client asked (a repeated SUBSCRIBE re-reads, e.g. after a resume).
        this.send(subs, id, states[i]!);
      });
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

  /** After an outage: read every subscribed id again (a chunk per read), send what differs from what was sent. */
  private async resync(): Promise<void> {
    const ids = [...this.topics.keys()];
    for (let i = 0; i < ids.length; i += RESYNC_CHUNK) {
      const chunk = ids.slice(i, i + RESYNC_CHUNK);
      const before = chunk.map((id) => this.topics.get(id)?.changes);
      const { states, degraded } = await this.presence.getStates(chunk);
      if (degraded) return; // out again: the next 'restored' reads them all
      chunk.forEach((id, k) => {
        const topic = this.topics.get(id);
        if (topic === undefined || topic.changes !== before[k]) return;
        for (const subs of topic.subs) if (subs.entries.get(id)?.lastSent !== states[k]) this.send(subs, id, states[k]!);
      });
    }
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
