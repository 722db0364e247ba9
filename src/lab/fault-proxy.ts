/**
 * FaultProxy: a user-space TCP relay on loopback that can be told, at any moment, to stop
 * relaying (blackhole) or to reset every connection (reset). Tests and the fault lab put it
 * between a client and a server to produce faults that a single machine cannot otherwise make.
 *
 * What it emulates honestly:
 * - forward: a healthy path. Bytes are relayed both ways with backpressure; a FIN from one side
 *   is relayed as a FIN (half-close), a reset or error as a reset.
 * - blackhole: a path that silently loses everything — a NAT or firewall that forgot the flow, a
 *   pulled cable, a peer host that vanished. Both sockets stay open, every byte in either
 *   direction is counted and dropped, and closes are not relayed either (a FIN lost on a dead
 *   path never arrives): each side only finds out through its own application heartbeat.
 * - reset: a middlebox or rebooted host that answers with RST. Every current pair is destroyed
 *   with RST on both sides (`socket.resetAndDestroy()`); new connections are reset on accept.
 * Modes apply to existing and new connections alike.
 * - idleTimeoutMs (option): a NAT or stateful firewall with an idle timeout. A pair that relayed
 *   nothing in either direction for longer than this is forgotten for good: from then on it is
 *   blackholed alone (bytes and closes dropped), while new connections get fresh pairs, as a new
 *   SYN gets a new NAT mapping. Judged lazily on the next byte, as conntrack's expiry is.
 *
 * What it cannot emulate: anything judged by TCP itself. Each endpoint's TCP peer is the proxy's
 * kernel, which keeps ACKing data and keepalive probes while the "path" is blackholed, so
 * kernel keepalive (SO_KEEPALIVE), TCP_USER_TIMEOUT and retransmission timeouts never fire
 * through it, and send buffers never fill up the way they would against a dead peer. Judge
 * those with real packet loss (netem / iptables in a network namespace), not with this proxy.
 * Latency, jitter, reordering and bandwidth limits are not emulated either.
 *
 * Safety: it only ever connects to the single target given to the constructor.
 */
import net from 'node:net';

export type ProxyMode = 'forward' | 'blackhole' | 'reset';

export interface ProxyStats {
  /** Bytes relayed client → target. */
  bytesUp: number;
  /** Bytes relayed target → client. */
  bytesDown: number;
  /** Bytes dropped client → target (blackhole). */
  droppedUp: number;
  /** Bytes dropped target → client (blackhole). */
  droppedDown: number;
  /** Pairs forgotten after idleTimeoutMs of silence. */
  forgottenFlows: number;
}

export interface FaultProxyOptions {
  /** Forget a pair that stayed silent (both directions) longer than this, ms. Default: never. */
  idleTimeoutMs?: number;
}

type Direction = 'up' | 'down';

/** One accepted client socket and its upstream socket to the target. */
class Pair {
  /**
   * Closes that arrived while blackholed, by the socket they came from: relayed once the path
   * forwards again ('end' as a FIN, 'reset' as a reset), as a late-delivered packet would be.
   */
  readonly held = new Map<net.Socket, 'end' | 'reset'>();
  /** Last time a byte crossed this pair, ms (performance.now), for idleTimeoutMs. */
  lastActiveAtMs = performance.now();
  /** Silent past idleTimeoutMs: blackholed for good. */
  forgotten = false;

  constructor(
    readonly downstream: net.Socket,
    readonly upstream: net.Socket,
  ) {}

  get closed(): boolean {
    return this.downstream.destroyed && this.upstream.destroyed;
  }

  other(socket: net.Socket): net.Socket {
    return socket === this.downstream ? this.upstream : this.downstream;
  }

  sockets(): [net.Socket, net.Socket] {
    return [this.downstream, this.upstream];
  }
}

