// The protobuf messages of proto/slicekv.proto as grpc-js hands them over (proto-loader with
// longs: String, enums: String, oneofs: true; fields in camelCase), and conversions of hash
// positions, which travel as fixed64 decimal strings with an exclusive end of 0 meaning 2^64.

import { KEYSPACE_END, type HashRange } from './keyspace/range.js';
import type { Route } from './keyspace/routes.js';

/** A range with its view, as RangeSpec carries it. */
export interface ViewedRange extends HashRange {
  readonly view: number;
}

export interface SessionOpenMessage {
  clientId: Buffer;
  zone: string;
  frameFormatVersion: number;
  /** The client takes a batch answered in several replies (BatchReply.op_indexes). */
  partialReplies?: boolean;
}

export interface BatchMessage {
  batchId: string;
  ops: Buffer;
}

export interface SessionRequestMessage {
  body?: 'open' | 'batch';
  open?: SessionOpenMessage | null;
  batch?: BatchMessage | null;
}

export type BatchStatusName = 'BATCH_OK' | 'BATCH_MALFORMED' | 'BATCH_OVERLOADED' | 'BATCH_SESSION_INVALID' | 'BATCH_DRAINING';

export interface SessionReplyMessage {
  opened?: {
    pod: string;
    keyLengthMax: number;
    valueLengthMax: number;
    batchOpsMax: number;
    batchBytesMax: number;
    batchesInFlightMax: number;
    repliesWaitForFsync: boolean;
  };
  batch?: { batchId: string; status: BatchStatusName; results: Buffer; message: string; opIndexes?: number[]; connectHints?: string[] };
}

export interface RangeSpecMessage {
  start: string;
  end: string;
  view: number;
}

export interface RouteMessage extends RangeSpecMessage {
  owner: string;
  address: string;
}

export function rangeFromMessage(message: RangeSpecMessage): ViewedRange {
  return { start: BigInt(message.start), end: endFromWire(message.end), view: message.view };
}

export function rangeToMessage(range: ViewedRange): RangeSpecMessage {
  return { start: range.start.toString(), end: endToWire(range.end), view: range.view };
}

export function routeFromMessage(message: RouteMessage): Route {
  return { ...rangeFromMessage(message), owner: message.owner, address: message.address };
}

export function routeToMessage(route: Route): RouteMessage {
  return { ...rangeToMessage(route), owner: route.owner, address: route.address };
}

function endFromWire(end: string): bigint {
  const value = BigInt(end);
  return value === 0n ? KEYSPACE_END : value;
}

function endToWire(end: bigint): string {
  return end === KEYSPACE_END ? '0' : end.toString();
}
