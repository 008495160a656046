// `slicekv local --pods N`: a working cluster on this machine with no Kubernetes (DESIGN.md §9).
// Starts N data-plane processes on loopback, splits the keyspace evenly into ranges and assigns
// them round-robin through the Admin RPC, prints how to connect, then shows a live status line
// per pod until interrupted. (The operator core will take over assignment in local mode when it
// lands; this static even split is what the data-plane issue asks for.)

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { KEYSPACE_END, evenSplit } from '../../proto/keyspace/range.js';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import { dataplaneEnvironment } from '../../proto/dataplaneEnvironment.js';

const BIN = fileURLToPath(new URL('../../../bin/slicekv.js', import.meta.url));

interface LocalPod {
  name: string;
  address: string;
  metricsPort: number;
  process: ChildProcess;
  admin: AdminClient;
  lastOps: number;
}

export async function runLocal(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      pods: { type: 'string', default: '3' },
      'ranges-per-pod': { type: 'string', default: '4' },
      'base-port': { type: 'string', default: '7001' },
      memory: { type: 'string', default: '256MiB' },
      'status-interval-ms': { type: 'string', default: '1000' },
    },
  });
  const podCount = Number(values.pods);
  const basePort = Number(values['base-port']);
  const pods: LocalPod[] = [];
  const stopAll = (): void => {
    for (const pod of pods) pod.process.kill('SIGTERM');
  };
  process.once('SIGINT', () => { stopAll(); process.exit(0); });
  process.once('SIGTERM', () => { stopAll(); process.exit(0); });
  for (let i = 0; i < podCount; i++) pods.push(await startPod(i, basePort, values.memory));
  await assignEvenly(pods, podCount * Number(values['ranges-per-pod']));
  console.log(`slicekv local cluster: ${podCount} pods, ${podCount * Number(values['ranges-per-pod'])} ranges`);
  console.log(`  connect: createClient({ seeds: ['${pods[0].address}'] })  or  node bin/slicekv.js get <key> --seeds ${pods[0].address}`);
  for (const pod of pods) console.log(`  ${pod.name}: ${pod.address}, metrics http://127.0.0.1:${pod.metricsPort}/metrics`);
  const intervalMs = Number(values['status-interval-ms']);
  setInterval(() => void printStatus(pods, intervalMs), intervalMs);
}

async function startPod(index: number, basePort: number, memory: string): Promise<LocalPod> {
  const name = `pod-${index}`;
  const port = basePort + index;
  const metricsPort = basePort + 2000 + index;
  const child = spawn(process.execPath, [BIN, 'dataplane', '--listen', `127.0.0.1:${port}`, '--metrics-port', String(metricsPort),
    '--memory', memory, '--segment-size', '8MiB', '--pod-name', name], { stdio: ['ignore', 'pipe', 'inherit'], env: dataplaneEnvironment() });
  const address = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      try {
        const entry = JSON.parse(line) as { event?: string; address?: string };
        if (entry.event === 'listening' && entry.address !== undefined) resolve(entry.address);
      } catch {
        // not a log line
      }
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code} before listening`)));
  });
  return { name, address, metricsPort, process: child, admin: adminClient(address), lastOps: 0 };
}

async function assignEvenly(pods: LocalPod[], rangeCount: number): Promise<void> {
  const ranges = evenSplit(rangeCount).map((r, i) => ({
    start: r.start.toString(), end: r.end === KEYSPACE_END ? '0' : r.end.toString(), view: 1, owner: pods[i % pods.length].name,
    address: pods[i % pods.length].address,
  }));
  await Promise.all(pods.map((pod) => {
    const owned = ranges.filter((r) => r.owner === pod.name).map(({ start, end, view }) => ({ start, end, view }));
    return pod.admin.call('AssignRanges', { owned, routes: ranges });
  }));
}

async function printStatus(pods: LocalPod[], intervalMs: number): Promise<void> {
  const lines = await Promise.all(pods.map(async (pod) => {
    try {
      const reply = await pod.admin.call('Stats', {}, intervalMs);
      const ops = Number(reply.opsTotal);
      const opsPerSec = ((ops - pod.lastOps) * 1000) / intervalMs;
      pod.lastOps = ops;
      const liveMiB = Number(reply.liveBytes) / 2 ** 20;
      return `${pod.name}: ${opsPerSec.toFixed(0)} ops/s, ${String(reply.keyCount)} keys, ${liveMiB.toFixed(1)} MiB live, ${String(reply.sessionsOpen)} sessions`;
    } catch (error) {
      return `${pod.name}: unreachable (${(error as grpc.ServiceError).details})`;
    }
  }));
  console.log(`[${new Date().toISOString()}] ${lines.join(' | ')}`);
}
