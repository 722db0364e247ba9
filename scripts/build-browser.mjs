#!/usr/bin/env node
// Builds the browser client (src/browser/index.ts) into one ESM file, dist/browser/lifeline.js,
// with esbuild (docs/spec/0011-transports.md §Browser client). Part of `npm run build`.
// The bundle must not pull in any node:* module or the `ws` package (which would quietly resolve
// to its browser stub): the build fails if it does, naming the importer.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export async function buildBrowserBundle({ outfile = 'dist/browser/lifeline.js', minify = false, write = true } = {}) {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['src/browser/index.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outfile,
    minify,
    sourcemap: write ? 'linked' : false,
    metafile: true,
    write,
    logLevel: 'silent',
  });
  const bad = [];
  for (const [input, info] of Object.entries(result.metafile.inputs)) {
    if (input.includes('node_modules/ws/')) bad.push(`${input} (the ws package)`);
    for (const imported of info.imports) if (imported.path.startsWith('node:') || imported.external) bad.push(`${input} imports ${imported.path}`);
  }
  if (bad.length > 0) throw new Error(`the browser bundle must be runtime-neutral:\n  ${bad.join('\n  ')}`);
  return result;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await buildBrowserBundle({ minify: process.argv.includes('--minify') });
  const out = Object.entries(result.metafile.outputs).find(([name]) => name.endsWith('.js'));
  console.log(`browser bundle: ${out[0]} (${(out[1].bytes / 1024).toFixed(1)} KiB)`);
}
