/**
 * Test helpers for the UDP channel: hex, and a pair of channels joined by an in-memory network
 * that drops, duplicates and reorders datagrams from a seeded rng, on a FakeClock.
 */
import { FakeClock } from '../../../../src/time/fake-clock.js';
import { seededRandom } from '../../../../src/time/rng.js';
import { ReliableChannel, type ChannelOptions } from '../../../../src/transport/udp/channel.js';
import { decodePacket, type NumberedPacket, type Packet, type Receiver } from '../../../../src/transport/udp/packet.js';

export function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' ');
}

export function fromHex(hex: string): Uint8Array {
  const parts = hex.split(/\s+/).filter(Boolean);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let pos = 0;
  for (const c of chunks) {
    out.set(c, pos);
    pos += c.length;
  }
  return out;
}

/** Bytes 0, 1, 2, … from `start`: any misplaced or doubled byte shows. */
export function pattern(length: number, start = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (start + i) * 31 + ((start + i) >>> 8) & 0xff;
  return out;
}

export interface NetConfig {
  loss: number;
  duplicate: number;
  /** One-way delay: minDelayMs + rng · jitterMs (jitter reorders). */
  minDelayMs: number;
  jitterMs: number;
}

export const PERFECT: NetConfig = { loss: 0, duplicate: 0, minDelayMs: 10, jitterMs: 0 };

export type Side = 'a' | 'b';

export interface SentRecord {
  from: Side;
  atMs: number;
  bytes: Uint8Array;
  packet: NumberedPacket;
  delivered: boolean;
}

/** What each end saw, and knobs to break the network. */
export interface End {
  channel: ReliableChannel;
  received: Uint8Array[];
  side: Uint8Array[];
  drains: number;
  peerEnded: number;
  endAcknowledged: number;
}

export interface Pair {
  clock: FakeClock;
  a: End;
  b: End;
  sent: SentRecord[];
  net: NetConfig;
  /** Return true to drop this datagram (on top of random loss). */
  drop: (record: SentRecord) => boolean;
  /** Called as each datagram is handed to the network, with its sender's channel. */
  onSend: (record: SentRecord, sender: ReliableChannel) => void;
  /** Called after each datagram is received. */
  onReceive: (record: SentRecord, receiver: ReliableChannel) => void;
}

const CID = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]);

/** a is the client (its SHORTs carry the cid), b the server. */
export function channelPair(options: Partial<ChannelOptions> = {}, net: NetConfig = PERFECT, seed = 1): Pair {
  const clock = new FakeClock(0);
  const rng = seededRandom(seed);
  const pair = {
    clock,
    sent: [] as SentRecord[],
    net,
    drop: () => false,
    onSend: () => {},
    onReceive: () => {},
  } as unknown as Pair;
  const make = (me: Side): End => {
    const end = { received: [], side: [], drains: 0, peerEnded: 0, endAcknowledged: 0 } as unknown as End;
    const peerReceiver: Receiver = me === 'a' ? 'server' : 'client';
    end.channel = new ReliableChannel(
      {
        clock,
        header: () => ({ kind: 'short', cid: me === 'a' ? CID : undefined }),
        sendDatagram: (bytes) => {
          const packet = decodePacket(bytes, peerReceiver) as NumberedPacket;
          const record: SentRecord = { from: me, atMs: clock.now(), bytes, packet, delivered: false };
          pair.sent.push(record);
          pair.onSend(record, end.channel);
          if (pair.drop(record) || rng() < pair.net.loss) return;
          const copies = rng() < pair.net.duplicate ? 2 : 1;
          for (let i = 0; i < copies; i++) {
            const delay = pair.net.minDelayMs + rng() * pair.net.jitterMs;
            clock.setTimer(() => {
              const peer = me === 'a' ? pair.b : pair.a;
              record.delivered = true;
              // The wire is bytes: decode a fresh copy, as a socket would hand it over.
              const decoded: Packet = decodePacket(bytes.slice(), peerReceiver);
              peer.channel.receive(decoded as NumberedPacket);
              pair.onReceive(record, peer.channel);
            }, delay);
          }
        },
        deliver: (bytes) => void end.received.push(bytes.slice()),
        deliverSide: (bytes) => void end.side.push(bytes.slice()),
        drain: () => void end.drains++,
        peerEnded: () => void end.peerEnded++,
        endAcknowledged: () => void end.endAcknowledged++,
        defer: (fn) => void clock.setTimer(fn, 0),
      },
      options,
    );
    return end;
  };
  pair.a = make('a');
  pair.b = make('b');
  return pair;
}

/** Stream bytes and F of a datagram, as offsets [start, end) (F counts one offset). */
export function streamRange(packet: NumberedPacket): { start: number; end: number } | undefined {
  const s = packet.stream;
  if (!s) return undefined;
  return { start: s.offset, end: s.offset + s.bytes.length + (s.fin ? 1 : 0) };
}
