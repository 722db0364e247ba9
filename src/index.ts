/** lifeline's public API: only what we promise to keep (STYLE.md §1.9). */
export { createServer, LifelineServer } from './server/server.js';
export type { ServerOptions } from './server/options.js';
export { SERVER_DEFAULTS } from './server/options.js';
export { Session } from './server/session.js';
export { connect, Client } from './client/client.js';
export type { ClientOptions } from './client/options.js';
export { CLIENT_DEFAULTS } from './client/options.js';
export type { OpenInfo, ClientState } from './client/client.js';
export type { CloseReason, CloseReasonCode, DetectedBy } from './connection/close-reason.js';
export type { HealthReport, PongInfo } from './connection/connection.js';
export type { PeerStatus, CloseCode, GoawayCode, GoawayFrame } from './protocol/frames.js';
export { PROTOCOL_VERSION, DEFAULT_MAX_FRAME_SIZE } from './protocol/frames.js';
export { LifelineError, ProtocolError, InvalidOptionError } from './errors.js';
export type { ErrorCode } from './errors.js';
