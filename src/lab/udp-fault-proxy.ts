/**
 * UdpFaultProxy: a user-space UDP relay between any number of UDP clients and one UDP server,
 * with seeded, run-time adjustable faults (spec 0012 §Tests, lab, bench). No root needed: tests
 * and the lab put it on loopback (or inside a namespace) in front of the UDP listener.
 *
 * Model: client ─ faulty path ─ NAT ─ server, the proxy being both the path and the NAT.
 * - NAT: one upstream socket (own source port) per client address:port, as an endpoint-dependent
 *   NAT; the server sees a distinct port per client. Only datagrams from the target reach a
 *   mapping (others: `foreign`). `rebind()` gives a mapping a new socket, so a new source port, as
 *   a NAT rebinding does; the client keeps talking to the same proxy address. `idleTimeoutMs`: a
 *   mapping with no datagram either way for longer is forgotten (judged exactly on the next
 *   datagram, swept in the background to free its socket); the client's next datagram opens a new
 *   mapping (new port) and whatever the server sends to the old one is dropped (`forgotten`).
 *   A replaced socket (rebind, forget) stays open `retiredLingerMs` to count those drops and to
 *   send datagrams already delayed through it: an old, reordered datagram from the old port.
 * - Path faults sit on the client's side of the NAT, per direction (`up` = client → server):
 *   `loss`, `duplicate` (a second copy, its own jitter), `delayMs` + uniform `jitterMs` (unequal
 *   delays reorder), `blackhole()`. An up datagram lost on the path never reaches the NAT (makes
 *   or refreshes no mapping); a down datagram refreshed its mapping before it was lost. Faults
 *   apply on arrival: a datagram already delayed is delivered even if the path is blackholed since.
 * - Determinism: two mulberry32 streams (`seed`), one per direction, 4 draws per datagram that
 *   arrives from a client or the target (loss, duplicate, 2 jitters) whatever the settings and
 *   whether or not it is then dropped, so the n-th datagram in a direction meets the same fate
 *   for the same seed and settings. Across directions or clients, arrival order (the kernel's
 *   scheduling) decides which draw a datagram gets.
 * - Bounds: `maxMappings` (beyond: `limit` drops), `maxPendingDatagrams` / `maxPendingBytes`
 *   delayed at once (beyond: `overflow`), retired sockets ≤ `maxMappings` (oldest closed first).
 * Precision: delays are timers (≈ 1 ms); time comes from the injected Clock (performance.now).
 * Safety: it only ever sends to the single target given to the constructor (an IP literal) and to
 * clients that wrote to it. Not emulated: bandwidth, MTU, ICMP errors, NAT hairpinning, filtering
 * other than "from the target only".
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { systemClock, type Cancel, type Clock } from '../time/clock.js';
import { seededRandom } from '../time/rng.js';

/** `up`: client → server; `down`: server → client. */
export type UdpDirection = 'up' | 'down';
export type UdpDirections = UdpDirection | 'both';

/** The faults of one direction; every field can be changed at run time (`setFaults`). */
export interface UdpPathFaults {
  /** Probability in [0, 1] that a datagram is lost. Default 0. */
  loss: number;
  /** Probability in [0, 1] that a datagram not lost is delivered twice. Default 0. */
  duplicate: number;
  /** Fixed delay of every datagram, ms. Default 0. */
  delayMs: number;
  /** Extra delay drawn uniformly from [0, jitterMs) per copy, ms: datagrams overtake each other. Default 0. */
  jitterMs: number;
}

export type UdpDropCause = 'loss' | 'blackhole' | 'forgotten' | 'overflow' | 'limit' | 'foreign' | 'error';

export interface UdpDirectionStats {
  /** Datagrams (copies included) and their bytes handed to the kernel. */
  datagrams: number;
  bytes: number;
  /** Datagrams sent twice. */
  duplicated: number;
  dropped: Record<UdpDropCause, number>;
}

export interface UdpProxyStats {
  up: UdpDirectionStats;
  down: UdpDirectionStats;
  mappingsCreated: number;
  /** Mappings forgotten after idleTimeoutMs. */
  mappingsForgotten: number;
  /** Upstream sockets replaced by rebind(). */
  rebinds: number;
  /** 'error' events of any socket (e.g. a failed bind). */
  socketErrors: number;
}

