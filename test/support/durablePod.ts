// In-process pods with durability on, and a way to "crash" one: stop serving without committing
// or closing anything, which leaves on disk what a kill -9 would.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { DEFAULT_DURABILITY_CONFIG } from '../../dataplane/durability/durability.js';
import type { WalMode } from '../../dataplane/durability/walWriter.js';

export function durablePod(dataDir: string, podName: string, mode: WalMode = 'sync', walFileBytesMax = DEFAULT_DURABILITY_CONFIG.walFileBytesMax,
  listen = '127.0.0.1:0'): Pod {
  return new Pod({
    ...DEFAULT_POD_CONFIG, podName, listen, store: { memoryLimitBytes: 64 * 1024 * 1024, segmentSizeBytes: 2 * 1024 * 1024 },
    durability: { ...DEFAULT_DURABILITY_CONFIG, dataDir, podName, mode, checkpointIntervalMs: 3_600_000, walFileBytesMax },
  });
}

/** A durable pod started on a fresh data dir named `dirPrefix`...; both go when the test ends. */
export async function startedDurablePod(t: { after(fn: () => unknown): void }, dirPrefix: string, podName: string): Promise<{ pod: Pod; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const pod = durablePod(dir, podName);
  await pod.start();
  t.after(() => pod.stop());
  return { pod, dir };
}

/** Stops serving without committing or closing anything durable: what a crash leaves on disk. */
export async function abandon(pod: Pod): Promise<void> {
  // A dead process runs nothing more: batches already received (or waiting for migrating keys)
  // are not run either.
  pod.draining = true;
  // Nor does it go on with its migrations (a source asking its target who owns a range, a target's watchdog).
  pod.migrations.close();
  pod.closeBulk();
  (pod as unknown as { server: { forceShutdown(): void } }).server.forceShutdown();
  const timer = (pod as unknown as { maintenanceTimer: NodeJS.Timeout | null }).maintenanceTimer;
  if (timer !== null) clearInterval(timer);
  // No more checkpoints or commits: the log's buffer stays unwritten, as after a crash.
  const durability = pod.durability as unknown as { timer: NodeJS.Timeout | null } | null;
  if (durability?.timer) clearInterval(durability.timer);
  const wal = pod.wal as unknown as { timer: NodeJS.Timeout | null; closed: boolean } | null;
  if (wal !== null) {
    if (wal.timer !== null) clearInterval(wal.timer);
    wal.closed = true;
  }
}

