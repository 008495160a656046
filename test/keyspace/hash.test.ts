// The key hash must be MurmurHash3_x86_128, seed 0, low 64 bits, bit for bit: clients, pods and
// the operator all route by it (see "Key hash" in docs/design-notes.md). Checked against an
// independent implementation, murmurhash3js-revisited, whose x86.hash128 returns the hex of
// h1 h2 h3 h4 in that order; our 64-bit value is h2:h1, i.e. hex digits [8, 16) then [0, 8).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import murmurHash3 from 'murmurhash3js-revisited';
import { KeyHasher, keyHash64 } from '../../proto/keyspace/hash.js';
import { Random } from '../support/random.js';
import { replayHint, seedFromEnvironment } from '../support/environment.js';

/** Reference hash of the bytes, no tag handling: h2:h1 of MurmurHash3_x86_128 with seed 0. */
function referenceHash64(bytes: Uint8Array): bigint {
  const hex = murmurHash3.x86.hash128(Uint8Array.from(bytes), 0);
  assert.equal(hex.length, 32, 'reference returns 32 hex digits');
  const h1 = BigInt('0x' + hex.slice(0, 8));
  const h2 = BigInt('0x' + hex.slice(8, 16));
  return (h2 << 32n) | h1;
}

function hex64(value: bigint): string {
  return '0x' + value.toString(16).padStart(16, '0');
}

test('hashBytes: matches MurmurHash3_x86_128 seed 0 (h2:h1) for random bytes of length 0..100', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const hasher = new KeyHasher();
  for (let length = 0; length <= 100; length++) {
    for (let round = 0; round < 20; round++) {
      const bytes = random.bytes(length);
      const expected = referenceHash64(bytes);
      // At a non-zero offset inside a larger buffer, as the store hashes slices of its segments.
      const offset = random.between(0, 7);
      const frame = Buffer.concat([random.bytes(offset), bytes, random.bytes(5)]);
      hasher.hashBytes(frame, offset, length);
      const actual = (BigInt(hasher.hi) << 32n) | BigInt(hasher.lo);
      assert.equal(hex64(actual), hex64(expected), `length ${length} bytes ${bytes.toString('hex')} (${replayHint(seed)})`);
    }
  }
});

test('keyHash64: matches the reference for keys without a tag, incl. the empty key and known vectors', () => {
  // Vector from the reference package's README (x86.hash128 of this text).
  const text = Buffer.from("I will not buy this tobacconist's, it is scratched.");
  assert.equal(murmurHash3.x86.hash128(Uint8Array.from(text)), '9b5b7ba2ef3f7866889adeaf00f3f98e');
  assert.equal(hex64(keyHash64(text)), '0xef3f78669b5b7ba2');
  // MurmurHash3_x86_128 of the empty input with seed 0 is all zeros.
  assert.equal(keyHash64(new Uint8Array(0)), 0n);
  for (const key of ['a', 'ab', 'abc', 'abcd', 'user:42:cart', '0123456789abcdef', '0123456789abcdefX']) {
    const bytes = Buffer.from(key);
    assert.equal(hex64(keyHash64(bytes)), hex64(referenceHash64(bytes)), key);
  }
});

test('keyHash64: hashes only the {tag} when braces enclose at least one byte', () => {
  const hash = (key: string): bigint => keyHash64(Buffer.from(key, 'latin1'));
  const ref = (bytes: string): bigint => referenceHash64(Buffer.from(bytes, 'latin1'));
  assert.equal(hash('a{x}b'), hash('c{x}d'));
  assert.equal(hash('a{x}b'), ref('x'));
  assert.equal(hash('user:{42}:cart'), hash('user:{42}:profile'));
  assert.equal(hash('{42}'), ref('42'));
  assert.equal(hash('{user1000}.following'), ref('user1000'));
  // The first '{' and the first '}' after it delimit the tag.
  assert.equal(hash('{{x}}'), ref('{x'));
  assert.equal(hash('a}b{c}d'), ref('c'));
  assert.equal(hash('a{b}c{d}e'), ref('b'));
  assert.equal(hash('x{}}y'), ref('x{}}y'), 'an empty tag right after the first { means: hash the whole key');
});

test('keyHash64: an empty {} or a { without a closing } hashes the whole key', () => {
  const cases = ['a{}b', '{}', '{}{x}', 'foo{}{bar}', 'a{x', '{', '}', 'abc{', 'a}{', '}{x', 'x{}'];
  for (const key of cases) {
    const bytes = Buffer.from(key, 'latin1');
    assert.equal(hex64(keyHash64(bytes)), hex64(referenceHash64(bytes)), key);
  }
  assert.notEqual(keyHash64(Buffer.from('a{}b')), keyHash64(Buffer.from('c{}d')));
});

test('KeyHasher.hashKey: honours a tag inside a slice of a larger buffer', () => {
  const frame = Buffer.from('XXXX{q}:1YYYY', 'latin1');
  const hasher = new KeyHasher();
  hasher.hashKey(frame, 4, 5); // "{q}:1"
  assert.equal((BigInt(hasher.hi) << 32n) | BigInt(hasher.lo), referenceHash64(Buffer.from('q')));
  // A brace outside the slice must not count.
  const outside = Buffer.from('{a}bc', 'latin1');
  hasher.hashKey(outside, 3, 2); // "bc"
  assert.equal((BigInt(hasher.hi) << 32n) | BigInt(hasher.lo), referenceHash64(Buffer.from('bc')));
});

test('keyHash64: random keys with random braces agree with a reference tag rule', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const alphabet = Buffer.from('ab{}');
  for (let round = 0; round < 3000; round++) {
    const length = random.between(1, 12);
    const key = Buffer.alloc(length);
    for (let i = 0; i < length; i++) key[i] = random.pick([...alphabet]);
    const open = key.indexOf(0x7b);
    const close = open < 0 ? -1 : key.indexOf(0x7d, open + 1);
    const hashed = close > open + 1 ? key.subarray(open + 1, close) : key;
    assert.equal(keyHash64(key), referenceHash64(hashed), `key "${key.toString('latin1')}" (${replayHint(seed)})`);
  }
});