export interface UdpFaultProxyOptions extends Partial<UdpPathFaults> {
  /** Seed of the fault draws. Default 1. */
  seed?: number;
  /** Forget a mapping silent (both ways) for longer than this, ms. Default: never. */
  idleTimeoutMs?: number;
  /** Client mappings at once. Default 10 000. */
  maxMappings?: number;
  /** Delayed datagrams held at once. Default 10 000. */
  maxPendingDatagrams?: number;
  /** Bytes of delayed datagrams held at once. Default 16 MiB. */
  maxPendingBytes?: number;
  /** How long a replaced upstream socket stays open, ms. Default 2000. */
  retiredLingerMs?: number;
  /** Local address of the upstream sockets. Default: the target's loopback, else any address. */
  upstreamHost?: string;
  clock?: Clock;
}

export interface UdpMappingInfo {
  clientKey: string;
  clientAddress: string;
  clientPort: number;
  /** The source port the server sees (undefined until the socket is bound). */
  upstreamPort: number | undefined;
  idleMs: number;
}

export const UDP_PROXY_DEFAULTS = {
  seed: 1,
  idleTimeoutMs: Infinity,
  maxMappings: 10_000,
  maxPendingDatagrams: 10_000,
  maxPendingBytes: 16 * 1024 * 1024,
  retiredLingerMs: 2000,
} as const;

