// The operator's /metrics (prom-client, `slicekv_operator_` prefix, DESIGN.md §10), plus the
// /healthz and /readyz endpoints the chart's probes call: healthz answers while the process
// runs its loops; readyz once the informers have synced (a standby is ready too).

import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({
    name: 'slicekv_operator_reconciles_total', help: 'Reconciles run, by kind and result (done, requeue, retry).',
    labelNames: ['kind', 'result'] as const, registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'slicekv_operator_reconcile_errors_total', help: 'Reconciles that ended in an error to retry, by kind.',
    labelNames: ['kind'] as const, registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'slicekv_operator_reconcile_duration_seconds', help: 'Time one reconcile took, by kind.',
    labelNames: ['kind'] as const, buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30], registers: [this.registry],
  });
  /** Read at scrape time; set by the controller to its current queue. */
  depthSource: () => number = () => 0;
  readonly queueDepth: Gauge = new Gauge({
    name: 'slicekv_operator_queue_depth', help: 'Keys waiting in the work queue (now or after a delay).', registers: [this.registry],
    collect: (): void => this.queueDepth.set(this.depthSource()),
  });
  readonly isLeader = new Gauge({
    name: 'slicekv_operator_is_leader', help: '1 while this replica holds the leader Lease and reconciles, else 0.', registers: [this.registry],
  });
  readonly leaderTransitions = new Counter({
    name: 'slicekv_operator_leader_transitions_total', help: 'Times this replica started or stopped leading.', registers: [this.registry],
  });
  ready = false;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'slicekv_operator_' });
  }

  /** Serves /metrics, /healthz and /readyz on host:port (0 picks a port); resolves with the port. */
  async serve(host: string, port: number): Promise<{ server: Server; port: number }> {
    const server = createServer((request, response) => {
      if (request.url === '/healthz') return void response.writeHead(200).end('ok');
      if (request.url === '/readyz') return void response.writeHead(this.ready ? 200 : 503).end(this.ready ? 'ok' : 'informers not synced');
      if (request.url !== '/metrics') return void response.writeHead(404).end();
      this.registry.metrics().then((text) => response.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (error: Error) => response.writeHead(500).end(error.message));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    const address = server.address();
    return { server, port: typeof address === 'object' && address !== null ? address.port : port };
  }
}
