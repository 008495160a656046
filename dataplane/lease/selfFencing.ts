// Wires self-fencing into `slicekv dataplane`: the flags, the renew loop and the fence timer.
// Without --lease-name the pod serves unconditionally (local mode, tests); with it, the pod
// serves nothing until it first holds its Lease, and stops serving whenever the fence rule of
// leaseKeeper.ts says so.

import { randomBytes } from 'node:crypto';
import { systemClock, type Clock } from '../clock.js';
import { LeaseKeeper, leaseTimings, type LeaseStore } from './leaseKeeper.js';

export const SELF_FENCING_OPTIONS = {
  'lease-namespace': { type: 'string' },
  'lease-name': { type: 'string' },
  'lease-duration-ms': { type: 'string', default: '15000' },
  'pod-uid': { type: 'string' },
  kubeconfig: { type: 'string' },
} as const;

export interface SelfFencingValues {
  'lease-namespace'?: string | undefined;
  'lease-name'?: string | undefined;
  'lease-duration-ms'?: string | undefined;
  'pod-uid'?: string | undefined;
  kubeconfig?: string | undefined;
}

/** What fencing switches: Pod.setServing (dataplane/server/pod.ts). */
export interface FencedServer {
  setServing(serving: boolean, reason: string): void;
}

export interface FencingLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

const FENCE_CHECK_MS = 100;

export class SelfFencing {
  private renewTimer: NodeJS.Timeout | null = null;
  private readonly checkTimer: NodeJS.Timeout;
  private stopped = false;

  constructor(readonly keeper: LeaseKeeper, private readonly renewIntervalMs: number) {
    this.checkTimer = setInterval(() => keeper.check(), FENCE_CHECK_MS);
    this.checkTimer.unref();
    this.loop();
  }

  private loop(): void {
    void this.keeper.tick().finally(() => {
      if (!this.stopped) {
        this.renewTimer = setTimeout(() => this.loop(), this.renewIntervalMs);
        this.renewTimer.unref();
      }
    });
  }

  /** Stops renewing and releases the Lease (serving stops first). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.renewTimer !== null) clearTimeout(this.renewTimer);
    clearInterval(this.checkTimer);
    await this.keeper.release().catch(() => undefined);
  }
}

/** Starts fencing when --lease-name is given (the server is told not to serve until the Lease is held); null otherwise. */
export async function startSelfFencing(values: SelfFencingValues, podName: string, server: FencedServer, log: FencingLog,
  store?: LeaseStore, clock: Clock = systemClock): Promise<SelfFencing | null> {
  const name = values['lease-name'];
  if (name === undefined || name === '') return null;
  const namespace = values['lease-namespace'] ?? 'default';
  const timings = leaseTimings(Number(values['lease-duration-ms'] ?? '15000'));
  const podUid = values['pod-uid'];
  const identity = `${podName}_${podUid ?? 'no-uid'}_${randomBytes(4).toString('hex')}`;
  const leases = store ?? new (await import('./kubeLeaseStore.js')).KubeLeaseStore({
    namespace, name, podName, requestTimeoutMs: Math.min(5000, timings.renewIntervalMs * 2),
    ...(podUid === undefined || podUid === '' ? {} : { podUid }), ...(values.kubeconfig === undefined ? {} : { kubeconfigPath: values.kubeconfig }),
  });
  server.setServing(false, 'lease not yet acquired');
  const keeper = new LeaseKeeper(leases, { identity, ...timings }, clock, (serving, reason) => {
    server.setServing(serving, reason);
    (serving ? log.info : log.warn).call(log, { event: serving ? 'lease-held' : 'fenced', lease: `${namespace}/${name}`, identity, reason },
      serving ? 'holding the lease: serving' : `self-fenced: ${reason}`);
  });
  log.info({ event: 'lease-starting', lease: `${namespace}/${name}`, identity, ...timings }, 'self-fencing on: serving once the lease is held');
  return new SelfFencing(keeper, timings.renewIntervalMs);
}
