// slicekv/client: the SDK. See client/client.ts.
export { createClient, SlicekvClient, type ClientOptions, type CallOptions, type Entry, type CasResult } from './client.js';
export { SlicekvError, type SlicekvErrorCode } from './errors.js';
