import type { FaultSpec } from './types.js';

export const REBOOT_AFTER_MS = 8000;

export const hostCrash: FaultSpec = {
  id: 'host-crash',
  label: `server host crash, back after ${REBOOT_AFTER_MS / 1000} s`,
  how:
    'packets to the server host are dropped before routing (no ICMP), its sockets destroyed (ss -K) and its namespace removed; ' +
    `after ${REBOOT_AFTER_MS / 1000} s a new namespace and listener come back and the drop is lifted, so the next packet of an old connection gets RST`,
  requires: 'netns',
  sides: ['client'],
  resetsAfterMs: REBOOT_AFTER_MS,
  async inject(ctx) {
    await ctx.topo!.nft(
      'router',
      `table ip crash {
        chain prerouting {
          type filter hook prerouting priority -300; policy accept;
          ip daddr ${ctx.topo!.serverIp} drop
          ip saddr ${ctx.topo!.serverIp} drop
        }
      }`,
    );
    await ctx.topo!.exec('server', 'ss', ['-K', 'state', 'all']).catch(() => undefined);
    await ctx.topo!.removeServerHost();
  },
  async during(ctx) {
    await ctx.sleep(REBOOT_AFTER_MS);
    await ctx.topo!.buildServerHost();
    await ctx.restartServer();
    await ctx.topo!.exec('router', 'nft', ['delete', 'table', 'ip', 'crash']);
  },
  windowMs: 20_000,
};
