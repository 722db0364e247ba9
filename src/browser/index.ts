export { connect, Client, type BrowserClientOptions } from './client.js';
export { LifelineError, ProtocolError, InvalidOptionError, BufferOverflowError } from '../errors.js';
export type { CloseReason } from '../connection/close-reason.js';
export type { OpenInfo, ClientState, UnavailableInfo, ReconnectingInfo } from '../client/types.js';
export type { ClientStats } from '../client/client-stats.js';
export type { PresenceUpdate } from '../client/presence.js';
