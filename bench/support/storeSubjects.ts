// The two things the store benchmark measures, behind one shape: the slicekv engine, and the
// baseline a Node server would otherwise use, a Map<string, Buffer>.
//
// Both are fed the same pre-generated key Buffer and value pool. The engine takes
// (bytes, offset, length) slices directly. The Map gets what a server would have to build from
// the same request bytes: a latin1 string of the key and a private copy of the value (the
// request frame is reused, so the value cannot be kept as a view of it). Reads touch the first
// byte of the value on both sides so neither can be optimised away.
//
// Each worker process uses one subject only, so the method calls in the timed loops stay
// monomorphic.

import { performance } from 'node:perf_hooks';
import { Status, Store, errorDetailMessage, statusName, type StoreConfig } from '../../dataplane/store/index.js';
import { KEY_BYTES, VALUE_BYTES, VALUE_POOL_MASK } from './workload.js';

export interface Subject {
  /** Operations that did not succeed (every operation of the benchmark should). */
  failureCount: number;
  firstFailure: string;
  /** Sum of the first byte of every value read. */
  readSink: number;
  /** Puts key i with value pool entry i for i in [start, end). */
  load(keys: Buffer, values: Buffer, start: number, end: number): void;
  get(keys: Buffer, keyIndexes: Uint32Array, start: number, end: number): void;
  /** Overwrites: operation i writes value pool entry (i + 1). */
  put(keys: Buffer, values: Buffer, keyIndexes: Uint32Array, start: number, end: number): void;
  delete(keys: Buffer, keyIndexes: Uint32Array, start: number, end: number): void;
  /** The server's between-batches tick. */
  maintain(): void;
  keyCount(): number;
}

export class EngineSubject implements Subject {
  readonly store: Store;
  failureCount = 0;
  firstFailure = '';
  readSink = 0;
  maintainMsMax = 0;
  maintainMsTotal = 0;

  constructor(config: Partial<StoreConfig>) {
    this.store = new Store(config);
  }

  load(keys: Buffer, values: Buffer, start: number, end: number): void {
    const store = this.store;
    for (let i = start; i < end; i++) {
      const status = store.put(keys, i * KEY_BYTES, KEY_BYTES, values, (i & VALUE_POOL_MASK) * VALUE_BYTES, VALUE_BYTES);
      if (status !== Status.OK) this.fail('put', status);
    }
  }

  get(keys: Buffer, keyIndexes: Uint32Array, start: number, end: number): void {
    const store = this.store;
    let sink = 0;
    for (let i = start; i < end; i++) {
      const status = store.get(keys, keyIndexes[i] * KEY_BYTES, KEY_BYTES);
      if (status === Status.OK) sink += store.resultBytes[store.resultValueOffset];
      else this.fail('get', status);
    }
    this.readSink += sink;
  }

  put(keys: Buffer, values: Buffer, keyIndexes: Uint32Array, start: number, end: number): void {
    const store = this.store;
    for (let i = start; i < end; i++) {
      const status = store.put(keys, keyIndexes[i] * KEY_BYTES, KEY_BYTES, values, ((i + 1) & VALUE_POOL_MASK) * VALUE_BYTES, VALUE_BYTES);
      if (status !== Status.OK) this.fail('put', status);
    }
  }

  delete(keys: Buffer, keyIndexes: Uint32Array, start: number, end: number): void {
    const store = this.store;
    for (let i = start; i < end; i++) {
      const status = store.delete(keys, keyIndexes[i] * KEY_BYTES, KEY_BYTES);
      if (status !== Status.OK) this.fail('delete', status);
    }
  }

  maintain(): void {
    const started = performance.now();
    this.store.maintain();
    const ms = performance.now() - started;
    this.maintainMsTotal += ms;
    if (ms > this.maintainMsMax) this.maintainMsMax = ms;
  }

  keyCount(): number {
    return this.store.stats().keyCount;
  }

  private fail(operation: string, status: Status): void {
    if (this.failureCount === 0) {
      this.firstFailure = `${operation}: ${statusName(status)} (${errorDetailMessage(this.store.errorDetail)})`;
    }
    this.failureCount++;
  }
}

export class MapSubject implements Subject {
  readonly map = new Map<string, Buffer>();
  failureCount = 0;
  firstFailure = '';
  readSink = 0;

  load(keys: Buffer, values: Buffer, start: number, end: number): void {
    const map = this.map;
    for (let i = start; i < end; i++) {
      const at = i * KEY_BYTES;
      map.set(keys.toString('latin1', at, at + KEY_BYTES), copyValue(values, (i & VALUE_POOL_MASK) * VALUE_BYTES));
    }
  }

  get(keys: Buffer, keyIndexes: Uint32Array, start: number, end: number): void {
    const map = this.map;
    let sink = 0;
    for (let i = start; i < end; i++) {
      const at = keyIndexes[i] * KEY_BYTES;
      const value = map.get(keys.toString('latin1', at, at + KEY_BYTES));
      if (value !== undefined) sink += value[0];
      else this.fail('get: missing key');
    }
    this.readSink += sink;
  }

  put(keys: Buffer, values: Buffer, keyIndexes: Uint32Array, start: number, end: number): void {
    const map = this.map;
    for (let i = start; i < end; i++) {
      const at = keyIndexes[i] * KEY_BYTES;
      map.set(keys.toString('latin1', at, at + KEY_BYTES), copyValue(values, ((i + 1) & VALUE_POOL_MASK) * VALUE_BYTES));
    }
  }

  delete(keys: Buffer, keyIndexes: Uint32Array, start: number, end: number): void {
    const map = this.map;
    for (let i = start; i < end; i++) {
      const at = keyIndexes[i] * KEY_BYTES;
      if (!map.delete(keys.toString('latin1', at, at + KEY_BYTES))) this.fail('delete: missing key');
    }
  }

  maintain(): void {
    // A Map has no background work.
  }

  keyCount(): number {
    return this.map.size;
  }

  private fail(what: string): void {
    if (this.failureCount === 0) this.firstFailure = what;
    this.failureCount++;
  }
}

/** A private copy of one value, as Buffer.from(slice) would make (pooled for small sizes). */
function copyValue(values: Buffer, offset: number): Buffer {
  const copy = Buffer.allocUnsafe(VALUE_BYTES);
  values.copy(copy, 0, offset, offset + VALUE_BYTES);
  return copy;
}
