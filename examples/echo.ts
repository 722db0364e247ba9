// The README example as a runnable file: npx tsx examples/echo.ts
import { createServer, connect } from '../src/index.js';

const server = createServer({ heartbeatInterval: 1000, heartbeatTimeout: 3000 });
await server.listen(0, '127.0.0.1');
const { port } = server.address();

server.on('session', (s) => {
  s.on('message', (buf) => s.send(buf)); // echo
  s.on('close', (reason) => console.log('session closed:', reason.code, reason.message));
});

const c = connect({ host: '127.0.0.1', port, heartbeatInterval: 1000, heartbeatTimeout: 3000 });
c.on('open', (info) => {
  console.log('open', info);
  c.send('hello');
});
c.on('message', (buf) => {
  console.log('echo:', buf.toString());
  c.close();
});
c.on('close', async (reason) => {
  console.log('client closed:', reason.code);
  await server.close();
});
