/**
 * Layering guard (STYLE.md §1.7, §6): imports point down only, and the pure core (protocol/,
 * liveness/, time/, errors.ts) stays runtime-neutral so the browser client can reuse it.
 * Parses each file with the TypeScript compiler, so comments and strings never false-positive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

const PURE = new Set(['protocol', 'liveness', 'time', 'errors', 'util']);
const OUTER = ['connection', 'transport', 'server', 'client', 'browser', 'cli', 'lab', 'bench', 'metrics', 'presence'];
const EDGES = ['cli', 'lab', 'bench'];
/** For each layer (top folder under src/, or a root file's stem), the layers it must not import. */
const FORBIDDEN: Record<string, readonly string[]> = {
  time: [...OUTER, 'protocol', 'liveness'],
  util: [...OUTER, 'protocol', 'liveness', 'time'],
  errors: OUTER,
  protocol: OUTER,
  liveness: OUTER,
  transport: ['connection', 'server', 'client', 'browser', 'metrics', ...EDGES],
  connection: ['server', 'client', 'browser', 'metrics', ...EDGES],
  presence: ['server', 'client', 'browser', 'metrics', ...EDGES],
  metrics: ['browser', ...EDGES],
  // metrics/ reads the server's counters on scrape; the core never imports it (STYLE.md §3.15).
  server: ['browser', 'metrics', ...EDGES],
  client: ['browser', 'metrics', ...EDGES],
  // The browser client reuses client/'s core; what it may load at run time is checked on the
  // bundle itself (test/unit/browser/bundle.test.ts: no node:* module, no `ws`).
  browser: ['server', 'metrics', 'presence', ...EDGES],
};
/** Ambient time sources that liveness/ and time/ may reach only through an injected Clock. */
const TIME_GLOBALS = new Set([
  'setTimeout',
  'setInterval',
  'setImmediate',
  'clearTimeout',
  'clearInterval',
  'clearImmediate',
  'performance',
  'Date',
]);
/** The one file allowed to touch the real timers: it is the system Clock. */
const CLOCK_FILE = 'time/clock.ts';

const NODE_BUILTINS = new Set(builtinModules);

type Kind = 'node-builtin' | 'buffer' | 'outer-import' | 'layering' | 'ambient-time';
interface Problem {
  kind: Kind;
  file: string;
  detail: string;
}

function layerOf(relPath: string): string {
  const parts = relPath.split('/');
  return parts.length === 1 ? parts[0]!.replace(/\.[cm]?[tj]s$/, '') : parts[0]!;
}

function isNodeBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || NODE_BUILTINS.has(specifier) || NODE_BUILTINS.has(specifier.split('/')[0]!);
}

function moduleSpecifiers(source: ts.SourceFile): string[] {
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      if (ts.isStringLiteral(node.moduleSpecifier)) found.push(node.moduleSpecifier.text);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      const e = node.moduleReference.expression;
      if (ts.isStringLiteral(e)) found.push(e.text);
    } else if (ts.isCallExpression(node)) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      const arg = node.arguments[0];
      if ((isImport || isRequire) && arg && ts.isStringLiteralLike(arg)) found.push(arg.text);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg) && ts.isStringLiteral(arg.literal)) found.push(arg.literal.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Identifiers used as values or types, skipping `x.name` property names and declared member names. */
function freeIdentifiers(source: ts.SourceFile): Set<string> {
  const found = new Set<string>();
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node)) {
      const p = node.parent;
      const isMemberName =
        (ts.isPropertyAccessExpression(p) && p.name === node) ||
        (ts.isQualifiedName(p) && p.right === node) ||
        ((ts.isPropertyAssignment(p) ||
          ts.isPropertyDeclaration(p) ||
          ts.isPropertySignature(p) ||
          ts.isMethodDeclaration(p) ||
          ts.isMethodSignature(p) ||
          ts.isGetAccessorDeclaration(p) ||
          ts.isSetAccessorDeclaration(p)) &&
          p.name === node);
      if (!isMemberName) found.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Problems in one file; relPath is relative to src/ with forward slashes. */
export function checkFile(relPath: string, text: string): Problem[] {
  const problems: Problem[] = [];
  const add = (kind: Kind, detail: string): void => void problems.push({ kind, file: relPath, detail });
  const source = ts.createSourceFile(relPath, text, ts.ScriptTarget.ES2022, true);
  const layer = layerOf(relPath);
  const pure = PURE.has(layer);
  const forbidden = FORBIDDEN[layer] ?? [];

  for (const specifier of moduleSpecifiers(source)) {
    if (pure && isNodeBuiltin(specifier)) add('node-builtin', `imports '${specifier}'`);
    if (!specifier.startsWith('.')) continue;
    const target = posix.normalize(posix.join(posix.dirname(relPath), specifier));
    if (target.startsWith('..')) continue; // outside src/: not a layer
    const targetLayer = layerOf(target);
    if (targetLayer === layer || !forbidden.includes(targetLayer)) continue;
    add(pure && OUTER.includes(targetLayer) ? 'outer-import' : 'layering', `${layer} imports ${targetLayer} ('${specifier}')`);
  }

  const identifiers = freeIdentifiers(source);
  if (pure && identifiers.has('Buffer')) add('buffer', 'uses Buffer (use Uint8Array)');
  if ((layer === 'liveness' || layer === 'time') && relPath !== CLOCK_FILE) {
    for (const name of identifiers) {
      if (TIME_GLOBALS.has(name)) add('ambient-time', `uses ${name} (take a Clock instead)`);
    }
  }
  return problems;
}

function walk(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return walk(path);
    return /\.[cm]?[tj]s$/.test(name) ? [path] : [];
  });
}

