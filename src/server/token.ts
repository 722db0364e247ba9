/**
 * lifeline's own signed tokens, for applications that have no authentication yet
 * (docs/spec/0013-identity.md §Signed tokens): an id and an expiry, signed with HMAC-SHA256
 * under a secret only the servers (and whoever issues tokens) know. Not a JWT — no header, no
 * algorithm choice, nothing to negotiate — and not encrypted: the id is readable by anyone
 * who holds the token.
 *
 *   token   = base64url(payload) "." base64url(HMAC-SHA256(secret, "lifeline-token-v1." base64url(payload)))
 *   payload = UTF-8 JSON {"v":1,"id":"alice","exp":1767225600000}   (exp: ms since the Unix epoch)
 *
 * verifyToken checks, in this order: the shape (two canonical base64url parts, at most
 * MAX_TOKEN_LENGTH characters), the signature (crypto.timingSafeEqual over the 32 MAC bytes,
 * before the payload is parsed at all), the payload's fields, the expiry. Every failure is a
 * TokenError with a `reason`; nothing else is thrown for any input.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { InvalidOptionError, LifelineError } from '../errors.js';
import type { Authenticate, Identity } from './auth.js';

/** Longer inputs are refused before any work (a HELLO token may be up to a frame long). */
export const MAX_TOKEN_LENGTH = 4096;
/** Shorter secrets are refused: 16 bytes = 128 bits, the least an HMAC key should have. */
export const MIN_SECRET_BYTES = 16;
/** An id longer than this (UTF-8) is refused by createToken. */
export const MAX_TOKEN_ID_BYTES = 1024;

/** Domain separation: a MAC made with the same secret for another purpose is never a token. */
const MAC_PREFIX = 'lifeline-token-v1.';
const MAC_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

export type TokenSecret = string | Uint8Array;

/** Why verifyToken refused a token (server-side only: the client is told "unauthorized"). */
export type TokenErrorReason = 'missing' | 'malformed' | 'bad-signature' | 'expired';

/** verifyToken's only error. */
export class TokenError extends LifelineError {
  readonly reason: TokenErrorReason;

  constructor(reason: TokenErrorReason, message: string) {
    super('LL_ERR_INVALID_TOKEN', `invalid token: ${message}`);
    this.reason = reason;
  }
}

export interface CreateTokenOptions {
  /** The signing secret (a string is taken as UTF-8); at least MIN_SECRET_BYTES bytes. */
  secret: TokenSecret;
  /** Who the token names (becomes `session.identity.id`). Non-empty, ≤ MAX_TOKEN_ID_BYTES bytes UTF-8. */
  id: string;
  /** How long the token is valid from `now()`, ms. */
  ttlMs: number;
  /** Wall-clock time, ms since the Unix epoch. Default Date.now. */
  now?: () => number;
}

export interface VerifyTokenOptions {
  secret: TokenSecret;
  /** Wall-clock time, ms since the Unix epoch. Default Date.now. */
  now?: () => number;
}

/** What a valid token says; also the identity tokenAuthenticator answers with. */
export interface TokenIdentity extends Identity {
  readonly id: string;
  /** When the token stops being valid, ms since the Unix epoch. */
  readonly expiresAt: number;
}

/** A signed token for `id`, valid for `ttlMs`. Throws InvalidOptionError for unusable arguments. */
export function createToken(options: CreateTokenOptions): string {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('createToken', 'needs { secret, id, ttlMs }');
  const key = secretBytes(options.secret, 'createToken.secret');
  const { id, ttlMs } = options;
  if (typeof id !== 'string' || id === '') throw new InvalidOptionError('createToken.id', 'must be a non-empty string');
  if (Buffer.byteLength(id, 'utf8') > MAX_TOKEN_ID_BYTES) throw new InvalidOptionError('createToken.id', `must be at most ${MAX_TOKEN_ID_BYTES} bytes of UTF-8`);
  if (typeof ttlMs !== 'number' || !Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new InvalidOptionError('createToken.ttlMs', `must be a positive number of ms, got ${String(ttlMs)}`);
  }
  const exp = Math.round(wallNow(options.now, 'createToken.now') + ttlMs);
  if (!Number.isSafeInteger(exp)) throw new InvalidOptionError('createToken.ttlMs', 'puts the expiry beyond 2^53 - 1 ms');
  const payload = Buffer.from(JSON.stringify({ v: 1, id, exp }), 'utf8').toString('base64url');
  return `${payload}.${mac(key, payload).toString('base64url')}`;
}

