// The leader elector's LeaseStore (operator/core/leaderElection.ts) over one coordination.k8s.io
// Lease, with the resourceVersion carried so the API server arbitrates concurrent writers.

import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { LeaseRecord, LeaseStore } from '../core/leaderElection.js';
import { readOrNull, storeCall } from './apiErrors.js';
import { timeoutOptions } from './requestTimeout.js';

function recordFromApi(lease: V1Lease): LeaseRecord {
  const spec = lease.spec ?? {};
  const iso = (date: Date | string | undefined): string | undefined => (date === undefined ? undefined : new Date(date).toISOString());
  const acquireTime = iso(spec.acquireTime);
  const renewTime = iso(spec.renewTime);
  return {
    holderIdentity: spec.holderIdentity ?? '', leaseDurationSeconds: spec.leaseDurationSeconds ?? 0, leaseTransitions: spec.leaseTransitions ?? 0,
    ...(acquireTime === undefined ? {} : { acquireTime }), ...(renewTime === undefined ? {} : { renewTime }),
    ...(lease.metadata?.resourceVersion === undefined ? {} : { resourceVersion: lease.metadata.resourceVersion }),
  };
}

function recordToApi(namespace: string, name: string, record: LeaseRecord): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
    metadata: { name, namespace, ...(record.resourceVersion === undefined ? {} : { resourceVersion: record.resourceVersion }) },
    spec: {
      holderIdentity: record.holderIdentity, leaseDurationSeconds: record.leaseDurationSeconds, leaseTransitions: record.leaseTransitions,
      ...(record.acquireTime === undefined ? {} : { acquireTime: microTime(record.acquireTime) }),
      ...(record.renewTime === undefined ? {} : { renewTime: microTime(record.renewTime) }),
    },
  };
}

export class KubeLeaseStore implements LeaseStore {
  private readonly api: CoordinationV1Api;
  private readonly options;

  constructor(config: KubeConfig, private readonly namespace: string, private readonly name: string, requestTimeoutMs: number) {
    this.api = config.makeApiClient(CoordinationV1Api);
    this.options = timeoutOptions(requestTimeoutMs);
  }

  async get(): Promise<LeaseRecord | null> {
    const lease = await readOrNull(() => this.api.readNamespacedLease({ name: this.name, namespace: this.namespace }, this.options));
    return lease === null ? null : recordFromApi(lease);
  }

  async create(record: LeaseRecord): Promise<LeaseRecord> {
    const body = recordToApi(this.namespace, this.name, record);
    return recordFromApi(await storeCall(() => this.api.createNamespacedLease({ namespace: this.namespace, body }, this.options), true));
  }

  async update(record: LeaseRecord): Promise<LeaseRecord> {
    const body = recordToApi(this.namespace, this.name, record);
    return recordFromApi(await storeCall(() => this.api.replaceNamespacedLease({ name: this.name, namespace: this.namespace, body }, this.options)));
  }
}

/**
 * A Lease's times are MicroTime: the API server parses exactly six fractional digits. client-node
 * 1.4 sends a Date as toISOString() (three digits, refused with a 400), and passes a string
 * through, so the string is written here.
 */
function microTime(iso: string): Date {
  const text = new Date(iso).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return text as unknown as Date;
}
