/**
 * The browser bundle (scripts/build-browser.mjs, docs/spec/0011-transports.md §Browser client)
 * is runtime-neutral: no node:* module and no `ws` inside, and it loads and runs a whole
 * client session in a context that has only what a browser page has (no Buffer, no process, no
 * require): a fake WebSocket plays the server's side of the handshake and echoes a message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { FrameDecoder } from '../../../src/protocol/decoder.js';
import { encodeFrame } from '../../../src/protocol/encode.js';
// @ts-expect-error -- a plain .mjs build script, no declarations
import { buildBrowserBundle } from '../../../scripts/build-browser.mjs';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test('browser bundle - builds with no node:* import and without the ws package', async () => {
  const result = (await buildBrowserBundle({ write: false })) as { metafile: { inputs: Record<string, unknown> } };
  const inputs = Object.keys(result.metafile.inputs);
  assert.ok(inputs.some((i) => i.includes('src/client/core.ts')), 'shares the Node client core');
  assert.ok(inputs.some((i) => i.includes('src/protocol/decoder.ts')));
  assert.ok(!inputs.some((i) => i.includes('src/client/dial.ts') || i.includes('src/transport/tcp.ts')), 'no Node dialer or socket adapter');
});

test('browser bundle - a client session runs where there is no Buffer, process or require', async () => {
  const iife = await build({
    absWorkingDir: ROOT,
    entryPoints: ['src/browser/index.ts'],
    bundle: true,
    format: 'iife',
    globalName: 'lifeline',
    platform: 'browser',
    target: 'es2022',
    write: false,
    logLevel: 'silent',
  });
  const sent: Uint8Array[] = [];
  /** Just enough of a WHATWG WebSocket: opens at once, answers HELLO with WELCOME, echoes DATA. */
  class FakeWebSocket {
    binaryType = 'blob';
    readyState = 0;
    bufferedAmount = 0;
    private readonly listeners = new Map<string, Array<(event: unknown) => void>>();
    private readonly decoder = new FrameDecoder();
    constructor(readonly url: string) {
      setTimeout(() => {
        this.readyState = 1;
        this.fire('open', {});
      }, 1);
    }
    addEventListener(type: string, fn: (event: unknown) => void): void {
      this.listeners.set(type, [...(this.listeners.get(type) ?? []), fn]);
    }
    removeEventListener(type: string, fn: (event: unknown) => void): void {
      this.listeners.set(type, (this.listeners.get(type) ?? []).filter((f) => f !== fn));
    }
    send(data: Uint8Array): void {
      // Bytes from the page's realm: its Uint8Array is not this realm's (instanceof would fail).
      const bytes = new Uint8Array(data);
      sent.push(bytes);
      this.decoder.push(bytes, (frame) => {
        if (frame.type === 'hello') this.reply(encodeFrame({ type: 'welcome', version: 1, sessionId: new Uint8Array(16).fill(7), heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 3000 }));
        else if (frame.type === 'data') this.reply(encodeFrame(frame));
      });
    }
    close(): void {
      this.readyState = 3;
      setTimeout(() => this.fire('close', { code: 1000, reason: '' }), 1);
    }
    private reply(bytes: Uint8Array): void {
      const copy = new Uint8Array(bytes);
      setTimeout(() => this.fire('message', { data: copy.buffer }), 1);
    }
    private fire(type: string, event: unknown): void {
      for (const fn of this.listeners.get(type) ?? []) fn(event);
    }
  }
  const page = vm.createContext({ setTimeout, clearTimeout, setInterval, clearInterval, queueMicrotask, performance, TextEncoder, TextDecoder, console, WebSocket: FakeWebSocket });
  vm.runInContext(`${iife.outputFiles[0]!.text}; globalThis.lifeline = lifeline;`, page);
  assert.equal(vm.runInContext('typeof Buffer + typeof process + typeof require', page), 'undefinedundefinedundefined');
  const echoed = await vm.runInContext(
    `new Promise((resolve, reject) => {
      const client = lifeline.connect({ servers: ['ws://example.test/ll'], reconnect: false });
      client.on('open', () => client.send('hello from a page'));
      client.on('message', (m) => { resolve({ text: new TextDecoder().decode(m), isU8: m instanceof Uint8Array, id: client.info.sessionId }); client.close(); });
      client.on('close', (r) => r.code === 'local-close' || reject(new Error(r.code + ': ' + r.message)));
      setTimeout(() => reject(new Error('no echo')), 3000);
    })`,
    page,
  );
  assert.deepEqual({ ...echoed }, { text: 'hello from a page', isU8: true, id: '07'.repeat(16) });
  assert.ok(sent.length >= 2, 'HELLO and DATA went out through the WebSocket');
});
