// The machine a benchmark ran on, printed with every result (STYLE.md, "Benchmarks are code").

import * as os from 'node:os';
import { probePageFaultCost, type PageFaultCost } from './pageFaultProbe.js';

export interface MachineInfo {
  cpuModel: string;
  cpuCount: number;
  totalMemoryBytes: number;
  nodeVersion: string;
  v8Version: string;
  platform: string;
  arch: string;
  /** One-minute load average when the run started: other work on the machine skews figures. */
  loadAverage1m: number;
  /** What touching fresh memory costs here when the run started (pageFaultProbe.ts). */
  pageFault: PageFaultCost;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus.length > 0 ? cpus[0].model.trim() : 'unknown',
    cpuCount: cpus.length,
    totalMemoryBytes: os.totalmem(),
    nodeVersion: process.version,
    v8Version: process.versions.v8,
    platform: os.platform(),
    arch: os.arch(),
    loadAverage1m: os.loadavg()[0],
    pageFault: probePageFaultCost(),
  };
}

export function describeMachine(m: MachineInfo): string {
  const gib = (m.totalMemoryBytes / 2 ** 30).toFixed(1);
  return `machine: ${m.cpuModel}, ${m.cpuCount} cores, ${gib} GiB, node ${m.nodeVersion} (V8 ${m.v8Version}), ` +
    `${m.platform}/${m.arch}, load average ${m.loadAverage1m.toFixed(2)}, first write to a fresh page ` +
    `${m.pageFault.firstTouchMicrosPerPage} us (${m.pageFault.residentMicrosPerPage} us once resident)`;
}
