// The Admin RPCs of live migration (proto/slicekv.proto): thin gRPC adapters over
// dataplane/migration/migrations.ts. Errors a caller can fix (unknown migration, a range not
// owned here) are FAILED_PRECONDITION; bad arguments INVALID_ARGUMENT.

import * as grpc from '@grpc/grpc-js';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import { slicekvServices } from '../../proto/grpcDefinition.js';
import { rangeFromMessage, rangeToMessage, routeFromMessage, type RangeSpecMessage, type RouteMessage } from '../../proto/messages.js';
import type { Migrations, PeerFactory } from '../migration/migrations.js';
import type { IncomingMigration, OwnershipData } from '../migration/incomingMigration.js';
import type { OutgoingMigration } from '../migration/outgoingMigration.js';
import type { BulkListener } from '../migration/bulkListener.js';
import type { BulkHandlers } from '../migration/bulkReceiver.js';

type Unary<Req> = grpc.handleUnaryCall<Req, object>;

/** This pod's bulk channel listener, for migrations it is the source of (null: none). */
type BulkSide = () => { readonly address: string; readonly listener: BulkListener } | null;

/** Connects to a source's bulk channel for a migration this pod is the target of; false when it cannot. */
type OpenBulkReceiver = (address: string, migrationId: string, handlers: BulkHandlers) => Promise<boolean>;

type ReceiveOwnershipRequest = { migrationId: string; entries: Buffer; durableSources: string; routes: RouteMessage[]; versionFloor: string } & OwnershipData;

/** Admin clients to other pods, one per address, reused. */
export function peerFactory(bulk: BulkSide): { peers: PeerFactory; close(): void } {
  const clients = new Map<string, AdminClient>();
  const clientFor = (address: string): AdminClient => {
    let client = clients.get(address);
    if (client === undefined) {
      client = adminClient(address);
      clients.set(address, client);
    }
    return client;
  };
  return {
    peers: (address) => ({
      call: (method, request, deadlineMs) => clientFor(address).call(method as Parameters<AdminClient['call']>[0], request, deadlineMs),
      fetchKeys: async (migrationId, keys) => (await clientFor(address).call('FetchKeys', { migrationId, keys }, 10_000)).entries as Buffer,
      bulk: (() => {
        const side = bulk();
        return side === null ? null : {
          address: side.address, expect: (id: string, timeoutMs: number) => side.listener.expect(id, timeoutMs),
          encodeOwnership: (request: object) => slicekvServices().Admin.service.ReceiveOwnership.requestSerialize(request),
        };
      })(),
    }),
    close: () => {
      for (const client of clients.values()) client.close();
    },
  };
}

function info(m: OutgoingMigration | IncomingMigration, role: 'SOURCE' | 'TARGET'): object {
  const common = {
    migrationId: m.id, role, phase: m.phase.phase, transitions: m.phase.transitions, error: m.error,
    recordsMoved: String(m.recordsMoved), bytesMoved: String(m.bytesMoved),
  };
  if (role === 'SOURCE') {
    const outgoing = m as OutgoingMigration;
    return {
      ...common, range: rangeToMessage({ ...outgoing.range, view: outgoing.newView }), peerPod: outgoing.targetPod, lastServedAtMs: outgoing.lastServedAtMs,
      paused: outgoing.paused, throttleBytesPerSecond: String(outgoing.throttleBytesPerSecond),
      preCopyRounds: outgoing.preCopyRounds, pendingSlices: outgoing.pendingSlices, preCopyChannel: outgoing.preCopyChannel,
      handOverChannel: outgoing.handOverChannel,
    };
  }
  const incoming = m as IncomingMigration;
  return { ...common, range: rangeToMessage(incoming.range), peerPod: incoming.sourcePod, keysFetched: String(incoming.keysFetched), firstServedAtMs: incoming.firstServedAtMs,
    preCopyBytes: String(incoming.preCopyBytes), peakOpsPending: String(incoming.opsPendingPeak) };
}

function fail(callback: grpc.sendUnaryData<object>, code: grpc.status, error: unknown): void {
  callback({ code, details: error instanceof Error ? error.message : String(error) });
}

