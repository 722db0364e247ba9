/**
 * The frame union: what travels on a lifeline connection, independent of bytes.
 * PROTOCOL.md is the normative spec for the byte layout (encode.ts / decoder.ts implement it).
 * Pure module: no `node:*`, no `Buffer` — payloads are `Uint8Array` so the browser client reuses it.
 */

/** Protocol version this implementation speaks. HELLO proposes it, WELCOME confirms it. */
export const PROTOCOL_VERSION = 1;

/** Default maximum encoded size of one frame (header + body), in bytes: 1 MiB. */
export const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024;

/** Ping ids are 5 bits on the wire (PING and PONG are compact frames), so they wrap at 32. */
export const PING_ID_MODULO = 32;

export type PeerStatus = 'ok' | 'busy' | 'draining';
export const PEER_STATUSES: readonly PeerStatus[] = ['ok', 'busy', 'draining'];

/** Optional HELLO / WELCOME fields, carried as tagged extensions (see PROTOCOL.md §Extensions). */
export interface HelloFrame {
  type: 'hello';
  version: number;
  /** Proposed heartbeat interval, ms; 0 = "use the server's default". */
  heartbeatIntervalMs: number;
  /** Proposed heartbeat timeout, ms; 0 = "use the server's default". */
  heartbeatTimeoutMs: number;
  /** Opaque credential for a later auth hook; absent when not sent. */
  token?: Uint8Array;
  /** Session to resume (Reconnect/resume issue); absent for a fresh session. */
  resumeSessionId?: Uint8Array;
  /** Highest DATA sequence number the client received on the resumed session. */
  resumeLastSeq?: number;
  /** Largest frame the client accepts, bytes (absent: the server assumes its own limit). */
  maxFrameSize?: number;
  /** The client asks the server to keep its session through a transport loss (resume). */
  resumable?: boolean;
  /** The client can let the server lead the heartbeat (PROTOCOL.md §8.3): it answers server PINGs and waits longer before its own. */
  followServerPings?: boolean;
}

export interface WelcomeFrame {
  type: 'welcome';
  version: number;
  /** Heartbeat interval in force for this connection, ms (server clamped the proposal). */
  heartbeatIntervalMs: number;
  /** Heartbeat timeout in force for this connection, ms. */
  heartbeatTimeoutMs: number;
  /** Server-assigned session id (opaque bytes). */
  sessionId?: Uint8Array;
  /** Largest frame the server accepts, bytes. */
  maxFrameSize?: number;
  /** Whether a requested resume succeeded. */
  resumed?: boolean;
  /** Highest DATA sequence number the server received on the resumed session. */
  resumeLastSeq?: number;
  /** How long the server keeps this session after a transport loss, ms (absent: not resumable). */
  resumeWindowMs?: number;
  /** The server leads the heartbeat on this connection (only when HELLO offered followServerPings). */
  serverPings?: boolean;
  /**
   * The server understands PRESENCE (PROTOCOL.md §6.11) and keeps at most this many presence
   * subscriptions per connection (≥ 1). Absent: never send PRESENCE to this server.
   */
  presence?: number;
}

export interface DataFrame {
  type: 'data';
  /** Per-direction sequence number, starting at 1. */
  seq: number;
  payload: Uint8Array;
}

/**
 * Cumulative acknowledgement of DATA (resume, docs/spec/0006-resume.md): every DATA with
 * seq <= `seq` has been received in order and need not be kept for replay.
 */
export interface AckFrame {
  type: 'ack';
  seq: number;
}

export interface PingFrame {
  type: 'ping';
  /** 0..31 */
  id: number;
}

export interface PongFrame {
  type: 'pong';
  /** Echo of the PING id, 0..31 */
  id: number;
  /** The PONG sender's own availability. */
  status: PeerStatus;
  /** The PONG sender's load, 0..255 (255 = saturated). */
  load: number;
}

export interface GoawayFrame {
  type: 'goaway';
  code: GoawayCode;
  message: string;
  /** "host:port" to reconnect to instead, or absent. */
  redirect?: string;
  /** Ask the peer to wait this long before reconnecting, ms (0 = no request). */
  retryAfterMs: number;
}

export interface CloseFrame {
  type: 'close';
  code: CloseCode;
  message: string;
}

/** An identity's presence as PRESENCE STATE carries it; 'denied': the server will not tell this connection. */
export type WirePresenceState = 'offline' | 'online' | 'away' | 'denied';

/**
 * PRESENCE (PROTOCOL.md §6.11): a client subscribes to / unsubscribes from identities' presence;
 * the server answers with their states and sends each change after. 1..MAX_PRESENCE_ENTRIES per frame.
 */