/**
 * The id and expiry of a valid token (a string, or its bytes as HELLO carries them). Throws
 * TokenError — and nothing else, whatever the input — when it is missing, malformed, not
 * signed with `secret`, or expired. Throws InvalidOptionError for an unusable secret.
 */
export function verifyToken(token: string | Uint8Array | undefined, options: VerifyTokenOptions): TokenIdentity {
  const key = secretBytes(options?.secret, 'verifyToken.secret');
  return verifyWith(key, token, options?.now);
}

/**
 * An `authenticate` hook for createServer that accepts tokens made by createToken with
 * `secret`: the session's identity is `{ id, expiresAt }`. The expiry is checked at each
 * handshake (connect, reconnect, resume), not during a connection.
 */
export function tokenAuthenticator(secret: TokenSecret, options: { now?: () => number } = {}): Authenticate {
  const key = secretBytes(secret, 'tokenAuthenticator.secret');
  const now = options.now;
  if (now !== undefined && typeof now !== 'function') throw new InvalidOptionError('tokenAuthenticator.now', 'must be a function returning ms since the Unix epoch');
  return (token) => verifyWith(key, token, now);
}

function verifyWith(key: Buffer, token: unknown, now: (() => number) | undefined): TokenIdentity {
  if (token === undefined || token === null) throw new TokenError('missing', 'no token was presented');
  let text: string;
  if (typeof token === 'string') text = token;
  else if (token instanceof Uint8Array) text = token.byteLength > MAX_TOKEN_LENGTH ? '' : Buffer.from(token.buffer, token.byteOffset, token.byteLength).toString('latin1');
  else throw new TokenError('malformed', `expected a string or bytes, got ${typeof token}`);
  if (text === '' || text.length > MAX_TOKEN_LENGTH) throw new TokenError('malformed', `must be 1..${MAX_TOKEN_LENGTH} characters`);
  const dot = text.indexOf('.');
  const payload = text.slice(0, dot);
  const signature = text.slice(dot + 1);
  if (dot < 0 || !canonicalBase64url(payload) || !canonicalBase64url(signature)) {
    throw new TokenError('malformed', 'expected two base64url parts separated by one "."');
  }
  const given = Buffer.from(signature, 'base64url');
  if (given.byteLength !== MAC_BYTES) throw new TokenError('malformed', `the signature must be ${MAC_BYTES} bytes`);
  if (!timingSafeEqual(mac(key, payload), given)) throw new TokenError('bad-signature', 'the signature does not match (another secret, or the token was altered)');
  const claims = parseClaims(Buffer.from(payload, 'base64url').toString('utf8'));
  const nowMs = wallNow(now, 'now');
  if (nowMs >= claims.exp) throw new TokenError('expired', `expired ${Math.round(nowMs - claims.exp)} ms ago`);
  return { id: claims.id, expiresAt: claims.exp };
}

/** A correctly signed payload's fields (only a token made with our secret gets this far). */
function parseClaims(json: string): { id: string; exp: number } {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new TokenError('malformed', 'the payload is not JSON');
  }
  const claims = value as { v?: unknown; id?: unknown; exp?: unknown } | null;
  if (typeof claims !== 'object' || claims === null || claims.v !== 1 || typeof claims.id !== 'string' || claims.id === '' || !Number.isSafeInteger(claims.exp)) {
    throw new TokenError('malformed', 'the payload is not {"v":1,"id":…,"exp":…}');
  }
  return { id: claims.id, exp: claims.exp as number };
}

/** base64url without padding, and the one encoding of its bytes (no second spelling of a token). */
function canonicalBase64url(text: string): boolean {
  return BASE64URL.test(text) && Buffer.from(text, 'base64url').toString('base64url') === text;
}

function mac(key: Buffer, payload: string): Buffer {
  return createHmac('sha256', key).update(MAC_PREFIX).update(payload).digest();
}

function secretBytes(secret: unknown, option: string): Buffer {
  let bytes: Buffer;
  if (typeof secret === 'string') bytes = Buffer.from(secret, 'utf8');
  else if (secret instanceof Uint8Array) bytes = Buffer.from(secret);
  else throw new InvalidOptionError(option, 'must be a string or bytes');
  if (bytes.byteLength < MIN_SECRET_BYTES) throw new InvalidOptionError(option, `must be at least ${MIN_SECRET_BYTES} bytes, got ${bytes.byteLength}`);
  return bytes;
}

function wallNow(now: unknown, option: string): number {
  if (now === undefined) return Date.now();
  if (typeof now !== 'function') throw new InvalidOptionError(option, 'must be a function returning ms since the Unix epoch');
  const value: unknown = now();
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new InvalidOptionError(option, `must return a finite number of ms, got ${String(value)}`);
  return value;
}
