/**
 * The server's authentication hook (docs/spec/0013-identity.md): types, and the one call that
 * turns whatever `authenticate` did — returned, threw, resolved, rejected — into an outcome.
 * The policy around it (when the hook runs, the refusal, resume by identity) is peer.ts's.
 *
 * Like socket.io's `io.use((socket, next) => …)` and gRPC's per-call credentials, the hook is
 * the application's: lifeline only carries the token (HELLO `token`, PROTOCOL.md §6.5.1), gives
 * the hook the connection's address, and keeps the identity it answers with on the Session.
 * Unlike socket.io, a refusal never carries the hook's reason to the client (CLOSE auth-failed
 * "unauthorized"): the reason goes to the server's 'authFailure' event only.
 */
import type { TransportKind } from '../transport/types.js';

/**
 * Who a client is, as the `authenticate` hook answered. `id` is what the server compares (a
 * resume must come from the same id) and what presence will key on; any other fields of the
 * object the hook returned are kept as they are (`session.identity`), e.g. roles or an expiry.
 */
export interface Identity {
  /** Non-empty. */
  readonly id: string;
}

/** What `authenticate` may return: an identity, its id alone (a string), or nothing (refused). */
export type AuthResult = Identity | string | undefined | null | false;

/** Where the connection comes from, for the hook (e.g. to allow a network without a token). */
export interface AuthInfo {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  /** 'tcp', 'tls' or 'ws' (TLS or not). */
  transport: TransportKind;
}

/**
 * The server's `authenticate` option. `token` is HELLO's token, byte for byte (undefined when the
 * client sent none; lifeline's client sends a string token as UTF-8). Throw, reject, or answer
 * undefined / null / false / '' to refuse. It runs within the handshake timeout.
 */
export type Authenticate = (token: Uint8Array | undefined, info: AuthInfo) => AuthResult | PromiseLike<AuthResult>;

/**
 * Why a connection's credentials were not accepted ('authFailure' event; never sent to the client):
 * - `rejected`: the hook answered no identity (undefined, null, false, '');
 * - `error`: the hook threw or its promise rejected (`error` holds what it threw);
 * - `invalid-identity`: the hook answered something that is not an identity (a bug in the hook);
 * - `timeout`: the hook had not answered when the handshake timeout passed;
 * - `resume-refused`: the token was good, but the session it asked to resume belongs to another
 *   identity: the client got a new session instead (as for a session the server does not hold).
 */
export type AuthFailureCode = 'rejected' | 'error' | 'invalid-identity' | 'timeout' | 'resume-refused';

/** The 'authFailure' event's argument. */
export interface AuthFailureInfo extends AuthInfo {
  code: AuthFailureCode;
  /** For the server's logs: what went wrong (may quote the hook's error message). */
  message: string;
  /** What the hook threw or rejected with (code `error`). */
  error?: unknown;
  /** code `resume-refused`: the identity that was authenticated. */
  identity?: Identity;
}

/** The hook's answer, judged. */
export type AuthOutcome =
  | { readonly ok: true; readonly identity: Identity }
  | { readonly ok: false; readonly code: 'rejected' | 'error' | 'invalid-identity'; readonly message: string; readonly error?: unknown };

/**
 * Run the hook. `done` is called exactly once: synchronously when the hook answered
 * synchronously (no extra turn for a server whose hook needs no I/O), else when its promise
 * settles. Never throws, and never leaves a rejection unhandled.
 */
export function runAuthenticate(hook: Authenticate, token: Uint8Array | undefined, info: AuthInfo, done: (outcome: AuthOutcome) => void): void {
  let answer: AuthResult | PromiseLike<AuthResult>;
  try {
    answer = hook(token, info);
  } catch (error) {
    done(failed(error));
    return;
  }
  if (!isThenable(answer)) {
    done(judge(answer));
    return;
  }
  let settled = false;
  const once = (outcome: AuthOutcome) => {
    if (settled) return;
    settled = true;
    done(outcome);
  };
  try {
    answer.then(
      (value) => once(judge(value)),
      (error: unknown) => once(failed(error)),
    );
  } catch (error) {
    // A hostile or broken thenable whose then() throws.
    once(failed(error));
  }
}

/** Same id (both undefined: a server without `authenticate`). */
export function sameIdentity(a: Identity | undefined, b: Identity | undefined): boolean {
  return a?.id === b?.id;
}

function judge(value: unknown): AuthOutcome {
  if (value === undefined || value === null || value === false || value === '') {
    return { ok: false, code: 'rejected', message: 'authenticate answered no identity' };
  }
  if (typeof value === 'string') return { ok: true, identity: { id: value } };
  if (typeof value === 'object' && typeof (value as { id?: unknown }).id === 'string' && (value as Identity).id !== '') {
    return { ok: true, identity: value as Identity };
  }
  return { ok: false, code: 'invalid-identity', message: `authenticate answered ${describe(value)}, not an identity (a non-empty string, or an object with a non-empty string id)` };
}

function failed(error: unknown): AuthOutcome {
  const message = error instanceof Error ? error.message : String(error);
  return { ok: false, code: 'error', message: `authenticate threw: ${message}`, error };
}

function isThenable(value: unknown): value is PromiseLike<AuthResult> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function describe(value: unknown): string {
  if (typeof value === 'object') return value === null ? 'null' : Array.isArray(value) ? 'an array' : 'an object without a string id';
  return `a ${typeof value}`;
}
