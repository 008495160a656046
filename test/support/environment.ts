// Test run parameters taken from the environment.
//
//   SLICEKV_SEED=<n>       replay a randomised test (decimal or 0x-prefixed hex); random if unset
//   SLICEKV_TEST_LONG=1    long mode: randomised tests run many more operations (npm run test:long)

import { randomInt } from 'node:crypto';

/** The seed for a randomised test: SLICEKV_SEED if set, else a fresh random one. */
export function seedFromEnvironment(): number {
  const text = process.env.SLICEKV_SEED;
  if (text === undefined || text === '') return randomInt(0, 0x1_0000_0000);
  const seed = Number(text);
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffff_ffff) {
    throw new Error(`SLICEKV_SEED must be an integer in [0, 2^32), got "${text}"`);
  }
  return seed;
}

export function isLongMode(): boolean {
  return process.env.SLICEKV_TEST_LONG === '1';
}

/** How to replay a run, for failure messages. */
export function replayHint(seed: number): string {
  return `replay with SLICEKV_SEED=${seed}${isLongMode() ? ' SLICEKV_TEST_LONG=1' : ''}`;
}
