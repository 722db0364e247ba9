import type { FaultSpec } from './types.js';

const cut = async (ctx: Parameters<FaultSpec['inject']>[0]) => {
  await ctx.topo!.nft('router', 'table ip cut {\n chain forward {\n type filter hook forward priority -10; policy drop;\n }\n}');
};

export const cableCutIdle: FaultSpec = {
  id: 'cable-cut-idle',
  label: 'cable cut (idle)',
  how: 'the router silently drops every packet between the hosts (nftables forward policy drop); the connection is idle',
  requires: 'netns',
  sides: ['client', 'server'],
  inject: cut,
  windowMs: 20_000,
};

export const cableCutData: FaultSpec = {
  id: 'cable-cut-data',
  label: 'cable cut (data in flight)',
  how: 'as above, while the client keeps writing: unacknowledged data is in flight, so TCP retransmits and keepalive never fires',
  dataInFlight: true,
  requires: 'netns',
  sides: ['client', 'server'],
  inject: cut,
  windowMs: 20_000,
};
