/** lifeline's public API: only what we promise to keep (STYLE.md §1.9). */
export { createServer, LifelineServer } from './server/server.js';
export type { ServerStats } from './server/server.js';
export type { ServerOptions, DrainOptions } from './server/options.js';
export type { ListenOptions, ListenTransport, ListenerAddress, ClientErrorInfo } from './server/listeners.js';
export type { WebSocketServerOptions } from './server/listen-ws.js';
export type { TransportKind } from './transport/types.js';
export { SERVER_DEFAULTS } from './server/options.js';
export { Session } from './server/session.js';
export type { Identity, Authenticate, AuthInfo, AuthResult, AuthFailureInfo, AuthFailureCode } from './server/auth.js';
export { createToken, verifyToken, tokenAuthenticator, TokenError } from './server/token.js';
export type { CreateTokenOptions, VerifyTokenOptions, TokenIdentity, TokenSecret, TokenErrorReason } from './server/token.js';
export { Presence } from './presence/presence.js';
export type { PresenceOptions } from './presence/presence.js';
export { MemoryPresenceStore } from './presence/memory-store.js';
export type { MemoryPresenceStoreOptions } from './presence/memory-store.js';
export { RedisPresenceStore, REDIS_PRESENCE_DEFAULTS } from './presence/redis-store.js';
export type { RedisPresenceStoreOptions } from './presence/redis-store.js';
export type {
  PresenceState,
  DeviceState,
  PresenceDevice,
  PresenceInfo,
  PresenceChange,
  SendResult,
  NodeDelivery,
  PresenceStore,
  PresenceNodeStore,
  PresenceStoreHost,
  StoredDevice,
  PresenceSession,
  CanSubscribe,
  PresenceWarning,
} from './presence/types.js';
export { connect, Client } from './client/client.js';
export type { ClientOptions, ClientToken, ReconnectOptions } from './client/options.js';
export { CLIENT_DEFAULTS, RECONNECT_DEFAULTS } from './client/options.js';
export type { OpenInfo, ClientState, UnavailableInfo, ReconnectingInfo } from './client/client.js';
export type { ClientStats } from './client/client-stats.js';
export type { PresenceUpdate } from './client/client.js';
export type { WirePresenceState, PresenceFrame } from './protocol/frames.js';
export type { ServerAddress, ServerSpec, DialTransport } from './client/servers.js';
export { Backoff, BACKOFF_DEFAULTS, applyRetryAfter } from './liveness/backoff.js';
export type { BackoffOptions } from './liveness/backoff.js';
export type { DetectorSpec } from './liveness/detectors/types.js';
export type { UnavailableReason } from './liveness/availability.js';
export { createEventLoopHealth, EVENT_LOOP_HEALTH_DEFAULTS } from './server/health.js';
export type { HealthSampler, EventLoopHealthOptions } from './server/health.js';
export { RECOMMENDED_SOCKET_TUNING } from './transport/socket-tuning.js';
export type { SocketTuningOptions, TcpKeepaliveOptions, AppliedSocketOptions } from './transport/socket-tuning.js';
export type { CloseReason, CloseReasonCode, DetectedBy } from './connection/close-reason.js';
export type { HealthReport, PongInfo } from './connection/connection.js';
export type { PeerStatus, CloseCode, GoawayCode, GoawayFrame } from './protocol/frames.js';
export { PROTOCOL_VERSION, DEFAULT_MAX_FRAME_SIZE } from './protocol/frames.js';
export { LifelineError, ProtocolError, InvalidOptionError, BufferOverflowError } from './errors.js';
export type { ErrorCode } from './errors.js';
/** Logging (docs/spec/0016-logging.md): the `logger` option's shape, and the tag log lines name a session by. */
export type { Logger, LogFn, LogLevel } from './util/log.js';
export { sessionTag } from './util/session-tag.js';
