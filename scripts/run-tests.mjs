#!/usr/bin/env node
// Runs the node:test suites. Node 20's `node --test` does not expand globs, so we list files
// ourselves. Usage: node scripts/run-tests.mjs [unit|integration|path-fragment ...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'fixtures' ? [] : walk(p);
    return /\.test\.ts$/.test(name) ? [p] : [];
  });
}
const filters = process.argv.slice(2);
const files = walk(join(root, 'test'))
  .map((f) => relative(root, f))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched', filters);
  process.exit(1);
}
// Integration tests share the machine's loopback and CPU: run files one at a time there so
// timing assertions are not skewed by sibling test files; unit files are cheap either way.
const args = ['--import', 'tsx', '--test', '--test-concurrency=1', ...files];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit' });
child.on('exit', (code, signal) => process.exit(signal ? 1 : code ?? 1));
