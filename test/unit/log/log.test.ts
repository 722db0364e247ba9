/** util/log.ts and util/session-tag.ts (docs/spec/0016-logging.md): level checks, formatting, the session tag. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import pino from 'pino';
import { formatDuration, formatRemote, isLogger, logEnabled, NO_LOG } from '../../../src/util/log.js';
import { sessionTag, sha256, SESSION_TAG_HEX } from '../../../src/util/session-tag.js';

test('log - NO_LOG is off at every level and is its own child', () => {
  for (const level of ['trace', 'debug', 'info', 'warn', 'error'] as const) assert.equal(logEnabled(NO_LOG, level), false);
  assert.equal(NO_LOG.child({ session: 'x' }), NO_LOG);
});

test('log - logEnabled follows a pino logger, including a level changed at run time', () => {
  const log = pino({ level: 'warn' }, { write() {} });
  assert.equal(logEnabled(log, 'info'), false);
  assert.equal(logEnabled(log, 'warn'), true);
  log.level = 'debug';
  assert.equal(logEnabled(log, 'debug'), true);
  assert.equal(logEnabled(log, 'trace'), false);
  log.level = 'silent';
  assert.equal(logEnabled(log, 'error'), false);
});

test('log - a logger without isLevelEnabled counts as on; isLogger accepts pino and refuses look-alikes', () => {
  const bare = { child: () => bare, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
  assert.equal(logEnabled(bare, 'trace'), true);
  assert.equal(isLogger(bare), true);
  assert.equal(isLogger(pino({ level: 'info' }, { write() {} })), true);
  assert.equal(isLogger(console), false); // no child()
  assert.equal(isLogger({ ...bare, warn: 'no' }), false);
  assert.equal(isLogger(undefined), false);
});

test('log - formatDuration rounds for people', () => {
  const table: Array<[number, string]> = [
    [0, '0 ms'],
    [12.4, '12 ms'],
    [999.4, '999 ms'],
    [1234.5678, '1.2 s'],
    [9949, '9.9 s'],
    [15_200, '15 s'],
    [59_400, '59 s'],
    [65_000, '1 min 05 s'],
    [3_599_000, '59 min 59 s'],
    [7_380_000, '2 h 03 min'],
    [-1, 'unknown'],
    [Number.NaN, 'unknown'],
  ];
  for (const [ms, text] of table) assert.equal(formatDuration(ms), text, `${ms} ms`);
});

test('log - formatRemote brackets IPv6 and says unknown when the transport does not know', () => {
  assert.equal(formatRemote('127.0.0.1', 4000), '127.0.0.1:4000');
  assert.equal(formatRemote('::1', 4000), '[::1]:4000');
  assert.equal(formatRemote('10.0.0.1', undefined), '10.0.0.1');
  assert.equal(formatRemote(undefined, 4000), 'unknown');
});

test('session tag - sha256 matches node:crypto for every length around the block boundaries and random inputs', () => {
  const lengths = [0, 1, 15, 16, 31, 32, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000];
  for (let i = 0; i < 50; i++) lengths.push(Math.floor(Math.random() * 300));
  for (const n of lengths) {
    const data = randomBytes(n);
    assert.equal(Buffer.from(sha256(data)).toString('hex'), createHash('sha256').update(data).digest('hex'), `length ${n}`);
  }
});

test('session tag - the first hex digits of SHA-256 over the id bytes: stable, short, and not a piece of the id', () => {
  for (let i = 0; i < 100; i++) {
    const id = randomBytes(16).toString('hex');
    const tag = sessionTag(id);
    assert.equal(tag.length, SESSION_TAG_HEX);
    assert.equal(tag, createHash('sha256').update(Buffer.from(id, 'hex')).digest('hex').slice(0, SESSION_TAG_HEX));
    assert.equal(sessionTag(id), tag);
    assert.ok(!id.includes(tag));
  }
  assert.equal(sessionTag(''), 'none');
});
