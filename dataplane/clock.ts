// Time as a seam (STYLE.md, "Seams for deterministic simulation"): code that expires leases or
// paces work takes a Clock, so tests can drive time instead of waiting for it.

export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
};

/** A clock tests move by hand. */
export class ManualClock implements Clock {
  constructor(private timeMs = 0) {}

  nowMs(): number {
    return this.timeMs;
  }

  advance(ms: number): void {
    this.timeMs += ms;
  }
}
