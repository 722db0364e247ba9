import { readFileSync } from 'node:fs';

/**
 * The host's keepalive / retransmission sysctls (Linux only; undefined elsewhere or when /proc is
 * unreadable). Defaults: 7200 s idle, 75 s interval, 9 probes ⇒ 2 h 11 min 15 s for an idle dead
 * peer; tcp_retries2 15 ⇒ ≈924.6 s for data in flight.
 */
export function kernelKeepaliveDefaults(): { timeSec: number; intvlSec: number; probes: number; retries2: number } | undefined {
  if (process.platform !== 'linux') return undefined;
  const read = (name: string): number => {
    const value = Number.parseInt(readFileSync(`/proc/sys/net/ipv4/${name}`, 'utf8').trim(), 10);
    if (!Number.isFinite(value)) throw new Error(`unreadable ${name}`);
    return value;
  };
  try {
    return {
      timeSec: read('tcp_keepalive_time'),
      intvlSec: read('tcp_keepalive_intvl'),
      probes: read('tcp_keepalive_probes'),
      retries2: read('tcp_retries2'),
    };
  } catch {
    return undefined;
  }
}
