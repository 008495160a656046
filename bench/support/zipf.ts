// Zipf-distributed ranks without rejection, after Gray et al., "Quickly Generating
// Billion-Record Synthetic Databases" (SIGMOD '94), as YCSB's ZipfianGenerator does it.
//
// Rank r in [0, n) is drawn with probability (1 / (r + 1)^θ) / zeta(n, θ). zeta(n, θ) is summed
// once in the constructor (O(n): about 0.3 s for n = 10^7); each draw is then one uniform number,
// two comparisons and at most one Math.pow. Rank 0 is the most popular; callers that want the
// popular keys spread over the key space map ranks through a random permutation (YCSB's
// "scrambled zipfian").

import type { Random } from '../../test/support/random.js';

/** zeta(n, θ) = sum for i = 1..n of 1 / i^θ. */
export function zeta(itemCount: number, theta: number): number {
  let sum = 0;
  for (let i = 1; i <= itemCount; i++) sum += 1 / Math.pow(i, theta);
  return sum;
}

export class ZipfGenerator {
  readonly itemCount: number;
  readonly theta: number;
  readonly zetaN: number;
  private readonly alpha: number;
  private readonly eta: number;
  /** u · zeta(n) below this draws rank 1 (below 1 draws rank 0). */
  private readonly rankOneThreshold: number;

  constructor(itemCount: number, theta: number, private readonly random: Random) {
    if (!(Number.isInteger(itemCount) && itemCount >= 2)) throw new RangeError(`zipf needs at least 2 items, got ${itemCount}`);
    if (!(theta > 0 && theta < 1)) throw new RangeError(`zipf theta must be in (0, 1), got ${theta}`);
    this.itemCount = itemCount;
    this.theta = theta;
    this.zetaN = zeta(itemCount, theta);
    const zeta2 = zeta(2, theta);
    this.alpha = 1 / (1 - theta);
    this.eta = (1 - Math.pow(2 / itemCount, 1 - theta)) / (1 - zeta2 / this.zetaN);
    this.rankOneThreshold = 1 + Math.pow(0.5, theta);
  }

  /** Probability of rank 0, the most popular item. */
  get topItemProbability(): number {
    return 1 / this.zetaN;
  }

  /** A rank in [0, itemCount). */
  next(): number {
    const u = this.random.float();
    const uz = u * this.zetaN;
    if (uz < 1) return 0;
    if (uz < this.rankOneThreshold) return 1;
    const rank = Math.floor(this.itemCount * Math.pow(this.eta * u - this.eta + 1, this.alpha));
    return rank < this.itemCount ? rank : this.itemCount - 1;
  }
}
