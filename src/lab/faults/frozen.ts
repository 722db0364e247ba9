import type { FaultSpec } from './types.js';

export const frozenServer: FaultSpec = {
  id: 'frozen-server',
  label: 'server process frozen',
  how: 'SIGSTOP to the server process: its kernel still ACKs data and keepalive probes',
  requires: 'any',
  sides: ['client'],
  async inject(ctx) {
    ctx.server.kill('SIGSTOP');
  },
  windowMs: 20_000,
};
