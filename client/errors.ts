// Errors the SDK throws, each with a stable `code` (undici style). Expected outcomes are not
// errors: a missing key is null, a failed compare-and-set is { ok: false }.

export type SlicekvErrorCode =
  | 'SLICEKV_INVALID_ARGUMENT'
  | 'SLICEKV_OUT_OF_MEMORY'
  | 'SLICEKV_CORRUPT'
  | 'SLICEKV_SESSION_EXPIRED'
  | 'SLICEKV_TIMEOUT'
  | 'SLICEKV_ABORTED'
  | 'SLICEKV_RETRIES_EXHAUSTED'
  | 'SLICEKV_MALFORMED'
  | 'SLICEKV_NO_ROUTES'
  | 'SLICEKV_CLOSED';

export class SlicekvError extends Error {
  override name = 'SlicekvError';

  constructor(readonly code: SlicekvErrorCode, message: string, readonly detail = 0) {
    super(`${code}: ${message}`);
  }
}
