/**
 * Lean load-generator clients on bare sockets, speaking just enough of each protocol to hold a
 * connection and heartbeat: thousands fit in one generator process and cost the shared CPU as
 * little as possible, so the *server* is what the benchmark measures.
 *
 * - raw:      1 byte on connect (its echo = the server has the connection), then 1 byte every
 *             T; the echo is the round trip.
 * - rawsweep: 1 byte on connect (its echo opens the connection), then echo every byte the
 *             server sends; each is a round trip (the server leads).
 * - lifeline: HELLO (interval T, timeout 3T, followServerPings like the real client), then a
 *             PING (1 byte) every T; a PONG (2 bytes) is the round trip; a server PING is
 *             answered with PONG. Same bytes on the wire as the real client when the connection
 *             is otherwise idle (the real client pings after T of silence, plus up to 10 %
 *             jitter), like test/fixtures/ping-peers.ts. When WELCOME says the server leads
 *             (spec 0010) the client never pings, as the real one would not while the server's
 *             PINGs come: those are the round trips, and pushed status PONGs are not.
 * - mqtt:     CONNECT (MQTT 3.1.1, clean session, keepalive = T in whole seconds, at least 1),
 *             then PINGREQ every T; PINGRESP is the round trip (what MQTT.js does when idle).
 * - nats:     CONNECT + PING after INFO; the server PINGs every ping_interval and we answer
 *             PONG (the server-driven heartbeat nats-server runs for every client).
 */
import { FrameDecoder } from '../protocol/decoder.js';
import { encodeFrame, encodePing, encodePong } from '../protocol/encode.js';

/** What a protocol needs from its connection (narrow port). */
export interface LeanPort {
  write(bytes: Uint8Array): void;
  /** Handshake finished: the connection counts as open. serverLeads: the server pings, we only answer (lifeline, spec 0010). */
  ready(serverLeads?: boolean): void;
  /** One heartbeat round trip completed. */
  roundTrip(): void;
  fail(message: string): void;
}

export interface LeanSession {
  /** Bytes to write once TCP connects (undefined: none; the server speaks first or nothing). */
  hello(): Uint8Array | undefined;
  onData(chunk: Buffer): void;
}

export interface LeanProtocol {
  /** The client sends the heartbeat (every interval); false: the server does, we answer. */
  readonly clientPings: boolean;
  /** The heartbeat request the client writes (clientPings only). */
  readonly ping: Uint8Array;
  /** True once TCP connects (no handshake). */
  readonly readyOnConnect: boolean;
  create(port: LeanPort): LeanSession;
}

export type LeanProtocolId = 'raw' | 'rawsweep' | 'lifeline' | 'mqtt' | 'nats';

export function leanProtocol(id: LeanProtocolId, intervalMs: number): LeanProtocol {
  switch (id) {
    case 'raw':
      return rawProtocol();
    case 'rawsweep':
      return rawProtocol(true);
    case 'lifeline':
      return lifelineProtocol(intervalMs);
    case 'mqtt':
      return mqttProtocol(intervalMs);
    case 'nats':
      return natsProtocol();
    default: {
      const never: never = id;
      return never;
    }
  }
}

/**
 * raw (the client beats, the server echoes) and rawsweep (the server beats, the client echoes):
 * 1 byte each way per beat, and the first byte's echo is the "handshake" — a TCP connect only
 * means the kernel queued the connection, not that the server (a cluster worker, in scale mode)
 * has it.
 */
function rawProtocol(serverLeads = false): LeanProtocol {
  const ping = Uint8Array.of(0x2a);
  return {
    clientPings: !serverLeads,
    ping,
    readyOnConnect: false,
    create(port) {
      let open = false;
      return {
        hello: () => ping,
        onData(chunk) {
          let n = chunk.length;
          if (!open) {
            open = true;
            n--;
            port.ready();
          }
          // rawsweep: echo what the server sent, one write for the chunk.
          if (serverLeads && n > 0) port.write(n === chunk.length ? chunk : chunk.subarray(1));
          for (let i = 0; i < n; i++) port.roundTrip();
        },
      };
    },
  };
}

