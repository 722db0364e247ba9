/**
 * CloseReason: the single value a connection's one `close` event carries (STYLE.md §3.13).
 * `code` says how it ended from *this* side's point of view; `remoteCode` is what the peer put in
 * its CLOSE frame, when it sent one. Also the two mappings from what ended a connection to its
 * reason that need no connection state: a CLOSE received, a transport lost.
 */
import type { CloseCode, GoawayCode, GoawayFrame } from '../protocol/frames.js';
import type { TransportCloseCause } from '../transport/types.js';

export type CloseReasonCode =
  /** Nothing was received for the heartbeat timeout: the peer (or the path to it) is dead. */
  | 'heartbeat-timeout'
  /** The peer sent CLOSE. See `remoteCode` for its reason. */
  | 'remote-close'
  /** We called close(). */
  | 'local-close'
  /** The client left a server that stayed unavailable, to try the next one (reconnect issue). */
  | 'failover'
  /**
   * Adaptive heartbeat (docs/spec/0007): the client dropped the connection to propose a longer
   * heartbeat interval on a new one; it reconnects at once and resumes the session.
   */
  | 'renegotiate'
  /** The peer sent bytes that break PROTOCOL.md (or we received CLOSE protocol-error). */
  | 'protocol-error'
  /** No valid HELLO (server) / WELCOME (client) within the handshake timeout. */
  | 'handshake-timeout'
  /** The peer sent GOAWAY and then closed (drain, shutdown, too many pings…). */
  | 'goaway'
  /** The transport closed without a CLOSE frame (TCP FIN: e.g. the peer process exited). */
  | 'transport-closed'
  /** The transport failed (ECONNRESET, ETIMEDOUT…); `error` holds the cause. */
  | 'transport-error'
  /** The client could not establish the transport (ECONNREFUSED, DNS…). */
  | 'connect-failed'
  /** No protocol version in common. */
  | 'unsupported-version'
  /** The server refused the connection: it is at maxConnections. */
  | 'server-full'
  /** The server is shutting down (server.close()). */
  | 'server-shutdown'
  /**
   * Server side: we sent the peer away for pinging too often (GOAWAY + CLOSE too-many-pings;
   * docs/spec/0003-enforcement-and-drain.md). The peer sees `goaway` with remoteCode
   * `too-many-pings`.
   */
  | 'too-many-pings'
  /**
   * The peer did not read what we sent: the bytes waiting for it passed the ceiling, or it took
   * none of them for the heartbeat timeout (docs/spec/0003-enforcement-and-drain.md §Slow
   * consumers). Sent as CLOSE slow-consumer, best effort: it queues behind what the peer did not read.
   */
  | 'slow-consumer';

export type DetectedBy = 'heartbeat' | 'transport' | 'protocol' | 'handshake-timer' | 'peer' | 'application' | 'send-buffer';

export interface CloseReason {
  code: CloseReasonCode;
  /** Human-readable explanation. */
  message: string;
  /** Who ended it: us, the peer (a frame it sent), or the transport underneath. */
  initiator: 'local' | 'peer' | 'transport';
  /** Which mechanism noticed. */
  detectedBy: DetectedBy;
  /** ms between the last frame received and the close (how stale the peer was). */
  sinceLastSeenMs: number;
  /** The code from the peer's CLOSE frame, when it sent one. */
  remoteCode?: CloseCode;
  /** The underlying error, for transport failures. */
  error?: Error;
  /** The GOAWAY the peer sent before the close: where to go next and when (reconnect uses it). */
  goaway?: { code: GoawayCode; redirect?: string; retryAfterMs: number };
  /** slow-consumer: the bytes that were waiting for the peer when we gave up on it. */
  bufferedBytes?: number;
}

/** The reason for a CLOSE the peer sent (the handshake-time codes keep their name). */
export function remoteCloseReason(code: CloseCode, message: string, goaway: GoawayFrame | undefined): CloseReason {
  const reasonCode: CloseReasonCode = goaway
    ? 'goaway'
    : code === 'unsupported-version' || code === 'server-full' || code === 'protocol-error' || code === 'handshake-timeout'
      ? code
      : code === 'going-away'
        ? 'server-shutdown'
        : 'remote-close';
  return {
    code: reasonCode,
    message: message || (goaway ? `peer sent GOAWAY (${goaway.code})` : `peer closed (${code})`),
    initiator: 'peer',
    detectedBy: 'peer',
    remoteCode: code,
    sinceLastSeenMs: 0,
    ...(goaway
      ? { goaway: { code: goaway.code, retryAfterMs: goaway.retryAfterMs, ...(goaway.redirect ? { redirect: goaway.redirect } : {}) } }
      : {}),
  };
}

/** The reason when the transport went away with no reason decided before (no CLOSE either way). */
export function transportCloseReason(cause: TransportCloseCause, sinceLastSeenMs: number): CloseReason {
  if (cause.kind === 'error') {
    const error = cause.error;
    return {
      code: 'transport-error',
      message: error ? `transport failed: ${error.message}` : 'transport failed',
      initiator: 'transport',
      detectedBy: 'transport',
      sinceLastSeenMs,
      ...(error ? { error } : {}),
    };
  }
  return {
    code: 'transport-closed',
    message: 'the peer closed the transport without a CLOSE frame (process exit or crash?)',
    initiator: 'transport',
    detectedBy: 'transport',
    sinceLastSeenMs,
  };
}
