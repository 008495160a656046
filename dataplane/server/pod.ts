// A data-plane pod: one engine, the ranges it owns, the RIFL client table and the gRPC server
// (KV for clients, Admin for the operator), on one event loop. Background work (engine
// maintenance, lease expiry) runs from a timer in bounded slices.

import * as grpc from '@grpc/grpc-js';
import type { Socket } from 'node:net';
import { raiseHttp2ServerWindows } from './http2ServerWindows.js';
import { RouteTable } from '../../proto/keyspace/routes.js';
import { DEFAULT_FRAME_LIMITS, type FrameLimits } from '../../proto/wire/index.js';
import { systemClock, type Clock } from '../clock.js';
import { OwnedRanges, type OwnedRange } from '../ranges/ownedRanges.js';
import { sortedDisjoint } from '../../proto/keyspace/rangeSearch.js';
import { ClientTable, DEFAULT_CLIENT_TABLE_CONFIG, type ClientTableConfig } from '../rifl/clientTable.js';
import { Store, warmUpEngine, type StoreConfig } from '../store/index.js';
import { BatchExecutor } from './batchExecutor.js';
import { slicekvServices } from '../../proto/grpcDefinition.js';
import {
  rangeFromMessage, rangeToMessage, routeFromMessage, routeToMessage, type RangeSpecMessage, type RouteMessage,
} from '../../proto/messages.js';
import { Session, type SessionHost, type SessionStream } from './session.js';
import { warmUpServing } from './servingWarmUp.js';
import type { BatchHistograms } from './metrics.js';
import { Durability, type DurabilityConfig, type DurabilityEvents } from '../durability/durability.js';
import type { WalWriter } from '../durability/walWriter.js';
import type { RecoveryReport } from '../durability/recovery.js';
import { RangesNotRecoveredError } from '../durability/rangesNotRecoveredError.js';
import { RecoveryWontFitError } from '../durability/recoveryFit.js';
import { Migrations } from '../migration/migrations.js';
import { migrationHandlers, peerFactory } from './migrationHandlers.js';
import { BulkListener } from '../migration/bulkListener.js';
import { openBulkReceiver, type BulkHandlers } from '../migration/bulkReceiver.js';
import { uncoveredParts } from '../ranges/uncoveredParts.js';
import { rangesOverlap, type HashRange } from '../../proto/keyspace/range.js';

export interface PodConfig {
  readonly podName: string;
  /** host:port to listen on; port 0 picks a free one. */
  readonly listen: string;
  /** The address clients should use for this pod (defaults to the bound listen address). */
  readonly advertise?: string;
  readonly store: Partial<StoreConfig>;
  readonly limits: FrameLimits;
  readonly clients: ClientTableConfig;
  readonly unsentRepliesMax: number;
  readonly maintenanceIntervalMs: number;
  readonly clock: Clock;
  /** Write-ahead log and checkpoints on the data dir; absent: durability off (memory only). */
  readonly durability?: DurabilityConfig;
  /**
   * Port of the bulk channel listener on the listen host (docs/migration.md, "Bulk channel"):
   * 0 (default) any free one; null none (pre-copies from this pod go as PreCopy calls).
   */
  readonly bulkPort?: number | null;
}

export const DEFAULT_POD_CONFIG: PodConfig = {
  podName: 'pod-0',
  listen: '127.0.0.1:0',
  store: {},
  limits: DEFAULT_FRAME_LIMITS,
  clients: DEFAULT_CLIENT_TABLE_CONFIG,
  unsentRepliesMax: 4096,
  maintenanceIntervalMs: 5,
  clock: systemClock,
};

type Unary<Req, Res> = grpc.handleUnaryCall<Req, Res>;

export class Pod implements SessionHost {
  readonly store: Store;
  readonly ranges = new OwnedRanges();
  readonly clients: ClientTable;
  readonly executor: BatchExecutor;
  readonly limits: FrameLimits;
  readonly podName: string;
  readonly unsentRepliesMax: number;
  readonly batchesInFlightMax = 64;
  unsentReplies = 0;
  draining = false;
  /** Why the pod is not serving (self-fenced: dataplane/lease), or null while it serves. */
  fencedReason: string | null = null;
  dropNextReply = false;

