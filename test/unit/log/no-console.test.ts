/**
 * Library code writes nothing to the console (issue 13 item 2, docs/spec/0016-logging.md): it
 * logs through its `logger` option. Only the edges — cli/, lab/, bench/ — may print. Parsed with
 * the TypeScript compiler, so `console` in a comment or a string does not count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'src');
const EDGES = new Set(['cli', 'lab', 'bench']);

function libraryFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return dir === SRC && EDGES.has(name) ? [] : libraryFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

/** `console.x(...)`, `console['x'](...)`, and any other reference to the `console` global. */
export function consoleUses(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isIdentifier(node) && node.text === 'console') {
      const parent = node.parent;
      // A property named `console` (obj.console, { console: … }) is not the global.
      const isPropertyName = (ts.isPropertyAccessExpression(parent) && parent.name === node) || (ts.isPropertyAssignment(parent) && parent.name === node);
      if (!isPropertyName) found.push(`${fileName}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('no console - the detector finds console calls and ignores comments, strings and property names', () => {
  assert.deepEqual(consoleUses('a.ts', 'console.log(1);\nconst c = console;\n'), ['a.ts:1', 'a.ts:2']);
  assert.deepEqual(consoleUses('b.ts', "// console.log\nconst s = 'console.warn';\nx.console = 1;\n"), []);
});

test('no console - src/ outside cli/, lab/ and bench/ never touches console', () => {
  const files = libraryFiles(SRC);
  assert.ok(files.length > 50, `found only ${files.length} files under src/`);
  const uses = files.flatMap((file) => consoleUses(relative(SRC, file).split(sep).join('/'), readFileSync(file, 'utf8')));
  assert.deepEqual(uses, [], `library code must log through the logger option: ${uses.join(', ')}`);
});
