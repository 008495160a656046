// The source's hot-key sampler: bounded memory whatever the stream, and under a skewed stream
// (zipf 0.99 over 100k keys, as YCSB) it names the truly hottest keys.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HotKeySampler } from '../../dataplane/migration/hotKeySampler.js';
import { Random } from '../support/random.js';
import { seedFromEnvironment, replayHint } from '../support/environment.js';

/** Zipf(theta) ranks over n keys by inverse CDF on a precomputed table. */
function zipfSampler(n: number, theta: number, random: Random): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, theta);
  return () => {
    const u = random.float() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

test('hot-key sampler: bounded counters; finds the hottest keys of a zipf stream', () => {
  const seed = seedFromEnvironment();
  const random = new Random(seed);
  const sampler = new HotKeySampler(1024);
  const next = zipfSampler(100_000, 0.99, random);
  let sizeMax = 0;
  for (let i = 0; i < 200_000; i++) {
    const rank = next();
    const key = Buffer.from(`key-${rank}`);
    sampler.observe(key, 0, key.length, rank);
    sizeMax = Math.max(sizeMax, sampler.size);
  }
  assert.ok(sizeMax <= 2048, `at most 2 x capacity counters (${sizeMax})`);
  const hottest = sampler.hottest(256).map(String);
  assert.equal(hottest.length, 256);
  const top64 = [...Array(64).keys()].map((rank) => `key-${rank}`);
  const found = top64.filter((key) => hottest.includes(key)).length;
  assert.ok(found >= 60, `the 64 hottest keys are among the 256 named: ${found} (${replayHint(seed)})`);
  assert.equal(hottest[0], 'key-0', 'the hottest first');
  // Filtered by the hash top word given with each key (here its rank): only even ranks, hottest first.
  const even = sampler.hottest(32, (hi) => hi % 2 === 0).map(String);
  assert.equal(even.length, 32);
  assert.ok(even.every((key) => Number(key.slice(4)) % 2 === 0), `only keys the filter keeps: ${even.join(' ')}`);
  assert.equal(even[0], 'key-0');
  const topEven = [...Array(16).keys()].map((i) => `key-${2 * i}`);
  assert.ok(topEven.filter((key) => even.includes(key)).length >= 14, `the hottest even keys are named (${replayHint(seed)})`);
});

test('hot-key sampler: counts saturate without disturbing the hash kept with them', () => {
  const sampler = new HotKeySampler(4);
  const hot = Buffer.from('hot');
  for (let i = 0; i < 0x10_0000 + 10; i++) sampler.observe(hot, 0, hot.length, 0xffff_ffff);
  const cold = Buffer.from('cold');
  sampler.observe(cold, 0, cold.length, 7);
  assert.deepEqual(sampler.hottest(2).map(String), ['hot', 'cold']);
  assert.deepEqual(sampler.hottest(2, (hi) => hi === 0xffff_ffff).map(String), ['hot']);
  assert.deepEqual(sampler.hottest(2, (hi) => hi === 7).map(String), ['cold']);
});

test('hot-key sampler: a stream of distinct keys keeps memory bounded', () => {
  const sampler = new HotKeySampler(100);
  for (let i = 0; i < 100_000; i++) {
    const key = Buffer.from(`distinct-${i}`);
    sampler.observe(key, 0, key.length, i);
  }
  assert.ok(sampler.size <= 200);
  assert.equal(sampler.hottest(1000).length, sampler.size);
});
