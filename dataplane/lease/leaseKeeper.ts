// Self-fencing (DESIGN.md §8): a data-plane pod serves only while it holds its own
// coordination.k8s.io Lease. This file is the timing logic alone — a Clock and a LeaseStore
// port, no Kubernetes — so tests drive time by hand (test/dataplane-lease/).
//
// The rule, with D = lease duration and F = fence-after (< D):
//   - the pod counts a renewal from the moment it *sent* it (t_send), never from the reply;
//   - it serves only while now < t_send(last successful renewal) + F;
//   - anyone else (a new incarnation of the pod, or the operator reassigning its ranges) may
//     treat the Lease as lapsed only after seeing its record unchanged for D on their own clock,
//     which starts no earlier than the API server stored the renewal, itself after t_send.
// So the pod stops serving at t_send + F, at least D - F before anyone may take its place; the
// margin D - F absorbs clock-rate differences and the time a batch in flight takes. The
// inequality and the default numbers are in docs/operator.md, "Fencing".

import type { Clock } from '../clock.js';

export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions: number;
  readonly resourceVersion?: string;
}

export class LeaseConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeaseConflictError';
  }
}

/** One named Lease. create/update throw LeaseConflictError when someone else wrote first. */
export interface LeaseStore {
  get(): Promise<LeaseRecord | null>;
  create(record: LeaseRecord): Promise<LeaseRecord>;
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface LeaseKeeperConfig {
  /** Unique per process (pod name + pod uid + incarnation): a restarted process is a new holder. */
  readonly identity: string;
  readonly leaseDurationMs: number;
  /** How often to renew. */
  readonly renewIntervalMs: number;
  /** Stop serving this long after the last successful renewal was sent; must be < leaseDurationMs. */
  readonly fenceAfterMs: number;
}

/** Renew every D/7.5 (2 s of 15 s), fence after 2D/3 (10 s of 15 s): the operator's own 15/10/2 shape. */
export function leaseTimings(leaseDurationMs: number): Omit<LeaseKeeperConfig, 'identity'> {
  if (!(leaseDurationMs >= 2000)) throw new RangeError(`lease duration must be at least 2000 ms, got ${leaseDurationMs}`);
  return { leaseDurationMs, renewIntervalMs: Math.max(200, Math.floor(leaseDurationMs / 7.5)), fenceAfterMs: Math.floor((leaseDurationMs * 2) / 3) };
}

export type ServingListener = (serving: boolean, reason: string) => void;

export class LeaseKeeper {
  private observed: LeaseRecord | null = null;
  private observedAtMs = 0;
  private renewSentAtMs = -Infinity;
  private holding = false;
  private lastError = '';

  constructor(
    private readonly store: LeaseStore,
    private readonly config: LeaseKeeperConfig,
    private readonly clock: Clock,
    private readonly listener: ServingListener,
  ) {
    if (!(config.renewIntervalMs < config.fenceAfterMs && config.fenceAfterMs < config.leaseDurationMs)) {
      throw new RangeError('self-fencing needs renewInterval < fenceAfter < leaseDuration');
    }
  }

  /** Whether the pod may serve now (holds the lease and renewed within fenceAfter). */
  get serving(): boolean {
    return this.holding;
  }

  /** Time until serving must stop if no renewal succeeds (negative once fenced). */
  msUntilFence(): number {
    return this.renewSentAtMs + this.config.fenceAfterMs - this.clock.nowMs();
  }

  /** One round: acquire or renew, then apply the fence rule. */
  async tick(): Promise<void> {
    const sentAtMs = this.clock.nowMs();
    try {
      if (await this.acquireOrRenew(sentAtMs)) {
        this.renewSentAtMs = sentAtMs;
        this.lastError = '';
      }
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
    }
    this.check();
  }

  /** Applies the fence rule at the current time (also called between ticks by a timer). */
  check(): void {
    const holding = this.msUntilFence() > 0;
    if (holding === this.holding) return;
    this.holding = holding;
    const reason = holding ? 'lease held' : `lease lost: not renewed for ${this.config.fenceAfterMs} ms${this.lastError === '' ? '' : ` (${this.lastError})`}`;
    this.listener(holding, reason);
  }

  /** Gives the lease up (graceful shutdown) so a successor need not wait it out; stops serving first. */
  async release(): Promise<void> {
    this.renewSentAtMs = -Infinity;
    this.check();
    if (this.observed === null || this.observed.holderIdentity !== this.config.identity) return;
    await this.store.update({ ...this.observed, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new Date(this.clock.nowMs()).toISOString() });
  }

  private async acquireOrRenew(nowMs: number): Promise<boolean> {
    const { identity } = this.config;
    const iso = new Date(nowMs).toISOString();
    const durationSeconds = Math.ceil(this.config.leaseDurationMs / 1000);
    const current = await this.store.get();
    if (current === null) {
      return this.write(() => this.store.create({ holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: iso, renewTime: iso, leaseTransitions: 0 }));
    }
    if (this.observed === null || this.observed.resourceVersion !== current.resourceVersion) {
      this.observed = current;
      this.observedAtMs = nowMs;
    }
    const otherHolder = current.holderIdentity !== '' && current.holderIdentity !== identity;
    if (otherHolder && nowMs < this.observedAtMs + current.leaseDurationSeconds * 1000) {
      this.lastError = `lease held by ${current.holderIdentity}; waiting for it to lapse`;
      return false;
    }
    const takingOver = current.holderIdentity !== identity;
    return this.write(() => this.store.update({
      ...current, holderIdentity: identity, leaseDurationSeconds: durationSeconds, renewTime: iso,
      acquireTime: takingOver ? iso : current.acquireTime ?? iso, leaseTransitions: current.leaseTransitions + (takingOver ? 1 : 0),
    }));
  }

  private async write(attempt: () => Promise<LeaseRecord>): Promise<boolean> {
    try {
      this.observed = await attempt();
      this.observedAtMs = this.clock.nowMs();
      return true;
    } catch (error) {
      if (error instanceof LeaseConflictError) {
        this.lastError = error.message;
        return false;
      }
      throw error;
    }
  }
}
