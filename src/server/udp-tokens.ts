/**
 * What lets a UDP listener answer strangers without keeping state for them
 * (docs/spec/0012-udp.md §Handshake, §Unknown connection ids):
 * - address-validation cookies (QUIC Retry, DTLS HelloVerifyRequest): issuedAt ‖ HMAC of the
 *   client's address, port and nonce — only an INITIAL that returns one costs a session;
 * - stateless reset tokens: HMAC of the connection id, so a restarted server (same secret) can
 *   tell a client that its connection is gone without remembering it;
 * - the answer budget: RETRY and RESET datagrams, all addresses together, beyond which a flood
 *   of spoofed datagrams gets silence.
 */
import crypto from 'node:crypto';
import { COOKIE_BYTES, ID_BYTES } from '../transport/udp/packet.js';

const COOKIE_MAC_BYTES = COOKIE_BYTES - 4;
/** A cookie issued up to this far in the future is still accepted (another server's clock, behind one secret). */
const FUTURE_SLACK_S = 2;

export class UdpTokens {
  private readonly secret: Buffer;

  constructor(secret: Uint8Array | undefined, private readonly cookieLifetimeMs: number) {
    this.secret = secret === undefined ? crypto.randomBytes(32) : Buffer.from(secret);
  }

  /** A cookie for (address, port, nonce), issued now (wall-clock seconds: it may cross processes). */
  cookie(address: string, port: number, nonce: Uint8Array, nowMs = Date.now()): Uint8Array {
    const issuedAt = Math.floor(nowMs / 1000) >>> 0;
    const out = new Uint8Array(COOKIE_BYTES);
    new DataView(out.buffer).setUint32(0, issuedAt);
    out.set(this.cookieMac(address, port, nonce, issuedAt), 4);
    return out;
  }

  /** True for a cookie this secret issued to exactly this address, port and nonce, still fresh. */
  verifyCookie(token: Uint8Array, address: string, port: number, nonce: Uint8Array, nowMs = Date.now()): boolean {
    if (token.length !== COOKIE_BYTES) return false;
    const issuedAt = new DataView(token.buffer, token.byteOffset, token.byteLength).getUint32(0);
    const nowS = nowMs / 1000;
    if (issuedAt > nowS + FUTURE_SLACK_S || (nowS - issuedAt) * 1000 > this.cookieLifetimeMs) return false;
    return crypto.timingSafeEqual(this.cookieMac(address, port, nonce, issuedAt), token.subarray(4));
  }

  /** The reset token of a connection id (HMAC, so it survives a restart with the same secret). */
  resetToken(cid: Uint8Array): Uint8Array {
    return crypto.createHmac('sha256', this.secret).update('reset').update(cid).digest().subarray(0, ID_BYTES);
  }

  private cookieMac(address: string, port: number, nonce: Uint8Array, issuedAt: number): Buffer {
    const fields = Buffer.alloc(6);
    fields.writeUInt16BE(port, 0);
    fields.writeUInt32BE(issuedAt, 2);
    return crypto.createHmac('sha256', this.secret).update('cookie').update(address).update(fields).update(nonce).digest().subarray(0, COOKIE_MAC_BYTES);
  }
}

/** A token bucket: `perSecond` sustained, `burst` at once. */
export class AnswerBudget {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly now: () => number,
  ) {
    this.tokens = burst;
    this.lastMs = now();
  }

  take(): boolean {
    const now = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.lastMs) * this.perSecond) / 1000);
    this.lastMs = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
