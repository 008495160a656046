// `slicekv dataplane`: runs one data-plane pod until SIGTERM / SIGINT, then drains: stops taking
// batches, lets replies in flight go out, and exits 0.
//
//   slicekv dataplane --listen 127.0.0.1:7000 --metrics-port 9100 --memory 1GiB [--pod-name pod-0]
//                     [--advertise host:port] [--segment-size 8MiB] [--bulk-port 0|PORT|off]  (bulk channel: docs/migration.md)
//                     [--data-dir DIR [--wal sync|async] [--fsync-interval-ms 10] [--checkpoint-interval-ms 60000]
//                      [--checkpoint-wal-bytes 256MiB]]     (durability: docs/durability.md; without --data-dir, memory only)
//                     [--lease-name NAME [--lease-namespace NS] [--lease-duration-ms 15000] [--pod-uid UID] [--kubeconfig PATH]]
//                                                          (self-fencing: dataplane/lease/; without --lease-name, always serving)
//                     [--test-fault-delay POINT=MS ...]     (tests only: the migration waits MS at POINT — PREPARE,
//                                                          TRANSFER_OWNERSHIP, CHECKPOINT on a source, RECEIVE_OWNERSHIP on a
//                                                          target — after logging it, so a test can kill -9 the pod there)
//                     [--test-fault-fail POINT=COUNT ...]   (tests only: the next COUNT writes at POINT fail with EIO — ADOPT_HOLD,
//                                                          ADOPT_MANIFEST_WRITE, ADOPT_MANIFEST_RENAME, ADOPT_MANIFEST_DIR_FSYNC
//                                                          of a migration target's adoption, MANIFEST_WRITE, MANIFEST_RENAME,
//                                                          MANIFEST_DIR_FSYNC of every manifest write, RECOVERY_TAKEN of a
//                                                          partitioned recovery's taken markers; dataplane/durability/writeFaults.ts)

// Only light modules are imported up front: a restarting pod starts its frame readers first, and
// the rest (gRPC, protobufjs, pino, prom-client: ~230 ms of loading on the test VM) loads while
// their threads start (100-200 ms there; docs/durability.md "Session 13").
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Pod } from './server/pod.js';
import type { DurabilityConfig } from './durability/durability.js';
import { FrameReaders } from './durability/frameReaders.js';
import { RestartTiering } from './durability/restartTiering.js';
import { manifestPathOf } from './durability/manifest.js';
import { SELF_FENCING_OPTIONS } from './lease/selfFencing.js';
import { WRITE_FAULT_POINTS, isWriteFaultPoint } from './durability/writeFaults.js';

const UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

/** "1GiB", "512MiB", "1048576" -> bytes. */
export function parseBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match === null ? undefined : UNITS[match[2].toLowerCase()];
  if (match === null || unit === undefined) throw new RangeError(`not a size: ${text} (use e.g. 512MiB, 1GiB)`);
  return Math.floor(Number(match[1]) * unit);
}

/** The data dir when durability is on (--data-dir given, --wal not off); else null. */
function durableDataDir(values: Record<string, unknown>): string | null {
  const dataDir = values['data-dir'];
  return typeof dataDir !== 'string' || values.wal === 'off' ? null : dataDir;
}

/** The frame readers of a restart (durability on and a manifest on disk), started now; else null. */
function restartReaders(values: Record<string, unknown>): FrameReaders | null {
  const dataDir = durableDataDir(values);
  if (dataDir === null || !existsSync(manifestPathOf(dataDir, String(values['pod-name'])))) return null;
  return FrameReaders.start();
}

function durabilityOptions(values: Record<string, string | undefined>, podName: string, defaults: Omit<DurabilityConfig, 'dataDir' | 'podName'>,
  restart: FrameReaders | null): { durability?: DurabilityConfig } {
  const dataDir = durableDataDir(values);
  if (dataDir === null) return {};
  if (values.wal !== 'sync' && values.wal !== 'async') throw new RangeError(`--wal must be sync, async or off, not ${values.wal}`);
  const number = (name: string, min: number, max: number): number => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`--${name} must be an integer in [${min}, ${max}]`);
    return value;
  };
  return {
    durability: {
      ...defaults, dataDir, podName, mode: values.wal, restartReaders: restart,
      fsyncIntervalMs: number('fsync-interval-ms', 1, 10_000),
      checkpointIntervalMs: number('checkpoint-interval-ms', 100, 86_400_000),
      checkpointWalBytes: parseBytes(values['checkpoint-wal-bytes'] ?? '256MiB'),
    },
  };
}

/** --bulk-port: a port (0: any free one) or "off" (no bulk channel listener; docs/migration.md). */
function bulkPortOption(text: string): number | null {
  if (text === 'off') return null;
  const port = Number(text);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`--bulk-port takes a port or "off", not ${text}`);
  return port;
}