function lifelineProtocol(intervalMs: number): LeanProtocol {
  // One PING id for all: the server echoes it; ids only matter to a client that times RTTs per ping.
  const ping = encodePing(1);
  const hello = encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: intervalMs, heartbeatTimeoutMs: 3 * intervalMs, followServerPings: true });
  return {
    clientPings: true,
    ping,
    readyOnConnect: false,
    create(port) {
      const decoder = new FrameDecoder();
      // Server leads: its PONGs are pushed status (not answers to us), its PINGs the round trips.
      let serverLeads = false;
      return {
        hello: () => hello,
        onData(chunk) {
          try {
            decoder.push(chunk, (frame) => {
              if (frame.type === 'pong') {
                if (!serverLeads) port.roundTrip();
              } else if (frame.type === 'welcome') {
                serverLeads = frame.serverPings === true;
                port.ready(serverLeads);
              } else if (frame.type === 'ping') {
                port.write(encodePong(frame.id, 'ok', 0));
                port.roundTrip();
              } else if (frame.type === 'close') port.fail(`server sent CLOSE ${frame.code}: ${frame.message}`);
            });
          } catch (err) {
            port.fail(`lifeline decode: ${(err as Error).message}`);
          }
        },
      };
    },
  };
}

let mqttClientSeq = 0;

function mqttProtocol(intervalMs: number): LeanProtocol {
  const keepaliveS = Math.max(1, Math.round(intervalMs / 1000));
  return {
    clientPings: true,
    ping: Uint8Array.of(0xc0, 0x00), // PINGREQ
    readyOnConnect: false,
    create(port) {
      // Packets from the broker are tiny (CONNACK 4 bytes, PINGRESP 2): type byte, one-byte
      // remaining length, body. A pending partial packet is kept across chunks.
      let pending = Buffer.alloc(0);
      return {
        hello() {
          const id = Buffer.from(`bench-${process.pid}-${mqttClientSeq++}`);
          const body = Buffer.concat([
            Buffer.from([0x00, 0x04]),
            Buffer.from('MQTT'),
            Buffer.from([0x04, 0x02, keepaliveS >> 8, keepaliveS & 0xff]), // level 4, clean session
            Buffer.from([id.length >> 8, id.length & 0xff]),
            id,
          ]);
          return Buffer.concat([Buffer.from([0x10, body.length]), body]);
        },
        onData(chunk) {
          let buf = pending.length ? Buffer.concat([pending, chunk]) : chunk;
          while (buf.length >= 2) {
            const len = buf[1]!;
            if (len > 127) return port.fail('mqtt: unexpected large packet from broker');
            if (buf.length < 2 + len) break;
            const type = buf[0]! >> 4;
            if (type === 13) port.roundTrip(); // PINGRESP
            else if (type === 2) {
              if (buf[3] !== 0) return port.fail(`mqtt: CONNACK refused (code ${buf[3]})`);
              port.ready();
            }
            buf = buf.subarray(2 + len);
          }
          pending = Buffer.from(buf);
        },
      };
    },
  };
}

function natsProtocol(): LeanProtocol {
  const connect = Buffer.from('CONNECT {"verbose":false,"pedantic":false,"protocol":1,"lang":"bench","version":"0"}\r\nPING\r\n');
  const pong = Buffer.from('PONG\r\n');
  return {
    clientPings: false,
    ping: new Uint8Array(0),
    readyOnConnect: false,
    create(port) {
      let text = '';
      let open = false;
      return {
        hello: () => undefined,
        onData(chunk) {
          text += chunk.toString('latin1');
          let nl: number;
          while ((nl = text.indexOf('\r\n')) >= 0) {
            const line = text.slice(0, nl);
            text = text.slice(nl + 2);
            if (line.startsWith('INFO ')) port.write(connect);
            else if (line === 'PING') {
              port.write(pong);
              port.roundTrip();
            } else if (line === 'PONG' && !open) {
              open = true;
              port.ready();
            } else if (line.startsWith('-ERR')) port.fail(`nats: ${line}`);
          }
          if (text.length > 65_536) port.fail('nats: line too long');
        },
      };
    },
  };
}
