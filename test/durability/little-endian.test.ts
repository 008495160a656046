// dataplane/durability/littleEndian.ts: the byte-load reads recovery uses per log entry give what
// Buffer's validating readers give, at every alignment, for values across the whole range
// (the top bit set included: the result is unsigned).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uint16At, uint32At } from '../../dataplane/durability/littleEndian.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

test('littleEndian: uint32At and uint16At read what readUInt32LE and readUInt16LE read', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const bytes = Buffer.alloc(4096);
  for (let i = 0; i < bytes.length; i++) bytes[i] = random.below(256);
  bytes.writeUInt32LE(0xffff_ffff, 0);
  bytes.writeUInt32LE(0x8000_0000, 4);
  bytes.writeUInt32LE(0x7fff_ffff, 8);
  for (let at = 0; at + 4 <= bytes.length; at++) {
    assert.equal(uint32At(bytes, at), bytes.readUInt32LE(at), `uint32 at ${at} ${replayHint(seed)}`);
    assert.equal(uint16At(bytes, at), bytes.readUInt16LE(at), `uint16 at ${at} ${replayHint(seed)}`);
  }
  assert.equal(uint32At(bytes, 0), 0xffff_ffff);
  assert.equal(uint32At(bytes, 4), 0x8000_0000);
  // A view into a larger buffer reads from its own start.
  const view = new Uint8Array(bytes.buffer, 3, 16);
  assert.equal(uint32At(view, 1), bytes.readUInt32LE(4));
});