  get connectHints(): readonly string[] {
    return this.migrations.connectHints;
  }
  sessionsOpen = 0;
  batches = 0;
  ops = 0;
  /** GetRoutes calls answered. */
  routeRequests = 0;
  address = '';
  /** Set when metrics are served (dataplane/server/metrics.ts). */
  histograms: BatchHistograms | null = null;
  private routeTable: RouteTable | null = null;
  private readonly server = newGrpcServer();
  private maintenanceTimer: NodeJS.Timeout | null = null;
  readonly durability: Durability | null;
  readonly migrations: Migrations;
  private readonly peerClients = peerFactory(() => this.bulk);
  /** The bulk channel's listener (this pod as a source) and its connections to sources (as a target). */
  private bulk: { address: string; listener: BulkListener } | null = null;
  private readonly bulkReceivers = new Set<Socket>();
  /** Migration phase changes and failures; main.ts points it at the pod's log. */
  migrationLog: (message: string, fields: object) => void = () => undefined;
  /** Set by the metrics module to observe durability events; log lines go to `events.problem` too. */
  /** How long start() spent warming the engine's code (0: it did not: a restart). */
  warmUpMs = 0;
  durabilityEvents: DurabilityEvents = { recovered: () => undefined, checkpointed: () => undefined, problem: () => undefined };

  constructor(private readonly config: PodConfig) {
    this.store = new Store(config.store);
    this.clients = new ClientTable(this.store, config.clock, config.clients);
    this.limits = config.limits;
    this.podName = config.podName;
    this.unsentRepliesMax = config.unsentRepliesMax;
    this.migrations = new Migrations(this, this.peerClients.peers, (message, fields) => this.migrationLog(message, fields));
    this.executor = new BatchExecutor({
      store: this.store, ranges: this.ranges, clients: this.clients, routes: () => this.routeTable, selfAddress: () => this.address,
      wal: () => this.wal, serving: () => this.fencedReason === null, migrations: this.migrations,
    });
    const events: DurabilityEvents = {
      recovered: (report, what) => this.durabilityEvents.recovered(report, what),
      checkpointed: (result) => this.durabilityEvents.checkpointed(result),
      problem: (message) => this.durabilityEvents.problem(message),
    };
    this.durability = config.durability === undefined ? null : new Durability(config.durability, this, events);
  }

  get wal(): WalWriter | null {
    return this.durability?.wal ?? null;
  }

  /** The last recovery's report (restart or RecoverRanges), null when none ran. */
  get lastRecovery(): RecoveryReport | null {
    return this.durability?.lastRecovery ?? null;
  }

  get routes(): RouteTable | null {
    return this.routeTable;
  }

  set routes(table: RouteTable | null) {
    this.routeTable = table;
  }

  onBatch(opCount: number, durationSeconds: number): void {
    this.batches++;
    this.ops += opCount;
    this.histograms?.observe(opCount, durationSeconds);
  }

  /**
   * Binds the server and restores this pod's ranges; resolves with the address clients should use.
   * A start that fails (its recovery, most likely) releases everything it opened — the gRPC server,
   * the bulk listener, the timers, the log — and rejects with the error that stopped it: a caller
   * that gives up on the pod, an in-process test above all, must not be kept alive by it.
   */
  async start(): Promise<string> {
    try {
      return await this.startServing();
    } catch (error) {
      await this.stop(0).catch((release: Error) => this.durabilityEvents.problem(`releasing what a failed start opened failed: ${release.message}`));
      throw error;
    }
  }

