// How eagerly V8 optimizes code while a restarting pod recovers.
//
// A restart's recovery runs a lot of code once or a few times and a little of it very often. On
// the test VM (2 vCPUs) V8's compiler threads took ~290 ms of CPU during a 0.7 s restart, ~85% of
// it TurboFan, ~140 functions optimized: CPU the frame readers and the JavaScript thread needed.
// A 3x interrupt budget (a function must run three times as much bytecode before V8 considers
// optimizing it) leaves the lukewarm functions in the baseline tiers: the hottest loops are still
// optimized, a little later. Measured with alternating restarts of one crashed data dir (1M keys +
// 100k-write tail): 10 pairs, faster in 10, -31 ms per pair (median), the whole process's CPU
// -60 ms; 2x and 4x within the noise of 3x, 8x slower (docs/durability.md "Session 14").
//
// Only during the recovery: `end()` puts V8's default back before the pod serves, so the serving
// path tiers up as it would in any pod. Only on the V8 it was measured on (Node 20's 11.3, default
// budget 67584 bytes: `node --v8-options`), and never over an --interrupt-budget given to node.

import { setFlagsFromString } from 'node:v8';

/** The recovery's budget, as a multiple of V8's default. */
export const RESTART_INTERRUPT_BUDGET_FACTOR = 3;

/** V8's own default on the one V8 this was measured on. */
const MEASURED_V8 = { versionPrefix: '11.3.', interruptBudgetBytes: 67_584 } as const;

export class RestartTiering {
  private ended = false;

  private constructor(private readonly defaultBytes: number) {
    setFlagsFromString(`--interrupt-budget=${defaultBytes * RESTART_INTERRUPT_BUDGET_FACTOR}`);
  }

  /** Raises the budget for a restart's recovery; null (nothing changed) on another V8 or when node was given a budget. */
  static begin(v8Version = process.versions.v8, execArgv: readonly string[] = process.execArgv): RestartTiering | null {
    if (!v8Version.startsWith(MEASURED_V8.versionPrefix)) return null;
    if (execArgv.some((arg) => /^--interrupt[-_]budget(=|$)/.test(arg))) return null;
    return new RestartTiering(MEASURED_V8.interruptBudgetBytes);
  }

  /** Puts V8's default budget back (once). */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    setFlagsFromString(`--interrupt-budget=${this.defaultBytes}`);
  }
}
