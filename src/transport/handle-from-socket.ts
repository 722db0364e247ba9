/**
 * Take the libuv TCP handle out of a net.Socket that has just been upgraded (node:http's
 * 'upgrade' event), so the connection can run on tcp-handle.ts's HandleTransport without the
 * socket (spec 0009's saving — ≈ 0.85 KB of heap per connection — for WebSocket connections;
 * docs/spec/0011-transports.md §Lean WebSocket server).
 *
 * At the 'upgrade' event node:http has let go of the socket (its parser unconsumed the handle
 * and removed its listeners; the connection is off the server's request-timeout list), and
 * nothing has been read past the request: the rest of that read is the event's `head`. The
 * socket is then emptied of its handle the way net.Socket's own _destroy leaves it (`_handle`
 * null, the handle's `onread` and owner link cut), and destroyed: it emits 'close' and counts
 * itself off the http server's connections, while the handle lives on. From here the server no
 * longer counts the WebSocket among its connections, as with lean TCP connections, which never
 * reach net.Server at all.
 *
 * Anything unexpected — a TLS socket (its handle is the TLS wrap), bytes already buffered in
 * either direction, Node without the stream bindings — returns undefined and the caller keeps
 * the net.Socket (TcpTransport).
 */
import type net from 'node:net';
import { handleBindings, isUsableTcpHandle, type TcpHandle } from './tcp-handle.js';

type SocketInternals = net.Socket & { _handle: unknown; encrypted?: boolean };

/** net.Socket links its handle back to itself through this symbol (found by its description once). */
let ownerSymbol: symbol | null | undefined;

function noop(): void {}

/** The socket's handle, now detached from it, or undefined (the socket is left as it was). */
export function takeHandle(socket: net.Socket): TcpHandle | undefined {
  if (handleBindings() === null) return undefined;
  const s = socket as SocketInternals;
  if (s.encrypted === true || s.destroyed || s.connecting || s.readableLength > 0 || s.writableLength > 0) return undefined;
  const handle = s._handle as (TcpHandle & { readStop?: () => number; [key: symbol]: unknown }) | null;
  if (!isUsableTcpHandle(handle) || typeof handle.readStop !== 'function') return undefined;
  // The socket was reading (for node:http's parser); HandleTransport starts its own reads.
  if (handle.readStop() < 0) return undefined;
  handle.onread = noop;
  if (ownerSymbol === undefined) ownerSymbol = Object.getOwnPropertySymbols(handle).find((sym) => sym.description === 'owner_symbol') ?? null;
  if (ownerSymbol !== null && handle[ownerSymbol] === socket) handle[ownerSymbol] = undefined;
  s._handle = null;
  // Without a handle, destroy() closes nothing: it counts the socket off its server and emits 'close'.
  socket.destroy();
  return handle;
}