  private async startServing(): Promise<string> {
    // A pod with nothing to recover warms the engine's code and its serving path first (warmUp.ts,
    // servingWarmUp.ts); a restart's recovery runs the engine's code.
    if (this.durability === null || !this.durability.hasManifest()) this.warmUpMs = warmUpEngine().ms + warmUpServing(this.limits).ms;
    const services = slicekvServices();
    this.server.addService(services.KV.service, {
      Session: (stream: SessionStream) => {
        this.sessionsOpen++;
        stream.once('close', () => this.sessionsOpen--);
        new Session(this, stream);
      },
      GetRoutes: this.getRoutes,
    });
    this.server.addService(services.Admin.service, {
      AssignRanges: this.assignRanges, SplitRange: this.splitRange, MergeRanges: this.mergeRanges, Stats: this.stats, Health: this.health,
      Checkpoint: this.checkpoint, RecoverRanges: this.recoverRanges, ...migrationHandlers(this.migrations, this.openBulkReceiver),
    });
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.config.listen, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    const host = this.config.listen.slice(0, this.config.listen.lastIndexOf(':'));
    this.address = this.config.advertise ?? `${host}:${port}`;
    const bulkPort = this.config.bulkPort === undefined ? 0 : this.config.bulkPort;
    if (bulkPort !== null) {
      const listener = await BulkListener.listen(host, bulkPort);
      this.bulk = { address: `${this.address.slice(0, this.address.lastIndexOf(':'))}:${listener.port}`, listener };
    }
    this.maintenanceTimer = setInterval(() => this.maintain(), this.config.maintenanceIntervalMs);
    this.maintenanceTimer.unref();
    // Serving starts before recovery ends: the recovering ranges answer UNAVAILABLE meanwhile.
    if (this.durability !== null) {
      const started = this.durability.start();
      // A peer asking who owns an in-doubt range waits until this pod knows what it recovered.
      this.migrations.ready = started.then(() => undefined, () => undefined);
      await started;
      const routes = this.durability.routes.map((r) => (r.owner === this.podName ? { ...r, address: this.address } : r));
      if (routes.length > 0 && this.routeTable === null) this.routeTable = new RouteTable(routes);
      // Transfers this pod gave a range up in and never saw decided: ask their targets now.
      this.migrations.resolveAfterRestart().catch((error: Error) => this.migrationLog(`in-doubt transfers not resolved: ${error.message}`, { error: error.message }));
    }
    return this.address;
  }

  /**
   * Stops taking batches (they get BATCH_DRAINING), lets replies in flight go out, and closes;
   * streams still open after `graceMs` are cut.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.draining = true;
    if (this.maintenanceTimer !== null) clearInterval(this.maintenanceTimer);
    this.migrations.close();
    this.peerClients.close();
    this.closeBulk();
    // Commits the log (answering the batches waiting for it) before the streams close.
    await this.durability?.close();
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /** Closes the bulk channel's listener and this pod's connections to sources (stop; tests' simulated crashes). */
  closeBulk(): void {
    this.bulk?.listener.close();
    for (const socket of this.bulkReceivers) socket.destroy();
  }

  /** PrepareMigration on this pod as a target: connects to the source's bulk channel; false when it cannot. */
  private readonly openBulkReceiver = async (address: string, migrationId: string, handlers: BulkHandlers): Promise<boolean> => {
    try {
      const socket = await openBulkReceiver(address, migrationId, handlers);
      this.bulkReceivers.add(socket);
      socket.once('close', () => this.bulkReceivers.delete(socket));
      return true;
    } catch (error) {
      this.migrationLog(`migration ${migrationId}: no bulk channel to ${address} (${(error as Error).message}); pre-copy by PreCopy calls`,
        { migration: migrationId, error: (error as Error).message });
      return false;
    }
  };

  private maintain(): void {
    this.store.maintain();
    this.clients.expireIdle();
  }

  private readonly getRoutes: Unary<object, object> = (_call, callback) => {
    this.routeRequests++;
    callback(null, { routes: (this.routeTable?.routes ?? []).map(routeToMessage), pod: this.podName });
  };

