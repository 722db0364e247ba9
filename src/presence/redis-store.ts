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
 * node's own state is the queue, re-published whole by the sync on reconnect: redis-sync.ts) and
 * the subscriber. Failures never throw into the server: they make the store `degraded`.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { InvalidOptionError } from '../errors.js';
import { Backoff } from '../liveness/backoff.js';
export { REDIS_PRESENCE_DEFAULTS, type RedisPresenceStoreOptions } from './redis-options.js';
import { connect, resolveOptions, type RedisPresenceStoreOptions, type Resolved } from './redis-options.js';
import { SCRIPTS, type PresenceScripts } from './redis-scripts.js';
import { syncInChunks, type SyncTarget } from './redis-sync.js';
import type { NodeDelivery, PresenceChange, PresenceDevice, PresenceInfo, PresenceNodeStore, PresenceState, PresenceStore, PresenceStoreHost, StoredDevice } from './types.js';

export class RedisPresenceStore implements PresenceStore {
  private readonly options: Resolved;
  private attached = false;

  constructor(options: RedisPresenceStoreOptions = {}) {
    this.options = resolveOptions(options);
  }

  attach(host: PresenceStoreHost): PresenceNodeStore {
    if (this.attached) throw new InvalidOptionError('server.presence.store', 'a RedisPresenceStore serves one node: make one per server');
    this.attached = true;
    return new RedisNodeStore(this.options, host);
  }
}

const NL = 0x0a;
/** A re-sync (after a lease loss, an outage) waits this long for connections that ended meanwhile to close, ms. */
const RESYNC_DELAY_MS = 50;
/** At most one node-id-conflict warning per this many ms (two processes fight over the lease every TTL / 3). */
const CONFLICT_WARNING_EVERY_MS = 30_000;
/** Ids per states script (a snapshot of many ids: the scripts of one call go out together, one round trip). */
const STATES_CHUNK = 1000;

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
  private readonly syncTarget: SyncTarget;
  /** Dead nodes whose records this node is removing (a big node takes many scripts: not two sweeps at once). */
  private readonly sweeping = new Set<string>();
  /** performance.now() of the last node-id-conflict warning. */
  private conflictWarnedAtMs = -Infinity;

  constructor(
    private readonly o: Resolved,
    private readonly host: PresenceStoreHost,
  ) {
    this.prefix = o.prefix;
    this.nodeId = host.nodeId;
    this.backoff = new Backoff(o.reconnect);
    this.cmd = connect(o, this.backoff, true) as Redis & PresenceScripts;
    this.syncTarget = { cmd: this.cmd, prefix: o.prefix, seenTtlMs: o.lastSeenTtlMs, nodeId: this.nodeId, incarnation: this.incarnation, leaseTtlMs: o.leaseTtlMs, chunk: o.syncChunk, now: o.now };
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
    const [state, json, seen] = await this.command(() => this.cmd.llPresenceGet(this.prefix, this.o.lastSeenTtlMs, identityId));
    const info = { id: identityId, state: state as PresenceState, devices: JSON.parse(json) as PresenceDevice[], degraded: this.isDegraded };
    return seen === '' ? info : { ...info, lastSeen: Number(seen) };
  }

  /** One script per STATES_CHUNK ids, all sent at once: one round trip for a SUBSCRIBE's snapshot. */
  async states(identityIds: readonly string[]): Promise<PresenceState[]> {
    const calls: Array<Promise<string[]>> = [];
    for (let i = 0; i < identityIds.length; i += STATES_CHUNK) {
      calls.push(this.command(() => this.cmd.llPresenceStates(this.prefix, this.o.lastSeenTtlMs, ...identityIds.slice(i, i + STATES_CHUNK))));
    }
    return (await Promise.all(calls)).flat() as PresenceState[];
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
    if (this.cmd.status === 'ready') await this.drop(this.nodeId, this.incarnation).catch(() => undefined);
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
    this.command(() => this.cmd.llPresenceDevice(this.prefix, this.o.lastSeenTtlMs, this.nodeId, this.incarnation, identityId, sessionId, json, this.o.now()))
      .then((ok) => ok !== 1 && this.leaseLost(ok === 2))
      .catch(() => undefined);
  }

  /** A node's records, a chunk per script (our own at close, or a dead node's): until a script removes less than a chunk. */
  private async drop(nodeId: string, incarnation: string): Promise<void> {
    const chunk = this.o.syncChunk;
    let removed = chunk;
    while (removed === chunk) removed = await this.command(() => this.cmd.llPresenceDrop(this.prefix, this.o.lastSeenTtlMs, nodeId, incarnation, this.o.now(), chunk));
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
   * our nodeId (`taken`: the lease holds another incarnation): re-publish (spec 0014 §Stores,
   * lease refresh), and for `taken` warn — two live processes with one nodeId each see the lease
   * lost every TTL / 3, and their devices flap on every node.
   */
  private leaseLost(taken = false): void {
    if (taken) this.conflict();
    this.needsSync = true;
    this.requestSync();
  }

  private conflict(): void {
    const now = performance.now();
    if (this.closed || now - this.conflictWarnedAtMs < CONFLICT_WARNING_EVERY_MS) return;
    this.conflictWarnedAtMs = now;
    this.host.warning({
      code: 'node-id-conflict',
      nodeId: this.nodeId,
      message: `another live process holds this node's lease (nodeId ${JSON.stringify(this.nodeId)}): two processes share one nodeId, and each keeps taking the lease from the other — give every process its own nodeId`,
    });
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

  /** The sync (redis-sync.ts; coalesced: one at a time, once more if asked again meanwhile). */
  private runSync(): void {
    if (this.closed || this.cmd.status !== 'ready') return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = true;
    this.needsSync = false;
    const resync = this.everSynced;
    this.command(() => syncInChunks(this.syncTarget, this.host.localDevices()))
      .then((outcome) => {
        if (outcome === 'restart') return this.leaseLost();
        // A first sync may take over from our own previous process (a restart within the TTL); a later one had the lease: someone took it.
        if (outcome === 'took-over' && resync) this.conflict();
        this.everSynced = true;
        // Another sync was asked for meanwhile (at start: the command and the subscriber
        // connections are each 'ready'): ready once that one is through too, so that nothing of
        // a sync is still running when `ready` says our state is in Redis.
        if (!this.syncAgain) this.resolveReady();
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
      .then((ok) => ok !== 1 && this.leaseLost(ok === 2))
      .catch(() => undefined);
  }

  /** Every sweepIntervalMs: remove the records of nodes whose lease expired (the script re-checks). */
  private sweep(): void {
    if (this.closed || this.cmd.status !== 'ready' || this.isDegraded) return;
    this.command(() => this.cmd.smembers(`${this.prefix}nodes`))
      .then((nodes) =>
        Promise.all(
          nodes
            .filter((node) => node !== this.nodeId && !this.sweeping.has(node))
            .map((node) => {
              this.sweeping.add(node);
              return this.drop(node, '').finally(() => this.sweeping.delete(node));
            }),
        ),
      )
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
