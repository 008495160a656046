// Public surface of the storage engine.
export { Store, ANY_VERSION, type StoreStats, type CompletionTracker, type PresizedIndex } from './store.js';
export { Status, ErrorDetail, statusName, errorDetailMessage } from './status.js';
export { resolveStoreConfig, DEFAULT_STORE_CONFIG, StoreConfigError, MIB, type StoreConfig } from './config.js';
export { RecordRef, SCAN_DONE, type ScanOptions } from './scan.js';
export { InvariantError } from './assert.js';
export { recordBytes } from './layout.js';
export type { RangeFigures } from './rangeAccounting.js';
export { BulkLoad, type KeepRecord, type LoadClaim } from './bulkLoad.js';
export { WARM_UP_SCRATCH, warmUpEngine } from './warmUp.js';
