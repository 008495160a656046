// incrBy (see "Integer values" in docs/design-notes.md): values hold the canonical decimal text of
// a signed 64-bit integer; a missing key counts as 0; non-integers and overflow are refused with
// INVALID_ARGUMENT and an ErrorDetail, changing nothing; values past 2^53 stay exact.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorDetail, MIB, Status, Store, statusName } from '../../dataplane/store/index.js';
import { INT64_MAX, INT64_MIN, NOT_INTEGER_TEXTS } from '../support/integerText.js';

function counterStore(): Store {
  return new Store({ memoryLimitBytes: 4 * MIB, segmentSizeBytes: 64 * 1024, valueLengthMax: 4096, indexBucketCountInitial: 16 });
}

function put(store: Store, key: Buffer, text: string): void {
  const value = Buffer.from(text);
  assert.equal(store.put(key, 0, key.length, value, 0, value.length), Status.OK);
}

function read(store: Store, key: Buffer): string {
  assert.equal(statusName(store.get(key, 0, key.length)), 'OK');
  return store.resultValue().toString();
}

function incr(store: Store, key: Buffer, delta: number): Status {
  return store.incrBy(key, 0, key.length, delta);
}

test('incrBy: a missing key counts as 0; the result is stored as decimal text', () => {
  const store = counterStore();
  const key = Buffer.from('hits');
  assert.equal(incr(store, key, 5), Status.OK);
  assert.equal(store.resultInteger, 5);
  assert.equal(store.resultValue().toString(), '5', 'the result fields hold the new value');
  const v1 = store.resultVersion;
  assert.equal(read(store, key), '5');
  assert.equal(incr(store, key, -12), Status.OK);
  assert.equal(store.resultInteger, -7);
  assert.equal(read(store, key), '-7');
  assert.ok(store.resultVersion > v1, 'every increment is a write with a new version');
  assert.equal(incr(store, key, 7), Status.OK);
  assert.equal(read(store, key), '0');
  assert.equal(incr(store, key, 0), Status.OK);
  assert.equal(read(store, key), '0');
  const fresh = Buffer.from('fresh');
  assert.equal(incr(store, fresh, 0), Status.OK, 'incrBy 0 on a missing key creates it');
  assert.equal(read(store, fresh), '0');
});

test('incrBy: builds on values put as text, including negative ones', () => {
  const store = counterStore();
  const key = Buffer.from('n');
  put(store, key, '10');
  assert.equal(incr(store, key, 5), Status.OK);
  assert.equal(read(store, key), '15');
  put(store, key, '-9');
  assert.equal(incr(store, key, 10), Status.OK);
  assert.equal(read(store, key), '1');
});

test('incrBy: a value that is not a canonical int64 is INVALID_ARGUMENT / VALUE_NOT_INTEGER, value untouched', () => {
  const store = counterStore();
  const key = Buffer.from('text');
  for (const text of [...NOT_INTEGER_TEXTS, 'abc', '12a', '\u0000', '1 2']) {
    put(store, key, text);
    const version = store.get(key, 0, key.length) === Status.OK ? store.resultVersion : -1;
    assert.equal(statusName(incr(store, key, 1)), 'INVALID_ARGUMENT', JSON.stringify(text));
    assert.equal(store.errorDetail, ErrorDetail.VALUE_NOT_INTEGER, JSON.stringify(text));
    assert.equal(read(store, key), text);
    assert.equal(store.resultVersion, version, 'no write happened');
  }
});

test('incrBy: int64 overflow is INVALID_ARGUMENT / INCREMENT_OVERFLOW, value untouched', () => {
  const store = counterStore();
  const key = Buffer.from('edge');
  const cases: Array<[bigint, number]> = [
    [INT64_MAX, 1], [INT64_MAX - 5n, 6], [INT64_MIN, -1], [INT64_MIN + 100n, -101],
    [INT64_MAX - BigInt(Number.MAX_SAFE_INTEGER) + 1n, Number.MAX_SAFE_INTEGER],
    [INT64_MIN + BigInt(Number.MAX_SAFE_INTEGER) - 1n, -Number.MAX_SAFE_INTEGER],
  ];
  for (const [start, delta] of cases) {
    put(store, key, String(start));
    assert.equal(statusName(incr(store, key, delta)), 'INVALID_ARGUMENT', `${start} + ${delta}`);
    assert.equal(store.errorDetail, ErrorDetail.INCREMENT_OVERFLOW, `${start} + ${delta}`);
    assert.equal(read(store, key), String(start));
  }
  // One short of overflowing is fine, both ways.
  put(store, key, String(INT64_MAX - 1n));
  assert.equal(incr(store, key, 1), Status.OK);
  assert.equal(store.resultInteger, INT64_MAX);
  assert.equal(read(store, key), '9223372036854775807');
  put(store, key, String(INT64_MIN + 1n));
  assert.equal(incr(store, key, -1), Status.OK);
  assert.equal(store.resultInteger, INT64_MIN);
  assert.equal(read(store, key), '-9223372036854775808');
});

test('incrBy: results beyond 2^53 are exact bigints; safe results are numbers', () => {
  const store = counterStore();
  const key = Buffer.from('big');
  const safe = Number.MAX_SAFE_INTEGER;
  assert.equal(incr(store, key, safe), Status.OK);
  assert.equal(store.resultInteger, safe);
  assert.equal(incr(store, key, 1), Status.OK);
  assert.equal(store.resultInteger, 2n ** 53n, '2^53 is not a safe integer: a bigint');
  assert.equal(incr(store, key, 1), Status.OK);
  assert.equal(store.resultInteger, 2n ** 53n + 1n, '2^53 + 1 has no double: exact only as a bigint');
  assert.equal(read(store, key), '9007199254740993');
  let expected = 2n ** 53n + 1n;
  for (let i = 0; i < 200; i++) {
    const delta = (i % 2 === 0 ? 1 : -1) * (safe - i * 7919);
    expected += BigInt(delta);
    assert.equal(incr(store, key, delta), Status.OK);
    assert.equal(BigInt(store.resultInteger), expected, `step ${i}`);
    assert.equal(read(store, key), String(expected));
  }
  // Back into the safe range: a number again.
  put(store, key, String(2n ** 53n + 10n));
  assert.equal(incr(store, key, -20), Status.OK);
  assert.equal(store.resultInteger, 2 ** 53 - 10);
  assert.equal(typeof store.resultInteger, 'number');
  // Just past the fast path's 15 digits, and 19-digit values.
  put(store, key, '999999999999999');
  assert.equal(incr(store, key, 1), Status.OK);
  assert.equal(read(store, key), '1000000000000000');
  put(store, key, '-1234567890123456789');
  assert.equal(incr(store, key, -1), Status.OK);
  assert.equal(store.resultInteger, -1234567890123456790n);
});

test('incrBy: on a key with a value of another length, and of the same length, keeps other keys intact', () => {
  const store = counterStore();
  const a = Buffer.from('a');
  const b = Buffer.from('b');
  put(store, a, '99');
  put(store, b, 'neighbour');
  assert.equal(incr(store, a, 1), Status.OK); // "99" -> "100": a longer record
  assert.equal(incr(store, a, 1), Status.OK); // "100" -> "101": same size
  assert.equal(read(store, a), '101');
  assert.equal(read(store, b), 'neighbour');
  assert.equal(store.stats().keyCount, 2);
});
