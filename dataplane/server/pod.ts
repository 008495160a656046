// A data-plane pod: one engine, the ranges it owns, the RIFL client table and the gRPC server
// (KV for clients, Admin for the operator), on one event loop. Background work (engine
// maintenance, lease expiry) runs from a timer in bounded slices.

import * as grpc from '@grpc/grpc-js';
import { RouteTable } from '../../proto/keyspace/routes.js';
import { DEFAULT_FRAME_LIMITS, type FrameLimits } from '../../proto/wire/index.js';
import { systemClock, type Clock } from '../clock.js';
import { OwnedRanges } from '../ranges/ownedRanges.js';
import { ClientTable, DEFAULT_CLIENT_TABLE_CONFIG, type ClientTableConfig } from '../rifl/clientTable.js';
import { Store, type StoreConfig } from '../store/index.js';
import { BatchExecutor } from './batchExecutor.js';
import { slicekvServices } from '../../proto/grpcDefinition.js';
import {
  rangeFromMessage, rangeToMessage, routeFromMessage, routeToMessage, type RangeSpecMessage, type RouteMessage,
} from '../../proto/messages.js';
import { Session, type SessionHost, type SessionStream } from './session.js';
import type { BatchHistograms } from './metrics.js';

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
  dropNextReply = false;
  sessionsOpen = 0;
  batches = 0;
  ops = 0;
  address = '';
  /** Set when metrics are served (dataplane/server/metrics.ts). */
  histograms: BatchHistograms | null = null;
  private routeTable: RouteTable | null = null;
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 8 * 1024 * 1024 });
  private maintenanceTimer: NodeJS.Timeout | null = null;

  constructor(private readonly config: PodConfig) {
    this.store = new Store(config.store);
    this.clients = new ClientTable(this.store, config.clock, config.clients);
    this.limits = config.limits;
    this.podName = config.podName;
    this.unsentRepliesMax = config.unsentRepliesMax;
    this.executor = new BatchExecutor({
      store: this.store, ranges: this.ranges, clients: this.clients, routes: () => this.routeTable, selfAddress: () => this.address,
    });
  }

  get routes(): RouteTable | null {
    return this.routeTable;
  }

  onBatch(opCount: number, durationSeconds: number): void {
    this.batches++;
    this.ops += opCount;
    this.histograms?.observe(opCount, durationSeconds);
  }

  /** Binds the server; resolves with the address clients should use. */
  async start(): Promise<string> {
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
    });
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(this.config.listen, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
    });
    const host = this.config.listen.slice(0, this.config.listen.lastIndexOf(':'));
    this.address = this.config.advertise ?? `${host}:${port}`;
    this.maintenanceTimer = setInterval(() => this.maintain(), this.config.maintenanceIntervalMs);
    this.maintenanceTimer.unref();
    return this.address;
  }

  /**
   * Stops taking batches (they get BATCH_DRAINING), lets replies in flight go out, and closes;
   * streams still open after `graceMs` are cut.
   */
  async stop(graceMs = 2000): Promise<void> {
    this.draining = true;
    if (this.maintenanceTimer !== null) clearInterval(this.maintenanceTimer);
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

  private maintain(): void {
    this.store.maintain();
    this.clients.expireIdle();
  }

  private readonly getRoutes: Unary<object, object> = (_call, callback) => {
    callback(null, { routes: (this.routeTable?.routes ?? []).map(routeToMessage), pod: this.podName });
  };

  private readonly assignRanges: Unary<{ owned: RangeSpecMessage[]; routes: RouteMessage[] }, object> = (call, callback) => {
    try {
      const routes = call.request.routes.length > 0 ? new RouteTable(call.request.routes.map(routeFromMessage)) : this.routeTable;
      this.ranges.assign(call.request.owned.map(rangeFromMessage));
      this.routeTable = routes;
      callback(null, { owned: this.ranges.list().map(rangeToMessage) });
    } catch (error) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: (error as Error).message });
    }
  };

  private readonly splitRange: Unary<{ range: RangeSpecMessage; at: string }, object> = (call, callback) => {
    try {
      this.ranges.split(rangeFromMessage(call.request.range), BigInt(call.request.at));
      callback(null, { owned: this.ranges.list().map(rangeToMessage) });
    } catch (error) {
      callback({ code: grpc.status.FAILED_PRECONDITION, details: (error as Error).message });
    }
  };

  private readonly mergeRanges: Unary<{ left: RangeSpecMessage; right: RangeSpecMessage }, object> = (call, callback) => {
    try {
      this.ranges.merge(rangeFromMessage(call.request.left), rangeFromMessage(call.request.right));
      callback(null, { owned: this.ranges.list().map(rangeToMessage) });
    } catch (error) {
      callback({ code: grpc.status.FAILED_PRECONDITION, details: (error as Error).message });
    }
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

  private readonly health: Unary<object, object> = (_call, callback) => {
    callback(null, { serving: !this.draining, pod: this.podName, reason: this.draining ? 'draining' : '' });
  };
}
