/** Values the Client reports in its events and state (client.ts). */
import type { PeerStatus } from '../protocol/frames.js';
import type { UnavailableReason } from '../liveness/availability.js';

export interface OpenInfo {
  sessionId: string;
  /** Heartbeat interval in force (the server may have clamped the proposal), ms. */
  heartbeatInterval: number;
  /** Heartbeat timeout in force, ms. */
  heartbeatTimeout: number;
  /** Whether a previous session was resumed (always false until resume lands). */
  resumed: boolean;
  /** The server this connection reached: `host:port` (IPv6 as `[::1]:port`) over TCP, the URL (`tls://…`, `ws://host:port/path`) otherwise. */
  server: string;
}

/** 'reconnecting': a new attempt is planned. */
export interface ReconnectingInfo {
  /** Attempts since the last stable connection, this one included (1, 2, …). */
  attempt: number;
  /** How long the client waits before dialling, ms. */
  delayMs: number;
  /** Where it will dial: `host:port`, or the URL for TLS and WebSocket. */
  server: string;
}

/**
 * `reconnecting`: waiting for the backoff delay, or letting the previous connection finish
 * closing before the next dial (send() queues in this state, as while connecting).
 */
export type ClientState = 'connecting' | 'handshake' | 'open' | 'reconnecting' | 'closing' | 'closed';

/** Why the server is not serving us, as the heartbeat showed it. */
export interface UnavailableInfo {
  reason: UnavailableReason;
  /** The server's last reported status and load. */
  status: PeerStatus;
  load: number;
  /** How long the PING waited (no-answer / slow), ms. */
  waitedMs?: number;
}
