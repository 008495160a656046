// An AssignRanges or RecoverRanges refused because hash space it would give this pod overlaps a
// range still being copied here by a migration not yet decided (PREPARE, or TRANSFER_OWNERSHIP
// until the target adopted the range): taking it would drop what the migration copied
// (Migrations.clearBeforeTaking) and serve hash space the migration goes on copying into. Nothing
// changed on the pod; the handler answers FAILED_PRECONDITION with this message. The caller may
// retry once the migration has ended (docs/migration.md, "Refused migrations").

export class RangeArrivingError extends Error {
  override readonly name = 'RangeArrivingError';
}

/** Starts the details of such a refusal on the wire, so a caller can tell it from other failures. */
export const ARRIVING_PREFIX = 'range still arriving: ';