/** --test-fault-delay POINT=MS and --test-fault-fail POINT=COUNT (tests only; none by default). */
function applyTestFaults(pod: Pod, delays: readonly string[], failures: readonly string[]): void {
  for (const fault of delays) {
    const [point, delayMs] = fault.split('=');
    if (point === '' || !Number.isInteger(Number(delayMs))) throw new RangeError(`--test-fault-delay takes POINT=MS, not ${fault}`);
    pod.migrations.faultDelaysMs.set(point, Number(delayMs));
  }
  for (const fault of failures) {
    const [point, count] = fault.split('=');
    if (!isWriteFaultPoint(point) || !Number.isInteger(Number(count))) throw new RangeError(`--test-fault-fail takes POINT=COUNT (POINT one of ${WRITE_FAULT_POINTS.join(', ')}), not ${fault}`);
    if (pod.durability === null) throw new RangeError('--test-fault-fail needs durability (--data-dir)');
    pod.durability.writeFaults.set(point, Number(count));
  }
}

export async function runDataplane(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      listen: { type: 'string', default: '127.0.0.1:7000' },
      advertise: { type: 'string' },
      'metrics-port': { type: 'string', default: '9100' },
      'bulk-port': { type: 'string', default: '0' },
      memory: { type: 'string', default: '1GiB' },
      'segment-size': { type: 'string', default: '8MiB' },
      'pod-name': { type: 'string', default: 'pod-0' },
      'data-dir': { type: 'string' },
      wal: { type: 'string', default: 'sync' },
      'fsync-interval-ms': { type: 'string', default: '10' },
      'checkpoint-interval-ms': { type: 'string', default: '60000' },
      'checkpoint-wal-bytes': { type: 'string', default: '256MiB' },
      'test-fault-delay': { type: 'string', multiple: true },
      'test-fault-fail': { type: 'string', multiple: true },
      ...SELF_FENCING_OPTIONS,
    },
  });
  const readers = restartReaders(values);
  // A restart's recovery runs with V8 slower to optimize (restartTiering.ts), set before the code it
  // will run is loaded; the default is back before the pod serves.
  const tiering = readers === null ? null : RestartTiering.begin();
  const [{ pino }, { DEFAULT_POD_CONFIG, Pod }, { podRegistry, serveMetrics }, { DEFAULT_DURABILITY_CONFIG }, { startSelfFencing }, { deferredLog },
    { MALLOC_TUNABLE, mallocTunableIn }] = await Promise.all([import('pino'), import('./server/pod.js'), import('./server/metrics.js'),
    import('./durability/durability.js'), import('./lease/selfFencing.js'), import('./server/deferredLog.js'), import('../proto/dataplaneEnvironment.js')]);
  const log = pino({ base: { pod: values['pod-name'] } });
  const pod = new Pod({
    ...DEFAULT_POD_CONFIG,
    podName: values['pod-name'],
    listen: values.listen,
    ...(values.advertise === undefined ? {} : { advertise: values.advertise }),
    bulkPort: bulkPortOption(values['bulk-port']),
    store: { memoryLimitBytes: parseBytes(values.memory), segmentSizeBytes: parseBytes(values['segment-size']) },
    ...durabilityOptions({ ...values, 'test-fault-delay': undefined, 'test-fault-fail': undefined }, values['pod-name'], DEFAULT_DURABILITY_CONFIG, readers),
  });
  pod.durabilityEvents = {
    recovered: (report, what) => log.info({ event: 'recovered', what, ranges: report.ranges, checkpointRecords: report.checkpointEntries,
      logRecords: report.walEntriesReplayed, seconds: report.seconds, problems: report.problems }, `recovered ${what}`),
    checkpointed: (result) => log.info({ event: 'checkpointed', path: result.path, bytes: result.bytes, records: result.entryCount, seconds: result.seconds }, 'checkpoint written'),
    problem: (message) => log.warn({ event: 'durability-problem' }, message),
  };
  const fencing = await startSelfFencing(values, values['pod-name'], pod, log);
  const migrationLog = deferredLog((message, fields) => log.info({ event: 'migration', ...fields }, message));
  pod.migrationLog = migrationLog.log;
  process.on('exit', migrationLog.flush);
  applyTestFaults(pod, values['test-fault-delay'] ?? [], values['test-fault-fail'] ?? []);
  const address = await pod.start().finally(() => tiering?.end());
  const host = values.listen.slice(0, values.listen.lastIndexOf(':'));
  const metrics = await serveMetrics(podRegistry(pod), host, Number(values['metrics-port']));
  log.info({ event: 'listening', address, metricsPort: metrics.port, engineWarmUpMs: Math.round(pod.warmUpMs) }, 'data-plane pod serving');
  if (!mallocTunableIn(process.env.GLIBC_TUNABLES)) {
    log.warn({ event: 'malloc-tunable-missing', expected: `GLIBC_TUNABLES=${MALLOC_TUNABLE}` },
      'started without the malloc tunable: index tables freed by doublings stay resident (proto/dataplaneEnvironment.ts)');
  }
  const shutdown = (signal: string): void => {
    log.info({ event: 'draining', signal }, 'draining');
    void Promise.all([fencing?.stop(), pod.stop()]).then(() => {
      metrics.server.close();
      log.info({ event: 'stopped', batches: pod.batches, ops: pod.ops }, 'stopped');
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
