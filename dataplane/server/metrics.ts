// Prometheus metrics of a pod (prom-client), read from the pod's own counters at scrape time so
// the request path only bumps numbers in typed arrays. Names follow Prometheus conventions:
// slicekv_ prefix, units in names, _total counters. Node's default metrics are not registered:
// prom-client's nodejs_active_*_total gauges fail `promtool check metrics`.

import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { opcodeName, wireStatusName, OPCODE_MAX, WIRE_STATUS_MAX } from '../../proto/wire/index.js';
import { formatRange } from '../../proto/keyspace/range.js';
import { STATUS_SLOTS } from './batchExecutor.js';
import type { Pod } from './pod.js';
import { durabilityMetrics } from './durabilityMetrics.js';
import { migrationMetrics } from './migrationMetrics.js';

/** Histograms the request path observes directly (once per batch, never per op). */
export interface BatchHistograms {
  observe(opCount: number, durationSeconds: number): void;
}

export function podRegistry(pod: Pod): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ pod: pod.podName });
  const batchSeconds = new Histogram({
    name: 'slicekv_batch_duration_seconds', help: 'Time to run one batch on the pod.', registers: [registry],
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05],
  });
  const opSeconds = new Histogram({
    name: 'slicekv_op_duration_seconds', help: 'Mean time per op within a batch (one sample per batch).', registers: [registry],
    buckets: [0.0000005, 0.000001, 0.0000025, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.001],
  });
  const batchOps = new Histogram({
    name: 'slicekv_batch_ops', help: 'Operations per batch.', registers: [registry], buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 1024, 4096],
  });
  pod.histograms = {
    observe(opCount: number, durationSeconds: number): void {
      batchSeconds.observe(durationSeconds);
      batchOps.observe(opCount);
      if (opCount > 0) opSeconds.observe(durationSeconds / opCount);
    },
  };
  const last = new Float64Array(pod.executor.opCounts.length);
  new Counter({
    name: 'slicekv_ops_total', help: 'Operations answered, by operation and status.', labelNames: ['op', 'status'], registers: [registry],
    collect() {
      const counts = pod.executor.opCounts;
      for (let opcode = 1; opcode <= OPCODE_MAX; opcode++) {
        for (let status = 0; status <= WIRE_STATUS_MAX; status++) {
          const i = opcode * STATUS_SLOTS + status;
          if (counts[i] > last[i]) this.inc({ op: opcodeName(opcode), status: wireStatusName(status) }, counts[i] - last[i]);
          last[i] = counts[i];
        }
      }
    },
  });
  rangeMetrics(registry, pod);
  durabilityMetrics(registry, pod);
  migrationMetrics(registry, pod);
  gauge(registry, 'slicekv_sessions_open', 'Client sessions open.', () => pod.sessionsOpen);
  gauge(registry, 'slicekv_memory_limit_bytes', 'Segment memory limit of the engine.', () => pod.store.stats().memoryLimitBytes);
  gauge(registry, 'slicekv_memory_live_bytes', 'Bytes of live records.', () => pod.store.stats().liveBytes);
  gauge(registry, 'slicekv_memory_allocated_bytes', 'Segment memory allocated.', () => pod.store.stats().segmentBytesAllocated);
  gauge(registry, 'slicekv_keys', 'Live keys.', () => pod.store.stats().keyCount);
  gauge(registry, 'slicekv_cleaner_relocated_bytes', 'Bytes the cleaner relocated since start.', () => pod.store.stats().cleanerBytesRelocated);
  gauge(registry, 'slicekv_rifl_duplicate_hits', 'Retried mutations answered from a completion record since start.', () => pod.clients.duplicateHits);
  gauge(registry, 'slicekv_rifl_clients', 'Clients with a live RIFL lease.', () => pod.clients.clientCount);
  gauge(registry, 'slicekv_batches', 'Batches run since start.', () => pod.batches);
  return registry;
}

/** Per owned range: keys and bytes (from the engine's accounting) and ops served. */
function rangeMetrics(registry: Registry, pod: Pod): void {
  const label = (i: number): string => formatRange(pod.ranges.list()[i]);
  new Gauge({
    name: 'slicekv_range_keys', help: 'Live keys per owned range.', labelNames: ['range'], registers: [registry],
    collect() {
      this.reset();
      pod.store.rangeFigures(pod.ranges.list()).forEach((f, i) => this.set({ range: label(i) }, f.keyCount));
    },
  });
  new Gauge({
    name: 'slicekv_range_bytes', help: 'Bytes of live records per owned range.', labelNames: ['range'], registers: [registry],
    collect() {
      this.reset();
      pod.store.rangeFigures(pod.ranges.list()).forEach((f, i) => this.set({ range: label(i) }, f.bytes));
    },
  });
  new Gauge({
    name: 'slicekv_range_ops', help: 'Ops served per owned range since it was assigned (rate() gives ops/s).', labelNames: ['range'],
    registers: [registry],
    collect() {
      this.reset();
      pod.ranges.opsServed.forEach((ops, i) => this.set({ range: label(i) }, ops));
    },
  });
}

function gauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
}

/** Serves `/metrics` on the given port (0 picks one); resolves with the bound port. */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<{ server: Server; port: number }> {
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    registry.metrics().then((text) => {
      response.writeHead(200, { 'content-type': registry.contentType }).end(text);
    }, (error: Error) => response.writeHead(500).end(error.message));
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address !== null ? address.port : port };
}
