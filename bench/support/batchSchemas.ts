// The protobuf messages of the wire-encoding benchmark (bench/frame.bench.ts), defined by
// reflection and encoded and decoded with protobufjs's reflection API (Type.encode/decode, the
// code protobufjs generates at run time on first use), which is what @grpc/proto-loader uses.
//
// - FRAME: our frame (proto/wire/) in its envelope, as Batch and BatchReply in
//   proto/slicekv.proto carry it (BatchReply's status, BATCH_OK = 0, is a proto3 default and
//   never on the wire in this benchmark, so it is left out).
// - PER_OP: the alternative the frame replaces, one protobuf message per op and per result.
//
// uint64 fields decode to Long objects: protobufjs uses the `long` package when it is installed,
// as it is beside protobufjs here and beside @grpc/proto-loader in any gRPC server. That is part
// of what protobuf-per-op costs, so the benchmark keeps it (longToNumber reads them).

import protobuf from 'protobufjs';

const FRAME_SCHEMA = `
syntax = "proto3";
package slicekv.bench.frame;
message Batch { uint64 batch_id = 1; bytes ops = 2; }
message BatchReply { uint64 batch_id = 1; bytes results = 3; }
`;

const PER_OP_SCHEMA = `
syntax = "proto3";
package slicekv.bench.perop;
message Op {
  uint32 opcode = 1;
  uint32 view = 2;
  bytes key = 3;
  bytes value = 4;
  uint64 expected_version = 5;
  sint64 delta = 6;
  uint64 seq = 7;
}
message Batch { uint64 batch_id = 1; uint64 first_incomplete = 2; repeated Op ops = 3; }
message Result { uint32 status = 1; uint32 opcode = 2; uint32 detail = 3; uint64 version = 4; bytes value = 5; }
message BatchReply { uint64 batch_id = 1; repeated Result results = 2; }
`;

/** A uint64 as protobufjs decodes it: a Long when the `long` package is present, else a number. */
export type DecodedUint64 = number | { toNumber(): number };

export function longToNumber(value: DecodedUint64): number {
  return typeof value === 'number' ? value : value.toNumber();
}

// ---- decoded shapes (absent fields read as the type's defaults) ----

export interface FrameBatchMessage {
  batchId: DecodedUint64;
  ops: Buffer;
}

export interface FrameBatchReplyMessage {
  batchId: DecodedUint64;
  results: Buffer;
}

export interface OpMessage {
  opcode: number;
  view: number;
  key: Buffer;
  value: Buffer;
  seq: DecodedUint64;
}

export interface OpBatchMessage {
  batchId: DecodedUint64;
  firstIncomplete: DecodedUint64;
  ops: OpMessage[];
}

export interface ResultMessage {
  status: number;
  opcode: number;
  version: DecodedUint64;
  value: Buffer;
}

export interface OpBatchReplyMessage {
  batchId: DecodedUint64;
  results: ResultMessage[];
}

export interface BatchSchemas {
  frameBatch: protobuf.Type;
  frameBatchReply: protobuf.Type;
  opBatch: protobuf.Type;
  opBatchReply: protobuf.Type;
  /** Whether uint64 fields decode to Long objects (see the header). */
  decodesLongs: boolean;
}

export function loadBatchSchemas(): BatchSchemas {
  const frame = protobuf.parse(FRAME_SCHEMA).root;
  const perOp = protobuf.parse(PER_OP_SCHEMA).root;
  return {
    frameBatch: frame.lookupType('slicekv.bench.frame.Batch'),
    frameBatchReply: frame.lookupType('slicekv.bench.frame.BatchReply'),
    opBatch: perOp.lookupType('slicekv.bench.perop.Batch'),
    opBatchReply: perOp.lookupType('slicekv.bench.perop.BatchReply'),
    decodesLongs: protobuf.util.Long !== null && protobuf.util.Long !== undefined,
  };
}
