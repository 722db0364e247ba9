/**
 * JsonFileNatStore (src/client/nat-file-store.ts) and the pure store helpers
 * (src/liveness/nat-store.ts): atomic JSON file in a temp dir, corrupt files, eviction.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonFileNatStore } from '../../../src/client/nat-file-store.js';
import { MemoryNatStore, networkKey } from '../../../src/liveness/nat-store.js';
import { NatLearner, type NatLearnerState } from '../../../src/liveness/nat-learner.js';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'lifeline-nat-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function stateAt(updatedAtMs: number, targetMs = 50_000): NatLearnerState {
  return { ...new NatLearner().state, targetMs, updatedAtMs };
}

test('nat-file-store - save then load, across instances (a restarted process)', (t) => {
  const path = join(tempDir(t), 'nested', 'nat.json');
  const a = new JsonFileNatStore(path);
  assert.equal(a.load('k'), undefined, 'missing file: nothing learned yet');
  a.save('k', stateAt(1, 42_000));
  const b = new JsonFileNatStore(path);
  assert.deepEqual(b.load('k'), stateAt(1, 42_000));
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(raw.version, 1);
  assert.deepEqual(Object.keys(raw.entries), ['k']);
  // A learner built from it resumes the learned interval.
  assert.equal(new NatLearner({}, b.load('k')).state.targetMs, 42_000);
});

test('nat-file-store - writes are atomic: temp file + rename, no temp left behind', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'nat.json');
  const store = new JsonFileNatStore(path);
  for (let i = 0; i < 20; i++) store.save(`k${i % 3}`, stateAt(i));
  assert.deepEqual(readdirSync(dir), ['nat.json']);
  assert.doesNotThrow(() => JSON.parse(readFileSync(path, 'utf8')));
});

test('nat-file-store - a corrupt or foreign file loads as empty, never throws, and is replaced on save', (t) => {
  const dir = tempDir(t);
  for (const [i, text] of ['{"version":1,"entries":{"k":', 'null', '[]', '{"version":9,"entries":{}}', '\u0000\u0001', '{"version":1,"entries":{"k":5,"j":[1]}}'].entries()) {
    const path = join(dir, `bad${i}.json`);
    writeFileSync(path, text);
    const errors: unknown[] = [];
    const store = new JsonFileNatStore(path, { onError: (e) => errors.push(e) });
    assert.equal(store.load('k'), undefined, `file ${JSON.stringify(text)}`);
    store.save('k', stateAt(1));
    assert.deepEqual(new JsonFileNatStore(path).load('k'), stateAt(1));
  }
  // An entry that is an object but not a valid state is handed to NatLearner, which starts afresh.
  const path = join(dir, 'odd.json');
  writeFileSync(path, JSON.stringify({ version: 1, entries: { k: { version: 1, phase: 'weird' } } }));
  const learner = new NatLearner({}, new JsonFileNatStore(path).load('k'));
  assert.equal(learner.currentIntervalMs(0), 15_000);
});

test('nat-file-store - an unreadable path is reported, not thrown', (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'is-a-dir');
  mkdirSync(path);
  const errors: unknown[] = [];
  const store = new JsonFileNatStore(path, { onError: (e) => errors.push(e) });
  assert.equal(store.load('k'), undefined);
  assert.doesNotThrow(() => store.save('k', stateAt(1)));
  assert.ok(errors.length >= 2, 'read and write failures both reported');
  assert.deepEqual(readdirSync(dir), ['is-a-dir'], 'no temp file left');
});

test('nat-file-store - bounded: the least recently updated key is evicted, never the one being saved', (t) => {
  const path = join(tempDir(t), 'nat.json');
  const store = new JsonFileNatStore(path, { maxKeys: 3 });
  store.save('a', stateAt(10));
  store.save('b', stateAt(30));
  store.save('c', stateAt(20));
  store.save('d', stateAt(5)); // oldest timestamp of all, but it is the one being saved
  assert.deepEqual(new JsonFileNatStore(path).keys().sort(), ['b', 'c', 'd']);
  store.save('e', stateAt(40));
  assert.deepEqual(new JsonFileNatStore(path).keys().sort(), ['b', 'c', 'e']);
  assert.throws(() => new JsonFileNatStore(path, { maxKeys: 0 }), RangeError);
});

test('nat-store - MemoryNatStore copies, and evicts the least recently saved key', () => {
  const store = new MemoryNatStore(2);
  const s = stateAt(1);
  store.save('a', s);
  s.targetMs = 1;
  assert.equal(store.load('a')!.targetMs, 50_000, 'saved a copy');
  store.save('b', stateAt(2));
  store.save('a', stateAt(3));
  store.save('c', stateAt(4));
  assert.equal(store.load('b'), undefined);
  assert.ok(store.load('a') && store.load('c'));
  assert.equal(store.size, 2);
});

test('nat-store - networkKey: server and local address, normalised', () => {
  assert.equal(networkKey('Example.com:7400', '192.168.1.20'), 'example.com:7400|192.168.1.20');
  assert.equal(networkKey('example.com:7400', '::ffff:192.168.1.20'), networkKey('example.com:7400', '192.168.1.20'));
  assert.equal(networkKey('[::1]:7400', 'FE80::1'), '[::1]:7400|fe80::1');
  assert.notEqual(networkKey('a:1', '10.0.0.1'), networkKey('a:1', '10.0.0.2'));
});
