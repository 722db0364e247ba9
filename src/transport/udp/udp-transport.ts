/**
 * UdpTransport: one UDP connection behind the Transport interface (docs/spec/0012-udp.md), on
 * either end. It owns a ReliableChannel and the header state of the handshake; the socket is
 * someone else's (the server's listener demultiplexes one socket by connection id, the client's
 * dialer holds a connected socket) and is reached through a narrow UdpPath.
 *
 * - write(): bytes pass OutboundSplitter: PING / PONG at a frame boundary take the side path
 *   (never resent: a lost beat is a lost beat), everything else the reliable stream.
 * - Inbound stream bytes pass InboundGate (only whole frames reach the decoder); side frames go up
 *   at once as their own chunk — but not before the stream delivered its first frame, so no PING
 *   reaches a peer still in its handshake.
 * - RTT: the channel learns from ACKs and from the heartbeat itself: a PING we carry, timed against
 *   the PONG that echoes its id (an unmatched PONG, e.g. a pushed status, gives no sample).
 * - end(): F after the last byte; the close is reported once both sides' F are through (or after
 *   GRACEFUL_END_TIMEOUT_MS, as tcp / ws). destroy(): this turn's datagrams go out once, then
 *   nothing. fail(): the path reported the connection gone (stateless reset, unreachable).
 *
 * Runtime-neutral: time through the Clock, bytes through the path.
 */
import type { Cancel, Clock } from '../../time/clock.js';
import type { Transport, TransportCloseCause, TransportHandlers } from '../types.js';
import { ReliableChannel, type ChannelOptions, type ChannelPort } from './channel.js';
import { InboundGate, OutboundSplitter, type GateSink, type SplitSink } from './frame-scanner.js';
import type { NumberedPacket, PacketHeader } from './packet.js';

/** A graceful end() waits this long for the peer's end of stream (as tcp / ws: shared-read.ts). */
export const UDP_GRACEFUL_END_TIMEOUT_MS = 2000;

/** Where the connection's datagrams go: the owner's socket and the peer's current address. */
export interface UdpPath {
  send(datagram: Uint8Array): void;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}

export interface UdpTransportOptions {
  clock: Clock;
  /** Decoder's bound: a frame announcing more is passed on at once, for the decoder to refuse. */
  maxFrameSize: number;
  /** First header: the client's INITIAL, the server's ACCEPT. */
  header: PacketHeader;
  channel?: Partial<ChannelOptions>;
}

export class UdpTransport implements Transport, ChannelPort, SplitSink, GateSink {
  readonly kind = 'udp';
  /** Datagram counts and events of this connection (the server aggregates them). */
  readonly udpStats = { migrations: 0, rttSamplesFromHeartbeat: 0 };
  bytesRead = 0;
  bytesWritten = 0;
  private channel: ReliableChannel;
  private headerState: PacketHeader;
  private readonly splitter = new OutboundSplitter();
  private readonly gate: InboundGate;
  /** @internal the channel's clock */
  readonly clock: Clock;
  private handlers: TransportHandlers | undefined;
  /** Chunks that arrived before setHandlers (the server hands the transport over first). */
  private early: Uint8Array[] | undefined = [];
  /** The last PING we carried (id, time): its PONG is an RTT sample for the channel. */
  private pingId = -1;
  private pingSentAt = 0;
  private ended = false;
  private weEndedFirst = true;
  private peerEndSeen = false;
  private endAcked = false;
  private closed = false;
  private closeCause: TransportCloseCause | undefined;
  private endTimer: Cancel | undefined;
  /** Client, before ACCEPT: the stream written so far, to send again after a RETRY. */
  private beforeAccept: Uint8Array[] | undefined;

  constructor(
    private readonly path: UdpPath,
    private readonly options: UdpTransportOptions,
  ) {
    this.clock = options.clock;
    this.headerState = options.header;
    this.gate = new InboundGate(options.maxFrameSize);
    if (options.header.kind === 'initial') this.beforeAccept = [];
    this.channel = this.makeChannel();
  }

