/**
 * RedisPresenceStore (docs/spec/0014-presence.md §Stores, §Redis outage): presence shared by
 * many nodes through one Redis, with ioredis. One store per node. The node keeps one lease key
 * alive (SET PX, refreshed every TTL / 3): its own heartbeat, the only periodic write — a
 * session's liveness stays the heartbeat's, and Redis sees a command per session state change,
 * never per beat. Its devices are recorded under it; a sweeper on every node removes the
 * records of nodes whose lease expired. Changes fan out by pub/sub from inside the scripts
 * (redis-scripts.ts); sendTo requests go to the target node's inbox channel and are answered.
 *
 * Two connections: commands (no offline queue: while Redis is away nothing is queued — the
 * node's own state is the queue, re-published whole by the sync script on reconnect) and the
 * subscriber. Failures never throw into the server: they make the store `degraded`.
 */
import { randomBytes } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { InvalidOptionError } from '../errors.js';
import { positiveNumber, stripUndefined } from '../options.js';
import { Backoff, type BackoffOptions } from '../liveness/backoff.js';
import { SCRIPTS, type PresenceScripts } from './redis-scripts.js';
import type { NodeDelivery, PresenceChange, PresenceDevice, PresenceInfo, PresenceNodeStore, PresenceState, PresenceStore, PresenceStoreHost, StoredDevice } from './types.js';

export interface RedisPresenceStoreOptions {
  /** A redis:// URL, ioredis options, or an ioredis client (duplicated; never closed by the store). Default 'redis://127.0.0.1:6379'. */
  redis?: string | RedisOptions | Redis;
  /** Prefix of every key and channel. Default 'lifeline:'. */
  prefix?: string;
  /** The node's lease, ms; refreshed every leaseTtlMs / 3. Default 10000. */
  leaseTtlMs?: number;
  /** How often this node looks for other nodes' expired leases, ms. Default 2000. */
  sweepIntervalMs?: number;
  /** How long sendTo waits for another node's answer, ms. Default 1000. */
  sendTimeoutMs?: number;
  /** A Redis command not answered within it counts as an outage, ms. Default 2000. */
  commandTimeoutMs?: number;
  /** How long `ready` (and so the server's listen()) waits for the first sync, ms. Default 2000. */
  readyTimeoutMs?: number;
  /** Reconnect backoff (liveness/backoff.ts). Default 100 ms × 1.6ⁿ, at most 5 s, ±20 %. */
  reconnect?: BackoffOptions;
  /** Wall clock for a change's `at`, ms. Default Date.now. */
  now?: () => number;
}

export const REDIS_PRESENCE_DEFAULTS = {
  redis: 'redis://127.0.0.1:6379',
  prefix: 'lifeline:',
  leaseTtlMs: 10_000,
  sweepIntervalMs: 2000,
  sendTimeoutMs: 1000,
  commandTimeoutMs: 2000,
  readyTimeoutMs: 2000,
  reconnect: { initialDelay: 100, multiplier: 1.6, maxDelay: 5000, jitter: 0.2 },
} as const;

type Resolved = Required<Omit<RedisPresenceStoreOptions, 'redis'>> & { redis: string | RedisOptions | Redis };

export class RedisPresenceStore implements PresenceStore {
  private readonly options: Resolved;
  private attached = false;

  constructor(options: RedisPresenceStoreOptions = {}) {
    const o: Resolved = { ...REDIS_PRESENCE_DEFAULTS, now: Date.now, ...stripUndefined(options) };
    for (const key of ['leaseTtlMs', 'sweepIntervalMs', 'sendTimeoutMs', 'commandTimeoutMs', 'readyTimeoutMs'] as const) positiveNumber(`RedisPresenceStore.${key}`, o[key]);
    if (typeof o.prefix !== 'string') throw new InvalidOptionError('RedisPresenceStore.prefix', 'must be a string');
    if (typeof o.redis !== 'string' && (typeof o.redis !== 'object' || o.redis === null)) throw new InvalidOptionError('RedisPresenceStore.redis', 'must be a URL, ioredis options or an ioredis client');
    this.options = o;
  }