function problemsOfKind(...kinds: Kind[]): string[] {
  return walk(SRC)
    .flatMap((path) => checkFile(relative(SRC, path).split(sep).join('/'), readFileSync(path, 'utf8')))
    .filter((p) => kinds.includes(p.kind))
    .map((p) => `src/${p.file}: ${p.detail}`);
}

test('layers - protocol/, liveness/, time/, util/ and errors.ts import no node builtin and use no Buffer', () => {
  assert.ok(existsSync(join(SRC, 'errors.ts')));
  assert.deepEqual(problemsOfKind('node-builtin', 'buffer'), []);
});

test('layers - protocol/, liveness/, time/ and errors.ts import no outer folder', () => {
  assert.deepEqual(problemsOfKind('outer-import'), []);
});

test('layers - every import under src/ points down the layering', () => {
  assert.deepEqual(problemsOfKind('layering'), []);
});

test('layers - liveness/ and time/ read time only through the injected Clock', () => {
  assert.deepEqual(problemsOfKind('ambient-time'), []);
});

test('layers - the checker catches each kind of violation', () => {
  const kinds = (relPath: string, text: string): Kind[] => checkFile(relPath, text).map((p) => p.kind);
  assert.deepEqual(kinds('protocol/a.ts', "import { readFile } from 'node:fs';"), ['node-builtin']);
  assert.deepEqual(kinds('liveness/a.ts', "import { EventEmitter } from 'events';"), ['node-builtin']);
  assert.deepEqual(kinds('time/a.ts', "export * from 'fs/promises';"), ['node-builtin']);
  assert.deepEqual(kinds('protocol/a.ts', "const m = await import('node:net');"), ['node-builtin']);
  assert.deepEqual(kinds('errors.ts', "const os = require('os');"), ['node-builtin']);
  assert.deepEqual(kinds('protocol/a.ts', "const b = Buffer.from('x');"), ['buffer']);
  assert.deepEqual(kinds('protocol/a.ts', 'let b: Buffer | undefined;'), ['buffer']);
  assert.deepEqual(kinds('protocol/a.ts', 'const B = globalThis.Buffer;'), []); // member name, not a free identifier
  assert.deepEqual(
    kinds('liveness/a.ts', "import type { Connection } from '../connection/connection.js';"),
    ['outer-import'],
  );
  assert.deepEqual(kinds('time/a.ts', "import { Heartbeat } from '../liveness/heartbeat.js';"), ['layering']);
  assert.deepEqual(kinds('connection/a.ts', "export { Server } from '../server/server.js';"), ['layering']);
  assert.deepEqual(kinds('transport/a.ts', "import type { X } from '../client/client.js';"), ['layering']);
  assert.deepEqual(kinds('server/a.ts', "import { main } from '../cli/main.js';"), ['layering']);
  assert.deepEqual(kinds('liveness/a.ts', 'const t = Date.now();'), ['ambient-time']);
  assert.deepEqual(kinds('time/wheel.ts', 'setTimeout(() => {}, 1);'), ['ambient-time']);
  assert.deepEqual(kinds('time/clock.ts', 'const t = performance.now();'), []);
  // Allowed: down the layers, sideways within a folder, builtins outside the core, words in comments.
  assert.deepEqual(kinds('connection/a.ts', "import { Heartbeat } from '../liveness/heartbeat.js';"), []);
  assert.deepEqual(kinds('liveness/a.ts', "import { PING_ID_MODULO } from '../protocol/frames.js';"), []);
  assert.deepEqual(kinds('transport/tcp.ts', "import net from 'node:net'; const b = Buffer.alloc(1);"), []);
  assert.deepEqual(kinds('protocol/a.ts', "// no Buffer, no 'node:fs', no setTimeout\nconst s = 'Buffer';"), []);
  assert.deepEqual(kinds('time/a.ts', 'const o = { performance: 1 }; o.performance;'), []);
});