  get remoteAddress(): string | undefined {
    return this.path.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.path.remotePort;
  }
  get bufferedBytes(): number {
    return this.channel.bufferedBytes;
  }
  /** The reliable channel underneath (RTT, window, counters). */
  get reliable(): ReliableChannel {
    return this.channel;
  }
  get isClosed(): boolean {
    return this.closed;
  }

  setHandlers(handlers: TransportHandlers): void {
    this.handlers = handlers;
    const early = this.early;
    this.early = undefined;
    if (early) for (const chunk of early) if (!this.closed) handlers.onData(chunk);
    if (this.closeCause && !this.closed) this.report(this.closeCause);
  }

  write(bytes: Uint8Array): boolean {
    if (this.ended || this.closed) return false;
    if (this.beforeAccept) this.beforeAccept.push(bytes);
    this.splitter.write(bytes, this);
    return this.channel.bufferedBytes <= this.channel.options.highWaterBytes;
  }

  cork(): void {
    this.channel.cork();
  }

  uncork(): void {
    this.channel.uncork();
  }

  end(): void {
    if (this.ended || this.closed) return;
    this.ended = true;
    this.weEndedFirst = !this.peerEndSeen;
    this.channel.end();
    this.armEndTimer();
  }

  destroy(): void {
    if (this.closed) return;
    this.channel.destroy();
    this.close({ kind: 'local' });
  }

  /** The path learned the connection is gone (stateless reset, unreachable): report `error`. */
  fail(error: Error): void {
    if (this.closed) return;
    this.channel.destroy();
    this.close({ kind: 'error', error });
  }

  /** One decoded datagram of this connection (the owner has matched its cid / nonce). */
  receive(packet: NumberedPacket, bytes: number): void {
    if (this.closed) return;
    this.bytesRead += bytes;
    this.channel.receive(packet);
  }

  /** The handshake moved on: the client got ACCEPT, the server its first SHORT. */
  setHeader(header: PacketHeader): void {
    this.headerState = header;
    if (header.kind !== 'initial') this.beforeAccept = undefined;
  }

  /**
   * Client, on RETRY: start over from offset 0 with the token (spec 0012 §Handshake 3). The server
   * kept nothing, so a fresh channel (pn 0, offset 0) carries what was written so far.
   */
  restartWithToken(token: Uint8Array, rttSampleMs: number): void {
    const header = this.headerState;
    if (header.kind !== 'initial' || this.closed) return;
    this.headerState = { kind: 'initial', nonce: header.nonce, token };
    const old = this.channel;
    this.channel = this.makeChannel();
    old.abandon();
    this.channel.sampleRtt(rttSampleMs);
    for (const bytes of this.beforeAccept ?? []) this.splitter.write(bytes, this);
    if (this.ended) this.channel.end();
  }

  /** The peer's address moved (NAT rebinding): counted; the path already points at it. */
  migrated(): void {
    this.udpStats.migrations++;
  }

  private makeChannel(): ReliableChannel {
    // The transport is its channel's port and its splitter's sink itself: no closures per connection.
    return new ReliableChannel(this, this.options.channel);
  }

  // ---- ChannelPort (@internal: called by the channel) -------------------------------------------

  /** @internal the header of the next datagram (handshake state) */
  header(): PacketHeader {
    return this.headerState;
  }

  /** @internal */
  sendDatagram(datagram: Uint8Array): void {
    this.bytesWritten += datagram.length;
    this.path.send(datagram);
  }

  /** @internal in-order stream bytes: whole frames only go up (InboundGate). */
  deliver(bytes: Uint8Array): void {
    this.gate.accept(bytes, this);
  }

  /** @internal */
  deliverSide(bytes: Uint8Array): void {
    this.onSide(bytes);
  }

