/**
 * The browser WebSocket adapter (transport/ws-browser.ts) against a fake WHATWG WebSocket:
 * a text message ends the transport with LL_ERR_WS_TEXT_MESSAGE and close 4003 (browsers may not
 * send 1003), a peer's unusual close code is reported, binary messages arrive as bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BrowserWsTransport, WS_CLOSE_TEXT_REFUSED, type WebSocketLike } from '../../../src/transport/ws-browser.js';
import type { TransportCloseCause } from '../../../src/transport/types.js';

class FakePageSocket implements WebSocketLike {
  binaryType = 'blob';
  readyState = 1;
  bufferedAmount = 0;
  closedWith: [number | undefined, string | undefined] | undefined;
  readonly sent: Uint8Array[] = [];
  private readonly listeners = new Map<string, Array<(event: unknown) => void>>();
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  close(code?: number, reason?: string): void {
    this.closedWith = [code, reason];
    this.readyState = 2;
  }
  addEventListener(type: string, fn: (event: unknown) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
  }
  removeEventListener(type: string, fn: (event: unknown) => void): void {
    this.listeners.set(type, (this.listeners.get(type) ?? []).filter((f) => f !== fn));
  }
  fire(type: string, event: unknown): void {
    for (const fn of this.listeners.get(type) ?? []) fn(event);
  }
}

function attach(ws: FakePageSocket) {
  const transport = new BrowserWsTransport(ws);
  const got: Uint8Array[] = [];
  const closes: TransportCloseCause[] = [];
  transport.setHandlers({ onData: (c) => got.push(c), onDrain() {}, onTransportClose: (c) => closes.push(c) });
  return { transport, got, closes };
}

test('ws-browser - binary messages arrive as bytes; a text message closes with 4003 and LL_ERR_WS_TEXT_MESSAGE', () => {
  const ws = new FakePageSocket();
  const { got, closes } = attach(ws);
  assert.equal(ws.binaryType, 'arraybuffer');
  ws.fire('message', { data: Uint8Array.of(0x40, 1).buffer });
  assert.deepEqual(got, [Uint8Array.of(0x40, 1)]);
  ws.fire('message', { data: 'hello' });
  assert.equal(ws.closedWith?.[0], WS_CLOSE_TEXT_REFUSED);
  ws.readyState = 3;
  ws.fire('close', { code: WS_CLOSE_TEXT_REFUSED, reason: '' });
  assert.equal(closes.length, 1);
  assert.equal(closes[0]!.kind, 'error');
  assert.equal((closes[0]!.error as { code?: string }).code, 'LL_ERR_WS_TEXT_MESSAGE');
  ws.fire('message', { data: Uint8Array.of(1).buffer });
  assert.equal(got.length, 1, 'nothing after the close');
});

test('ws-browser - a peer closing with 1009 is a transport error naming the code; 1000 is the peer going away', () => {
  const refused = new FakePageSocket();
  const a = attach(refused);
  refused.readyState = 3;
  refused.fire('close', { code: 1009, reason: 'too big' });
  assert.equal(a.closes[0]!.kind, 'error');
  assert.match(a.closes[0]!.error!.message, /1009: too big/);
  const normal = new FakePageSocket();
  const b = attach(normal);
  normal.readyState = 3;
  normal.fire('close', { code: 1000, reason: '' });
  assert.deepEqual(b.closes, [{ kind: 'end' }]);
});
