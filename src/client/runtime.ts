/**
 * ClientRuntime: what the shared client core (core.ts) needs from its platform. Node
 * (client.ts) and the browser (browser/client.ts) each pass one; nothing here imports node:*.
 */
import type { Cancel } from '../time/clock.js';
import type { NatStateStore } from '../liveness/nat-store.js';
import type { NetKeepaliveApi } from '../transport/socket-tuning.js';
import type { DialFn } from './link.js';
import type { ResolvedClientOptions } from './options.js';

export type DiagnosticName = 'clientUnavailable' | 'clientAvailable' | 'clientReconnecting' | 'clientAdaptive';

export interface ClientRuntime<Message = Uint8Array> {
  dial: DialFn;
  /** Awaited before the first dial (Node: load net-keepalive). */
  prepare?(): Promise<NetKeepaliveApi | undefined>;
  /** The adaptive learner's default store (Node: JSON file; browser: localStorage / memory). */
  defaultNatStore(options: ResolvedClientOptions, onError: (err: unknown) => void): NatStateStore;
  /** Diagnostics (Node: node:diagnostics_channel); `message` is built only when someone listens. */
  publish(name: DiagnosticName, message: () => object): void;
  /** Keep the runtime alive while waiting to reconnect (Node: a ref'd interval; browser: no-op). */
  holdOpen(): Cancel;
  toPayload(data: Uint8Array | string): Uint8Array;
  /** What 'message' / 'undelivered' listeners get (Node: a Buffer view; browser: the Uint8Array). */
  toMessage(bytes: Uint8Array): Message;
}

/** Where the core's events go: the public Client (an EventEmitter, or the browser's Emitter). */
export interface ClientSink {
  emit(event: string, ...args: unknown[]): boolean;
}
