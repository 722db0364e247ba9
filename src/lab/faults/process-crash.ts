import type { FaultSpec } from './types.js';

export const processCrash: FaultSpec = {
  id: 'process-crash',
  label: 'server process killed',
  how: 'SIGKILL to the server process. Its kernel is alive and sends FIN/RST at once: NOT a host crash',
  requires: 'any',
  sides: ['client'],
  async inject(ctx) {
    ctx.server.kill('SIGKILL');
  },
  windowMs: 8_000,
};
