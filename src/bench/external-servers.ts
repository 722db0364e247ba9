/**
 * Servers that are not Node programs: mosquitto (MQTT, C) and nats-server (Go), run as their own
 * process from a config file in a temp directory, measured from outside through /proc (RSS,
 * utime + stime). Neither has a V8 heap or an event loop we can sample, and their sockets are
 * not ours: the harness takes bytes on the wire and closes from the generators' side.
 *
 * - mosquitto:   keepalive comes from each client's CONNECT (whole seconds); the broker drops a
 *                client silent for 1.5 × keepalive.
 * - nats-server: ping_interval T, ping_max 2: the server PINGs every client each T and drops one
 *                with 2 PINGs outstanding.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trackChild } from '../lab/processes.js';
import type { MemorySample } from './types.js';

export type ExternalSystemId = 'mosquitto' | 'nats';

export interface ExternalServer {
  readonly port: number;
  readonly pid: number;
  memory(): MemorySample;
  /** utime + stime of the whole process (all threads), µs; resolution 1 / CLK_TCK (10 ms). */
  cpuMicros(): number;
  stop(): Promise<void>;
}

const BINARIES: Record<ExternalSystemId, string> = { mosquitto: 'mosquitto', nats: 'nats-server' };

function findBinary(name: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin', ...(process.env.PATH ?? '').split(':')]) {
    const path = join(dir, name);
    if (spawnSync('test', ['-x', path]).status === 0) return path;
  }
  return undefined;
}

export function externalSystemUnavailable(id: ExternalSystemId): string | undefined {
  if (process.platform !== 'linux') return `${BINARIES[id]} is measured through /proc (Linux only)`;
  return findBinary(BINARIES[id]) ? undefined : `${BINARIES[id]} is not installed (apt-get install -y ${id === 'nats' ? 'nats-server' : 'mosquitto'})`;
}

async function freePort(host: string): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function waitForPort(host: string, port: number, deadlineMs: number): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host, port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listening on ${host}:${port} after ${deadlineMs} ms`);
}

export async function startExternalServer(id: ExternalSystemId, host: string, intervalMs: number): Promise<ExternalServer> {
  const binary = findBinary(BINARIES[id]);
  if (!binary) throw new Error(`${BINARIES[id]} is not installed`);
  const port = await freePort(host);
  const dir = mkdtempSync(join(tmpdir(), `lifeline-bench-${id}-`));
  const config = join(dir, id === 'nats' ? 'nats.conf' : 'mosquitto.conf');
  if (id === 'mosquitto') {
    writeFileSync(config, [`listener ${port} ${host}`, 'allow_anonymous true', 'max_connections -1', 'persistence false', 'log_dest none', ''].join('\n'));
  } else {
    writeFileSync(config, [`listen: "${host}:${port}"`, `ping_interval: "${intervalMs}ms"`, 'ping_max: 2', 'max_connections: 1000000', ''].join('\n'));
  }
  const child = trackChild(spawn(binary, ['-c', config], { stdio: ['ignore', 'ignore', 'pipe'] }));
  const stderr: string[] = [];
  child.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(host, port, 10_000),
      exited.then(() => {
        throw new Error(`${binary} exited at start: ${stderr.join('').trim().slice(0, 300)}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const pid = child.pid!;
  const ticksPerSecond = 100; // CLK_TCK on Linux (getconf CLK_TCK); /proc/<pid>/stat counts in these.
  return {
    port,
    pid,
    memory() {
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return { heapUsed: undefined, rss: kb * 1024 };
    },
    cpuMicros() {
      // Fields after the ")" that ends the command name: state is field 3, utime 14, stime 15.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1e6;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
