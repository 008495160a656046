// Pacing of a pre-copy by the load it competes with (StartMigration.yield_to_load): the copy
// takes CPU from the source, the target and, on a shared machine, the clients. The pacer watches
// the op rate the source serves on the range — the thing the copy must not hurt — against the rate
// measured just before the copy, and sleeps between chunks: longer (doubling) while the rate is
// below PACE_TARGET of that, shorter (halving) once it is back. A range with no load is copied at
// full speed. See docs/migration.md, "Pacing".

import { setTimeout as sleep } from 'node:timers/promises';

/** The share of the range's op rate before the copy that the copy should leave. */
export const PACE_TARGET = 0.9;
/** How long the rate before the copy is measured. */
export const BASELINE_MS = 250;
/** Rates are compared over windows of at least this long. */
const WINDOW_MS = 50;
const DELAY_MS_MAX = 64;

export interface PacedLoad {
  /** Ops served on the range so far (-1: not known, e.g. the range was just re-assigned). */
  servedOps(): number;
  nowMs(): number;
}

export class CopyPacer {
  private baselinePerMs = 0;
  private lastOps = -1;
  private lastAtMs = 0;
  /** Current pause between chunks (see measureBaseline for the first). */
  delayMs = 0;
  /** Sum of the pauses taken, for MigrationStatus. */
  pausedMsTotal = 0;

  constructor(private readonly load: PacedLoad) {}

  /** Measures the range's op rate before the copy. */
  async measureBaseline(): Promise<void> {
    const ops = this.load.servedOps();
    const at = this.load.nowMs();
    await sleep(BASELINE_MS);
    const now = this.load.servedOps();
    if (ops >= 0 && now >= ops) this.baselinePerMs = (now - ops) / Math.max(1, this.load.nowMs() - at);
    // Under load the copy starts slow (the longest pause, halved while the load keeps its rate):
    // started at full speed, it cost the load a dip before the first window could show it.
    this.delayMs = this.baselinePerMs > 0 ? DELAY_MS_MAX : 0;
    this.lastOps = now;
    this.lastAtMs = this.load.nowMs();
  }

  /** Called between chunks: adjusts the pause from the rate since the last window, then takes it. */
  async pace(): Promise<void> {
    const ops = this.load.servedOps();
    const at = this.load.nowMs();
    if (at - this.lastAtMs >= WINDOW_MS) {
      if (ops >= 0 && this.lastOps >= 0 && ops >= this.lastOps && this.baselinePerMs > 0) {
        const rate = (ops - this.lastOps) / (at - this.lastAtMs);
        this.delayMs = rate < PACE_TARGET * this.baselinePerMs ? Math.min(DELAY_MS_MAX, Math.max(1, this.delayMs * 2)) : Math.floor(this.delayMs / 2);
      }
      this.lastOps = ops;
      this.lastAtMs = at;
    }
    if (this.delayMs === 0) return;
    this.pausedMsTotal += this.delayMs;
    await sleep(this.delayMs);
  }
}