  attach(host: PresenceStoreHost): PresenceNodeStore {
    if (this.attached) throw new InvalidOptionError('server.presence.store', 'a RedisPresenceStore serves one node: make one per server');
    this.attached = true;
    return new RedisNodeStore(this.options, host);
  }
}

/** Connection settings we rely on (see the header); the user's own settings are kept otherwise. */
function connectionOptions(o: Resolved, backoff: Backoff, commands: boolean): RedisOptions {
  return {
    retryStrategy: () => backoff.next(),
    commandTimeout: o.commandTimeoutMs,
    ...(commands ? { enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 } : { maxRetriesPerRequest: null }),
  };
}

function connect(o: Resolved, backoff: Backoff, commands: boolean): Redis {
  const extra = connectionOptions(o, backoff, commands);
  if (o.redis instanceof Redis) return o.redis.duplicate(extra);
  if (typeof o.redis === 'string') return new Redis(o.redis, extra);
  return new Redis({ ...o.redis, ...extra });
}

const NL = 0x0a;
/** A re-sync (after a lease loss, an outage) waits this long for connections that ended meanwhile to close, ms. */
const RESYNC_DELAY_MS = 50;

class RedisNodeStore implements PresenceNodeStore {
  readonly ready: Promise<void>;
  private readonly cmd: Redis & PresenceScripts;
  private readonly sub: Redis;
  private readonly prefix: string;
  private readonly nodeId: string;
  /** Told apart from an earlier process with the same nodeId (its lease, its records). */
  private readonly incarnation = randomBytes(8).toString('hex');
  private readonly backoff: Backoff;
  private isDegraded = false;
  private needsSync = true;
  private syncing = false;
  private syncAgain = false;
  private syncScheduled = false;
  /** The first sync went through: later ones are re-syncs (delayed, see requestSync). */
  private everSynced = false;
  private resyncTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private resolveReady: () => void = () => {};
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pending = new Map<number, { resolve: (answer: NodeDelivery | undefined) => void; timer: NodeJS.Timeout }>();
  private nextRequest = 1;