function resetSocket(socket: net.Socket): void {
  if (socket.destroyed) return;
  // resetAndDestroy() needs a TCP handle; a socket that lost it can only be destroyed.
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

export class FaultProxy {
  readonly stats: ProxyStats = { bytesUp: 0, bytesDown: 0, droppedUp: 0, droppedDown: 0, forgottenFlows: 0 };
  private readonly idleTimeoutMs: number;
  private readonly target: { host: string; port: number };
  private readonly server: net.Server;
  private readonly pairs = new Set<Pair>();
  private currentMode: ProxyMode = 'forward';

  constructor(target: { host: string; port: number }, options: FaultProxyOptions = {}) {
    const idle = options.idleTimeoutMs ?? Infinity;
    if (!(typeof idle === 'number' && idle > 0)) throw new RangeError(`FaultProxy idleTimeoutMs must be a number > 0, got ${String(idle)}`);
    this.idleTimeoutMs = idle;
    if (typeof target?.host !== 'string' || target.host === '') throw new TypeError('FaultProxy target.host must be a non-empty string');
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
      throw new RangeError(`FaultProxy target.port must be an integer 1..65535, got ${String(target.port)}`);
    }
    this.target = { host: target.host, port: target.port };
    // allowHalfOpen: a FIN from the client must not make Node end our side by itself; whether it
    // reaches the target depends on the mode.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
  }

  /** Start listening (port 0 = any free port) on 127.0.0.1 unless told otherwise. */
  listen(port = 0, host = '127.0.0.1'): Promise<{ port: number }> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address() as net.AddressInfo;
        resolve({ port: address.port });
      });
    });
  }

  get mode(): ProxyMode {
    return this.currentMode;
  }

  /** Client connections whose pair has at least one socket still open. */
  get connectionCount(): number {
    return this.pairs.size;
  }

  setMode(mode: ProxyMode): void {
    if (mode !== 'forward' && mode !== 'blackhole' && mode !== 'reset') {
      throw new RangeError(`FaultProxy mode must be 'forward', 'blackhole' or 'reset', got ${String(mode)}`);
    }
    this.currentMode = mode;
    for (const pair of [...this.pairs]) {
      switch (mode) {
        case 'reset':
          for (const socket of pair.sockets()) resetSocket(socket);
          break;
        case 'blackhole':
          // A socket paused for backpressure must keep being read (and its bytes dropped), or
          // its sender's buffers would fill up, which a lossy path never causes.
          for (const socket of pair.sockets()) if (!socket.destroyed) socket.resume();
          break;
        case 'forward':
          if (pair.forgotten) break; // the flow is gone, whatever the path does now
          for (const [socket, kind] of [...pair.held]) {
            pair.held.delete(socket);
            this.relayClose(pair, socket, kind);
          }
          break;
        default: {
          const never: never = mode;
          return never;
        }
      }
    }
  }

  /** Stop listening and destroy every pair; resolves once the listener and all sockets closed. */
  async close(): Promise<void> {
    const listenerClosed = new Promise<void>((resolve) => {
      if (!this.server.listening) return resolve();
      this.server.close(() => resolve());
    });
    const socketsClosed: Promise<void>[] = [];
    for (const pair of this.pairs) {
      for (const socket of pair.sockets()) {
        if (socket.closed) continue;
        socketsClosed.push(new Promise((resolve) => socket.once('close', () => resolve())));
        socket.destroy();
      }
    }
    await Promise.all([listenerClosed, ...socketsClosed]);
    this.pairs.clear();
  }

  private accept(downstream: net.Socket): void {
    downstream.on('error', () => {});
    if (this.currentMode === 'reset') {
      resetSocket(downstream);
      return;
    }
    const upstream = net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true, noDelay: true });
    upstream.on('error', () => {});
    const pair = new Pair(downstream, upstream);
    this.pairs.add(pair);
    this.wire(pair, downstream, 'up');
    this.wire(pair, upstream, 'down');
  }

  /** Wire one socket of a pair: `direction` is where its inbound bytes go. */
  private wire(pair: Pair, from: net.Socket, direction: Direction): void {
    const to = pair.other(from);
    let sawEnd = false;
    from.on('data', (chunk: Buffer) => {
      if (this.currentMode !== 'forward' || to.destroyed || to.writableEnded || this.forgets(pair)) {
        if (direction === 'up') this.stats.droppedUp += chunk.length;
        else this.stats.droppedDown += chunk.length;
        return;
      }
      if (direction === 'up') this.stats.bytesUp += chunk.length;
      else this.stats.bytesDown += chunk.length;
      // Backpressure: stop reading until the other side drains. (net.Socket queues what is
      // written while the upstream is still connecting, so early bytes are not lost.)
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    from.on('end', () => {
      sawEnd = true;
      this.closeArrived(pair, from, 'end');
    });
    from.on('close', () => {
      // A close not preceded by a FIN is a reset or an error (e.g. the target refused us).
      if (!sawEnd) this.closeArrived(pair, from, 'reset');
      // Nothing more will be written to `to` from here; never leave it paused on backpressure.
      if (!to.destroyed) to.resume();
      if (pair.closed) this.pairs.delete(pair);
    });
  }

  /** idleTimeoutMs: is this pair (now) forgotten? Otherwise it just became active. */
  private forgets(pair: Pair): boolean {
    if (pair.forgotten) return true;
    const now = performance.now();
    if (now - pair.lastActiveAtMs > this.idleTimeoutMs) {
      pair.forgotten = true;
      this.stats.forgottenFlows++;
      return true;
    }
    pair.lastActiveAtMs = now;
    return false;
  }

  private closeArrived(pair: Pair, from: net.Socket, kind: 'end' | 'reset'): void {
    const mode = this.forgets(pair) ? 'blackhole' : this.currentMode;
    switch (mode) {
      case 'forward':
        this.relayClose(pair, from, kind);
        return;
      case 'blackhole':
        // Lost on the dead path, delivered if it comes back. Our own side of `from` is
        // finished, though: the peer behind it has closed, nothing of the pair remains there.
        if (!pair.held.has(from)) pair.held.set(from, kind);
        if (kind === 'end' && !from.writableEnded) from.end();
        return;
      case 'reset':
        resetSocket(pair.other(from));
        return;
      default: {
        const never: never = mode;
        return never;
      }
    }
  }

  /** Deliver `from`'s close to the other side: a FIN after the queued bytes, or a reset. */
  private relayClose(pair: Pair, from: net.Socket, kind: 'end' | 'reset'): void {
    const to = pair.other(from);
    if (kind === 'reset') {
      resetSocket(to);
      return;
    }
    if (!to.destroyed && !to.writableEnded) to.end();
    // The other side is gone already: nobody will send the FIN that would finish `from`.
    if (to.destroyed && !from.destroyed && !from.writableEnded) from.end();
  }
}
