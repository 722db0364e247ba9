/**
 * The server's half of the WebSocket opening handshake (RFC 6455 §4.2), for the lean WebSocket
 * listener (listen-ws.ts; docs/spec/0011-transports.md §Lean WebSocket server): check an
 * upgrade request node:http has parsed, and build the 101 response. The checks and their
 * messages are `ws`'s handleUpgrade's (which this replaced), so clients see the same refusals:
 * method GET, `Upgrade: websocket`, a Sec-WebSocket-Key of 16 bytes in base64, version 13 (or
 * the draft's 8, as ws allows), a well-formed Sec-WebSocket-Protocol list. No extension is
 * accepted (permessage-deflate stays off, spec 0011 §Open questions); an offered subprotocol is
 * answered with the client's first choice, as ws does without `handleProtocols` (lifeline's
 * own clients offer none).
 */
import { createHash } from 'node:crypto';
import type http from 'node:http';

/** RFC 6455 §1.3: appended to the client's key before hashing. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;
/** RFC 7230 token characters (a subprotocol name). */
const TOKEN_PATTERN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export type UpgradeCheck =
  | { ok: true; key: string; protocol: string | undefined }
  | { ok: false; message: string; headers?: Record<string, string> };

/** Whether `req` is a WebSocket upgrade this server can accept, and what to answer. */
export function checkUpgrade(req: http.IncomingMessage): UpgradeCheck {
  if (req.method !== 'GET') return { ok: false, message: 'Invalid HTTP method' };
  const upgrade = req.headers.upgrade;
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return { ok: false, message: 'Invalid Upgrade header' };
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !KEY_PATTERN.test(key)) return { ok: false, message: 'Missing or invalid Sec-WebSocket-Key header' };
  const version = req.headers['sec-websocket-version'];
  if (version !== '13' && version !== '8') {
    return { ok: false, message: 'Missing or invalid Sec-WebSocket-Version header', headers: { 'Sec-WebSocket-Version': '13, 8' } };
  }
  const offered = req.headers['sec-websocket-protocol'];
  let protocol: string | undefined;
  if (offered !== undefined) {
    const names = offered.split(',').map((p) => p.trim());
    if (names.some((p) => !TOKEN_PATTERN.test(p)) || new Set(names).size !== names.length) {
      return { ok: false, message: 'Invalid Sec-WebSocket-Protocol header' };
    }
    protocol = names[0];
  }
  return { ok: true, key, protocol };
}

/** The 101 Switching Protocols response for an accepted key. */
export function upgradeResponse(key: string, protocol: string | undefined): Buffer {
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${accept}`];
  if (protocol !== undefined) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}
