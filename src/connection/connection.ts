/**
 * Connection: one transport + the frame codec + the heartbeat + exactly one close reason.
 * Role-neutral: the server's Session and the client both drive one. The handshake policy
 * (what to answer to HELLO, what to do with WELCOME) belongs to the owner; this class only
 * routes pre-open frames to it and enforces the handshake deadline.
 *
 * One class in layers, one role per file: connection-core.ts (state, the write path, the ways to
 * end, the slow-consumer policy), heartbeat-driver.ts (open, PINGs, the dead verdict),
 * delivery.ts (DATA both ways, ACKs, replay) and this file: what arrives — chunks, frames, the
 * peer's CLOSE, the transport's drain and end.
 */
import { FrameDecoder, type FrameSink } from '../protocol/decoder.js';
import { HANDSHAKE_MAX_FRAME_SIZE, type CloseCode, type Frame } from '../protocol/frames.js';
import type { TransportCloseCause, TransportHandlers } from '../transport/types.js';
import { ProtocolError } from '../errors.js';
import type { ReplaySink } from './replay.js';
import { remoteCloseReason, transportCloseReason } from './close-reason.js';
import { Delivery } from './delivery.js';
import { frameSlot, SLOT_PING } from './frame-counts.js';
import type { ConnectionOptions, SharedEnvConnectionOptions } from './types.js';

export type {
  ConnectionEnv,
  ConnectionOptions,
  ConnectionOwner,
  ConnectionState,
  HealthReport,
  OpenParams,
  PongInfo,
  SharedEnvConnectionOptions,
  StallGuardOptions,
} from './types.js';
export { defaultStallThresholdMs } from './types.js';

/**
 * The connection is its transport's handler (TransportHandlers: onData, onDrain,
 * onTransportClose), its decoder's sink (FrameSink: onFrame, onPing) and its replay's sink
 * (ReplaySink) itself: prototype methods, no adapter object or closure per connection (a server
 * holds ~100k of them).
 */
export class Connection extends Delivery implements TransportHandlers, FrameSink, ReplaySink {
  constructor(options: ConnectionOptions | SharedEnvConnectionOptions) {
    const env = 'env' in options ? options.env : options;
    // The handshake limit until open() (heartbeat-driver.ts) raises it to maxFrameSize.
    const handshakeLimit = Math.min(env.maxFrameSize, env.handshakeMaxFrameSize ?? HANDSHAKE_MAX_FRAME_SIZE);
    super(options.transport, options.owner, env, new FrameDecoder({ maxFrameSize: handshakeLimit }));
    this.transport.setHandlers(this);
  }

  /** @internal (TransportHandlers) */
  onData(chunk: Uint8Array): void {
    if (this.state === 'closed' || (this.state === 'closing' && !this.awaitingPeerClose)) return;
    // One clock read per chunk, not per frame: frames in one chunk arrived together.
    const now = this.clock.now();
    this.lastSeenAtMs = now;
    this.heartbeat?.received(now);
    this.pingToAnswer = -1;
    try {
      // While decoding, lastSeenAtMs is when this chunk arrived (frames in one chunk arrived together).
      this.decoder.push(chunk, this);
      if (this.pingToAnswer >= 0 && this.state === 'open') this.answerPing(this.pingToAnswer);
    } catch (err) {
      if (!(err instanceof ProtocolError)) throw err;
      if (this.state === 'closing') {
        // Already closing on our side: nothing more to say, stop reading.
        this.awaitingPeerClose = false;
        this.transport.destroy();
        return;
      }
      this.fail('protocol-error', err.message, 'protocol', 'protocol-error', err);
    }
  }

  /** @internal (FrameSink) A frame decoded from the chunk being read. */
  onFrame(frame: Frame): void {
    // Every frame decoded counts, whatever the state makes of it (spec 0015 §Frames by type).
    this.countReceived(frameSlot(frame.type));
    this.handleFrame(frame, this.lastSeenAtMs);
  }

