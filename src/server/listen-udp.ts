/**
 * The UDP listener (docs/spec/0012-udp.md): one dgram socket for all its sessions, demultiplexed
 * by connection id (cid), never by address, so a client whose NAT moved it to another port keeps
 * its session.
 *
 * Before an address is validated the listener keeps nothing and answers at most one datagram no
 * larger than the one it answers (RETRY 29 bytes to an INITIAL of 1200; RESET 9 bytes to a SHORT
 * of ≥ 10), within a budget shared by all addresses: no amplification, no state for spoofers.
 * An INITIAL that returns a valid cookie creates a session — once: a replay of the same
 * (address, port, nonce) within the cookie's lifetime finds the live session (a retransmission)
 * or the record that it ended, and creates nothing.
 *
 * Each session is a UdpTransport handed to the server like any other; admission, handshake and
 * heartbeat are the server's. The listener routes its datagrams, follows a migration (a SHORT with
 * a higher packet number from a new address moves the session there) and, after it closed, keeps
 * a tombstone for a few seconds that answers stragglers with its last datagram (at most 3 times)
 * before the cid becomes unknown (RESET).
 */
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { systemClock, type Clock } from '../time/clock.js';
import { decodePacket, encodePacket, MalformedDatagramError, type NumberedPacket } from '../transport/udp/packet.js';
import { UdpTransport } from '../transport/udp/udp-transport.js';
import type { BindOptions, Listener, ListenerHost } from './listeners.js';
import { AnswerBudget, UdpTokens } from './udp-tokens.js';
import { SessionPath } from './udp-session-path.js';
import { encodeFrame } from '../protocol/encode.js';

/** `listen({ transport: 'udp', udp: { … } })`. */
export interface UdpListenOptions {
  /** HMAC key of cookies and reset tokens. Default: 32 random bytes per process. Share one across restarts so resets keep working. */
  secret?: Uint8Array;
  /** How long a RETRY cookie is accepted, ms. Default 10 000. */
  cookieLifetimeMs?: number;
  /** RETRY + RESET datagrams per second, all addresses together (burst: twice this). Default 1000. */
  unvalidatedAnswersPerSecond?: number;
  /** Sessions per client IP. Default 256 (carrier NATs share IPs). */
  maxSessionsPerAddress?: number;
  /**
   * SO_RCVBUF / SO_SNDBUF asked of the kernel, bytes (it caps them at net.core.rmem_max /
   * wmem_max). Default 4 MiB: all sessions share one socket, and a datagram that arrives while the
   * buffer is full is lost (a beat lost to a busy event loop, not to the network).
   */
  socketBufferBytes?: number;
}

const DEFAULTS = { cookieLifetimeMs: 10_000, unvalidatedAnswersPerSecond: 1000, maxSessionsPerAddress: 256, socketBufferBytes: 4 * 1024 * 1024 } as const;
/** A closed session's tombstone lives this long (spec: 3 PTO within [1 s, 10 s]). */
const TOMBSTONE_MS = 3000;
const TOMBSTONE_ANSWERS = 3;
/** The smallest datagram that gets a RESET: larger than the 9-byte RESET, so two resetters never loop. */
const MIN_RESET_TRIGGER_BYTES = 10;
/** How long a closing listener waits for its sessions to end before closing the socket anyway. */
const CLOSE_WAIT_MS = 3000;
const SWEEP_MS = 1000;

/** Datagrams that created nothing, by why (the listener's counters; no event per datagram). */
export interface UdpListenerStats {
  datagramsReceived: number;
  malformed: number;
  retriesSent: number;
  resetsSent: number;
  answersOverBudget: number;
  replaysDropped: number;
  refusedPerAddress: number;
  unknownCid: number;
  tombstoneAnswers: number;
  /** Sessions moved to a new address (NAT rebinding), new addresses proven by CHALLENGE / RESPONSE, not proven in time. */
  migrations: number;
  validations: number;
  validationsFailed: number;
  /** Bytes not sent to an address under validation (over 3× what came from it). */
  bytesHeldForValidation: number;
  /** Datagrams a session tried to send after the listener's socket closed (dropped). */
  sendsAfterClose: number;
}

interface Session {
  readonly cid: string;
  readonly nonceKey: string;
  readonly transport: UdpTransport;
  readonly path: SessionPath;
  /** The IP whose validated INITIAL made it: counted against maxSessionsPerAddress until it ends. */
  readonly admittedFrom: string;
  largestPn: number;
}

interface Tombstone {
  last: Uint8Array | undefined;
  address: string;
  port: number;
  answers: number;
  untilMs: number;
}

