// How long this process's main thread has waited, runnable, for a CPU (Linux
// /proc/<pid>/task/<pid>/schedstat, second field: run-queue wait in ns, exact at each switch-in).
// A benchmark uses it to tell a slow chunk of its own work from one where the machine's other
// processes held the CPU: event-loop delay counts both. (The first field, time on a CPU, is only
// brought up to date at scheduler ticks, 4 ms here, so chunk CPU is taken as wall time minus
// this wait instead.)

import { readFileSync } from 'node:fs';

const NS_PER_MS = 1e6;

export class RunQueueClock {
  private readonly path = `/proc/${process.pid}/task/${process.pid}/schedstat`;
  /** False where schedstat is unavailable (not Linux): every reading is then 0. */
  readonly available: boolean;

  constructor() {
    let available = true;
    try {
      readFileSync(this.path, 'latin1');
    } catch {
      available = false;
    }
    this.available = available;
  }

  /** Total run-queue wait of the main thread since it started, in ms. */
  waitMs(): number {
    if (!this.available) return 0;
    return Number(readFileSync(this.path, 'latin1').split(' ')[1]) / NS_PER_MS;
  }
}