  /**
   * Hash space the assignment takes away has its records dropped in the background (not where a
   * migration still moves them: Migrations.dropTakenAway).
   * Hash space of the assignment not owned here now starts empty: records this pod still holds
   * there (of a range it gave away) are dropped first; if one cannot be, nothing is assigned.
   * Assignments take effect in the order they arrived: one that waits for such a drop holds back
   * those after it (an older assignment must never replace a newer one).
   */
  private readonly assignRanges: Unary<{ owned: RangeSpecMessage[]; routes: RouteMessage[] }, object> = (call, callback) => {
    let owned: OwnedRange[], routes: RouteTable | null;
    try {
      owned = sortedDisjoint(call.request.owned.map(rangeFromMessage));
      routes = call.request.routes.length > 0 ? new RouteTable(call.request.routes.map(routeFromMessage)) : this.routeTable;
    } catch (error) {
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: (error as Error).message });
    }
    const apply = (): void => {
      const before = this.ranges.list();
      try {
        this.assignNow(owned, routes);
      } catch (error) {
        return callback({ code: grpc.status.INVALID_ARGUMENT, details: (error as Error).message });
      }
      this.migrations.dropTakenAway(uncoveredParts(before, this.ranges.list()));
      this.afterRangeChange(callback);
    };
    if (this.assignQueue === null && uncoveredParts(owned, this.ranges.list()).length === 0) return apply();
    const step = (this.assignQueue ?? Promise.resolve()).then(() => this.clearBeforeTaking(owned, 'AssignRanges', apply))
      .catch((error: Error) => callback({ code: grpc.status.FAILED_PRECONDITION, details: error.message }))
      .catch((error: Error) => callback({ code: grpc.status.INTERNAL, details: error.message }));
    this.assignQueue = step;
    void step.then(() => {
      if (this.assignQueue === step) this.assignQueue = null;
    });
  };

  /** Assignments waiting for drops of records in hash space they give this pod (null: none). */
  private assignQueue: Promise<void> | null = null;

  private assignNow(owned: readonly OwnedRange[], routes: RouteTable | null): void {
    // A range still arriving by migration (or being recovered) keeps that state when the
    // assignment names it again unchanged: an operator push must not cut a migration short.
    const current = this.ranges.list();
    this.ranges.assign(owned.map((r) => {
      const same = current.find((c) => c.start === r.start && c.end === r.end && c.view === r.view);
      return same === undefined ? r : same;
    }));
    this.routeTable = routes;
  }

  /**
   * Drops this pod's records in the parts of `ranges` it does not own now (Migrations.clearBeforeTaking),
   * then runs `take`, which must make the ranges owned here before it returns (or awaits anything).
   * Refuses (RangeArrivingError) when those parts overlap a range a migration is still copying
   * here, before dropping anything and again after the drops (a PrepareMigration may have come
   * meanwhile): the copy must not be dropped, nor the range served while it arrives. The second
   * check and `take` run in one synchronous step, so no PrepareMigration can land between them:
   * one that comes later finds the hash space owned and is refused (Migrations.refuseOverlap).
   */
  private async clearBeforeTaking<T>(ranges: readonly HashRange[], call: string, take: () => T | PromiseLike<T>): Promise<T> {
    const parts = uncoveredParts(ranges, this.ranges.list());
    this.migrations.refuseTakingArriving(parts, call);
    await this.migrations.clearBeforeTaking(parts);
    this.migrations.refuseTakingArriving(uncoveredParts(ranges, this.ranges.list()), call);
    return take();
  }

  /**
   * After a split or merge here: the routing table this pod hands out shows its own ranges as they
   * are now (new bounds, new views), so a client sent away by WRONG_RANGE finds them.
   */
  private routeOwnRanges(): void {
    const table = this.routeTable;
    if (table === null) return;
    const owned = this.ranges.list();
    const others = table.routes.filter((r) => !owned.some((o) => rangesOverlap(o, r)));
    this.routeTable = new RouteTable([...others, ...owned.map((o) => ({ start: o.start, end: o.end, view: o.view, owner: this.podName, address: this.address }))]);
  }

  /** Answers an Admin call that changed the owned ranges once the manifest records the change. */
  private afterRangeChange(callback: grpc.sendUnaryData<object>): void {
    const owned = this.ranges.list();
    const recorded = this.durability === null ? Promise.resolve() : this.durability.assigned(owned, this.routeTable?.routes ?? []);
    recorded.then(() => callback(null, { owned: owned.map(rangeToMessage) }),
      (error: Error) => callback({ code: grpc.status.INTERNAL, details: `the range change is in effect but not recorded durably: ${error.message}` }));
  }

  private readonly checkpoint: Unary<object, object> = (_call, callback) => {
    if (this.durability === null) return callback({ code: grpc.status.FAILED_PRECONDITION, details: 'durability is off (no --data-dir)' });
    this.durability.checkpoint().then((results) => callback(null, {
      ranges: results.length, bytes: String(results.reduce((sum, r) => sum + r.bytes, 0)),
      records: String(results.reduce((sum, r) => sum + r.entryCount, 0)), seconds: results.reduce((sum, r) => sum + r.seconds, 0),
    }), (error: Error) => callback({ code: grpc.status.INTERNAL, details: error.message }));
  };

  private readonly recoverRanges: Unary<{ deadPod: string; ranges: RangeSpecMessage[] }, object> = (call, callback) => {
    if (this.durability === null) return callback({ code: grpc.status.FAILED_PRECONDITION, details: 'durability is off (no --data-dir)' });
    let ranges;
    try {
      ranges = call.request.ranges.map(rangeFromMessage);
      if (call.request.deadPod === '' || call.request.deadPod === this.podName) throw new Error('dead_pod must name another pod');
    } catch (error) {
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: (error as Error).message });
    }
    // The recovered ranges hold exactly what the dead pod's files hold: records left here first go.
    const durability = this.durability;
    // recoverFrom owns the ranges (recovering) before it returns its promise.
    this.clearBeforeTaking(ranges, 'RecoverRanges', () => durability.recoverFrom(call.request.deadPod, ranges)).then((report) => callback(null, {
      owned: this.ranges.list().map(rangeToMessage), checkpointRecords: String(report.checkpointEntries),
      logRecords: String(report.walEntriesReplayed), seconds: report.seconds, problems: report.problems,
    }), (error: Error) => this.recoveryFailed(ranges, error).then((details) => callback({ code: recoveryFailureCode(error), details })));
  };

  /**
   * A RecoverRanges failed. If it had taken the ranges (RangesNotRecoveredError), it gave them up
   * again; what it loaded of them is dropped before the reply, which says so, or names the record
   * that could not be (docs/durability.md, "Recovery").
   */
  private async recoveryFailed(ranges: readonly HashRange[], error: Error): Promise<string> {
    if (!(error instanceof RangesNotRecoveredError)) return error.message;
    this.durabilityEvents.problem(error.message);
    const left = await this.migrations.dropNotRecovered(ranges).catch((drop: Error) => `dropping what was loaded failed: ${drop.message}`);
    return `${error.message}; ${left === '' ? 'what was loaded of them is dropped' : left}`;
  }

  private readonly splitRange: Unary<{ range: RangeSpecMessage; at: string }, object> = (call, callback) => {
    try {
      this.ranges.split(rangeFromMessage(call.request.range), BigInt(call.request.at));
      this.routeOwnRanges();
      this.afterRangeChange(callback);
    } catch (error) {
      callback({ code: grpc.status.FAILED_PRECONDITION, details: (error as Error).message });
    }
  };

  private readonly mergeRanges: Unary<{ left: RangeSpecMessage; right: RangeSpecMessage }, object> = (call, callback) => {
    let left, right;
    try {
      left = rangeFromMessage(call.request.left);
      right = rangeFromMessage(call.request.right);
    } catch (error) {
      return callback({ code: grpc.status.INVALID_ARGUMENT, details: (error as Error).message });
    }
    // A half whose state still comes partly from another pod's files (it arrived by migration or
    // recovery) is checkpointed here first: the merged range replays each log from its halves'
    // earliest position, and the other pod's older entries must not land on this pod's newer
    // checkpoint of the other half.
    const durability = this.durability;
    const first = durability !== null && (durability.replaysOtherPods(left) || durability.replaysOtherPods(right)) ? durability.checkpoint() : Promise.resolve();
    first.then(() => {
      this.ranges.merge(left, right);
      this.routeOwnRanges();
      this.afterRangeChange(callback);
    }).catch((error: Error) => callback({ code: grpc.status.FAILED_PRECONDITION, details: error.message }));
  };

  private readonly stats: Unary<object, object> = (_call, callback) => {
    const stats = this.store.stats();
    const owned = this.ranges.list();
    const figures = this.store.rangeFigures(owned);
    callback(null, {
      pod: this.podName, memoryLimitBytes: String(stats.memoryLimitBytes), liveBytes: String(stats.liveBytes),
      utilisation: stats.utilisation, sessionsOpen: this.sessionsOpen, opsTotal: String(this.ops), keyCount: String(stats.keyCount),
      ranges: owned.map((range, i) => ({ range: rangeToMessage(range), keyCount: String(figures[i].keyCount), bytes: String(figures[i].bytes) })),
    });
  };

  /** Self-fencing (dataplane/lease): while not serving, every op gets UNAVAILABLE and Health says why. */
  setServing(serving: boolean, reason: string): void {
    this.fencedReason = serving ? null : reason;
  }

  private readonly health: Unary<object, object> = (_call, callback) => {
    const serving = !this.draining && this.fencedReason === null;
    callback(null, { serving, pod: this.podName, reason: this.draining ? 'draining' : this.fencedReason ?? '' });
  };
}

/** A failed RecoverRanges: RESOURCE_EXHAUSTED when its checkpoints could not fit here (nothing loaded), else FAILED_PRECONDITION. */
function recoveryFailureCode(error: Error): grpc.status {
  return error instanceof RangesNotRecoveredError && error.cause instanceof RecoveryWontFitError ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.FAILED_PRECONDITION;
}

/** The pod's gRPC server, with HTTP/2 receive windows large enough for migration chunks and big batches (http2ServerWindows.ts). */
function newGrpcServer(): grpc.Server {
  raiseHttp2ServerWindows();
  return new grpc.Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
}
