// `slicekv operator`: the Kubernetes operator (operator/kube/ over operator/core/).
//
//   slicekv operator [--kubeconfig PATH] --namespace NS[,NS...] [--metrics-port 9200] [--identity ID]
//                    [--lease-namespace NS] [--lease-name slicekv-operator-leader] [--image IMAGE]
//                    [--dataplane-service-account NAME] [--metrics-host HOST]
//
// Every flag falls back to the environment the Helm chart sets (POD_NAME, POD_NAMESPACE,
// SLICEKV_WATCH_NAMESPACES, SLICEKV_LEADER_ELECTION_LEASE, SLICEKV_OPERATOR_METRICS_PORT,
// SLICEKV_DATAPLANE_SERVICE_ACCOUNT, SLICEKV_IMAGE, SLICEKV_LOG_LEVEL). Without --kubeconfig the
// usual order applies: $KUBECONFIG, ~/.kube/config, then the in-cluster ServiceAccount.

import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { DEFAULT_LEADER_ELECTION } from './core/leaderElection.js';
import { DEFAULT_RECONCILER_CONFIG } from './core/reconcileContext.js';
import { DEFAULT_WORK_QUEUE_OPTIONS } from './core/workQueue.js';
import { OperatorController } from './kube/controller.js';
import { OperatorMetrics } from './kube/operatorMetrics.js';

const env = process.env;

function integer(text: string, name: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`--${name} must be an integer in [${min}, ${max}], got ${text}`);
  return value;
}

function parseOperatorArgs(argv: readonly string[]) {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      kubeconfig: { type: 'string' },
      namespace: { type: 'string', default: env.SLICEKV_WATCH_NAMESPACES ?? env.POD_NAMESPACE ?? 'default' },
      'metrics-port': { type: 'string', default: env.SLICEKV_OPERATOR_METRICS_PORT ?? '9200' },
      'metrics-host': { type: 'string', default: env.KUBERNETES_SERVICE_HOST === undefined ? '127.0.0.1' : '0.0.0.0' },
      identity: { type: 'string', default: env.POD_NAME ?? `${hostname()}-${process.pid}` },
      'lease-namespace': { type: 'string' },
      'lease-name': { type: 'string', default: env.SLICEKV_LEADER_ELECTION_LEASE ?? 'slicekv-operator-leader' },
      image: { type: 'string', default: env.SLICEKV_IMAGE ?? 'slicekv/slicekv:latest' },
      'dataplane-service-account': { type: 'string', default: env.SLICEKV_DATAPLANE_SERVICE_ACCOUNT ?? '' },
      'log-level': { type: 'string', default: env.SLICEKV_LOG_LEVEL ?? 'info' },
    },
  });
  const namespaces = values.namespace.split(',').map((n) => n.trim()).filter((n) => n !== '');
  if (namespaces.length === 0) throw new RangeError('--namespace names no namespace');
  return { values, namespaces, leaseNamespace: values['lease-namespace'] ?? env.POD_NAMESPACE ?? namespaces[0] };
}

export async function runOperator(argv: readonly string[]): Promise<void> {
  const { values, namespaces, leaseNamespace } = parseOperatorArgs(argv);
  const log = pino({ level: values['log-level'], base: { component: 'operator', identity: values.identity } });
  const config = new KubeConfig();
  if (values.kubeconfig === undefined) config.loadFromDefault();
  else config.loadFromFile(values.kubeconfig);
  const metrics = new OperatorMetrics();
  const served = await metrics.serve(values['metrics-host'], integer(values['metrics-port'], 'metrics-port', 0, 65535));
  const serviceAccount = values['dataplane-service-account'];
  const controller = new OperatorController(config, {
    namespaces, leaseNamespace, leaseName: values['lease-name'],
    election: { ...DEFAULT_LEADER_ELECTION, identity: values.identity },
    defaults: { image: values.image, ...(serviceAccount === '' ? {} : { serviceAccountName: serviceAccount }) },
    queue: DEFAULT_WORK_QUEUE_OPTIONS, reconciler: DEFAULT_RECONCILER_CONFIG, requestTimeoutMs: 10_000, informerRestartMs: 2000, resyncMs: 30_000,
  }, log, metrics);
  log.info({ event: 'starting', namespaces, leaseNamespace, leaseName: values['lease-name'], metricsPort: served.port }, 'operator starting');
  const shutdown = (signal: string): void => {
    log.info({ event: 'stopping', signal }, 'operator stopping; releasing the leader lease');
    const force = setTimeout(() => process.exit(1), 10_000);
    void controller.stop().finally(() => {
      clearTimeout(force);
      served.server.close();
      process.exit(0);
    });
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await controller.start();
}
