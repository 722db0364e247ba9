/**
 * ServerTuning: socket tuning for all of one server's connections (transport/socket-tuning.ts
 * does the setsockopt work): explicit tuning at accept, a default keepalive once the heartbeat
 * is negotiated (docs/spec/0008-keepalive-follows-heartbeat.md), the optional `net-keepalive`
 * module loaded once, the reports shared (frozen) and each warning told once.
 */
import type { NegotiatedHeartbeat } from '../liveness/negotiate.js';
import type { Transport } from '../transport/types.js';
import {
  applySocketTuning,
  loadNetKeepalive,
  tuningForHeartbeat,
  type AppliedSocketOptions,
  type NetKeepaliveApi,
  type SocketTuningOptions,
  type TunableSocket,
} from '../transport/socket-tuning.js';
import type { ResolvedServerOptions } from './options.js';

/** What the tuning needs from its server (narrow port). */
export interface TuningOwner {
  /** A socket-tuning setting could not be applied exactly (told once per distinct message). */
  warn(message: string): void;
}

export type TuningOptions = Pick<ResolvedServerOptions, 'socketTuning' | 'tuningFollows'>;

export class ServerTuning {
  private netKeepalive: NetKeepaliveApi | undefined;
  private readonly warned = new Set<string>();
  /** Distinct socket-tuning results, shared (frozen) by every session they describe. */
  private readonly socketOptionsSeen = new Map<string, AppliedSocketOptions>();

  constructor(
    private readonly options: TuningOptions,
    private readonly owner: TuningOwner,
  ) {}

  /** Before the first listener: the optional socket-tuning module (tried again while it is missing). */
  async load(): Promise<void> {
    this.netKeepalive ??= await loadNetKeepalive();
  }

  /**
   * At accept: explicit tuning only. Tuning that follows the heartbeat is set once, at the
   * handshake (forHeartbeat): every setsockopt through net-keepalive costs ≈ 5 µs, which a
   * reconnect storm pays per connection. Until then the handshake timer bounds a dead peer.
   */
  atAccept(transport: Transport): AppliedSocketOptions | undefined {
    const socket = transport.tunable;
    return this.options.tuningFollows.keepalive || socket === undefined ? undefined : this.tune(socket, this.options.socketTuning);
  }

  /**
   * Spec 0008: with the default keepalive, the socket is tuned once the heartbeat is negotiated,
   * its keepalive idle moved past interval + timeout (a heartbeating connection then never
   * probes; at 1M connections with T = 60 s the 15 s default meant ~67k probes/s). Explicit
   * tuning was applied at accept and stays. Returns the report in force.
   */
  forHeartbeat(transport: Transport, applied: AppliedSocketOptions | undefined, heartbeat: NegotiatedHeartbeat): AppliedSocketOptions | undefined {
    const socket = transport.tunable;
    const follows = this.options.tuningFollows;
    if (!follows.keepalive || socket === undefined) return applied;
    return this.tune(socket, tuningForHeartbeat(this.options.socketTuning, heartbeat, follows));
  }

  private tune(socket: TunableSocket, tuning: SocketTuningOptions): AppliedSocketOptions {
    const applied = this.shareSocketOptions(applySocketTuning(socket, tuning, this.netKeepalive));
    this.warnOnce(applied.warnings);
    return applied;
  }

  /** One 'warning' per distinct line, not one per socket. */
  private warnOnce(warnings: readonly string[]): void {
    for (const warning of warnings) {
      if (this.warned.has(warning)) continue;
      this.warned.add(warning);
      this.owner.warn(warning);
    }
  }

  /**
   * Every socket gets the same tuning, so the report is almost always one of a few values: share
   * one frozen copy instead of keeping ~200 bytes of identical objects per session.
   */
  private shareSocketOptions(applied: AppliedSocketOptions): AppliedSocketOptions {
    const key = JSON.stringify(applied);
    const seen = this.socketOptionsSeen.get(key);
    if (seen !== undefined) return seen;
    Object.freeze(applied.keepalive);
    Object.freeze(applied.warnings);
    Object.freeze(applied);
    if (this.socketOptionsSeen.size < MAX_SHARED_SOCKET_OPTIONS) this.socketOptionsSeen.set(key, applied);
    return applied;
  }
}

const MAX_SHARED_SOCKET_OPTIONS = 64;
