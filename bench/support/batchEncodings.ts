// The two batch encodings the wire benchmark (bench/frame.bench.ts) compares, behind one shape:
//
// - FrameEncoding: the client packs the ops with BatchWriter into one `bytes` field of a
//   protobuf envelope; the server walks them with BatchReader's fields (no object per op) and
//   packs the results with ResultWriter into the reply's `bytes`; the client walks them with
//   ResultReader.
// - ProtobufEncoding: one protobuf message per op and per result, made and read as the JS
//   objects protobufjs encodes from and decodes to.
//
// Both do the same work around the codec: the client starts from the caller's key and value
// byte arrays; the server touches each key's first and last byte, each value's first and last
// byte and each op's view and sequence number (a stand-in for the store, which reads them), and
// answers a GET with a 100-byte value of the value pool (storedValueOffset) and a PUT with the
// version it wrote. Sums of what each side read are kept in int32 `serverSink` / `clientSink`:
// they keep the reads from being optimised away, and the parent compares the two encodings'
// sums over one pass of the pool to check that both carried the same bytes.
//
// Each worker process uses one encoding only, so the calls in the timed loops stay monomorphic.

import { BatchReader, BatchWriter, Opcode, ResultReader, ResultWriter, WireDetail, WireStatus } from '../../proto/wire/index.js';
import {
  BATCH_ID_BASE, VIEW, firstIncompleteSeq, storedValueOffset, storedVersion, writtenVersion, type BatchWorkload,
} from './batchWorkload.js';
import {
  longToNumber, type BatchSchemas, type FrameBatchMessage, type FrameBatchReplyMessage, type OpBatchMessage,
  type OpBatchReplyMessage, type OpMessage,
} from './batchSchemas.js';
import { VALUE_BYTES } from './workload.js';

export type EncodingName = 'frame' | 'protobuf';

export interface BatchEncoding {
  readonly name: EncodingName;
  serverSink: number;
  clientSink: number;
  failureCount: number;
  firstFailure: string;
  /** Client: the request bytes of the pool's batch `batchIndex`. */
  encodeRequest(batchIndex: number): Buffer;
  /** Server: decodes a request, does every op, and returns the reply bytes. */
  serve(request: Buffer): Buffer;
  /** Server: decodes a request and touches every op, without answering; returns the op count. */
  decodeRequest(request: Buffer): number;
  /** Client: decodes a reply and reads every result; returns the result count. */
  decodeReply(reply: Buffer): number;
}

/** Server sink terms for a key: first byte, last byte, length. */
function keyTerm(bytes: Uint8Array, offset: number, length: number): number {
  return bytes[offset] + bytes[offset + length - 1] + length;
}

abstract class Failures {
  failureCount = 0;
  firstFailure = '';

  protected fail(what: string): void {
    if (this.failureCount === 0) this.firstFailure = what;
    this.failureCount++;
  }
}

export class FrameEncoding extends Failures implements BatchEncoding {
  readonly name = 'frame';
  serverSink = 0;
  clientSink = 0;
  private readonly batchWriter = new BatchWriter();
  private readonly batchReader = new BatchReader();
  private readonly resultWriter = new ResultWriter();
  private readonly resultReader = new ResultReader();

  constructor(private readonly workload: BatchWorkload, private readonly schemas: BatchSchemas) {
    super();
  }

  encodeRequest(batchIndex: number): Buffer {
    const w = this.workload;
    const writer = this.batchWriter;
    const first = batchIndex * w.batchOps;
    writer.begin(firstIncompleteSeq(batchIndex, w.batchOps));
    for (let i = first; i < first + w.batchOps; i++) {
      if (w.opcodes[i] === Opcode.GET) writer.get(w.keyViews[i], VIEW);
      else writer.put(w.keyViews[i], w.valueViews[i], VIEW, w.seqs[i]);
    }
    return this.schemas.frameBatch.encode({ batchId: BATCH_ID_BASE + batchIndex, ops: writer.finish() }).finish() as Buffer;
  }

  serve(request: Buffer): Buffer {
    const message = this.schemas.frameBatch.decode(request) as unknown as FrameBatchMessage;
    const reader = this.batchReader;
    const writer = this.resultWriter;
    const values = this.workload.values;
    reader.open(message.ops);
    writer.begin();
    const f = reader.frame;
    let sink = this.serverSink;
    while (reader.next()) {
      if (reader.opDetail !== WireDetail.NONE) this.fail(`op detail ${reader.opDetail}`);
      sink = (sink + keyTerm(f, reader.keyOffset, reader.keyLength) + reader.view) | 0;
      if (reader.opcode === Opcode.GET) {
        const at = storedValueOffset(f, reader.keyOffset, reader.keyLength);
        writer.value(storedVersion(at), values, at, VALUE_BYTES);
      } else {
        sink = (sink + keyTerm(f, reader.valueOffset, reader.valueLength) + reader.seq) | 0;
        writer.written(reader.opcode, writtenVersion(reader.seq));
      }
    }
    this.serverSink = sink;
    return this.schemas.frameBatchReply.encode({ batchId: message.batchId, results: writer.finish() }).finish() as Buffer;
  }

