// The data-plane port (operator/core/ports.ts) over gRPC: the Admin service (proto/adminClient.ts)
// and KV.GetRoutes, one channel per pod address. Every call has a deadline; channels of
// addresses not used for a while are closed, and there are at most `channelsMax` of them.

import * as grpc from '@grpc/grpc-js';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import { slicekvServices } from '../../proto/grpcDefinition.js';
import type { Route } from '../../proto/keyspace/routes.js';
import {
  rangeFromMessage, rangeToMessage, routeFromMessage, routeToMessage, type RangeSpecMessage, type RouteMessage, type ViewedRange,
} from '../../proto/messages.js';
import type { DataPlaneAdmin, PodHealth, PodStats } from '../core/ports.js';

interface Channel {
  admin: AdminClient;
  kv: grpc.Client;
  usedAtMs: number;
}

interface StatsMessage {
  pod: string;
  ranges: { range: RangeSpecMessage; keyCount: string; bytes: string; opsPerSecond: number }[];
}

export class GrpcDataPlane implements DataPlaneAdmin {
  private readonly channels = new Map<string, Channel>();

  constructor(private readonly deadlineMs = 5000, private readonly channelsMax = 1024, private readonly idleMs = 120_000) {}

  async assignRanges(address: string, owned: readonly ViewedRange[], routes: readonly Route[]): Promise<readonly ViewedRange[]> {
    const reply = await this.channel(address).admin.call('AssignRanges', { owned: owned.map(rangeToMessage), routes: routes.map(routeToMessage) }, this.deadlineMs);
    return (reply.owned as RangeSpecMessage[]).map(rangeFromMessage);
  }

  async stats(address: string): Promise<PodStats> {
    const reply = await this.channel(address).admin.call('Stats', {}, this.deadlineMs) as unknown as StatsMessage;
    return {
      pod: reply.pod,
      ranges: reply.ranges.map((r) => ({ range: rangeFromMessage(r.range), keyCount: Number(r.keyCount), bytes: Number(r.bytes), opsPerSecond: r.opsPerSecond ?? 0 })),
    };
  }

  async health(address: string): Promise<PodHealth> {
    const reply = await this.channel(address).admin.call('Health', {}, this.deadlineMs);
    return { serving: reply.serving === true, pod: String(reply.pod ?? ''), reason: String(reply.reason ?? '') };
  }

  async routes(address: string): Promise<readonly Route[]> {
    const kv = this.channel(address).kv as unknown as {
      GetRoutes(request: object, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, reply: { routes: RouteMessage[] }) => void): void;
    };
    const reply = await new Promise<{ routes: RouteMessage[] }>((resolve, reject) => {
      kv.GetRoutes({}, { deadline: Date.now() + this.deadlineMs }, (error, value) => (error ? reject(error) : resolve(value)));
    });
    return reply.routes.map(routeFromMessage);
  }

  close(): void {
    for (const channel of this.channels.values()) this.closeChannel(channel);
    this.channels.clear();
  }

  private channel(address: string): Channel {
    const nowMs = Date.now();
    let channel = this.channels.get(address);
    if (channel === undefined) {
      this.evict(nowMs);
      channel = { admin: adminClient(address), kv: new (slicekvServices().KV)(address, grpc.credentials.createInsecure()), usedAtMs: nowMs };
      this.channels.set(address, channel);
    }
    channel.usedAtMs = nowMs;
    return channel;
  }

  private evict(nowMs: number): void {
    for (const [address, channel] of this.channels) {
      if (nowMs - channel.usedAtMs > this.idleMs || this.channels.size >= this.channelsMax) {
        this.closeChannel(channel);
        this.channels.delete(address);
      }
    }
  }

  private closeChannel(channel: Channel): void {
    channel.admin.close();
    channel.kv.close();
  }
}
