/**
 * A real LifelineServer on a FakeClock, fed through in-memory transports (src/transport/memory.ts)
 * by a raw protocol peer: the narrowest interface that runs the whole server-side handshake and
 * resume policy (ServerPeer, Connection, ResumeRegistry) without a kernel or real time. Each
 * connection's one close reason is recorded by wrapping the server's `peerClosed` port, which the
 * connection calls exactly once per ServerPeer (the property tests count it).
 */
import { FrameDecoder } from '../../src/protocol/decoder.js';
import { encodeFrame } from '../../src/protocol/encode.js';
import type { Frame } from '../../src/protocol/frames.js';
import { createMemoryPair, type MemoryTransport } from '../../src/transport/memory.js';
import { FakeClock } from '../../src/time/fake-clock.js';
import { createServer, type LifelineServer } from '../../src/server/server.js';
import type { ServerOptions } from '../../src/server/options.js';
import type { CloseReason } from '../../src/connection/close-reason.js';
import type { Session } from '../../src/server/session.js';
import type { TransportCloseCause } from '../../src/transport/types.js';

/** Let every queued microtask (memory transport deliveries) and immediate run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class RawPeer {
  readonly transport: MemoryTransport;
  /** Frames the server wrote to us, in order (decoding stops at the first error). */
  readonly received: Frame[] = [];
  receiveError: string | undefined;
  closedBy: TransportCloseCause | undefined;
  /** Close reason(s) the server recorded for this connection (exactly one once it closed). */
  readonly serverCloses: CloseReason[] = [];
  private readonly decoder = new FrameDecoder();

  constructor(transport: MemoryTransport) {
    this.transport = transport;
    transport.setHandlers({
      onData: (chunk) => {
        if (this.receiveError !== undefined) return;
        try {
          this.decoder.push(chunk, (frame) => this.received.push(frame));
        } catch (err) {
          this.receiveError = String(err);
        }
      },
      onDrain: () => {},
      onTransportClose: (cause) => {
        this.closedBy = cause;
      },
    });
  }

  send(frame: Frame): void {
    this.transport.write(encodeFrame(frame));
  }

  write(bytes: Uint8Array): void {
    this.transport.write(bytes);
  }
}

export class ServerHarness {
  readonly clock = new FakeClock(1_000_000);
  readonly server: LifelineServer;
  readonly sessionsOpened: string[] = [];
  readonly sessions: Session[] = [];
  readonly sessionsResumed: string[] = [];
  /** Our raw peer for each server-side transport (a ServerPeer's `connection.transport`). */
  private readonly peers = new Map<unknown, RawPeer>();

  constructor(options: ServerOptions = {}) {
    this.server = createServer({ ...options, clock: this.clock, health: () => ({ status: 'ok', load: 0 }) });
    this.server.on('session', (session) => {
      this.sessionsOpened.push(session.id);
      this.sessions.push(session);
    });
    this.server.on('sessionResume', (session) => this.sessionsResumed.push(session.id));
    const server = this.server;
    const peerClosed = server.peerClosed.bind(server);
    server.peerClosed = (peer, reason) => {
      this.peers.get(peer.connection.transport)?.serverCloses.push(reason);
      peerClosed(peer, reason);
    };
  }

  /** A new connection: the server's side goes to `incoming()`, ours is returned. */
  connect(): RawPeer {
    const [ours, theirs] = createMemoryPair();
    const peer = new RawPeer(ours);
    this.peers.set(theirs, peer);
    this.server.incoming(theirs);
    return peer;
  }

  /** Advance fake time in steps (timers re-armed by others run too), settling I/O between them. */
  async advance(ms: number, stepMs = 50): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      this.clock.advance(Math.min(stepMs, ms - t));
      await settle();
    }
  }

  /** Close the server and run every connection's graceful end to its last timer. */
  async shutdown(): Promise<void> {
    const closed = this.server.close();
    await settle();
    await this.advance(2_500, 250);
    await closed;
    this.clock.advance(10_000);
    await settle();
  }
}
