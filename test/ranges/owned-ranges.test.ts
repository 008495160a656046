import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OwnedRanges, RangeCheck, wholeKeyspace, type OwnedRange } from '../../dataplane/ranges/ownedRanges.js';
import { KeyHasher, keyHash64 } from '../../proto/keyspace/hash.js';
import { KEYSPACE_END, evenSplit } from '../../proto/keyspace/range.js';
import { Random } from '../support/random.js';
import { seedFromEnvironment } from '../support/environment.js';

function halves(hash: bigint): [number, number] {
  return [Number(hash >> 32n), Number(hash & 0xffff_ffffn)];
}

function check(owned: OwnedRanges, hash: bigint, view: number): RangeCheck {
  const [hi, lo] = halves(hash);
  return owned.check(hi, lo, view);
}

test('check: serves only at the range view, refuses other views and unowned hashes', () => {
  const owned = new OwnedRanges();
  const [a, , c] = evenSplit(3);
  owned.assign([{ ...a, view: 4 }, { ...c, view: 9 }]);
  assert.equal(check(owned, 0n, 4), RangeCheck.SERVE);
  assert.equal(check(owned, a.end - 1n, 4), RangeCheck.SERVE);
  assert.equal(check(owned, 0n, 3), RangeCheck.WRONG_VIEW);
  assert.equal(owned.currentView, 4);
  assert.equal(check(owned, a.end, 4), RangeCheck.NOT_OWNED, 'the first hash of the middle range');
  assert.equal(owned.currentView, 0);
  assert.equal(check(owned, KEYSPACE_END - 1n, 9), RangeCheck.SERVE, 'the last hash of the keyspace');
  assert.equal(check(owned, c.start - 1n, 9), RangeCheck.NOT_OWNED);
});

test('check: agrees with bigint arithmetic for random ranges and hashes', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  for (let round = 0; round < 50; round++) {
    const cuts = [...new Set(Array.from({ length: 1 + random.below(20) }, () => random.bigBelow(KEYSPACE_END - 1n) + 1n))].sort((x, y) => (x < y ? -1 : 1));
    const bounds = [0n, ...cuts, KEYSPACE_END];
    const all: OwnedRange[] = bounds.slice(1).map((end, i) => ({ start: bounds[i], end, view: 1 + random.below(1000) }));
    const mine = all.filter(() => random.chance(0.5));
    const owned = new OwnedRanges();
    owned.assign(mine);
    for (let i = 0; i < 200; i++) {
      const hash = random.chance(0.2) ? bounds[random.below(bounds.length - 1)] : random.bigBelow(KEYSPACE_END);
      const holder = mine.find((r) => hash >= r.start && hash < r.end);
      const expected = holder === undefined ? RangeCheck.NOT_OWNED : RangeCheck.SERVE;
      assert.equal(check(owned, hash, holder?.view ?? 1), expected, `seed ${seed} round ${round} hash ${hash}`);
    }
  }
});

test('assign: refuses overlapping ranges and bad views, keeping the old table', () => {
  const owned = new OwnedRanges();
  owned.assign([wholeKeyspace()]);
  const epoch = owned.epoch;
  assert.throws(() => owned.assign([{ start: 0n, end: 10n, view: 1 }, { start: 5n, end: 20n, view: 1 }]), RangeError);
  assert.throws(() => owned.assign([{ start: 0n, end: 10n, view: 0 }]), RangeError);
  assert.throws(() => owned.assign([{ start: 10n, end: 10n, view: 1 }]), RangeError);
  assert.equal(owned.epoch, epoch);
  assert.equal(check(owned, 12345n, 1), RangeCheck.SERVE);
});

test('split: both halves get view + 1, so ops at the old view are refused', () => {
  const owned = new OwnedRanges();
  owned.assign([{ start: 0n, end: KEYSPACE_END, view: 7 }]);
  const at = 1n << 63n;
  const [left, right] = owned.split({ start: 0n, end: KEYSPACE_END, view: 7 }, at);
  assert.deepEqual([left.view, right.view], [8, 8]);
  assert.equal(check(owned, at - 1n, 7), RangeCheck.WRONG_VIEW);
  assert.equal(check(owned, at - 1n, 8), RangeCheck.SERVE);
  assert.equal(check(owned, at, 8), RangeCheck.SERVE);
  assert.equal(owned.list().length, 2);
  assert.throws(() => owned.split(left, 0n), RangeError, 'split point on the start');
  assert.throws(() => owned.split({ ...left, view: 7 }, 5n), RangeError, 'stale view');
});

test('merge: adjacent ranges become one at max(view) + 1; non-adjacent ones are refused', () => {
  const owned = new OwnedRanges();
  const [a, b, c] = evenSplit(3);
  owned.assign([{ ...a, view: 2 }, { ...b, view: 5 }, { ...c, view: 1 }]);
  assert.throws(() => owned.merge({ ...a, view: 2 }, { ...c, view: 1 }), RangeError);
  const merged = owned.merge({ ...a, view: 2 }, { ...b, view: 5 });
  assert.deepEqual(merged, { start: a.start, end: b.end, view: 6 });
  assert.equal(check(owned, b.start, 5), RangeCheck.WRONG_VIEW);
  assert.equal(check(owned, b.start, 6), RangeCheck.SERVE);
});

test('check: a key routes by its {tag} hash like any other caller computes it', () => {
  const owned = new OwnedRanges();
  const hash = keyHash64(Buffer.from('user:{42}:cart'));
  owned.assign([{ start: hash, end: hash + 1n, view: 3 }]);
  const hasher = new KeyHasher();
  const key = Buffer.from('user:{42}:profile');
  hasher.hashKey(key, 0, key.length);
  assert.equal(owned.check(hasher.hi, hasher.lo, 3), RangeCheck.SERVE);
});
