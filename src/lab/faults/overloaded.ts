import type { FaultSpec } from './types.js';

export const overloadedServer: FaultSpec = {
  id: 'overloaded-server',
  label: 'server overloaded (busy loop)',
  how: "the server process's event loop runs CPU-bound work for 15 s: alive, ACKing, but unavailable",
  requires: 'any',
  sides: ['client'],
  async inject(ctx) {
    ctx.server.send({ cmd: 'busy', ms: 15_000 });
  },
  windowMs: 20_000,
  note: 'the heartbeat reports it as heartbeat-timeout today; PONG status "busy" (availability issue) will name it',
};