  constructor(
    private readonly o: Resolved,
    private readonly host: PresenceStoreHost,
  ) {
    this.prefix = o.prefix;
    this.nodeId = host.nodeId;
    this.backoff = new Backoff(o.reconnect);
    this.cmd = connect(o, this.backoff, true) as Redis & PresenceScripts;
    for (const [name, lua] of Object.entries(SCRIPTS)) this.cmd.defineCommand(name, { numberOfKeys: 0, lua });
    this.sub = connect(o, this.backoff, false);
    this.cmd.on('error', (error: Error) => this.markDegraded(error));
    this.sub.on('error', (error: Error) => this.markDegraded(error));
    this.cmd.on('close', () => this.markDegraded(new Error('redis connection closed')));
    this.sub.on('close', () => this.markDegraded(new Error('redis subscriber connection closed')));
    this.cmd.on('ready', () => {
      this.backoff.reset();
      this.requestSync();
    });
    // ioredis subscribes again by itself after a reconnect (autoResubscribe); a sync then
    // makes up for changes we could not hear (clearing `degraded` needs both connections).
    this.sub.on('ready', () => this.requestSync());
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.onMessage(channel.toString(), message));
    const subscribed = this.sub.subscribe(this.changesChannel, this.inbox(this.nodeId)).then(
      () => undefined,
      (error: unknown) => this.markDegraded(asError(error)),
    );
    const synced = new Promise<void>((resolve) => (this.resolveReady = resolve));
    // Ready once our state is in Redis and we hear the others — or, Redis away, after readyTimeoutMs.
    this.ready = Promise.race([Promise.all([synced, subscribed]).then(() => undefined), new Promise<void>((resolve) => this.timers.push(setTimeout(resolve, o.readyTimeoutMs).unref()))]);
    this.every(o.leaseTtlMs / 3, () => this.maintain());
    this.every(o.sweepIntervalMs, () => this.sweep());
  }

  get degraded(): boolean {
    return this.isDegraded;
  }

  put(device: StoredDevice): void {
    const { identityId, ...rest } = device;
    this.write(identityId, device.sessionId, JSON.stringify(rest satisfies PresenceDevice));
  }

  remove(identityId: string, sessionId: string): void {
    this.write(identityId, sessionId, '');
  }

  async get(identityId: string): Promise<PresenceInfo> {
    const [state, json] = await this.command(() => this.cmd.llPresenceGet(this.prefix, identityId));
    return { id: identityId, state: state as PresenceState, devices: JSON.parse(json) as PresenceDevice[], degraded: this.isDegraded };
  }

  sendToNode(nodeId: string, identityId: string, payload: Uint8Array): Promise<NodeDelivery | undefined> {
    if (this.closed || this.cmd.status !== 'ready') return Promise.resolve(undefined);
    const r = this.nextRequest++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.answered(r, undefined), this.o.sendTimeoutMs);
      this.pending.set(r, { resolve, timer });
      const header = Buffer.from(JSON.stringify({ t: 'send', r, from: this.nodeId, id: identityId }));
      this.cmd
        .publish(this.inbox(nodeId), Buffer.concat([header, Buffer.of(NL), payload]))
        // Nobody subscribed to that inbox: the node is gone (its lease just not expired yet).
        .then((receivers) => receivers === 0 && this.answered(r, undefined))
        .catch((error: unknown) => {
          this.markDegraded(asError(error));
          this.answered(r, undefined);
        });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    clearTimeout(this.resyncTimer);
    for (const r of [...this.pending.keys()]) this.answered(r, undefined);
    this.resolveReady();
    // Graceful: our records go at once, so the other nodes see our identities' devices go now.
    if (this.cmd.status === 'ready') await this.cmd.llPresenceDrop(this.prefix, this.nodeId, this.incarnation, this.o.now()).catch(() => undefined);
    this.cmd.disconnect();
    this.sub.disconnect();
  }

  // --- inside ---------------------------------------------------------------------------------

  private get changesChannel(): string {
    return `${this.prefix}changes`;
  }

  private inbox(nodeId: string): string {
    return `${this.prefix}inbox:${nodeId}`;
  }

  private every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.timers.push(timer);
  }

  /** One device script; while Redis is away the sync on reconnect covers it. */
  private write(identityId: string, sessionId: string, json: string): void {
    if (this.closed) return;
    if (this.cmd.status !== 'ready') {
      this.needsSync = true;
      return;
    }
    this.command(() => this.cmd.llPresenceDevice(this.prefix, this.nodeId, this.incarnation, identityId, sessionId, json, this.o.now()))
      .then((ok) => ok === 0 && this.leaseLost())
      .catch(() => undefined);
  }

  /** A command, with its failure reported as an outage. */
  private command<T>(run: () => Promise<T>): Promise<T> {
    return run().catch((error: unknown) => {
      this.markDegraded(asError(error));
      throw error;
    });
  }

  private markDegraded(error: Error): void {
    if (this.closed) return;
    this.needsSync = true;
    if (this.isDegraded) return;
    this.isDegraded = true;
    this.host.degradedChanged(error);
  }

  /**
   * Our lease expired (we were stopped, or cut off, longer than the TTL) or another process took
   * our nodeId: re-publish (spec 0014 §Stores, lease refresh).
   */
  private leaseLost(): void {
    this.needsSync = true;
    this.requestSync();
  }

  /**
   * Run the sync script soon, whoever asks — a lease found lost, a command that timed out, a
   * reconnect: the first one on the next turn, a re-sync RESYNC_DELAY_MS later. A process that
   * was stopped (SIGSTOP, a VM pause) wakes in its timers phase; the CLOSE / FIN of sockets that
   * ended meanwhile are read in the polls that follow, and their sessions end a few event-loop
   * iterations later (the transport's shutdown and close callbacks). A sync before that would
   * announce those devices online again for a moment — measured: within 1 ms of the wake,
   * before the closes (spec 0014 §Stores: no stale resurrection).
   */
  private requestSync(): void {
    if (this.syncScheduled) return;
    this.syncScheduled = true;
    const run = () => {
      this.syncScheduled = false;
      this.runSync();
    };
    if (this.everSynced) this.resyncTimer = setTimeout(run, RESYNC_DELAY_MS).unref();
    else setImmediate(run);
  }

  /** The sync script itself (coalesced: one at a time, once more if asked again meanwhile). */
  private runSync(): void {
    if (this.closed || this.cmd.status !== 'ready') return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    this.needsSync = false;
    const args: (string | number)[] = [this.prefix, this.nodeId, this.incarnation, Math.round(this.o.leaseTtlMs), this.o.now()];
    for (const { identityId, ...device } of this.host.localDevices()) args.push(device.sessionId, identityId, JSON.stringify(device));
    this.command(() => this.cmd.llPresenceSync(...args))
      .then(() => {
        this.everSynced = true;
        this.resolveReady();
        if (this.isDegraded && !this.needsSync && this.sub.status === 'ready') {
          this.isDegraded = false;
          this.host.degradedChanged(undefined);
        }
      })
      .catch(() => undefined)
      .finally(() => {
        this.syncing = false;
        if (this.syncAgain) {
          this.syncAgain = false;
          this.runSync();
        }
      });
  }

  /** Every TTL / 3: keep the lease, or re-publish after a failure. */
  private maintain(): void {
    if (this.closed || this.cmd.status !== 'ready') return;
    if (this.needsSync || this.isDegraded) {
      this.requestSync();
      return;
    }
    this.command(() => this.cmd.llPresenceRefresh(this.prefix, this.nodeId, this.incarnation, Math.round(this.o.leaseTtlMs)))
      .then((ok) => ok === 0 && this.leaseLost())
      .catch(() => undefined);
  }

  /** Every sweepIntervalMs: remove the records of nodes whose lease expired (the script re-checks). */
  private sweep(): void {
    if (this.closed || this.cmd.status !== 'ready' || this.isDegraded) return;
    this.command(() => this.cmd.smembers(`${this.prefix}nodes`))
      .then((nodes) => Promise.all(nodes.filter((node) => node !== this.nodeId).map((node) => this.command(() => this.cmd.llPresenceDrop(this.prefix, node, '', this.o.now())))))
      .catch(() => undefined);
  }

  private onMessage(channel: string, message: Buffer): void {
    if (this.closed) return;
    try {
      if (channel === this.changesChannel) this.host.changed(JSON.parse(message.toString()) as PresenceChange);
      else this.onInbox(message);
    } catch {
      // A malformed message (another version, someone else's channel): ignored.
    }
  }

  private onInbox(message: Buffer): void {
    const nl = message.indexOf(NL);
    const header = JSON.parse(message.subarray(0, nl < 0 ? message.length : nl).toString()) as { t: string; r: number; from?: string; id?: string; d?: number; a?: number };
    if (header.t === 'ack') {
      this.answered(header.r, { delivered: header.d ?? 0, away: header.a ?? 0 });
      return;
    }
    if (header.t !== 'send' || typeof header.from !== 'string' || typeof header.id !== 'string' || nl < 0) return;
    const { delivered, away } = this.host.deliver(header.id, message.subarray(nl + 1));
    if (this.cmd.status !== 'ready') return;
    const ack = JSON.stringify({ t: 'ack', r: header.r, d: delivered, a: away });
    this.cmd.publish(this.inbox(header.from), ack).catch((error: unknown) => this.markDegraded(asError(error)));
  }

  private answered(r: number, answer: NodeDelivery | undefined): void {
    const entry = this.pending.get(r);
    if (entry === undefined) return;
    this.pending.delete(r);
    clearTimeout(entry.timer);
    entry.resolve(answer);
  }
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
