import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pongBytes } from '../../../src/connection/pong-bytes.js';
import { encodePong } from '../../../src/protocol/encode.js';
import { PEER_STATUSES } from '../../../src/protocol/frames.js';

test('pongBytes - the same bytes as encodePong for every id and status, shared after first use', () => {
  for (const status of PEER_STATUSES) {
    for (let id = 0; id < 32; id++) {
      for (const load of [0, 1, 127, 254, 255]) {
        const bytes = pongBytes(id, status, load);
        assert.deepEqual([...bytes], [...encodePong(id, status, load)], `${status} ${id} ${load}`);
        assert.equal(pongBytes(id, status, load), bytes, 'the cached frame is returned again');
      }
    }
  }
});

test('pongBytes - rejects what encodePong rejects', () => {
  for (const [id, load] of [
    [32, 0],
    [-1, 0],
    [1.5, 0],
    [0, 256],
    [0, -1],
    [0, 0.5],
  ] as const) {
    assert.throws(() => pongBytes(id, 'ok', load), (err: Error) => err instanceof RangeError || err instanceof TypeError);
  }
  assert.throws(() => pongBytes(0, 'sleepy' as never, 0));
});
