/**
 * The client's presence subscriptions (docs/spec/0014-presence.md §Subscriptions, PROTOCOL.md
 * §6.11), shared by the Node and browser clients through core.ts. It keeps the ids the
 * application subscribed to across connections and sends them on each connection whose WELCOME
 * announced PRESENCE (a server that did not would close on the unknown frame type): a new
 * connection, a resumed one too, starts with no subscription on the server's side.
 *
 * 'presence' ({ id, state }) is emitted when an id's state differs from the last one emitted
 * (the first answer always): a re-subscription after a reconnect reports only what changed
 * meanwhile. `denied` (the server's canSubscribe said no) is emitted once and drops the id.
 * Runtime-neutral: no node:* import.
 */
import { LifelineError } from '../errors.js';
import { MAX_PRESENCE_ENTRIES, type PresenceFrame, type WirePresenceState } from '../protocol/frames.js';
import { presenceEntryLength, presenceFrameLength, presenceIdBytes } from '../protocol/presence-frame.js';

/** What the 'presence' event carries. */
export interface PresenceUpdate {
  readonly id: string;
  /** 'denied': the server will not tell this client; the subscription was dropped. */
  readonly state: WirePresenceState;
}

/** The current connection, as much as presence needs of it. */
export interface PresenceConnection {
  sendPresence(frame: PresenceFrame): boolean;
}

export interface PresenceSink {
  emit(event: 'presence', update: PresenceUpdate): unknown;
  emit(event: 'warning', message: string): unknown;
}

const utf8 = new TextEncoder();

export class ClientPresence {
  /** What the application subscribed to, in order. */
  private readonly wanted = new Set<string>();
  /** Of those, what the current connection's server holds (≤ its limit). */
  private readonly sent = new Set<string>();
  private readonly known = new Map<string, WirePresenceState>();
  private connection: PresenceConnection | undefined;
  /** The current server's WELCOME `presence` (0: not announced, or no connection). */
  private limit = 0;
  /** The current server's maxFrameSize: SUBSCRIBE frames are cut to fit. */
  private maxFrameSize = 0;
  private closed = false;

  constructor(private readonly sink: PresenceSink) {}

  /** The ids subscribed to. */
  get subscriptions(): string[] {
    return [...this.wanted];
  }

  /** The last state reported for an id (undefined before its first answer). */
  stateOf(id: string): WirePresenceState | undefined {
    return this.known.get(id);
  }

  subscribe(ids: string | Iterable<string>): void {
    const fresh = this.check(ids).filter((id) => !this.wanted.has(id));
    if (this.connection !== undefined && this.sent.size + fresh.length > this.limit) {
      throw new RangeError(`cannot subscribe to ${fresh.length} more ids: the server allows ${this.limit} presence subscriptions per connection and ${this.sent.size} are in use`);
    }
    for (const id of fresh) this.wanted.add(id);
    this.send('subscribe', fresh);
  }

  unsubscribe(ids: string | Iterable<string>): void {
    const gone: string[] = [];
    for (const id of this.check(ids)) {
      if (!this.wanted.delete(id)) continue;
      this.known.delete(id);
      if (this.sent.delete(id)) gone.push(id);
    }
    if (this.connection !== undefined && gone.length > 0) this.write('unsubscribe', gone);
  }

  /** A connection opened; `limit` is its WELCOME `presence` (undefined: the server does not speak PRESENCE). */
  opened(connection: PresenceConnection, limit: number | undefined, maxFrameSize: number): void {
    this.maxFrameSize = maxFrameSize;
    this.sent.clear();
    if (limit === undefined) {
      this.connection = undefined;
      this.limit = 0;
      if (this.wanted.size > 0) this.sink.emit('warning', 'this server does not announce PRESENCE in WELCOME: presence subscriptions wait for a server that does');
      return;
    }
    this.connection = connection;
    this.limit = limit;
    const ids = [...this.wanted];
    if (ids.length > limit) this.sink.emit('warning', `the server allows ${limit} presence subscriptions per connection: ${ids.length - limit} of ${ids.length} are not sent`);
    this.send('subscribe', ids.slice(0, limit));
  }

  /** The connection is gone: nothing is sent until the next one opens. */
  lost(): void {
    this.connection = undefined;
    this.limit = 0;
    this.sent.clear();
  }

  /** The client closed for good. */
  close(): void {
    this.lost();
    this.closed = true;
  }

  /** A PRESENCE STATE from the server. */
  received(states: ReadonlyArray<{ id: string; state: WirePresenceState }>): void {
    for (const { id, state } of states) {
      // An answer for an id unsubscribed since (in flight) is not the application's any more.
      if (!this.wanted.has(id)) continue;
      if (state === 'denied') {
        this.wanted.delete(id);
        this.sent.delete(id);
        this.known.delete(id);
      } else {
        if (this.known.get(id) === state) continue;
        this.known.set(id, state);
      }
      this.sink.emit('presence', { id, state });
    }
  }

  private send(kind: 'subscribe', ids: readonly string[]): void {
    if (this.connection === undefined || ids.length === 0) return;
    for (const id of ids) this.sent.add(id);
    this.write(kind, ids);
  }

  /** In frames of at most MAX_PRESENCE_ENTRIES ids that fit the server's maxFrameSize. */
  private write(kind: 'subscribe' | 'unsubscribe', ids: readonly string[]): void {
    let batch: string[] = [];
    let bytes = 0;
    for (const id of ids) {
      const entry = presenceEntryLength(utf8.encode(id).length, false);
      if (batch.length === MAX_PRESENCE_ENTRIES || (batch.length > 0 && presenceFrameLength(batch.length + 1, bytes + entry) > this.maxFrameSize)) {
        this.connection?.sendPresence({ type: 'presence', kind, ids: batch });
        batch = [];
        bytes = 0;
      }
      batch.push(id);
      bytes += entry;
    }
    if (batch.length > 0) this.connection?.sendPresence({ type: 'presence', kind, ids: batch });
  }

  private check(ids: string | Iterable<string>): string[] {
    if (this.closed) throw new LifelineError('LL_ERR_NOT_OPEN', 'cannot change presence subscriptions: the client is closed');
    const list = typeof ids === 'string' ? [ids] : [...ids];
    for (const id of list) presenceIdBytes(id, 'presence id');
    return [...new Set(list)];
  }
}
