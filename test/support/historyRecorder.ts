// Records what SDK clients did, for the linearizability checker (test/linearizability, kvcheck):
// every call's logical client, op, key, input, call and return times and output, in kvcheck's
// input format (JSON lines; docs/linearizability.md). A recorded client behaves exactly like the
// one it wraps — same results, same errors — so a workload runs unchanged.
//
// Outcomes. A result, or an error the pod gave for this op without running it (bad argument,
// out of memory, corrupt record), is definite. Any other error — a timeout, an abort, retries
// exhausted, an expired session, a lost connection — leaves open whether the op took effect:
// it is recorded with no return time, and the checker lets it have happened or not.

import type { CallOptions, CasResult, Entry } from '../../client/index.js';
import { SlicekvError } from '../../client/index.js';
import { WireDetail } from '../../proto/wire/index.js';

/** The SDK calls a history covers (SlicekvClient has them all). */
export interface KvClient {
  get(key: Buffer | string, options?: CallOptions): Promise<Entry | null>;
  put(key: Buffer | string, value: Buffer | string, options?: CallOptions): Promise<{ version: number }>;
  delete(key: Buffer | string, options?: CallOptions): Promise<boolean>;
  putIfVersion(key: Buffer | string, value: Buffer | string, expectedVersion: number, options?: CallOptions): Promise<CasResult>;
  deleteIfVersion(key: Buffer | string, expectedVersion: number, options?: CallOptions): Promise<CasResult>;
  incrBy(key: Buffer | string, delta: number | bigint, options?: CallOptions): Promise<number | bigint>;
}

export type HistoryOpName = 'get' | 'put' | 'putIfVersion' | 'delete' | 'deleteIfVersion' | 'incrBy';

/** Integers beyond 2^53 are written as decimal strings. */
export type HistoryInteger = number | string;

export interface HistoryOutput {
  found?: boolean;
  value?: string;
  version?: number;
  ok?: boolean;
  currentVersion?: number;
  existed?: boolean;
  integer?: HistoryInteger;
  /** A definite error: the op took no effect. */
  error?: string;
  detail?: string;
}

/** One line of kvcheck's input. Keys and values: each byte as the code point of the same number (latin1). */
export interface HistoryOp {
  process: number;
  op: HistoryOpName;
  key: string;
  value?: string;
  expectedVersion?: number;
  delta?: HistoryInteger;
  /** Nanoseconds since the recorder's origin. */
  call: number;
  /** null: the outcome is unknown (the op may or may not have taken effect). */
  return: number | null;
  output: HistoryOutput | null;
  /** Why the outcome is unknown (the error's code), for reading a history. */
  error?: string;
}

/** SDK errors after which the op certainly did not take effect (the pod refused it). */
const DEFINITE_ERROR_CODES: ReadonlySet<string> = new Set(['SLICEKV_INVALID_ARGUMENT', 'SLICEKV_OUT_OF_MEMORY', 'SLICEKV_CORRUPT']);
/** INVALID_ARGUMENT details the model reads (an incrBy's value was not an integer / would overflow). */
const DETAIL_NAMES: ReadonlyMap<number, string> = new Map([
  [WireDetail.VALUE_NOT_INTEGER, 'VALUE_NOT_INTEGER'],
  [WireDetail.INCREMENT_OVERFLOW, 'INCREMENT_OVERFLOW'],
]);

function text(data: Buffer | string): string {
  return (typeof data === 'string' ? Buffer.from(data) : data).toString('latin1');
}

function integer(value: number | bigint): HistoryInteger {
  const asNumber = Number(value);
  return Number.isSafeInteger(asNumber) && BigInt(asNumber) === BigInt(value) ? asNumber : BigInt(value).toString();
}

function isDefinite(error: unknown): error is SlicekvError {
  // A retry of a seq the pod already saw acknowledged: the first attempt may have run.
  return error instanceof SlicekvError && DEFINITE_ERROR_CODES.has(error.code) && error.detail !== WireDetail.SEQUENCE_STALE;
}

export class HistoryRecorder {
  private readonly origin = process.hrtime.bigint();
  private readonly recorded: HistoryOp[] = [];
  private processNext = 0;
  unknownCount = 0;

  /** Nanoseconds since this recorder began (safe integers for ~104 days). */
  private now(): number {
    return Number(process.hrtime.bigint() - this.origin);
  }

  /** The ops recorded so far, completed ones in return order, unknown ones as they failed. */
  ops(): readonly HistoryOp[] {
    return this.recorded;
  }

  /** The history as kvcheck reads it. */
  text(): string {
    return this.recorded.map((op) => JSON.stringify(op)).join('\n') + '\n';
  }

  /** A client that records every call as logical client `process` (the next free number by default). */
  client(inner: KvClient, process = this.processNext): KvClient {
    this.processNext = Math.max(this.processNext, process + 1);
    const record = <T>(op: Omit<HistoryOp, 'call' | 'return' | 'output' | 'process'>, run: () => Promise<T>,
      output: (result: T) => HistoryOutput): Promise<T> => this.record({ ...op, process }, run, output);
    return {
      get: (key, options) => record({ op: 'get', key: text(key) }, () => inner.get(key, options),
        (entry) => (entry === null ? { found: false } : { found: true, value: text(entry.value), version: entry.version })),
      put: (key, value, options) => record({ op: 'put', key: text(key), value: text(value) }, () => inner.put(key, value, options),
        (result) => ({ version: result.version })),
      delete: (key, options) => record({ op: 'delete', key: text(key) }, () => inner.delete(key, options), (existed) => ({ existed })),
      putIfVersion: (key, value, expectedVersion, options) => record({ op: 'putIfVersion', key: text(key), value: text(value), expectedVersion },
        () => inner.putIfVersion(key, value, expectedVersion, options), casOutput),
      deleteIfVersion: (key, expectedVersion, options) => record({ op: 'deleteIfVersion', key: text(key), expectedVersion },
        () => inner.deleteIfVersion(key, expectedVersion, options), casOutput),
      incrBy: (key, delta, options) => record({ op: 'incrBy', key: text(key), delta: integer(delta) }, () => inner.incrBy(key, delta, options),
        (sum) => ({ integer: integer(sum) })),
    };
  }

  private async record<T>(op: Omit<HistoryOp, 'call' | 'return' | 'output'>, run: () => Promise<T>,
    output: (result: T) => HistoryOutput): Promise<T> {
    const call = this.now();
    try {
      const result = await run();
      this.recorded.push({ ...op, call, return: this.now(), output: output(result) });
      return result;
    } catch (error) {
      const at = this.now();
      if (isDefinite(error)) {
        const detail = DETAIL_NAMES.get(error.detail);
        this.recorded.push({ ...op, call, return: at, output: detail === undefined ? { error: error.code } : { error: error.code, detail } });
      } else {
        this.unknownCount++;
        this.recorded.push({ ...op, call, return: null, output: null, error: error instanceof SlicekvError ? error.code : String(error) });
      }
      throw error;
    }
  }
}

function casOutput(result: CasResult): HistoryOutput {
  return result.ok ? { ok: true, version: result.version } : { ok: false, currentVersion: result.currentVersion };
}
