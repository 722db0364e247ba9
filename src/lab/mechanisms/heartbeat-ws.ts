import type { MechanismSpec } from './types.js';

/**
 * The heartbeat row again, over plain WebSocket (ws://, spec 0011): same 1 s / 3 s, same
 * namespaces, no kernel backstop. It keeps the library's default leader for WebSocket ('auto':
 * the server pings, the client follows, spec 0010), because that is what a ws user gets.
 */
export const heartbeatWs: MechanismSpec = {
  id: 'heartbeat-ws',
  label: 'heartbeat 1s/3s (WebSocket)',
  description: 'the 1 s / 3 s heartbeat over plain WebSocket (ws://); the server leads the heartbeat there (default)',
  heartbeat: { intervalMs: 1000, timeoutMs: 3000 },
  transport: 'ws',
  // Skipped where the fault tells nothing about a WebSocket heartbeat that another cell does not.
  notFor: {
    'overloaded-server':
      'to the network a busy loop is the frozen server again (kernel ACKs, no JS runs, the leading server stops pinging): see that cell',
    'process-crash': "the server's kernel sends FIN at once: every row measures TCP's close, not a heartbeat",
    'host-crash':
      'until the reboot (8 s) this is a cable cut as the client sees it (silent drops), and the heartbeat decides within 4 s: see the cable-cut cells',
  },
};