/** The key of a client mapping: `address:port` (`[address]:port` for IPv6). */
export function udpClientKey(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`;
}

class Mapping {
  constructor(
    readonly key: string,
    readonly address: string,
    readonly port: number,
    public upstream: dgram.Socket,
    public lastActiveMs: number,
  ) {}
}

interface Limits {
  idleTimeoutMs: number;
  maxMappings: number;
  maxPendingDatagrams: number;
  maxPendingBytes: number;
  retiredLingerMs: number;
}

interface Pending {
  cancel: Cancel;
  bytes: number;
}

const emptyStats = (): UdpDirectionStats => ({
  datagrams: 0,
  bytes: 0,
  duplicated: 0,
  dropped: { loss: 0, blackhole: 0, forgotten: 0, overflow: 0, limit: 0, foreign: 0, error: 0 },
});

function check(ok: boolean, name: string, rule: string, value: unknown): void {
  if (!ok) throw new RangeError(`UdpFaultProxy ${name} must be ${rule}, got ${String(value)}`);
}
const FAULT_KEYS = ['loss', 'duplicate', 'delayMs', 'jitterMs'] as const;
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
const isLoopback = (host: string): boolean => host === '::1' || /^127\./.test(host);

export class UdpFaultProxy {
  readonly stats: UdpProxyStats = {
    up: emptyStats(),
    down: emptyStats(),
    mappingsCreated: 0,
    mappingsForgotten: 0,
    rebinds: 0,
    socketErrors: 0,
  };
  private readonly target: { host: string; port: number; family: 4 | 6 };
  private readonly limits: Limits;
  private readonly upstreamHost: string | undefined;
  private readonly clock: Clock;
  private readonly path: Record<UdpDirection, UdpPathFaults> = {
    up: { loss: 0, duplicate: 0, delayMs: 0, jitterMs: 0 },
    down: { loss: 0, duplicate: 0, delayMs: 0, jitterMs: 0 },
  };
  private readonly holes: Record<UdpDirection, boolean> = { up: false, down: false };
  private readonly rng: Record<UdpDirection, () => number>;
  private readonly mappingsByKey = new Map<string, Mapping>();
  /** Replaced upstream sockets → when they close (ms), oldest first. */
  private readonly retired = new Map<dgram.Socket, number>();
  /** Every socket not yet closed (the listening one included). */
  private readonly open = new Set<dgram.Socket>();
  /** Each upstream socket's mapping (also while it is retired). */
  private readonly owners = new Map<dgram.Socket, Mapping>();
  private readonly closing = new Set<Promise<void>>();
  private readonly pending = new Set<Pending>();
  private pendingBytes = 0;
  private socket: dgram.Socket | undefined;
  private sweepCancel: Cancel | undefined;
  private closed: Promise<void> | undefined;

  constructor(target: { host: string; port: number }, options: UdpFaultProxyOptions = {}) {
    const family = net.isIP(target?.host ?? '');
    if (family === 0) throw new TypeError(`UdpFaultProxy target.host must be an IP address, got ${String(target?.host)}`);
    check(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535, 'target.port', 'an integer 1..65535', target.port);
    this.target = { host: target.host, port: target.port, family: family as 4 | 6 };
    const o = { ...UDP_PROXY_DEFAULTS, ...options };
    check(Number.isInteger(o.seed), 'seed', 'an integer', o.seed);
    check(typeof o.idleTimeoutMs === 'number' && o.idleTimeoutMs > 0, 'idleTimeoutMs', 'a number > 0', o.idleTimeoutMs);
    check(isCount(o.maxMappings), 'maxMappings', 'an integer > 0', o.maxMappings);
    check(isCount(o.maxPendingDatagrams), 'maxPendingDatagrams', 'an integer > 0', o.maxPendingDatagrams);
    check(isCount(o.maxPendingBytes), 'maxPendingBytes', 'an integer > 0', o.maxPendingBytes);
    check(Number.isFinite(o.retiredLingerMs) && o.retiredLingerMs >= 0, 'retiredLingerMs', 'a finite number ≥ 0', o.retiredLingerMs);
    if (o.upstreamHost !== undefined && net.isIP(o.upstreamHost) !== family) {
      throw new TypeError(`UdpFaultProxy upstreamHost must be an IPv${family} address like the target, got ${String(o.upstreamHost)}`);
    }
    this.upstreamHost = o.upstreamHost ?? (isLoopback(target.host) ? target.host : undefined);
    const { idleTimeoutMs, maxMappings, maxPendingDatagrams, maxPendingBytes, retiredLingerMs } = o;
    this.limits = { idleTimeoutMs, maxMappings, maxPendingDatagrams, maxPendingBytes, retiredLingerMs };
    this.clock = o.clock ?? systemClock;
    this.rng = { up: seededRandom(o.seed), down: seededRandom(o.seed ^ 0x9e3779b9) };
    this.setFaults(options);
  }

  /** Bind the client-facing socket (port 0 = any free port) on 127.0.0.1 unless told otherwise. */
  listen(port = 0, host = '127.0.0.1'): Promise<{ port: number }> {
    if (this.socket || this.closed) return Promise.reject(new Error('UdpFaultProxy: listen() once, before close()'));
    const family = net.isIP(host);
    if (family === 0) return Promise.reject(new TypeError(`UdpFaultProxy listen host must be an IP address, got ${host}`));
    const socket = this.track(dgram.createSocket(family === 6 ? 'udp6' : 'udp4'));
    this.socket = socket;
    socket.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(port, host, () => {
        socket.off('error', reject);
        resolve({ port: socket.address().port });
      });
    });
  }

  /** The faults in force, per direction (copies). */
  get faults(): Record<UdpDirection, UdpPathFaults> {
    return { up: { ...this.path.up }, down: { ...this.path.down } };
  }

  /** Change some faults of one or both directions; the others keep their values. */
  setFaults(faults: Partial<UdpPathFaults>, direction: UdpDirections = 'both'): void {
    const { loss, duplicate, delayMs, jitterMs } = faults;
    for (const [name, value] of [['loss', loss], ['duplicate', duplicate]] as const) {
      if (value !== undefined) check(typeof value === 'number' && value >= 0 && value <= 1, name, 'a probability in [0, 1]', value);
    }
    for (const [name, value] of [['delayMs', delayMs], ['jitterMs', jitterMs]] as const) {
      if (value !== undefined) check(Number.isFinite(value) && value >= 0, name, 'a finite number ≥ 0', value);
    }
    for (const d of this.directions(direction)) {
      for (const key of FAULT_KEYS) if (faults[key] !== undefined) this.path[d][key] = faults[key];
    }
  }

  /** Drop every datagram arriving in that direction (both by default) until restore(). */
  blackhole(direction: UdpDirections = 'both'): void {
    for (const d of this.directions(direction)) this.holes[d] = true;
  }

  restore(direction: UdpDirections = 'both'): void {
    for (const d of this.directions(direction)) this.holes[d] = false;
  }

  isBlackholed(direction: UdpDirection): boolean {
    return this.holes[direction];
  }

  /**
   * NAT rebinding: give that client's mapping (every mapping without a key) a new upstream
   * socket, so a new source port at the server. Returns how many mappings were rebound.
   */
  rebind(clientKey?: string): number {
    if (this.closed) return 0;
    const targets = clientKey === undefined ? [...this.mappingsByKey.values()] : [this.mappingsByKey.get(clientKey)].filter((m) => m !== undefined);
    for (const mapping of targets) {
      const old = mapping.upstream;
      mapping.upstream = this.openUpstream();
      this.owners.set(mapping.upstream, mapping);
      this.retire(old);
      this.stats.rebinds++;
    }
    return targets.length;
  }

  get mappingCount(): number {
    return this.mappingsByKey.size;
  }

  mappings(): UdpMappingInfo[] {
    const now = this.clock.now();
    return [...this.mappingsByKey.values()].map((m) => ({
      clientKey: m.key,
      clientAddress: m.address,
      clientPort: m.port,
      upstreamPort: this.boundPort(m.upstream),
      idleMs: now - m.lastActiveMs,
    }));
  }

  /** Delayed datagrams not yet sent. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** Cancel every delayed datagram and timer, close every socket; resolves once all closed. */
  close(): Promise<void> {
    if (this.closed) return this.closed;
    this.sweepCancel?.();
    this.sweepCancel = undefined;
    for (const p of this.pending) p.cancel();
    this.pending.clear();
    this.pendingBytes = 0;
    for (const socket of [...this.open]) this.closeSocket(socket);
    this.mappingsByKey.clear();
    this.retired.clear();
    this.closed = Promise.all(this.closing).then(() => undefined);
    this.owners.clear();
    return this.closed;
  }

  private fromClient(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    const up = this.stats.up;
    const fate = this.draw('up');
    if (this.holes.up) return void up.dropped.blackhole++;
    if (fate.lost) return void up.dropped.loss++;
    const now = this.clock.now();
    const key = udpClientKey(rinfo.address, rinfo.port);
    let mapping = this.mappingsByKey.get(key);
    if (mapping && this.expired(mapping, now)) {
      this.forget(mapping);
      mapping = undefined;
    }
    if (!mapping) {
      if (this.mappingsByKey.size >= this.limits.maxMappings) return void up.dropped.limit++;
      mapping = new Mapping(key, rinfo.address, rinfo.port, this.openUpstream(), now);
      this.owners.set(mapping.upstream, mapping);
      this.mappingsByKey.set(key, mapping);
      this.stats.mappingsCreated++;
      this.armSweep();
    }
    mapping.lastActiveMs = now;
    this.forward('up', fate, msg, mapping.upstream, this.target.port, this.target.host);
  }

  private fromTarget(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const mapping = this.owners.get(socket);
    if (this.closed || !this.socket || !mapping) return;
    const down = this.stats.down;
    if (rinfo.port !== this.target.port || rinfo.address !== this.target.host) return void down.dropped.foreign++;
    const fate = this.draw('down');
    if (socket !== mapping.upstream || this.mappingsByKey.get(mapping.key) !== mapping) return void down.dropped.forgotten++;
    const now = this.clock.now();
    if (this.expired(mapping, now)) {
      this.forget(mapping);
      return void down.dropped.forgotten++;
    }
    mapping.lastActiveMs = now;
    if (this.holes.down) return void down.dropped.blackhole++;
    if (fate.lost) return void down.dropped.loss++;
    this.forward('down', fate, msg, this.socket, mapping.port, mapping.address);
  }

  /** Four draws per datagram, always, so the n-th datagram's fate depends only on the seed. */
  private draw(direction: UdpDirection): { lost: boolean; duplicated: boolean; jitter1: number; jitter2: number } {
    const rng = this.rng[direction];
    const path = this.path[direction];
    const lost = rng() < path.loss;
    const duplicated = rng() < path.duplicate;
    return { lost, duplicated, jitter1: rng(), jitter2: rng() };
  }

  private forward(direction: UdpDirection, fate: ReturnType<UdpFaultProxy['draw']>, msg: Buffer, via: dgram.Socket, port: number, address: string): void {
    const path = this.path[direction];
    this.deliver(direction, msg, via, port, address, path.delayMs + fate.jitter1 * path.jitterMs);
    if (!fate.duplicated) return;
    this.stats[direction].duplicated++;
    this.deliver(direction, msg, via, port, address, path.delayMs + fate.jitter2 * path.jitterMs);
  }

  private deliver(direction: UdpDirection, msg: Buffer, via: dgram.Socket, port: number, address: string, delayMs: number): void {
    if (delayMs <= 0) return this.send(direction, msg, via, port, address);
    const { maxPendingDatagrams, maxPendingBytes } = this.limits;
    if (this.pending.size >= maxPendingDatagrams || this.pendingBytes + msg.length > maxPendingBytes) {
      this.stats[direction].dropped.overflow++;
      return;
    }
    const entry: Pending = { cancel: () => {}, bytes: msg.length };
    this.pending.add(entry);
    this.pendingBytes += entry.bytes;
    entry.cancel = this.clock.setTimer(() => {
      this.pending.delete(entry);
      this.pendingBytes -= entry.bytes;
      this.send(direction, msg, via, port, address);
    }, delayMs);
  }

  private send(direction: UdpDirection, msg: Buffer, via: dgram.Socket, port: number, address: string): void {
    const stats = this.stats[direction];
    // A retired socket closed after its linger: the mapping it belonged to is gone.
    if (!this.open.has(via)) return void stats.dropped.forgotten++;
    via.send(msg, port, address, (err) => {
      if (err) return void stats.dropped.error++;
      stats.datagrams++;
      stats.bytes += msg.length;
    });
  }

  private openUpstream(): dgram.Socket {
    const socket = this.track(dgram.createSocket(this.target.family === 6 ? 'udp6' : 'udp4'));
    socket.on('message', (msg, rinfo) => this.fromTarget(socket, msg, rinfo));
    // A socket that cannot bind (e.g. EMFILE) would queue sends forever: close it, so what its
    // mapping sends is dropped and counted until the mapping is forgotten or rebound.
    socket.once('error', () => {
      if (this.boundPort(socket) === undefined) this.closeSocket(socket);
    });
    // Sends made before the bind completes are queued by dgram itself.
    socket.bind(0, this.upstreamHost);
    return socket;
  }

  private track(socket: dgram.Socket): dgram.Socket {
    socket.on('error', () => void this.stats.socketErrors++);
    this.open.add(socket);
    return socket;
  }

  private closeSocket(socket: dgram.Socket): void {
    if (!this.open.delete(socket)) return;
    this.retired.delete(socket);
    this.owners.delete(socket);
    const closed = new Promise<void>((resolve) => {
      try {
        socket.close(() => resolve());
      } catch {
        resolve(); // never ran (a failed bind): nothing to release
      }
    });
    this.closing.add(closed);
    void closed.then(() => this.closing.delete(closed));
  }

  private boundPort(socket: dgram.Socket): number | undefined {
    try {
      return socket.address().port;
    } catch {
      return undefined; // not bound yet
    }
  }

  private expired(mapping: Mapping, now: number): boolean {
    return now - mapping.lastActiveMs > this.limits.idleTimeoutMs;
  }

  private forget(mapping: Mapping): void {
    this.mappingsByKey.delete(mapping.key);
    this.retire(mapping.upstream);
    this.stats.mappingsForgotten++;
  }

  private retire(socket: dgram.Socket): void {
    this.retired.set(socket, this.clock.now() + this.limits.retiredLingerMs);
    if (this.retired.size > this.limits.maxMappings) this.closeSocket(this.retired.keys().next().value!);
    this.armSweep();
  }

  /** One timer, only while there is a mapping that may expire or a retired socket to close. */
  private armSweep(): void {
    if (this.sweepCancel || this.closed) return;
    const idle = this.mappingsByKey.size > 0 ? this.limits.idleTimeoutMs : Infinity;
    const linger = this.retired.size > 0 ? this.limits.retiredLingerMs : Infinity;
    const periodMs = Math.min(idle / 2, linger / 2, 1000);
    if (!Number.isFinite(idle) && !Number.isFinite(linger)) return;
    this.sweepCancel = this.clock.setTimer(() => {
      this.sweepCancel = undefined;
      this.sweep();
      this.armSweep();
    }, Math.max(5, periodMs));
  }

  private sweep(): void {
    const now = this.clock.now();
    for (const mapping of [...this.mappingsByKey.values()]) if (this.expired(mapping, now)) this.forget(mapping);
    for (const [socket, closeAtMs] of [...this.retired]) if (closeAtMs <= now) this.closeSocket(socket);
  }

  private directions(direction: UdpDirections): UdpDirection[] {
    if (direction === 'both') return ['up', 'down'];
    check(direction === 'up' || direction === 'down', 'direction', "'up', 'down' or 'both'", direction);
    return [direction];
  }
}
