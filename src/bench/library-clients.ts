/**
 * Load-generator clients that use the peer's own client library, where the heartbeat is driven
 * by the server and answered by the library (writing a lean WebSocket / Engine.IO client would
 * measure our code, not theirs):
 * - ws:       `ws` WebSocket; the server's ping is answered automatically (autoPong); each
 *             'ping' event is one round trip.
 * - socketio: `socket.io-client`, websocket transport only, no reconnection; each Engine.IO
 *             'ping' is one round trip (the client answers "3").
 * - lifeline-ws: a `ws` WebSocket carrying lean lifeline frames, as a browser page would: HELLO
 *             (interval T, timeout 3T, followServerPings — browser sessions follow the server's
 *             heartbeat, spec 0011); each server PING is answered and is one round trip. Should
 *             the server not lead, the client PINGs every T and each PONG is the round trip.
 * - lifeline-udp: lifeline's own UDP dialer and transport (there is no other UDP client), lean
 *             frames above it: HELLO, then a PING every T, each PONG one round trip (spec 0012).
 */
import type net from 'node:net';
import { FrameDecoder } from '../protocol/decoder.js';
import { encodeFrame, encodePing, encodePong } from '../protocol/encode.js';
import { dialUdp } from '../client/dial-udp.js';
import { DEFAULT_MAX_FRAME_SIZE } from '../protocol/frames.js';
import { parseServer } from '../client/servers.js';
import type { Transport } from '../transport/types.js';

export interface LibraryHooks {
  ready(): void;
  roundTrip(): void;
  closed(): void;
  fail(message: string): void;
}

export interface LibraryConnection {
  /** Client socket bytesRead + bytesWritten, when the library lets us see the socket. */
  bytes(): number | undefined;
}

export type LibraryClientId = 'ws' | 'socketio' | 'lifeline-ws' | 'lifeline-udp';

export type OpenLibraryClient = (url: string, localAddress: string, hooks: LibraryHooks) => LibraryConnection;

export async function libraryClient(id: LibraryClientId, intervalMs: number): Promise<OpenLibraryClient> {
  if (id === 'lifeline-ws') return lifelineWsClient(intervalMs);
  if (id === 'lifeline-udp') return lifelineUdpClient(intervalMs);
  if (id === 'ws') {
    const { WebSocket } = await import('ws');
    return (url, localAddress, hooks) => {
      const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
      ws.on('open', () => hooks.ready());
      ws.on('ping', () => hooks.roundTrip());
      ws.on('error', (err) => hooks.fail(`ws: ${err.message}`));
      ws.on('close', () => hooks.closed());
      return {
        bytes() {
          // ws keeps its socket in a private field; only used for the client-side byte count.
          const socket = (ws as unknown as { _socket?: net.Socket })._socket;
          return socket ? socket.bytesRead + socket.bytesWritten : undefined;
        },
      };
    };
  }
  const { io } = await import('socket.io-client');
  return (url, localAddress, hooks) => {
    const socket = io(url, {
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      // Passed by engine.io-client to `ws` (Node only).
      localAddress,
    } as Parameters<typeof io>[1]);
    socket.on('connect', () => hooks.ready());
    socket.on('connect_error', (err) => hooks.fail(`socket.io: ${err.message}`));
    socket.on('disconnect', () => hooks.closed());
    socket.io.on('open', () => socket.io.engine.on('ping', () => hooks.roundTrip()));
    return { bytes: () => undefined };
  };
}

async function lifelineWsClient(intervalMs: number): Promise<OpenLibraryClient> {
  const { WebSocket } = await import('ws');
  const hello = encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: intervalMs, heartbeatTimeoutMs: 3 * intervalMs, followServerPings: true });
  const ping = encodePing(1);
  return (url, localAddress, hooks) => {
    const ws = new WebSocket(url, { localAddress, perMessageDeflate: false });
    const decoder = new FrameDecoder();
    let timer: NodeJS.Timeout | undefined;
    // Server leads: its PONGs are pushed status (not answers to us), its PINGs the round trips.
    let serverLeads = false;
    ws.on('open', () => ws.send(hello));
    ws.on('message', (data: Buffer) => {
      try {
        decoder.push(data, (frame) => {
          if (frame.type === 'pong') {
            if (!serverLeads) hooks.roundTrip();
          } else if (frame.type === 'ping') {
            ws.send(encodePong(frame.id, 'ok', 0));
            hooks.roundTrip();
          } else if (frame.type === 'welcome') {
            serverLeads = frame.serverPings === true;
            hooks.ready();
            if (serverLeads) return;
            // Spread the connections' PINGs over the interval, as real clients' jitter does.
            setTimeout(() => (timer = setInterval(() => ws.send(ping), intervalMs)), Math.random() * intervalMs).unref();
          } else if (frame.type === 'close') hooks.fail(`server sent CLOSE ${frame.code}: ${frame.message}`);
        });
      } catch (err) {
        hooks.fail(`lifeline decode: ${(err as Error).message}`);
      }
    });
    ws.on('error', (err) => hooks.fail(`lifeline-ws: ${err.message}`));
    ws.on('close', () => {
      clearInterval(timer);
      hooks.closed();
    });
    return {
      bytes() {
        const socket = (ws as unknown as { _socket?: net.Socket })._socket;
        return socket ? socket.bytesRead + socket.bytesWritten : undefined;
      },
    };
  };
}

/** lifeline over UDP: the library's UDP transport (reliable stream + side path) under lean frames. */
async function lifelineUdpClient(intervalMs: number): Promise<OpenLibraryClient> {
  const hello = encodeFrame({ type: 'hello', version: 1, heartbeatIntervalMs: intervalMs, heartbeatTimeoutMs: 3 * intervalMs });
  const ping = encodePing(1);
  // localAddress: UDP needs no spread of source addresses (one server socket, no 4-tuple limit).
  return (url, _localAddress, hooks) => {
    const decoder = new FrameDecoder();
    let transport: Transport | undefined;
    let timer: NodeJS.Timeout | undefined;
    const stop = () => {
      clearInterval(timer);
      hooks.closed();
    };
    dialUdp(parseServer(url)!, { tls: undefined, maxFrameSize: DEFAULT_MAX_FRAME_SIZE }, {
      dialed(t) {
        transport = t;
        t.setHandlers({
          onData(chunk) {
            try {
              decoder.push(chunk, (frame) => {
                if (frame.type === 'pong') hooks.roundTrip();
                else if (frame.type === 'ping') t.write(encodePong(frame.id, 'ok', 0));
                else if (frame.type === 'welcome') {
                  hooks.ready();
                  // Spread the connections' PINGs over the interval, as real clients' jitter does.
                  setTimeout(() => (timer = setInterval(() => t.write(ping), intervalMs)), Math.random() * intervalMs).unref();
                } else if (frame.type === 'close') hooks.fail(`server sent CLOSE ${frame.code}: ${frame.message}`);
              });
            } catch (err) {
              hooks.fail(`lifeline decode: ${(err as Error).message}`);
            }
          },
          onDrain() {},
          onTransportClose: stop,
        });
        t.write(hello);
      },
      dialFailed(error) {
        hooks.fail(`lifeline-udp: ${error.message}`);
      },
    });
    return { bytes: () => (transport ? (transport.bytesRead ?? 0) + (transport.bytesWritten ?? 0) : undefined) };
  };
}
