import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { TcpTransport } from '../../../src/transport/tcp.js';
import type { TransportCloseCause } from '../../../src/transport/types.js';

/** A listening server whose accepted sockets become TcpTransports; one client connected to it. */
async function pair(sharedReadBuffer: boolean) {
  const accepted: TcpTransport[] = [];
  const server = net.createServer((socket) => accepted.push(new TcpTransport(socket, { sharedReadBuffer })));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  while (accepted.length === 0) await new Promise((r) => setImmediate(r));
  return { server, client, transport: accepted[0]! };
}

for (const shared of [true, false]) {
  test(`TcpTransport - ${shared ? 'shared read buffer' : "'data' events"}: chunks are the peer's bytes, never reused; FIN reads as 'end'`, async () => {
    const { server, client, transport } = await pair(shared);
    try {
      const chunks: Uint8Array[] = [];
      const closed: TransportCloseCause[] = [];
      let wake: (() => void) | undefined;
      transport.setHandlers({
        onData: (chunk) => {
          chunks.push(chunk);
          wake?.();
        },
        onDrain: () => {},
        onTransportClose: (cause) => {
          closed.push(cause);
          wake?.();
        },
      });
      assert.equal(transport.readsIntoSharedBuffer, shared);
      const until = async (done: () => boolean) => {
        while (!done()) await new Promise<void>((r) => (wake = r));
      };
      client.write(Buffer.from('abc'));
      await until(() => Buffer.concat(chunks).length >= 3);
      client.write(Buffer.from('xyz'));
      await until(() => Buffer.concat(chunks).length >= 6);
      assert.equal(Buffer.concat(chunks).toString(), 'abcxyz', 'an earlier chunk was not overwritten by the next read');
      // And back: the transport still writes.
      transport.write(Buffer.from('ok'));
      const [echo] = (await once(client, 'data')) as [Buffer];
      assert.equal(echo.toString(), 'ok');
      client.end();
      await until(() => closed.length > 0);
      assert.deepEqual(closed, [{ kind: 'end' }]);
    } finally {
      client.destroy();
      server.close();
    }
  });
}

test('TcpTransport - a destroyed transport reports a local close once', async () => {
  const { server, client, transport } = await pair(true);
  try {
    const closed: TransportCloseCause[] = [];
    transport.setHandlers({ onData: () => {}, onDrain: () => {}, onTransportClose: (cause) => closed.push(cause) });
    transport.destroy();
    await once(client, 'close');
    while (closed.length === 0) await new Promise((r) => setImmediate(r));
    assert.deepEqual(closed, [{ kind: 'local' }]);
    assert.equal(transport.kind, 'tcp');
  } finally {
    server.close();
  }
});
