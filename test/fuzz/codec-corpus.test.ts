/**
 * Replays the corpora of the codec fuzz targets (test/corpus/ws, udp, client/*.jsonl, written by
 * `npm run fuzz -- --target …`, test/fuzz/codec-loop.ts): every saved input still passes its
 * target's checks (ws-target.ts, udp-target.ts, client-target.ts — chunked and whole, against
 * their models), keeps the outcome it had when it was saved (its class up to the message, which
 * names the rule for reading), and stays fast. A crash, slow or hang entry must simply pass now
 * that its cause is fixed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { loadCorpus, type CodecTarget } from './corpus.js';
import { codecInputOf, runCodecInput } from './codec-loop.js';

const CORPUS = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'corpus');
/** Far above any corpus input's time on a quiet machine (≤ a few ms): only a real regression trips it. */
const PER_INPUT_BOUND_MS = 2000;

/** Classes each corpus must reach, so that an emptied or truncated corpus fails (not vacuous). */
const MUST_HAVE: Record<CodecTarget, readonly string[]> = {
  ws: ['ok', 'ok close', 'LL_ERR_WS_PROTOCOL', 'LL_ERR_WS_TEXT_MESSAGE', 'LL_ERR_WS_MESSAGE_TOO_LARGE', 'close 1007'],
  udp: ['server initial', 'server short', 'client accept', 'client short', 'malformed', 'stream ok', 'stream LL_ERR_'],
  client: ['open', 'refused protocol-error', 'refused unsupported-version', 'refused goaway', 'refused handshake-timeout', 'refused transport-closed', 'refused connect-failed'],
};

for (const target of ['ws', 'udp', 'client'] as const) {
  test(`fuzz corpus - ${target}: every saved input keeps its outcome class, passes its checks and stays fast`, async () => {
    const corpus = loadCorpus(join(CORPUS, target));
    const classes = corpus.map(({ entry }) => entry.class ?? '').join(' | ');
    for (const needle of MUST_HAVE[target]) assert.ok(classes.includes(needle), `the ${target} corpus has no "${needle}" entry`);
    for (const { file, line, entry } of corpus) {
      const where = `${target}/${file}:${line}`;
      assert.equal(entry.target, target, `${where}: entry for another target`);
      const started = performance.now();
      const cls = await runCodecInput(target, codecInputOf(entry));
      const ms = performance.now() - started;
      // The outcome up to its message: a reworded message in src/ is not a regression.
      if (entry.class !== undefined) assert.equal(cls.split(': ')[0], entry.class.split(': ')[0], `${where}: outcome class (${entry.class})`);
      assert.ok(ms < PER_INPUT_BOUND_MS, `${where}: ${ms.toFixed(1)} ms`);
    }
  });
}
