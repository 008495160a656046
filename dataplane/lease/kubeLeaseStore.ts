// The one file of the data plane that talks to Kubernetes: the pod's own Lease over
// client-node 1.4's CoordinationV1Api, every request with a deadline. The Lease names the Pod
// as its owner (when the pod knows its uid), so it is garbage-collected with the Pod.

import {
  CoordinationV1Api, KubeConfig, type ConfigurationOptions, type ObservableMiddleware, type RequestContext, type ResponseContext, type V1Lease,
  type V1OwnerReference,
} from '@kubernetes/client-node';
// client-node 1.4 does not re-export its Observable helper; it is the one setHeaderOptions uses.
import { of } from '@kubernetes/client-node/dist/gen/rxjsStub.js';
import { LeaseConflictError, type LeaseRecord, type LeaseStore } from './leaseKeeper.js';

export interface KubeLeaseTarget {
  readonly namespace: string;
  readonly name: string;
  /** The Pod's uid, for the Lease's ownerReference; omitted when unknown. */
  readonly podUid?: string;
  readonly podName: string;
  /** A kubeconfig file; otherwise $KUBECONFIG, ~/.kube/config, then in-cluster. */
  readonly kubeconfigPath?: string;
  readonly requestTimeoutMs: number;
}

function httpCode(error: unknown): number | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? Number((error as { code: unknown }).code) : undefined;
}

export class KubeLeaseStore implements LeaseStore {
  private readonly api: CoordinationV1Api;

  constructor(private readonly target: KubeLeaseTarget) {
    const config = new KubeConfig();
    if (target.kubeconfigPath === undefined) config.loadFromDefault();
    else config.loadFromFile(target.kubeconfigPath);
    this.api = config.makeApiClient(CoordinationV1Api);
  }

  async get(): Promise<LeaseRecord | null> {
    try {
      return fromApi(await this.api.readNamespacedLease({ name: this.target.name, namespace: this.target.namespace }, this.options()));
    } catch (error) {
      if (httpCode(error) === 404) return null;
      throw error;
    }
  }

  create(record: LeaseRecord): Promise<LeaseRecord> {
    return this.write(() => this.api.createNamespacedLease({ namespace: this.target.namespace, body: this.toApi(record) }, this.options()));
  }

  update(record: LeaseRecord): Promise<LeaseRecord> {
    return this.write(() => this.api.replaceNamespacedLease({ name: this.target.name, namespace: this.target.namespace, body: this.toApi(record) }, this.options()));
  }

  private async write(call: () => Promise<V1Lease>): Promise<LeaseRecord> {
    try {
      return fromApi(await call());
    } catch (error) {
      if (httpCode(error) === 409) throw new LeaseConflictError(`lease ${this.target.name}: someone else wrote it first`);
      throw error;
    }
  }

  private options(): ConfigurationOptions<ObservableMiddleware> {
    const timeoutMs = this.target.requestTimeoutMs;
    const deadline: ObservableMiddleware = {
      pre: (request: RequestContext) => {
        request.setSignal(AbortSignal.timeout(timeoutMs));
        return of(request);
      },
      post: (response: ResponseContext) => of(response),
    };
    return { middleware: [deadline], middlewareMergeStrategy: 'append' };
  }

  private toApi(record: LeaseRecord): V1Lease {
    const { target } = this;
    const owner: V1OwnerReference[] = target.podUid === undefined ? [] : [{ apiVersion: 'v1', kind: 'Pod', name: target.podName, uid: target.podUid }];
    return {
      apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
      metadata: {
        name: target.name, namespace: target.namespace, labels: { 'app.kubernetes.io/name': 'slicekv', 'slicekv.io/component': 'dataplane-lease' },
        ...(owner.length === 0 ? {} : { ownerReferences: owner }),
        ...(record.resourceVersion === undefined ? {} : { resourceVersion: record.resourceVersion }),
      },
      spec: {
        holderIdentity: record.holderIdentity, leaseDurationSeconds: record.leaseDurationSeconds, leaseTransitions: record.leaseTransitions,
        ...(record.acquireTime === undefined ? {} : { acquireTime: microTime(record.acquireTime) }),
        ...(record.renewTime === undefined ? {} : { renewTime: microTime(record.renewTime) }),
      },
    };
  }
}

function fromApi(lease: V1Lease): LeaseRecord {
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

/**
 * A Lease's times are MicroTime: the API server parses exactly six fractional digits. client-node
 * 1.4 sends a Date as toISOString() (three digits, refused with a 400), and passes a string
 * through, so the string is written here.
 */
function microTime(iso: string): Date {
  const text = new Date(iso).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return text as unknown as Date;
}
