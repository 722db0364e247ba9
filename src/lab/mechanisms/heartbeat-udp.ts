import type { MechanismSpec } from './types.js';

/**
 * The heartbeat row over UDP (udp://, spec 0012): same 1 s / 3 s, same namespaces. No kernel
 * backstop at all (UDP has no keepalive, no FIN, no retransmission timeout): what the row shows is
 * the heartbeat alone, with the adapter's own reliable stream underneath. The client leads, as on TCP.
 */
export const heartbeatUdp: MechanismSpec = {
  id: 'heartbeat-udp',
  label: 'heartbeat 1s/3s (UDP)',
  description: 'the 1 s / 3 s heartbeat over UDP (udp://): sessions by connection id, DATA reliable in the adapter, PING / PONG unreliable beside it',
  heartbeat: { intervalMs: 1000, timeoutMs: 3000 },
  transport: 'udp',
  notFor: {
    'overloaded-server':
      'to the network a busy loop is the frozen server again (no JS runs, no PONG): see that cell',
    'host-crash':
      'until the reboot (8 s) this is a cable cut as the client sees it (silent drops), and the heartbeat decides within 4 s: see the cable-cut cells',
  },
};
