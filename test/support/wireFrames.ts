// Batch and result frames built by hand from the layouts in docs/wire-format.md, so a test can
// write any frame, valid or not, without going through BatchWriter / ResultWriter. Every field
// can be overridden independently of the bytes it describes (a key length that does not match
// the key, a count that does not match the ops).
// All integers little-endian; 64-bit fields take bigints so any bit pattern can be written.

import { FrameError, Opcode, WireStatus } from '../../proto/wire/index.js';

const EMPTY = Buffer.alloc(0);

function u16(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16LE(value);
  return bytes;
}

function u32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value);
  return bytes;
}

function u64(value: bigint): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(value);
  return bytes;
}

function i64(value: bigint): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigInt64LE(value);
  return bytes;
}

/** One op of a batch frame. Unknown opcodes get the common part and the key, no fields. */
export interface OpBytes {
  readonly opcode: number;
  readonly flags?: number;
  /** Default: the one-byte key "k". */
  readonly key?: Uint8Array;
  /** The key length field; default key.length. */
  readonly keyLength?: number;
  readonly view?: number;
  /** PUT and PUT_IF_VERSION only; default empty. */
  readonly value?: Uint8Array;
  /** The value length field; default value.length. */
  readonly valueLength?: number;
  readonly expectedVersion?: bigint;
  readonly delta?: bigint;
  /** Default 1 (a valid sequence number). */
  readonly seq?: bigint;
}

export interface BatchBytes {
  readonly version?: number;
  readonly flags?: number;
  /** The op count field; default ops.length. */
  readonly opCount?: number;
  readonly firstIncompleteSeq?: bigint;
  readonly ops: readonly OpBytes[];
  /** Bytes appended after the last op. */
  readonly trailing?: Uint8Array;
}

function opFields(op: OpBytes): Buffer[] {
  const valueLength = u32(op.valueLength ?? (op.value ?? EMPTY).length);
  const expected = u64(op.expectedVersion ?? 0n);
  const seq = u64(op.seq ?? 1n);
  switch (op.opcode) {
    case Opcode.GET: return [];
    case Opcode.PUT: return [valueLength, seq];
    case Opcode.DELETE: return [seq];
    case Opcode.PUT_IF_VERSION: return [valueLength, expected, seq];
    case Opcode.DELETE_IF_VERSION: return [expected, seq];
    case Opcode.INCR_BY: return [i64(op.delta ?? 0n), seq];
    default: return [];
  }
}

/** The bytes of one op: common part, the opcode's fields, key, value. */
export function opBytes(op: OpBytes): Buffer {
  const key = op.key ?? Buffer.from('k');
  const common = Buffer.alloc(8);
  common[0] = op.opcode;
  common[1] = op.flags ?? 0;
  common.writeUInt16LE(op.keyLength ?? key.length, 2);
  common.writeUInt32LE(op.view ?? 0, 4);
  const carriesValue = op.opcode === Opcode.PUT || op.opcode === Opcode.PUT_IF_VERSION;
  return Buffer.concat([common, ...opFields(op), key, carriesValue ? op.value ?? EMPTY : EMPTY]);
}

/** A batch frame: 16-byte header, then the ops, then any trailing bytes. */
export function batchFrame(batch: BatchBytes): Buffer {
  const header = Buffer.concat([
    u16(batch.version ?? 1), u16(batch.flags ?? 0), u32(batch.opCount ?? batch.ops.length), u64(batch.firstIncompleteSeq ?? 0n),
  ]);
  return Buffer.concat([header, ...batch.ops.map(opBytes), batch.trailing ?? EMPTY]);
}

/** One result of a result frame; which fields are written depends on status and opcode. */
export interface ResultBytes {
  readonly status: number;
  readonly opcode: number;
  readonly detail?: number;
  /** OK and VERSION_MISMATCH. */
  readonly version?: bigint;
  /** OK GET. */
  readonly value?: Uint8Array;
  readonly valueLength?: number;
  /** OK INCR_BY. */
  readonly integer?: bigint;
  /** WRONG_RANGE. */
  readonly currentView?: number;
  readonly owner?: Uint8Array;
  readonly ownerLength?: number;
}

export interface ResultFrameBytes {
  readonly version?: number;
  readonly flags?: number;
  /** The result count field; default results.length. */
  readonly count?: number;
  readonly results: readonly ResultBytes[];
  readonly trailing?: Uint8Array;
}

function resultFields(result: ResultBytes): Buffer[] {
  const version = u64(result.version ?? 0n);
  if (result.status === WireStatus.OK) {
    if (result.opcode === Opcode.GET) {
      const value = result.value ?? EMPTY;
      return [version, u32(result.valueLength ?? value.length), Buffer.from(value)];
    }
    if (result.opcode === Opcode.INCR_BY) return [version, i64(result.integer ?? 0n)];
    return [version];
  }
  if (result.status === WireStatus.VERSION_MISMATCH) return [version];
  if (result.status === WireStatus.WRONG_RANGE) {
    const owner = result.owner ?? EMPTY;
    return [u32(result.currentView ?? 0), u16(result.ownerLength ?? owner.length), Buffer.from(owner)];
  }
  return [];
}

export function resultBytes(result: ResultBytes): Buffer {
  const common = Buffer.alloc(4);
  common[0] = result.status;
  common[1] = result.opcode;
  common.writeUInt16LE(result.detail ?? 0, 2);
  return Buffer.concat([common, ...resultFields(result)]);
}

/** A result frame: 8-byte header, then the results, then any trailing bytes. */
export function resultFrame(frame: ResultFrameBytes): Buffer {
  const header = Buffer.concat([u16(frame.version ?? 1), u16(frame.flags ?? 0), u32(frame.count ?? frame.results.length)]);
  return Buffer.concat([header, ...frame.results.map(resultBytes), frame.trailing ?? EMPTY]);
}

/**
 * Runs `action`; returns the FrameError code it threw, or null when it returned. Any other
 * exception propagates, so a test fails with its stack rather than a mismatched code.
 */
export function frameErrorCode(action: () => void): string | null {
  try {
    action();
    return null;
  } catch (error) {
    if (error instanceof FrameError) return error.code;
    throw error;
  }
}

/** Hex of at most `max` bytes, for failure messages. */
export function hexPreview(bytes: Uint8Array, max = 256): string {
  const hex = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, max)).toString('hex');
  return bytes.length > max ? `${hex}… (${bytes.length} bytes)` : hex;
}
