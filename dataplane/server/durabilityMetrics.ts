// Durability metrics of a pod: write-ahead log bytes and commits, fdatasync latency, backlog,
// checkpoint durations and sizes, and the last recovery. Registered only when the pod has a data
// dir. Counters read the log's own totals at scrape time; histograms are fed by events.

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Pod } from './pod.js';

export function durabilityMetrics(registry: Registry, pod: Pod): void {
  if (pod.durability === null) return;
  const fsyncSeconds = new Histogram({
    name: 'slicekv_wal_fsync_duration_seconds', help: 'Time of one group commit\'s fdatasync.', registers: [registry],
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
  });
  const checkpointSeconds = new Histogram({
    name: 'slicekv_checkpoint_duration_seconds', help: 'Time to write one range checkpoint.', registers: [registry],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  });
  const checkpointBytes = new Counter({ name: 'slicekv_checkpoint_written_bytes_total', help: 'Bytes of checkpoint files written.', registers: [registry] });
  const lastCheckpointBytes = new Gauge({ name: 'slicekv_checkpoint_last_size_bytes', help: 'Size of the last checkpoint file written.', registers: [registry] });
  const wal = pod.wal;
  if (wal !== null) wal.observer = { committed: (_bytes, syncSeconds) => fsyncSeconds.observe(syncSeconds) };
  const previous = pod.durabilityEvents;
  pod.durabilityEvents = {
    ...previous,
    checkpointed(result) {
      previous.checkpointed(result);
      checkpointSeconds.observe(result.seconds);
      checkpointBytes.inc(result.bytes);
      lastCheckpointBytes.set(result.bytes);
    },
  };
  walCounter(registry, pod, 'slicekv_wal_written_bytes_total', 'Bytes written to the write-ahead log.', (w) => w.bytesWritten);
  walCounter(registry, pod, 'slicekv_wal_commits_total', 'Group commits (write + fdatasync) of the write-ahead log.', (w) => w.commits);
  readGauge(registry, 'slicekv_wal_backlog_bytes', 'Log bytes appended but not yet durable.', () => pod.wal?.backlogBytes ?? 0);
  readGauge(registry, 'slicekv_recovery_duration_seconds', 'Duration of the last recovery (restart or RecoverRanges).', () => pod.lastRecovery?.seconds ?? 0);
  readGauge(registry, 'slicekv_recovery_replayed_records', 'Log records replayed by the last recovery.', () => pod.lastRecovery?.walEntriesReplayed ?? 0);
  readGauge(registry, 'slicekv_recovery_checkpoint_records', 'Checkpoint records loaded by the last recovery.', () => pod.lastRecovery?.checkpointEntries ?? 0);
  readGauge(registry, 'slicekv_recovery_problems', 'Damaged pieces the last recovery dropped (see the pod log).', () => pod.lastRecovery?.problems.length ?? 0);
}

function walCounter(registry: Registry, pod: Pod, name: string, help: string, read: (wal: NonNullable<Pod['wal']>) => number): void {
  let last = 0;
  new Counter({
    name, help, registers: [registry],
    collect() {
      const now = pod.wal === null ? last : read(pod.wal);
      if (now > last) this.inc(now - last);
      last = now;
    },
  });
}

function readGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
}
