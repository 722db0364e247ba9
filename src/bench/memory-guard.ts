/**
 * Host memory for big benchmark runs: /proc/meminfo's MemAvailable (what the kernel could still
 * give without swapping) and Slab (kernel objects: socket structs, inodes, epoll items…, i.e.
 * where a loopback connection pair's ~10 KB of kernel memory shows). The guard polls
 * MemAvailable and trips once it falls below a floor, so the harness can kill everything it
 * started before the box runs out. Linux only: elsewhere nothing is read and the guard never trips.
 */
import { readFileSync } from 'node:fs';

export interface MemInfo {
  /** Bytes. */
  available: number;
  slab: number;
}

export function readMemInfo(): MemInfo | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/meminfo', 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : NaN;
  };
  const info = { available: field('MemAvailable'), slab: field('Slab') };
  return Number.isFinite(info.available) && Number.isFinite(info.slab) ? info : undefined;
}

/** Kernel network counters the harness diffs over a run (see HostMemory in types.ts). */
export interface NetCounters {
  backlogDrops: number;
  abortsOnTimeout: number;
}

export function readNetCounters(): NetCounters | undefined {
  try {
    // softnet_stat: one line per CPU, hex columns; the 2nd is packets dropped (backlog full).
    const backlogDrops = readFileSync('/proc/net/softnet_stat', 'utf8')
      .trim()
      .split('\n')
      .reduce((a, line) => a + Number.parseInt(line.trim().split(/\s+/)[1] ?? '0', 16), 0);
    // netstat: a "TcpExt:" header line of names, then a "TcpExt:" line of values.
    const tcpExt = readFileSync('/proc/net/netstat', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('TcpExt:'))
      .map((l) => l.split(/\s+/).slice(1));
    const i = tcpExt[0]?.indexOf('TCPAbortOnTimeout') ?? -1;
    const abortsOnTimeout = i >= 0 ? Number(tcpExt[1]?.[i]) : NaN;
    if (!Number.isFinite(backlogDrops) || !Number.isFinite(abortsOnTimeout)) return undefined;
    return { backlogDrops, abortsOnTimeout };
  } catch {
    return undefined;
  }
}

export interface MemoryGuard {
  /** Rejects (with a message naming the floor) when MemAvailable falls below it; never resolves. */
  readonly tripped: Promise<never>;
  /** Lowest MemAvailable seen, bytes (undefined: not Linux). */
  readonly minAvailable: number | undefined;
  stop(): void;
}

const GiB = 2 ** 30;

/**
 * Poll every `everyMs`; trip below `floorBytes`. `describe()` adds context to the message
 * (e.g. how many connections were open).
 */
export function watchMemory(floorBytes: number, describe: () => string, everyMs = 500): MemoryGuard {
  let minAvailable: number | undefined;
  let reject: (err: Error) => void = () => {};
  const tripped = new Promise<never>((_, r) => (reject = r));
  tripped.catch(() => {}); // the races that use it handle it; an unused guard must not crash us
  const check = () => {
    const info = readMemInfo();
    if (!info) return;
    minAvailable = Math.min(minAvailable ?? Infinity, info.available);
    if (info.available < floorBytes) {
      clearInterval(timer);
      reject(
        new Error(
          `memory guard: MemAvailable ${(info.available / GiB).toFixed(2)} GiB fell below ${(floorBytes / GiB).toFixed(1)} GiB` +
            ` (${describe()}); stopped everything this run started`,
        ),
      );
    }
  };
  const timer = setInterval(check, everyMs);
  timer.unref();
  check();
  return {
    tripped,
    get minAvailable() {
      return minAvailable;
    },
    stop: () => clearInterval(timer),
  };
}

/**
 * Wait until the kernel has freed the last run's sockets: Slab falls by less than 16 MB over 2 s
 * (and MemAvailable rises by less than 64 MB), at most `maxMs`.
 */
export async function waitForMemorySettled(maxMs = 60_000): Promise<void> {
  const start = Date.now();
  const first = readMemInfo();
  if (!first) return;
  let last: MemInfo = first;
  while (Date.now() - start < maxMs) {
    await new Promise((r) => setTimeout(r, 2000));
    const current: MemInfo = readMemInfo() ?? last;
    if (last.slab - current.slab < 16 * 2 ** 20 && current.available - last.available < 64 * 2 ** 20) return;
    last = current;
  }
}