  decodeRequest(request: Buffer): number {
    const message = this.schemas.frameBatch.decode(request) as unknown as FrameBatchMessage;
    const reader = this.batchReader;
    reader.open(message.ops);
    const f = reader.frame;
    let sink = this.serverSink;
    while (reader.next()) {
      sink = (sink + keyTerm(f, reader.keyOffset, reader.keyLength) + reader.view) | 0;
      if (reader.opcode !== Opcode.GET) sink = (sink + keyTerm(f, reader.valueOffset, reader.valueLength) + reader.seq) | 0;
    }
    this.serverSink = sink;
    return reader.opCount;
  }

  decodeReply(reply: Buffer): number {
    const message = this.schemas.frameBatchReply.decode(reply) as unknown as FrameBatchReplyMessage;
    const reader = this.resultReader;
    reader.open(message.results);
    const f = reader.frame;
    let sink = this.clientSink;
    while (reader.next()) {
      if (reader.status !== WireStatus.OK) this.fail(`status ${reader.status}`);
      sink = (sink + reader.opcode + reader.version) | 0;
      if (reader.opcode === Opcode.GET) sink = (sink + keyTerm(f, reader.valueOffset, reader.valueLength)) | 0;
    }
    this.clientSink = sink;
    return reader.resultCount;
  }
}

/** What the protobuf client builds per op: one shape for every op, absent fields undefined (not encoded). */
interface OpInput {
  opcode: number;
  view: number;
  key: Uint8Array;
  value: Uint8Array | undefined;
  seq: number | undefined;
}

/** What the protobuf server builds per result (status OK is the proto3 default, so not written). */
interface ResultInput {
  opcode: number;
  version: number;
  value: Uint8Array | undefined;
}

export class ProtobufEncoding extends Failures implements BatchEncoding {
  readonly name = 'protobuf';
  serverSink = 0;
  clientSink = 0;

  constructor(private readonly workload: BatchWorkload, private readonly schemas: BatchSchemas) {
    super();
  }

  encodeRequest(batchIndex: number): Buffer {
    const w = this.workload;
    const first = batchIndex * w.batchOps;
    const ops: OpInput[] = [];
    for (let i = first; i < first + w.batchOps; i++) {
      const put = w.opcodes[i] !== Opcode.GET;
      ops.push({
        opcode: w.opcodes[i], view: VIEW, key: w.keyViews[i], value: put ? w.valueViews[i] : undefined, seq: put ? w.seqs[i] : undefined,
      });
    }
    const batch = { batchId: BATCH_ID_BASE + batchIndex, firstIncomplete: firstIncompleteSeq(batchIndex, w.batchOps), ops };
    return this.schemas.opBatch.encode(batch).finish() as Buffer;
  }

  serve(request: Buffer): Buffer {
    const message = this.schemas.opBatch.decode(request) as unknown as OpBatchMessage;
    const ops = message.ops;
    const values = this.workload.values;
    const results: ResultInput[] = [];
    let sink = this.serverSink;
    for (let i = 0; i < ops.length; i++) {
      const op: OpMessage = ops[i];
      const key = op.key;
      sink = (sink + keyTerm(key, 0, key.length) + op.view) | 0;
      if (op.opcode === Opcode.GET) {
        const at = storedValueOffset(key, 0, key.length);
        // The engine hands back (bytes, offset, length); a protobuf field needs a view of it.
        results.push({ opcode: Opcode.GET, version: storedVersion(at), value: values.subarray(at, at + VALUE_BYTES) });
      } else {
        const seq = longToNumber(op.seq);
        sink = (sink + keyTerm(op.value, 0, op.value.length) + seq) | 0;
        results.push({ opcode: op.opcode, version: writtenVersion(seq), value: undefined });
      }
    }
    this.serverSink = sink;
    return this.schemas.opBatchReply.encode({ batchId: message.batchId, results }).finish() as Buffer;
  }

  decodeRequest(request: Buffer): number {
    const message = this.schemas.opBatch.decode(request) as unknown as OpBatchMessage;
    const ops = message.ops;
    let sink = this.serverSink;
    for (let i = 0; i < ops.length; i++) {
      const op: OpMessage = ops[i];
      sink = (sink + keyTerm(op.key, 0, op.key.length) + op.view) | 0;
      if (op.opcode !== Opcode.GET) sink = (sink + keyTerm(op.value, 0, op.value.length) + longToNumber(op.seq)) | 0;
    }
    this.serverSink = sink;
    return ops.length;
  }

  decodeReply(reply: Buffer): number {
    const message = this.schemas.opBatchReply.decode(reply) as unknown as OpBatchReplyMessage;
    const results = message.results;
    let sink = this.clientSink;
    for (let i = 0; i < results.length; i++) {
      const result = results[i];
      if (result.status !== WireStatus.OK) this.fail(`status ${result.status}`);
      sink = (sink + result.opcode + longToNumber(result.version)) | 0;
      if (result.opcode === Opcode.GET) sink = (sink + keyTerm(result.value, 0, result.value.length)) | 0;
    }
    this.clientSink = sink;
    return results.length;
  }
}

export function makeEncoding(name: EncodingName, workload: BatchWorkload, schemas: BatchSchemas): BatchEncoding {
  return name === 'frame' ? new FrameEncoding(workload, schemas) : new ProtobufEncoding(workload, schemas);
}