  /** @internal (FrameSink) A PING decoded without a frame object. */
  onPing(id: number): void {
    // Per PING frame, though PINGs in one read get one PONG (and one lifeline_pings_received_total).
    this.countReceived(SLOT_PING);
    // Answered once the whole chunk is decoded (see onData); in any other state the frame takes
    // the general path (handshake: the owner refuses it; closing: ignored).
    if (this.state === 'open') this.pingToAnswer = id;
    else this.handleFrame({ type: 'ping', id }, this.lastSeenAtMs);
  }

  /** @internal (TransportHandlers) */
  onDrain(): void {
    this.drainedForSlowWatch();
    this.rareState?.replay?.drained();
    this.owner.drain();
  }

  /** @internal (TransportHandlers) */
  onTransportClose(cause: TransportCloseCause): void {
    if (this.state === 'closed') return;
    this.stopTimers();
    this.state = 'closed';
    const reason = this.rareState?.pendingReason ?? transportCloseReason(cause, this.sinceLastSeenMs);
    this.owner.closed(reason);
  }

  private handleFrame(frame: Frame, now: number): void {
    if (this.state === 'closed') return;
    if (this.state === 'closing') {
      if (!this.awaitingPeerClose) return;
      if (frame.type === 'close') this.awaitingPeerClose = false;
      else if (frame.type === 'data') this.deliver(frame.seq, frame.payload);
      return;
    }
    if (this.state === 'handshake') {
      if (frame.type === 'close') return this.onRemoteClose(frame.code, frame.message);
      if (frame.type === 'goaway') {
        // A server shedding load answers with GOAWAY (retry-after, redirect) then CLOSE instead
        // of WELCOME (PROTOCOL.md §8.4): the close reason will carry it.
        this.rare.goawayReceived = frame;
        this.owner.goaway(frame);
        return;
      }
      this.owner.handshakeFrame(frame);
      return;
    }
    switch (frame.type) {
      case 'data':
        this.deliver(frame.seq, frame.payload);
        return;
      case 'ping':
        // Answered once the whole chunk is decoded (see onData).
        this.pingToAnswer = frame.id;
        return;
      case 'pong': {
        const rttMs = this.heartbeat?.pong(frame.id, now);
        // 'ok' / 0 is what a peer reports before any PONG: no RareState for a server whose
        // clients answer its PINGs (server leads) with the client's constant ok / 0.
        if (this.rareState !== undefined || frame.status !== 'ok' || frame.load !== 0) {
          const rare = this.rare;
          rare.peerStatus = frame.status;
          rare.peerLoad = frame.load;
        }
        this.owner.pong({ id: frame.id, status: frame.status, load: frame.load, rttMs });
        return;
      }
      case 'goaway':
        this.rare.goawayReceived = frame;
        this.owner.goaway(frame);
        return;
      case 'ack':
        this.acked(frame.seq);
        return;
      case 'close':
        return this.onRemoteClose(frame.code, frame.message);
      case 'presence':
        // Only owners that speak it (spec 0014 §Subscriptions) get it; to any other it is a violation.
        if (this.owner.presence) this.owner.presence(frame);
        else this.fail('protocol-error', 'unexpected PRESENCE', 'protocol', 'protocol-error');
        return;
      case 'hello':
      case 'welcome':
        this.fail('protocol-error', `unexpected ${frame.type.toUpperCase()} after the handshake`, 'protocol', 'protocol-error');
        return;
      default: {
        const never: never = frame;
        return never;
      }
    }
  }

  private onRemoteClose(code: CloseCode, message: string): void {
    // The peer keeps delivering DATA until our transport ends (its closing handshake).
    if (this.state === 'open') this.finishReplay();
    this.rare.pendingReason = remoteCloseReason(code, message, this.rareState?.goawayReceived);
    this.stopTimers();
    this.state = 'closing';
    this.transport.end();
  }
}
