/**
 * Endpoints: where a server's connections come from — its listeners (TCP, TLS, WebSocket, UDP;
 * listener-factory.ts), in listen() / attach() order — and the ListenerHost port they report
 * to. A new connection goes on to the server (admission, a ServerPeer); a failure before it
 * became a lifeline connection becomes the server's 'clientError'. One per server.
 *
 * 'listening' is emitted once all listen() calls in progress are done (one event for
 * `Promise.all([listen(a), listen(b)])`, one per call when they are awaited in turn), with every
 * listener's address (`addresses()`); each listen() call resolves with its own listener's.
 */
import type http from 'node:http';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import { channels, publish } from '../diagnostics.js';
import { LifelineError } from '../errors.js';
import { HandleTransport, type TcpHandle } from '../transport/tcp-handle.js';
import type { Transport } from '../transport/types.js';
import { attachedListener, makeListener } from './listener-factory.js';
import type { ClientErrorInfo, Listener, ListenerAddress, ListenerHost, ListenOptions } from './listeners.js';
import type { UdpListenerStats } from './listen-udp.js';
import type { ResolvedServerOptions } from './options.js';
import type { AcceptRefusal, PendingAdmission } from './admission.js';

/** What the endpoints need from their server (narrow port). */
export interface EndpointsOwner {
  readonly options: ResolvedServerOptions;
  /** Once before each listener starts: socket tuning module, presence store, health sampler. */
  prepare(): Promise<void>;
  /** A connection from any listener: admitted, or refused (`pending`: judged at its TCP accept already). */
  incoming(transport: Transport, pending?: PendingAdmission): void;
  /** A TLS / WebSocket listener's TCP socket at accept: counted from now, or refused (admission.ts). */
  accepted(remoteAddress: string | undefined): PendingAdmission | AcceptRefusal;
  emit(event: string | symbol, ...args: unknown[]): boolean;
  listenerCount(event: string | symbol): number;
}

export class Endpoints implements ListenerHost {
  readonly list: Listener[] = [];
  /** listen() calls not yet settled, and whether one of them came up since 'listening' was last emitted. */
  private listening = 0;
  private cameUp = false;

  constructor(private readonly owner: EndpointsOwner) {}

  async listen(o: ListenOptions): Promise<AddressInfo> {
    const listener = makeListener(this, o, this.owner.options);
    this.listening++;
    try {
      await this.owner.prepare();
      const address = await listener.listen(o);
      this.list.push(listener);
      this.cameUp = true;
      return address;
    } finally {
      // Once no other listen() is still binding: every listener the caller started is up (or failed).
      if (--this.listening === 0 && this.cameUp) {
        this.cameUp = false;
        this.owner.emit('listening', this.addresses());
      }
    }
  }

  async attach(server: http.Server | https.Server, path: string | undefined): Promise<void> {
    const listener = attachedListener(this, server, path, this.owner.options);
    await this.owner.prepare();
    this.list.push(listener);
  }

  address(): AddressInfo {
    const listener = this.list[0];
    if (listener === undefined) throw new LifelineError('LL_ERR_SERVER_NOT_LISTENING', 'server is not listening (call listen() first)');
    return listener.address();
  }

  addresses(): ListenerAddress[] {
    return this.list.map((listener) => ({ ...listener.address(), transport: listener.transport === 'ws' && listener.secure === true ? 'wss' : listener.transport }));
  }

  get leanSockets(): boolean {
    return this.list.some((listener) => listener.leanSockets);
  }

  udpStats(): UdpListenerStats[] {
    return this.list.flatMap((listener) => (listener as { stats?: UdpListenerStats }).stats ?? []);
  }

  close(): Promise<unknown> {
    return Promise.all(this.list.map((listener) => listener.close()));
  }

  // --- ListenerHost -----------------------------------------------------------------------------

  get wantsLeanSockets(): boolean {
    return this.owner.options.leanSockets;
  }

  get handshakeTimeoutMs(): number {
    return this.owner.options.handshakeTimeout;
  }

  get maxFrameSize(): number {
    return this.owner.options.maxFrameSize;
  }

  listenerError(err: Error): void {
    if (this.owner.listenerCount('error') > 0) this.owner.emit('error', err);
  }

  clientError(info: ClientErrorInfo): void {
    if (this.owner.listenerCount('clientError') > 0) this.owner.emit('clientError', info);
    publish(channels.serverClientError, () => ({ server: this.owner, ...info }));
  }

  incoming(transport: Transport, pending?: PendingAdmission): void {
    this.owner.incoming(transport, pending);
  }

  accepted(remoteAddress: string | undefined): PendingAdmission | AcceptRefusal {
    return this.owner.accepted(remoteAddress);
  }

  /** leanSockets: the listening handle's onconnection, taken over — no net.Socket is built. */
  incomingHandle(handle: TcpHandle): void {
    this.owner.incoming(new HandleTransport(handle));
  }
}
