/**
 * The server's two socket layers (option `leanSockets`): libuv handles without a net.Socket
 * (default) and net.Socket. The whole suite runs on the default; this runs the same exchange on
 * both, checks what `server.leanSockets` and `server.stats()` report, and the option's errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Session } from '../../src/index.js';
import { handleBindings } from '../../src/transport/tcp-handle.js';
import { eventually, nextEvent } from './helpers.js';

for (const leanSockets of [true, false]) {
  test(`lean sockets - leanSockets ${leanSockets}: messages both ways, counted bytes, a clean close`, async (t) => {
    const server = createServer({ leanSockets });
    t.after(() => server.close());
    assert.equal(server.leanSockets, false, 'known once listening');
    const { port } = await server.listen(0, '127.0.0.1');
    assert.equal(server.leanSockets, leanSockets && handleBindings() !== null);
    assert.deepEqual(server.stats(), { connections: 0, connectionsClosed: 0, bytesRead: 0, bytesWritten: 0 });

    const sessionP = nextEvent<[Session]>(server, 'session', 3000);
    const client = connect({ reconnect: false, port });
    t.after(() => client.close());
    await nextEvent(client, 'open', 3000);
    const [session] = await sessionP;
    assert.equal(session.remoteAddress, '127.0.0.1');
    const got: string[] = [];
    session.on('message', (b: Buffer) => {
      got.push(b.toString());
      session.send(`echo ${b.toString()}`);
    });
    const echoed: string[] = [];
    client.on('message', (b: Buffer) => echoed.push(b.toString()));
    for (const m of ['a', 'bb', 'x'.repeat(100_000)]) client.send(m);
    assert.ok(await eventually(() => echoed.length === 3, 3000), `echoed ${echoed.length}`);
    assert.deepEqual(got.map((m) => m.length), [1, 2, 100_000]);

    const live = server.stats();
    assert.equal(live.connections, 1);
    assert.ok(live.bytesRead > 100_000 && live.bytesWritten > 100_000, JSON.stringify(live));

    const closeP = nextEvent(session, 'close', 3000);
    client.close();
    await closeP;
    assert.ok(await eventually(() => server.stats().connections === 0, 2000));
    const after = server.stats();
    assert.equal(after.connectionsClosed, 1);
    assert.ok(after.bytesRead >= live.bytesRead && after.bytesWritten >= live.bytesWritten, 'closed connections stay counted');
  });
}

test('lean sockets - the option must be a boolean', () => {
  assert.throws(() => createServer({ leanSockets: 'yes' as unknown as boolean }), /invalid option server\.leanSockets: must be a boolean/);
});
