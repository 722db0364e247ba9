/**
 * The benchmark's child processes: a Node entry file next to this module (compiled .js under
 * dist/, .ts under tsx), JSON-line events on stdout, commands on stdin. Every child is tracked
 * (lab/processes.ts) so none outlives the run, even on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, extname, join } from 'node:path';
import { trackChild } from '../lab/processes.js';
import { wrapJsonChild, type JsonChild as SharedJsonChild } from '../lab/json-child.js';
import type { ChildEvent } from './types.js';

export type JsonChild = SharedJsonChild<ChildEvent>;

/** `node [--import tsx] <dir>/<entry>.{js,ts} ...args`, with extra Node flags first. */
export function spawnBenchChild(name: string, entry: string, args: string[], nodeFlags: string[] = []): JsonChild {
  const here = fileURLToPath(import.meta.url);
  const ext = extname(here);
  const file = join(dirname(here), `${entry}${ext}`);
  const flags = [...nodeFlags, ...(ext === '.ts' ? ['--import', 'tsx'] : [])];
  const child = trackChild(spawn(process.execPath, [...flags, file, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }));
  return wrapJsonChild<ChildEvent>(name, child);
}
