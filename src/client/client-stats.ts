/**
 * `client.stats()`: what a client knows about its connection, as plain numbers (issue 13 §4).
 * The core bumps these fields where its events already happen (a send, a delivered message, an
 * open); the heartbeat figures are read from the current connection when asked. Shared by the
 * Node and browser clients (runtime-neutral).
 */
import type { PeerStatus } from '../protocol/frames.js';

export interface ClientStats {
  /** Last heartbeat round trip on the current connection, ms (undefined before its first PONG). */
  rttMs: number | undefined;
  /** Smoothed RTT (RFC 6298 style), ms. */
  smoothedRttMs: number | undefined;
  /** ms since anything was received from the server (undefined while not connected). */
  lastHeardMs: number | undefined;
  /** The server's status and load (0..255) from its latest PONG. */
  serverStatus: PeerStatus;
  serverLoad: number;
  /** Connections opened (handshakes completed), the first one included. */
  connects: number;
  /** Connections opened after the first one. */
  reconnects: number;
  /** Of those, the ones that resumed the session (docs/spec/0006-resume.md). */
  resumes: number;
  /** Messages accepted by send() (sent, or queued for the next connection) and their payload bytes. */
  messagesSent: number;
  bytesSent: number;
  /** Messages delivered to 'message' and their payload bytes. */
  messagesReceived: number;
  bytesReceived: number;
}

/** The counted part of ClientStats (plain integer fields). */
export class ClientCounts {
  connects = 0;
  resumes = 0;
  messagesSent = 0;
  bytesSent = 0;
  messagesReceived = 0;
  bytesReceived = 0;

  sent(bytes: number): void {
    this.messagesSent++;
    this.bytesSent += bytes;
  }

  received(bytes: number): void {
    this.messagesReceived++;
    this.bytesReceived += bytes;
  }

  opened(resumed: boolean): void {
    this.connects++;
    if (resumed) this.resumes++;
  }
}