  /** @internal */
  drain(): void {
    this.handlers?.onDrain();
  }

  /** @internal */
  peerEnded(): void {
    this.onPeerEnded();
  }

  /** @internal */
  endAcknowledged(): void {
    this.endAcked = true;
    if (this.peerEndSeen) this.finishGracefully();
  }

  // ---- SplitSink / GateSink (@internal) ----------------------------------------------------------

  /** @internal stream bytes from the splitter */
  stream(bytes: Uint8Array): void {
    this.channel.write(bytes);
  }

  /** @internal a compact frame from the splitter: the side path (a PING is timed for the RTT) */
  side(bytes: Uint8Array): void {
    const b = bytes[0]!;
    if (b >= 0x40 && b < 0x60) {
      this.pingId = b & 0x1f;
      this.pingSentAt = this.clock.now();
    }
    this.channel.writeSide(bytes);
  }

  /** @internal whole frames (or a side chunk) for the decoder */
  up(bytes: Uint8Array): void {
    if (this.closed) return;
    if (this.early) this.early.push(bytes);
    else this.handlers?.onData(bytes);
  }

  private onSide(bytes: Uint8Array): void {
    // Before the first frame (HELLO / WELCOME) a beat would reach a peer still in its handshake.
    // After it the decoder is always at a frame boundary (the gate passes whole frames only), so
    // side frames may go up between any two stream chunks.
    if (!this.gate.started) return;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b >= 0x80) {
        // The PONG echoing our last PING's id (PingLog's rule: one outstanding PING at a time).
        if ((b & 0x1f) === this.pingId) {
          this.pingId = -1;
          this.udpStats.rttSamplesFromHeartbeat++;
          this.channel.sampleRtt(this.clock.now() - this.pingSentAt);
        }
        i++; // the load byte
      }
    }
    this.up(bytes);
  }

  private onPeerEnded(): void {
    this.peerEndSeen = true;
    // allowHalfOpen = false, as Node's sockets: the peer's end ends ours.
    if (!this.ended) {
      this.ended = true;
      this.weEndedFirst = false;
      this.channel.end();
      this.armEndTimer();
    }
    if (this.endAcked) this.finishGracefully();
  }

  private finishGracefully(): void {
    this.channel.destroy(); // sends this turn's datagrams once: the last ACK of the peer's F
    this.close(this.endCause());
  }

  /** Our F went first: we closed ('local'); the peer's came first: it went away ('end'), as TCP. */
  private endCause(): TransportCloseCause {
    return this.weEndedFirst ? { kind: 'local' } : { kind: 'end' };
  }

  private armEndTimer(): void {
    this.endTimer ??= this.clock.setTimer(() => {
      this.endTimer = undefined;
      if (this.closed) return;
      this.channel.destroy();
      this.close(this.endCause());
    }, UDP_GRACEFUL_END_TIMEOUT_MS);
  }

  private close(cause: TransportCloseCause): void {
    if (this.closed || this.closeCause) return;
    this.endTimer?.();
    this.endTimer = undefined;
    this.closeCause = cause;
    // Reported on a later turn, as a socket's 'close' event: callers of destroy() are not re-entered.
    queueMicrotask(() => {
      this.onClosed?.(cause);
      this.report(cause);
    });
  }

  private report(cause: TransportCloseCause): void {
    const handlers = this.handlers;
    if (!handlers || this.closed) return;
    this.closed = true;
    this.handlers = undefined;
    handlers.onTransportClose(cause);
  }

  /** Client side: the dialer's socket, which can move to a new local port (tests; a NAT rebinding). */
  clientPath: { rebind(): Promise<void>; readonly localPort: number | undefined } | undefined;

  /** The owner's hook, once, whether or not handlers were set (listener: tombstone the cid; dialer: close the socket). */
  onClosed: ((cause: TransportCloseCause) => void) | undefined;
}
