// Key generators for store tests.

import type { Random } from './random.js';

/** A readable, unique key for item `i`: `prefix:i`. */
export function numberedKey(prefix: string, i: number): Buffer {
  return Buffer.from(`${prefix}:${i}`, 'latin1');
}

export interface KeyUniverseOptions {
  readonly lengthMin: number;
  readonly lengthMax: number;
  /**
   * Share of keys carrying a `{tag}`, about five keys per tag, so that small groups of keys have
   * one hash (same bucket, same index tag) and lookups must compare key bytes.
   */
  readonly taggedShare: number;
}

/** `count` distinct random keys (arbitrary bytes, some sharing a `{tag}`). */
export function keyUniverse(random: Random, count: number, options: KeyUniverseOptions): Buffer[] {
  const seen = new Set<string>();
  const keys: Buffer[] = [];
  const tagCount = Math.max(1, Math.floor((count * options.taggedShare) / 5));
  const tags = Array.from({ length: tagCount }, (_, i) => Buffer.from(`{t${i}}`));
  while (keys.length < count) {
    let key: Buffer;
    if (options.taggedShare > 0 && random.chance(options.taggedShare) && options.lengthMax >= 16) {
      const tag = random.pick(tags);
      const tail = random.bytes(random.between(0, Math.min(8, options.lengthMax - tag.length - 1)));
      key = Buffer.concat([Buffer.from('k'), tag, tail]).subarray(0, options.lengthMax);
    } else {
      key = random.bytes(random.between(options.lengthMin, options.lengthMax));
    }
    const name = key.toString('latin1');
    if (seen.has(name)) continue;
    seen.add(name);
    keys.push(key);
  }
  return keys;
}