export function migrationHandlers(migrations: Migrations, openBulk: OpenBulkReceiver): Record<string, Unary<never>> {
  const status = (id: string): object => ({
    migrations: [
      ...[...migrations.outgoing.values()].filter((m) => id === '' || m.id === id).map((m) => info(m, 'SOURCE')),
      ...[...migrations.incoming.values()].filter((m) => id === '' || m.id === id).map((m) => info(m, 'TARGET')),
    ],
  });
  const receiveOwnership = async (r: ReceiveOwnershipRequest): Promise<object> => {
    const walLsn = await migrations.receiveOwnership(r.migrationId, r.entries, r.durableSources, r.routes.map(routeFromMessage), Number(r.versionFloor), r);
    return { phase: 'MOVE_DATA', walLsn: String(walLsn) };
  };
  const ownershipRequest = slicekvServices().Admin.service.ReceiveOwnership;
  const guarded = <Req>(code: grpc.status, body: (request: Req) => object | Promise<object>): Unary<Req> => (call, callback) => {
    Promise.resolve().then(() => body(call.request)).then((reply) => callback(null, reply), (error: unknown) => fail(callback, code, error));
  };
  return {
    StartMigration: guarded<{ migrationId: string; range: RangeSpecMessage; targetPod: string; targetAddress: string; throttleBytesPerSecond: string;
      skipPreCopy: boolean; yieldToLoad: boolean; }>(grpc.status.FAILED_PRECONDITION, (r) => {
        if (r.migrationId === '' || r.targetAddress === '' || r.range === null) throw new Error('migration_id, range and target_address are required');
        migrations.start(r.migrationId, rangeFromMessage(r.range), r.targetPod, r.targetAddress, Number(r.throttleBytesPerSecond), !r.skipPreCopy, r.yieldToLoad);
        return status(r.migrationId);
      }),
    ControlMigration: guarded<{ migrationId: string; action: string; throttleBytesPerSecond: string }>(grpc.status.FAILED_PRECONDITION, (r) => {
      const m = migrations.outgoing.get(r.migrationId);
      if (m === undefined) throw new Error(`no migration ${r.migrationId} with this pod as source`);
      if (r.action === 'PAUSE') m.pause();
      else if (r.action === 'RESUME') m.resume();
      else if (r.action === 'THROTTLE') m.throttleBytesPerSecond = Number(r.throttleBytesPerSecond);
      else if (r.action === 'CANCEL' && !m.cancel()) throw new Error(`migration ${r.migrationId} is in ${m.phase.phase}: ownership moved, it can no longer be cancelled`);
      else if (r.action !== 'CANCEL') throw new Error(`unknown action ${r.action}`);
      return status(r.migrationId);
    }),
    MigrationStatus: guarded<{ migrationId: string }>(grpc.status.INVALID_ARGUMENT, (r) => status(r.migrationId)),
    PrepareMigration: guarded<{ migrationId: string; range: RangeSpecMessage; sourcePod: string; sourceAddress: string; preCopy: boolean;
      bulkAddress: string; expectedKeys?: string }>(grpc.status.FAILED_PRECONDITION, async (r) => {
        // A sizing hint only: the engine bounds it by what its memory can hold.
        const migration = await migrations.prepare(r.migrationId, rangeFromMessage(r.range), r.sourcePod, r.sourceAddress, Number(r.expectedKeys ?? 0));
        const bulkConnected = r.preCopy && r.bulkAddress !== '' && await openBulk(r.bulkAddress, r.migrationId, {
          install: (records, slices) => migrations.preCopy(r.migrationId, records, slices),
          // The hand-over over the same connection (bulkReceiver.ts): decoded as the call's would be.
          takeOwnership: async (bytes) => void await receiveOwnership(ownershipRequest.requestDeserialize(bytes) as ReceiveOwnershipRequest),
        });
        return { phase: migration.phase.phase, bulkConnected };
      }),
    PreCopy: guarded<{ migrationId: string; records: Buffer; replacedSlices: Buffer }>(grpc.status.FAILED_PRECONDITION, (r) => {
      migrations.preCopy(r.migrationId, r.records, r.replacedSlices);
      return { phase: 'PREPARE' };
    }),
    ReceiveOwnership: guarded<ReceiveOwnershipRequest>(grpc.status.FAILED_PRECONDITION, receiveOwnership),
    MoveData: guarded<{ migrationId: string; records: Buffer; sentBelowHi: number; last: boolean }>(grpc.status.FAILED_PRECONDITION, (r) => {
      migrations.moveData(r.migrationId, r.records, r.sentBelowHi, r.last);
      return { phase: migrations.incoming.get(r.migrationId)?.phase.phase ?? '' };
    }),
    FetchKeys: guarded<{ migrationId: string; keys: Buffer[] }>(grpc.status.FAILED_PRECONDITION, (r) => ({ entries: migrations.fetchKeys(r.migrationId, r.keys) })),
    FinishMigration: guarded<{ migrationId: string }>(grpc.status.FAILED_PRECONDITION, (r) => {
      migrations.finish(r.migrationId);
      return { phase: migrations.incoming.get(r.migrationId)?.phase.phase ?? '' };
    }),
    ResolveMigration: guarded<{ migrationId: string; range: RangeSpecMessage | null; sourcePod: string }>(grpc.status.FAILED_PRECONDITION, (r) => {
      if (r.migrationId === '' || r.range === null) throw new Error('migration_id and range are required');
      return migrations.resolve(r.migrationId, rangeFromMessage(r.range));
    }),
  };
}
