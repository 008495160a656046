// Leader election among operator replicas over a coordination.k8s.io Lease (DESIGN.md §8), in
// the manner of client-go's leaderelection, written over a small LeaseStore port because
// client-node 1.4 ships no elector. Numbers and the safety argument: docs/operator.md.
//
// - A replica takes the Lease when it is free, or when its record has not changed for a whole
//   lease duration *as measured on this replica's clock from when it first saw that record*
//   (timestamps written by another replica are never compared with this clock).
// - Writes carry the resourceVersion read, so two replicas cannot both win one round (409).
// - The leader renews every retry period; if no renewal has succeeded within the renew
//   deadline (measured from when that renewal was *sent*), it stops leading at once, before any
//   other replica may take the Lease (renew deadline < lease duration).

import { isStoreError, type Clock, type Logger } from './ports.js';

export interface LeaseRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions: number;
  /** Optimistic concurrency token; absent on create. */
  readonly resourceVersion?: string;
}

/** One named Lease. update() throws StoreError Conflict on a stale resourceVersion, create() AlreadyExists. */
export interface LeaseStore {
  get(): Promise<LeaseRecord | null>;
  create(record: LeaseRecord): Promise<LeaseRecord>;
  update(record: LeaseRecord): Promise<LeaseRecord>;
}

export interface LeaderElectionConfig {
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export const DEFAULT_LEADER_ELECTION: Omit<LeaderElectionConfig, 'identity'> = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2000 };

const DEADLINE_CHECK_MS = 200;

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(reason: string): void;
}

export class LeaderElector {
  private observed: LeaseRecord | null = null;
  private observedAtMs = 0;
  /** When the last successful acquire/renew was sent. */
  private renewedAtMs = -Infinity;
  private leading = false;
  private timer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly store: LeaseStore,
    private readonly config: LeaderElectionConfig,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly callbacks: LeaderCallbacks,
  ) {
    if (!(config.retryPeriodMs < config.renewDeadlineMs && config.renewDeadlineMs < config.leaseDurationMs)) {
      throw new RangeError('leader election needs retryPeriod < renewDeadline < leaseDuration');
    }
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** One round: try to acquire or renew, then check the renew deadline. Returns isLeader. */
  async tick(): Promise<boolean> {
    const sentAtMs = this.clock.nowMs();
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew(sentAtMs);
    } catch (error) {
      this.log.warn({ identity: this.config.identity, err: error instanceof Error ? error.message : String(error) }, 'leader election: lease request failed');
    }
    if (ok) {
      this.renewedAtMs = sentAtMs;
      if (!this.leading) {
        this.leading = true;
        this.log.info({ identity: this.config.identity }, 'leader election: became leader');
        this.callbacks.onStartedLeading();
      }
    }
    this.checkDeadline();
    return this.leading;
  }

  /** Stops leading if the last successful renewal was sent more than renewDeadline ago. */
  checkDeadline(): void {
    if (this.leading && this.clock.nowMs() - this.renewedAtMs >= this.config.renewDeadlineMs) this.stepDown('renew deadline passed');
  }

  /**
   * Runs tick() every retry period until stop(), and checks the renew deadline every
   * DEADLINE_CHECK_MS besides, so a request that hangs cannot keep a stale leader leading.
   */
  start(): void {
    this.running = true;
    this.deadlineTimer = setInterval(() => this.checkDeadline(), DEADLINE_CHECK_MS);
    const loop = (): void => {
      void this.tick().finally(() => {
        if (this.running) this.timer = setTimeout(loop, this.config.retryPeriodMs);
      });
    };
    loop();
  }

  /** Stops the loop; a leader gives the Lease up (so a standby need not wait it out). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.deadlineTimer !== null) clearInterval(this.deadlineTimer);
    if (!this.leading || this.observed === null) return;
    this.stepDown('stopping');
    try {
      await this.store.update({ ...this.observed, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new Date(this.clock.nowMs()).toISOString() });
    } catch (error) {
      this.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'leader election: could not release the lease');
    }
  }

  private stepDown(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.log.warn({ identity: this.config.identity, reason }, `leader election: stopped leading (${reason})`);
    this.callbacks.onStoppedLeading(reason);
  }

  private async tryAcquireOrRenew(nowMs: number): Promise<boolean> {
    const nowIso = new Date(nowMs).toISOString();
    const { identity } = this.config;
    const durationSeconds = Math.ceil(this.config.leaseDurationMs / 1000);
    const current = await this.store.get();
    if (current === null) {
      return this.write(() => this.store.create({ holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: nowIso, renewTime: nowIso, leaseTransitions: 0 }));
    }
    if (this.observed === null || this.observed.resourceVersion !== current.resourceVersion) {
      this.observed = current;
      this.observedAtMs = nowMs;
    }
    const heldByOther = current.holderIdentity !== '' && current.holderIdentity !== identity;
    const durationMs = current.leaseDurationSeconds * 1000;
    if (heldByOther && nowMs < this.observedAtMs + durationMs) return false;
    const takingOver = current.holderIdentity !== identity;
    if (takingOver && current.holderIdentity !== '') this.log.info({ identity, from: current.holderIdentity }, 'leader election: the lease expired; taking it over');
    return this.write(() => this.store.update({
      ...current, holderIdentity: identity, leaseDurationSeconds: durationSeconds, renewTime: nowIso,
      acquireTime: takingOver ? nowIso : current.acquireTime ?? nowIso,
      leaseTransitions: current.leaseTransitions + (takingOver ? 1 : 0),
    }));
  }

  private async write(attempt: () => Promise<LeaseRecord>): Promise<boolean> {
    try {
      const written = await attempt();
      this.observed = written;
      this.observedAtMs = this.clock.nowMs();
      return true;
    } catch (error) {
      if (isStoreError(error, 'Conflict') || isStoreError(error, 'AlreadyExists')) return false;
      throw error;
    }
  }
}