export type PresenceFrame =
  | { type: 'presence'; kind: 'subscribe' | 'unsubscribe'; ids: string[] }
  | { type: 'presence'; kind: 'state'; states: Array<{ id: string; state: WirePresenceState }> };

export type Frame =
  | HelloFrame
  | WelcomeFrame
  | DataFrame
  | PingFrame
  | PongFrame
  | GoawayFrame
  | CloseFrame
  | AckFrame
  | PresenceFrame;

export type FrameType = Frame['type'];

/**
 * Why a connection ends, as sent in CLOSE. Numeric values are the wire codes (PROTOCOL.md);
 * never renumber. Unknown numbers received from a newer peer decode as 'unknown'.
 */
export const CLOSE_CODES = {
  normal: 0,
  'protocol-error': 1,
  'handshake-timeout': 2,
  'heartbeat-timeout': 3,
  'unsupported-version': 4,
  'server-full': 5,
  'going-away': 6,
  'auth-failed': 7,
  'too-many-pings': 8,
  'internal-error': 9,
  /** The receiver did not read what the sender sent (docs/spec/0003 §Slow consumers). */
  'slow-consumer': 10,
  unknown: 255,
} as const;
export type CloseCode = keyof typeof CLOSE_CODES;

/** Why a GOAWAY was sent. Numeric values are wire codes; never renumber. */
export const GOAWAY_CODES = {
  draining: 0,
  'too-many-pings': 1,
  shutdown: 2,
  overloaded: 3,
  'max-age': 4,
  unknown: 255,
} as const;
export type GoawayCode = keyof typeof GOAWAY_CODES;

// ---------------------------------------------------------------------------------------------
// Wire constants shared by encode.ts and decoder.ts (PROTOCOL.md §3–§7). Never renumber.
// ---------------------------------------------------------------------------------------------

/** Long-frame type numbers: the low 6 bits of a `00tttttt` type byte. 0 and 8..63 are unassigned. */
export const LONG_FRAME_TYPES = { hello: 1, welcome: 2, data: 3, goaway: 4, close: 5, ack: 6, presence: 7 } as const;

/** First two HELLO body bytes, "LL": lets a server tell a lifeline peer from a stray client. */
export const HELLO_MAGIC_0 = 0x4c;
export const HELLO_MAGIC_1 = 0x4c;

/** Extension tags of HELLO (PROTOCOL.md §6.1). */
export const HELLO_TAGS = { token: 1, resumeSessionId: 2, resumeLastSeq: 3, maxFrameSize: 4, resumable: 5, followServerPings: 6 } as const;
/** Extension tags of WELCOME (PROTOCOL.md §6.2). */
export const WELCOME_TAGS = { sessionId: 1, maxFrameSize: 2, resumed: 3, resumeLastSeq: 4, resumeWindowMs: 5, serverPings: 6, presence: 7 } as const;

/** PRESENCE sub-kinds (PROTOCOL.md §6.11): the first body byte. Never renumber. */
export const PRESENCE_KINDS = { subscribe: 0, unsubscribe: 1, state: 2 } as const;
/** PRESENCE STATE states: wire numbers. Never renumber. */
export const PRESENCE_STATES = { offline: 0, online: 1, away: 2, denied: 3 } as const;
/** At most this many ids (or states) in one PRESENCE frame. */
export const MAX_PRESENCE_ENTRIES = 1024;
/** An identity id in PRESENCE is 1..256 bytes of UTF-8. */
export const MAX_PRESENCE_ID_BYTES = 256;

/** GOAWAY / CLOSE messages are capped so a close reason can never be a large allocation. */
export const MAX_MESSAGE_BYTES = 1024;
/** Session ids (HELLO resumeSessionId, WELCOME sessionId) are 1..64 bytes. */
export const MAX_SESSION_ID_BYTES = 64;
/** The body-length varint is at most 4 bytes, so a body is at most 2^28 - 1 bytes. */
export const MAX_BODY_LENGTH = 2 ** 28 - 1;

/**
 * A limit for the frames a server reads before it has accepted a HELLO, bytes: 16 KiB. Enough for
 * a HELLO carrying a 4096-character token (lifeline's tokenAuthenticator refuses longer ones) with
 * room to spare for a larger custom token, a session id and every extension (≈ 130 bytes), while
 * an unauthenticated peer can make the server hold only 16 KiB instead of maxFrameSize (1 MiB).
 * Applied with FrameDecoder.setMaxFrameSize() (decoder.ts); never above the receiver's maxFrameSize.
 */
export const HANDSHAKE_MAX_FRAME_SIZE = 16 * 1024;
