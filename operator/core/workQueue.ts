// A work queue of object keys (client-go's workqueue, without Kubernetes): a key is queued at
// most once however many events name it; one reconcile runs per key at a time (a key added
// while its reconcile runs is run again right after); failures are retried with exponential
// backoff up to a maximum delay and a maximum count; everything is bounded (STYLE.md, "Bound
// everything"): keys waiting beyond `depthMax` are refused and logged, and the periodic resync
// brings them back.

import type { Logger } from './ports.js';
import type { ReconcileOutcome } from './stepResult.js';

export interface WorkQueueOptions {
  /** Distinct keys queued or delayed at once; more are refused. */
  readonly depthMax: number;
  /** Reconciles of different keys running at once. */
  readonly workersMax: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
  /** Consecutive failures of one key before the queue gives it up (until it is added again). */
  readonly retriesMax: number;
}

export const DEFAULT_WORK_QUEUE_OPTIONS: WorkQueueOptions = {
  depthMax: 10_000, workersMax: 4, backoffBaseMs: 100, backoffMaxMs: 30_000, retriesMax: 15,
};

export type ReconcileHandler = (key: string, signal: AbortSignal) => Promise<ReconcileOutcome>;

/** Called after every reconcile, for metrics. */
export type OutcomeListener = (key: string, outcome: ReconcileOutcome, durationMs: number) => void;

/** Backoff after `failures` consecutive failures (1-based): base · 2^(failures-1), capped. */
export function backoffMs(failures: number, options: Pick<WorkQueueOptions, 'backoffBaseMs' | 'backoffMaxMs'>): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(options.backoffBaseMs * 2 ** exponent, options.backoffMaxMs);
}

export class WorkQueue {
  private readonly ready: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, { timer: NodeJS.Timeout; dueMs: number }>();
  private readonly failures = new Map<string, number>();
  private readonly abort = new AbortController();
  private readonly idleWaiters: (() => void)[] = [];
  private stopped = false;
  listener: OutcomeListener | null = null;

  constructor(private readonly handler: ReconcileHandler, private readonly options: WorkQueueOptions, private readonly log: Logger) {
    if (!(options.depthMax >= 1 && options.workersMax >= 1 && options.retriesMax >= 0)) throw new RangeError('work queue bounds must be positive');
  }

  /** Keys waiting to run, now or after a delay. */
  get depth(): number {
    return this.queued.size + this.delayed.size;
  }

  get running(): number {
    return this.processing.size;
  }

  /** Queues `key` to run as soon as a worker is free; false when refused (stopped or full). */
  add(key: string): boolean {
    if (this.stopped) return false;
    const delayed = this.delayed.get(key);
    if (delayed !== undefined) {
      clearTimeout(delayed.timer);
      this.delayed.delete(key);
    }
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return true;
    }
    if (this.queued.has(key)) return true;
    if (this.depth >= this.options.depthMax) {
      this.log.warn({ key, depthMax: this.options.depthMax }, 'work queue full: key refused');
      return false;
    }
    this.queued.add(key);
    this.ready.push(key);
    this.pump();
    return true;
  }

  /** Queues `key` after `delayMs`, unless it is already due sooner. */
  addAfter(key: string, delayMs: number): boolean {
    if (this.stopped) return false;
    const dueMs = Date.now() + delayMs;
    const existing = this.delayed.get(key);
    if (existing !== undefined && existing.dueMs <= dueMs) return true;
    if (this.queued.has(key)) return true;
    if (existing !== undefined) clearTimeout(existing.timer);
    else if (this.depth >= this.options.depthMax) {
      this.log.warn({ key, depthMax: this.options.depthMax }, 'work queue full: delayed key refused');
      return false;
    }
    const timer = setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.delayed.set(key, { timer, dueMs });
    return true;
  }

  /** Consecutive failures recorded for `key`. */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  whenIdle(): Promise<void> {
    if (this.queued.size === 0 && this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Refuses new keys, drops delayed ones, aborts the signal of reconciles in flight and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    this.ready.length = 0;
    this.queued.clear();
    this.dirty.clear();
    await this.whenIdle();
  }

  private pump(): void {
    while (!this.stopped && this.processing.size < this.options.workersMax && this.ready.length > 0) {
      const key = this.ready.shift() as string;
      this.queued.delete(key);
      this.processing.add(key);
      void this.run(key);
    }
    if (this.queued.size === 0 && this.processing.size === 0) {
      for (const resolve of this.idleWaiters.splice(0)) resolve();
    }
  }

  private async run(key: string): Promise<void> {
    const startedMs = Date.now();
    let outcome: ReconcileOutcome;
    try {
      outcome = await this.handler(key, this.abort.signal);
    } catch (error) {
      outcome = { kind: 'retry', error: error instanceof Error ? error : new Error(String(error)) };
    }
    this.processing.delete(key);
    this.listener?.(key, outcome, Date.now() - startedMs);
    this.settle(key, outcome);
    if (this.dirty.delete(key)) this.add(key);
    this.pump();
  }

  private settle(key: string, outcome: ReconcileOutcome): void {
    if (outcome.kind !== 'retry') {
      this.failures.delete(key);
      if (outcome.kind === 'requeue') this.addAfter(key, outcome.afterMs);
      return;
    }
    const failures = this.failuresOf(key) + 1;
    if (failures > this.options.retriesMax) {
      this.failures.delete(key);
      this.log.error({ key, failures, err: outcome.error.message }, 'work queue: giving up on key after retriesMax failures');
      return;
    }
    this.failures.set(key, failures);
    const delayMs = backoffMs(failures, this.options);
    this.log.warn({ key, failures, delayMs, err: outcome.error.message }, 'reconcile failed: retrying after backoff');
    this.addAfter(key, delayMs);
  }
}