/** Map key of a connection id or nonce. */
function cidKey(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function refuse(transport: UdpTransport, message: string): void {
  transport.setHandlers({ onData() {}, onDrain() {}, onTransportClose() {} });
  transport.write(encodeFrame({ type: 'close', code: 'server-full', message }));
  transport.end();
}

export class UdpListener implements Listener {
  readonly transport = 'udp';
  readonly leanSockets = false;
  readonly stats: UdpListenerStats = {
    datagramsReceived: 0,
    malformed: 0,
    retriesSent: 0,
    resetsSent: 0,
    answersOverBudget: 0,
    replaysDropped: 0,
    refusedPerAddress: 0,
    unknownCid: 0,
    tombstoneAnswers: 0,
    migrations: 0,
    validations: 0,
    validationsFailed: 0,
    bytesHeldForValidation: 0,
    sendsAfterClose: 0,
  };
  private socket: dgram.Socket | undefined;
  private readonly sessions = new Map<string, Session>();
  /** (address, port, nonce) → live session, or when it ended (a replay within the cookie lifetime creates nothing). */
  private readonly nonces = new Map<string, Session | number>();
  private readonly perAddress = new Map<string, number>();
  private readonly tombstones = new Map<string, Tombstone>();
  private readonly tokens: UdpTokens;
  private readonly budget: AnswerBudget;
  private readonly o: Required<Omit<UdpListenOptions, 'secret'>>;
  private readonly clock: Clock = systemClock;
  private sweepTimer: ReturnType<typeof setInterval> | undefined;
  private closing: Promise<void> | undefined;
  private allGone: (() => void) | undefined;

  constructor(
    private readonly host: ListenerHost,
    options: UdpListenOptions = {},
  ) {
    this.o = {
      cookieLifetimeMs: options.cookieLifetimeMs ?? DEFAULTS.cookieLifetimeMs,
      unvalidatedAnswersPerSecond: options.unvalidatedAnswersPerSecond ?? DEFAULTS.unvalidatedAnswersPerSecond,
      maxSessionsPerAddress: options.maxSessionsPerAddress ?? DEFAULTS.maxSessionsPerAddress,
      socketBufferBytes: options.socketBufferBytes ?? DEFAULTS.socketBufferBytes,
    };
    this.tokens = new UdpTokens(options.secret, this.o.cookieLifetimeMs);
    const perSecond = this.o.unvalidatedAnswersPerSecond;
    this.budget = new AnswerBudget(perSecond, perSecond * 2, () => this.clock.now());
  }

  /** Live sessions (tests, stats). */
  get sessionCount(): number {
    return this.sessions.size;
  }

  listen(bind: BindOptions): Promise<AddressInfo> {
    const type = bind.host !== undefined && net.isIPv6(bind.host) ? 'udp6' : 'udp4';
    // Every address this socket sends to is an IP literal from a received datagram: answering the
    // lookup synchronously spares dns.lookup's nextTick per datagram sent.
    const family = type === 'udp6' ? 6 : 4;
    const lookup = (address: string, _o: unknown, callback: (err: null, address: string, family: number) => void): void => callback(null, address, family);
    const socket = dgram.createSocket({ type, reuseAddr: false, lookup: lookup as never });
    this.socket = socket;
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ port: bind.port ?? 0, ...(bind.host === undefined ? {} : { address: bind.host }), exclusive: bind.exclusive ?? true }, () => {
        socket.off('error', reject);
        socket.on('error', (err) => this.host.listenerError(err));
        socket.setRecvBufferSize(this.o.socketBufferBytes);
        socket.setSendBufferSize(this.o.socketBufferBytes);
        socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
        this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
        this.sweepTimer.unref();
        resolve(socket.address());
      });
    });
  }

  address(): AddressInfo {
    if (!this.socket) throw new Error('UDP listener is not bound');
    return this.socket.address();
  }

  /** Admit nothing more; keep the socket until the last session is gone (bounded), then close it. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(bound);
        if (this.sweepTimer) clearInterval(this.sweepTimer);
        for (const s of this.sessions.values()) s.transport.destroy();
        const socket = this.socket;
        if (!socket) return resolve();
        this.socket = undefined;
        socket.close(() => resolve());
      };
      const bound = setTimeout(done, CLOSE_WAIT_MS);
      bound.unref();
      if (this.sessions.size === 0) done();
      else this.allGone = done;
    });
    return this.closing;
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.stats.datagramsReceived++;
    let packet;
    try {
      packet = decodePacket(msg, 'server');
    } catch (err) {
      if (!(err instanceof MalformedDatagramError)) throw err;
      this.stats.malformed++;
      return;
    }
    if (packet.kind === 'initial') this.onInitial(packet, msg.length, rinfo);
    else if (packet.kind === 'short') this.onShort(packet, msg.length, rinfo);
    else if (packet.kind === 'response') this.sessions.get(cidKey(packet.cid))?.path.responded(rinfo.address, rinfo.port, packet.data);
  }

  private onInitial(packet: NumberedPacket & { kind: 'initial' }, size: number, rinfo: dgram.RemoteInfo): void {
    const { address, port } = rinfo;
    if (this.closing) return;
    const token = packet.token;
    if (token === undefined || !this.tokens.verifyCookie(token, address, port, packet.nonce)) {
      const cookie = this.tokens.cookie(address, port, packet.nonce);
      if (this.answer(encodePacket({ kind: 'retry', nonce: packet.nonce, token: cookie }), rinfo)) this.stats.retriesSent++;
      return;
    }
    const nonceKey = `${address}|${port}|${cidKey(packet.nonce)}`;
    const known = this.nonces.get(nonceKey);
    if (typeof known === 'object') return known.transport.receive(packet, size); // a retransmitted INITIAL
    if (known !== undefined) {
      this.stats.replaysDropped++;
      return;
    }
    const count = this.perAddress.get(address) ?? 0;
    const full = count >= this.o.maxSessionsPerAddress;
    const cid = crypto.randomBytes(8);
    const path = new SessionPath(this.socket!, address, port, this.stats);
    const transport = new UdpTransport(path, {
      clock: this.clock,
      maxFrameSize: this.host.maxFrameSize,
      header: { kind: 'accept', nonce: packet.nonce, cid, resetToken: this.tokens.resetToken(cid) },
    });
    const session: Session = { cid: cidKey(cid), nonceKey, transport, path, admittedFrom: address, largestPn: packet.pn };
    this.sessions.set(session.cid, session);
    this.nonces.set(nonceKey, session);
    this.perAddress.set(address, count + 1);
    transport.onClosed = () => this.forget(session);
    if (full) {
      // The address is validated, so a reason may go back: CLOSE server-full, as TCP's admission.
      this.stats.refusedPerAddress++;
      refuse(transport, `too many sessions from ${address} (limit ${this.o.maxSessionsPerAddress})`);
    } else this.host.incoming(transport);
    transport.receive(packet, size);
  }

  private onShort(packet: NumberedPacket & { kind: 'short' }, size: number, rinfo: dgram.RemoteInfo): void {
    const cidHex = cidKey(packet.cid!);
    const session = this.sessions.get(cidHex);
    if (!session) return this.onUnknownCid(cidHex, packet.cid!, size, rinfo);
    const path = session.path;
    if (path.received(rinfo.address, rinfo.port, size, packet.pn > session.largestPn)) session.transport.migrated();
    if (packet.pn > session.largestPn) session.largestPn = packet.pn;
    if (session.transport.header().kind === 'accept') session.transport.setHeader({ kind: 'short', cid: undefined });
    session.transport.receive(packet, size);
  }

  private onUnknownCid(cidHex: string, cid: Uint8Array, size: number, rinfo: dgram.RemoteInfo): void {
    const grave = this.tombstones.get(cidHex);
    if (grave) {
      if (grave.last && grave.answers < TOMBSTONE_ANSWERS && rinfo.address === grave.address && rinfo.port === grave.port) {
        grave.answers++;
        this.stats.tombstoneAnswers++;
        this.socket?.send(grave.last, rinfo.port, rinfo.address);
      }
      return;
    }
    this.stats.unknownCid++;
    if (size < MIN_RESET_TRIGGER_BYTES) return;
    if (this.answer(encodePacket({ kind: 'reset', token: this.tokens.resetToken(cid) }), rinfo)) this.stats.resetsSent++;
  }

  /** One answer to an unvalidated datagram, within the budget. */
  private answer(datagram: Uint8Array, rinfo: dgram.RemoteInfo): boolean {
    if (!this.socket) return false;
    if (!this.budget.take()) {
      this.stats.answersOverBudget++;
      return false;
    }
    this.socket.send(datagram, rinfo.port, rinfo.address);
    return true;
  }

  private decrementAddress(address: string): void {
    const n = (this.perAddress.get(address) ?? 1) - 1;
    if (n <= 0) this.perAddress.delete(address);
    else this.perAddress.set(address, n);
  }

  private forget(session: Session): void {
    if (this.sessions.get(session.cid) !== session) return;
    const now = this.clock.now();
    this.sessions.delete(session.cid);
    this.nonces.set(session.nonceKey, now + this.o.cookieLifetimeMs);
    session.path.close();
    this.decrementAddress(session.admittedFrom);
    const { last, remoteAddress, remotePort } = session.path;
    this.tombstones.set(session.cid, { last, address: remoteAddress, port: remotePort, answers: 0, untilMs: now + TOMBSTONE_MS });
    if (this.sessions.size === 0 && this.allGone) this.allGone();
  }

  /** Expire tombstones and replay records (one timer per listener, not per session). */
  private sweep(): void {
    const now = this.clock.now();
    for (const [cid, grave] of this.tombstones) if (grave.untilMs <= now) this.tombstones.delete(cid);
    for (const [key, value] of this.nonces) if (typeof value === 'number' && value <= now) this.nonces.delete(key);
  }
}
