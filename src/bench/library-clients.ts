/**
 * Load-generator clients that use the peer's own client library, where the heartbeat is driven
 * by the server and answered by the library (writing a lean WebSocket / Engine.IO client would
 * measure our code, not theirs):
 * - ws:       `ws` WebSocket; the server's ping is answered automatically (autoPong); each
 *             'ping' event is one round trip.
 * - socketio: `socket.io-client`, websocket transport only, no reconnection; each Engine.IO
 *             'ping' is one round trip (the client answers "3").
 */
import type net from 'node:net';

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

export type LibraryClientId = 'ws' | 'socketio';

export type OpenLibraryClient = (url: string, localAddress: string, hooks: LibraryHooks) => LibraryConnection;

export async function libraryClient(id: LibraryClientId): Promise<OpenLibraryClient> {
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
