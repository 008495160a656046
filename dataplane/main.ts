// `slicekv dataplane`: runs one data-plane pod until SIGTERM / SIGINT, then drains: stops taking
// batches, lets replies in flight go out, and exits 0.
//
//   slicekv dataplane --listen 127.0.0.1:7000 --metrics-port 9100 --memory 1GiB [--pod-name pod-0]
//                     [--advertise host:port] [--segment-size 8MiB]

import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { DEFAULT_POD_CONFIG, Pod } from './server/pod.js';
import { podRegistry, serveMetrics } from './server/metrics.js';

const UNITS: Record<string, number> = { '': 1, b: 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3, kb: 1e3, mb: 1e6, gb: 1e9 };

/** "1GiB", "512MiB", "1048576" -> bytes. */
export function parseBytes(text: string): number {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match === null ? undefined : UNITS[match[2].toLowerCase()];
  if (match === null || unit === undefined) throw new RangeError(`not a size: ${text} (use e.g. 512MiB, 1GiB)`);
  return Math.floor(Number(match[1]) * unit);
}

export async function runDataplane(argv: readonly string[]): Promise<void> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      listen: { type: 'string', default: '127.0.0.1:7000' },
      advertise: { type: 'string' },
      'metrics-port': { type: 'string', default: '9100' },
      memory: { type: 'string', default: '1GiB' },
      'segment-size': { type: 'string', default: '8MiB' },
      'pod-name': { type: 'string', default: 'pod-0' },
    },
  });
  const log = pino({ base: { pod: values['pod-name'] } });
  const pod = new Pod({
    ...DEFAULT_POD_CONFIG,
    podName: values['pod-name'],
    listen: values.listen,
    ...(values.advertise === undefined ? {} : { advertise: values.advertise }),
    store: { memoryLimitBytes: parseBytes(values.memory), segmentSizeBytes: parseBytes(values['segment-size']) },
  });
  const address = await pod.start();
  const host = values.listen.slice(0, values.listen.lastIndexOf(':'));
  const metrics = await serveMetrics(podRegistry(pod), host, Number(values['metrics-port']));
  log.info({ event: 'listening', address, metricsPort: metrics.port }, 'data-plane pod serving');
  const shutdown = (signal: string): void => {
    log.info({ event: 'draining', signal }, 'draining');
    void pod.stop().then(() => {
      metrics.server.close();
      log.info({ event: 'stopped', batches: pod.batches, ops: pod.ops }, 'stopped');
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}
