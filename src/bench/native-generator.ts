/**
 * The native (C, epoll) load generator for `lifeline bench --native`: built on demand with
 * `gcc -O2` into a cache directory, given the exact bytes the lean clients send (computed here by
 * the protocol encoder, passed as hex), spawned as a tracked child that speaks the same JSON
 * lines as generator-main.ts. A Node generator costs ~2.8 KB RSS per connection plus ~45 MB per
 * process; the C one ≈ 50 B of state per connection (≈ 3 MB RSS for 18,000), so a million
 * connections fit on one box (docs/bench.md §Scale mode and a million connections).
 */
import { spawn, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { encodePong } from '../protocol/encode.js';
import { trackChild } from '../lab/processes.js';
import { wrapJsonChild } from '../lab/json-child.js';
import { leanProtocol } from './lean-clients.js';
import type { JsonChild } from './child.js';
import type { ChildEvent } from './types.js';

/** Connections per native generator process (≤ 19,000 fds; `ulimit -n` is 20,000 here). */
export const PER_NATIVE_GENERATOR = 18_000;
/** Handshakes in flight per native generator. */
export const NATIVE_IN_FLIGHT = 256;

const run = promisify(execFile);

/** Where loadgen.c is: next to this module under tsx, or in the source tree next to dist/. */
function sourcePath(): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, 'native', 'loadgen.c'), join(here, '..', '..', 'src', 'bench', 'native', 'loadgen.c')];
  return candidates.find((p) => existsSync(p));
}

/**
 * Path to the compiled generator, building it if needed (cached by the source's hash), or
 * `{ unavailable }` saying why it cannot run here (no gcc, no source, compile error).
 */
export async function nativeGeneratorBinary(): Promise<{ path: string } | { unavailable: string }> {
  const source = sourcePath();
  if (!source) return { unavailable: 'native generator source (src/bench/native/loadgen.c) not found: run from a source checkout' };
  const hash = createHash('sha256').update(readFileSync(source)).digest('hex').slice(0, 16);
  const dir = join(process.env.XDG_CACHE_HOME ?? join(os.homedir(), '.cache'), 'lifeline-bench');
  const path = join(dir, `loadgen-${hash}`);
  if (existsSync(path)) return { path };
  try {
    await run('gcc', ['--version']);
  } catch {
    return { unavailable: "gcc not found: the native generator is C, built on demand (apt-get install -y gcc)" };
  }
  try {
    mkdirSync(dir, { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await run('gcc', ['-O2', '-o', tmp, source, '-lm']);
    renameSync(tmp, path);
    return { path };
  } catch (err) {
    return { unavailable: `gcc failed to build ${source}: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}` };
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** The systems the C generator speaks. */
export type NativeSystemId = 'raw' | 'lifeline' | 'lifeline-sl';
export const NATIVE_SYSTEMS: readonly NativeSystemId[] = ['raw', 'lifeline', 'lifeline-sl'];

export function isNativeSystem(id: string): id is NativeSystemId {
  return (NATIVE_SYSTEMS as readonly string[]).includes(id);
}

/** The wire bytes of the lean client for `system`, as loadgen arguments. */
export function nativeWireArgs(system: NativeSystemId, intervalMs: number): string[] {
  // lifeline-sl speaks lifeline's bytes; only who pings differs (--follow).
  const mode = system === 'raw' ? 'raw' : 'lifeline';
  const lean = leanProtocol(mode, intervalMs);
  const hello = lean.create({ write() {}, ready() {}, roundTrip() {}, fail() {} }).hello();
  if (!hello) throw new Error(`lean ${system} client has no hello bytes`);
  const args = ['--mode', mode, '--hello', hex(hello), '--ping', hex(lean.ping)];
  // lifeline-sl: the server leads (its WELCOME says so: the HELLO offers to follow), we answer.
  if (system === 'lifeline-sl') args.push('--follow', '1');
  if (system !== 'raw') {
    // The answer to a server PING with id i, exactly as lean-clients.ts writes it.
    const pongs = Buffer.concat(Array.from({ length: 32 }, (_, id) => encodePong(id, 'ok', 0)));
    args.push('--pongs', hex(pongs));
  }
  return args;
}

export interface NativeGeneratorOptions {
  host: string;
  intervalMs: number;
  /** `source:port:count` segments (loopback only). */
  segments: string;
  connectDeadlineMs: number;
}

export function spawnNativeGenerator(name: string, binary: string, system: NativeSystemId, o: NativeGeneratorOptions): JsonChild {
  const args = [
    ...nativeWireArgs(system, o.intervalMs),
    '--host', o.host,
    '--interval', String(o.intervalMs),
    '--segments', o.segments,
    '--connect-deadline', String(o.connectDeadlineMs),
    '--in-flight', String(NATIVE_IN_FLIGHT),
  ];
  const child = trackChild(spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] }));
  return wrapJsonChild<ChildEvent>(name, child);
}
