// Engine configuration: every bound the engine enforces, with units in the names.
import { recordBytes } from './layout.js';
import { isPowerOfTwo } from './assert.js';

export interface StoreConfig {
  /** Upper bound on segment memory (the log). The index is accounted separately. */
  readonly memoryLimitBytes: number;
  /** Size of one log segment; a multiple of 4, large enough for the largest record. */
  readonly segmentSizeBytes: number;
  readonly keyLengthMax: number;
  readonly valueLengthMax: number;
  /** Initial index size in buckets (power of two); the index doubles incrementally. */
  readonly indexBucketCountInitial: number;
  /** Free segments held back from writers so the cleaner can always make progress. */
  readonly cleanerReserveSegments: number;
  /** Check a record's checksum on every get (cost measured in bench/store.bench.ts). */
  readonly verifyChecksumOnRead: boolean;
  /** Overwrite a live record in place when the new record has the same size (FASTER-style). */
  readonly updateInPlace: boolean;
}

export const MIB = 1024 * 1024;

export const DEFAULT_STORE_CONFIG: StoreConfig = {
  memoryLimitBytes: 1024 * MIB,
  segmentSizeBytes: 8 * MIB,
  keyLengthMax: 16 * 1024,
  valueLengthMax: MIB,
  indexBucketCountInitial: 1024,
  cleanerReserveSegments: 2,
  verifyChecksumOnRead: true,
  updateInPlace: true,
};

/** Segment ids are 16 bits in an index entry (see hashIndex.ts). */
export const SEGMENT_COUNT_MAX = 0x1_0000;
/** Segment offsets are plain byte offsets in a 32-bit word; keep them in int32 range. */
export const SEGMENT_SIZE_BYTES_MAX = 1024 * MIB;
const SEGMENTS_ABOVE_RESERVE_MIN = 6;
/** The key length field is 16 bits. */
export const KEY_LENGTH_LIMIT = 0xffff;

export class StoreConfigError extends Error {
  override name = 'StoreConfigError';
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new StoreConfigError(message);
}

export function resolveStoreConfig(overrides: Partial<StoreConfig> = {}): StoreConfig {
  const config: StoreConfig = { ...DEFAULT_STORE_CONFIG, ...overrides };
  const { segmentSizeBytes, memoryLimitBytes, keyLengthMax, valueLengthMax } = config;
  check(Number.isInteger(keyLengthMax) && keyLengthMax >= 1 && keyLengthMax <= KEY_LENGTH_LIMIT,
    `keyLengthMax must be in [1, ${KEY_LENGTH_LIMIT}], got ${keyLengthMax}`);
  check(Number.isInteger(valueLengthMax) && valueLengthMax >= 0, `valueLengthMax must be >= 0, got ${valueLengthMax}`);
  check(Number.isInteger(segmentSizeBytes) && segmentSizeBytes % 4 === 0 && segmentSizeBytes <= SEGMENT_SIZE_BYTES_MAX,
    `segmentSizeBytes must be a multiple of 4 and at most ${SEGMENT_SIZE_BYTES_MAX}, got ${segmentSizeBytes}`);
  check(segmentSizeBytes >= recordBytes(keyLengthMax, valueLengthMax),
    `segmentSizeBytes ${segmentSizeBytes} cannot hold the largest record (${recordBytes(keyLengthMax, valueLengthMax)} bytes)`);
  // Writers may not use the reserve, and the open head and survivor segments take two more: with
  // fewer than reserve + 6 segments a store can run out of cleanable segments while space is free.
  const segmentCount = Math.floor(memoryLimitBytes / segmentSizeBytes);
  check(segmentCount >= config.cleanerReserveSegments + SEGMENTS_ABOVE_RESERVE_MIN,
    `memoryLimitBytes ${memoryLimitBytes} must hold at least ${config.cleanerReserveSegments + SEGMENTS_ABOVE_RESERVE_MIN} segments of ${segmentSizeBytes} bytes`);
  check(segmentCount <= SEGMENT_COUNT_MAX, `memoryLimitBytes allows ${segmentCount} segments; the maximum is ${SEGMENT_COUNT_MAX}`);
  check(isPowerOfTwo(config.indexBucketCountInitial) && config.indexBucketCountInitial >= 16,
    `indexBucketCountInitial must be a power of two >= 16, got ${config.indexBucketCountInitial}`);
  check(Number.isInteger(config.cleanerReserveSegments) && config.cleanerReserveSegments >= 2,
    `cleanerReserveSegments must be >= 2, got ${config.cleanerReserveSegments}`);
  return config;
}
