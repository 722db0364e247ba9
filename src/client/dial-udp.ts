/**
 * Dial UDP (docs/spec/0012-udp.md §Handshake): a connected dgram socket and a fresh nonce. The
 * Transport goes to the Link at once — its HELLO travels as stream bytes in INITIALs padded to
 * 1200 bytes, resent by the channel's PTO until the server answers (or the handshake timeout of
 * the Link gives up). Before ACCEPT the dialer takes only RETRY / ACCEPT carrying its nonce (one
 * RETRY per dial); after it only SHORT, CHALLENGE and a RESET whose token matches ACCEPT's.
 *
 * The socket stays the dialer's: `rebind()` swaps it for a new one (a new local port, the same
 * connection id), which is what a NAT rebinding looks like to the server.
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import { LifelineError } from '../errors.js';
import { systemClock } from '../time/clock.js';
import { decodePacket, encodePacket, ID_BYTES, MalformedDatagramError } from '../transport/udp/packet.js';
import { UdpTransport, type UdpPath } from '../transport/udp/udp-transport.js';
import type { Dial, DialOwner, DialSettings } from './dial.js';
import type { ServerAddress } from './servers.js';

/** The client's end of a UDP connection: its transport, and a way to move to a new local port. */
export interface UdpClientPath extends UdpPath {
  /** Replace the socket by a new one on a new local port, keeping the connection (tests, NAT rebinding). */
  rebind(): Promise<void>;
  readonly localPort: number | undefined;
}

class ConnectedPath implements UdpClientPath {
  socket: dgram.Socket;
  constructor(
    socket: dgram.Socket,
    readonly remoteAddress: string,
    readonly remotePort: number,
    private readonly attach: (socket: dgram.Socket) => void,
  ) {
    this.socket = socket;
  }
  get localPort(): number | undefined {
    try {
      return this.socket.address().port;
    } catch {
      return undefined;
    }
  }
  private closed = false;
  send(datagram: Uint8Array): void {
    // After close() nothing may send (a closed dgram socket throws, and from a timer that is a crash).
    if (!this.closed) this.socket.send(datagram);
  }
  rebind(): Promise<void> {
    const next = dgram.createSocket(net.isIPv6(this.remoteAddress) ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      next.once('error', reject);
      next.connect(this.remotePort, this.remoteAddress, () => {
        next.off('error', reject);
        const old = this.socket;
        this.socket = next;
        this.attach(next);
        old.close();
        resolve();
      });
    });
  }
  close(): void {
    this.closed = true;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

export function dialUdp(server: ServerAddress, settings: DialSettings, owner: DialOwner): Dial {
  let done = false;
  const socket = dgram.createSocket(net.isIPv6(server.host) ? 'udp6' : 'udp4');
  const onError = (err: Error) => {
    if (done) return;
    done = true;
    socket.close();
    owner.dialFailed(err);
  };
  socket.once('error', onError);
  socket.connect(server.port, server.host, () => {
    socket.off('error', onError);
    if (done) return void socket.close();
    done = true;
    const remote = socket.remoteAddress();
    const transport = startConnection(socket, remote.address, remote.port, settings);
    owner.dialed(transport, socket.address().address);
  });
  return {
    abort() {
      if (done) return;
      done = true;
      socket.off('error', onError);
      socket.close();
    },
  };
}

function startConnection(socket: dgram.Socket, address: string, port: number, settings: DialSettings): UdpTransport {
  const nonce = crypto.randomBytes(ID_BYTES);
  let resetToken: Uint8Array | undefined;
  let retried = false;
  const startedAt = systemClock.now();
  let transport: UdpTransport;

  const onMessage = (msg: Buffer): void => {
    let packet;
    try {
      packet = decodePacket(msg, 'client');
    } catch (err) {
      if (err instanceof MalformedDatagramError) return;
      throw err;
    }
    const header = transport.header();
    switch (packet.kind) {
      case 'retry':
        if (header.kind !== 'initial' || retried || !equal(packet.nonce, nonce)) return;
        retried = true;
        transport.restartWithToken(packet.token, systemClock.now() - startedAt);
        return;
      case 'accept':
        if (!equal(packet.nonce, nonce)) return;
        if (header.kind === 'initial') {
          resetToken = packet.resetToken;
          transport.setHeader({ kind: 'short', cid: packet.cid });
        } else if (!(header.kind === 'short' && header.cid && equal(header.cid, packet.cid))) return;
        transport.receive(packet, msg.length);
        return;
      case 'short':
        if (header.kind === 'short') transport.receive(packet, msg.length);
        return;
      case 'reset':
        if (resetToken && crypto.timingSafeEqual(packet.token, resetToken)) {
          transport.fail(new LifelineError('LL_ERR_UDP_RESET', 'the server does not know this connection: it restarted or the session ended'));
        }
        return;
      case 'challenge':
        if (header.kind === 'short' && header.cid) path.send(encodePacket({ kind: 'response', cid: header.cid, data: packet.data }));
        return;
    }
  };
  const onSocketError = (err: Error & { code?: string }): void => {
    // ICMP port unreachable is unauthenticated: it may end a dial that got no answer yet (nothing
    // listens there, as TCP's ECONNREFUSED), never an accepted connection.
    if (err.code === 'ECONNREFUSED' && transport.header().kind === 'initial') {
      transport.fail(new LifelineError('LL_ERR_UDP_UNREACHABLE', `nothing listens on udp://${address}:${port} (ICMP port unreachable)`, { cause: err }));
    }
  };
  const attach = (s: dgram.Socket): void => {
    s.on('message', onMessage);
    s.on('error', onSocketError);
  };
  const path = new ConnectedPath(socket, address, port, attach);
  attach(socket);
  transport = new UdpTransport(path, {
    clock: systemClock,
    maxFrameSize: settings.maxFrameSize,
    header: { kind: 'initial', nonce, token: undefined },
  });
  transport.onClosed = () => path.close();
  transport.clientPath = path;
  return transport;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
