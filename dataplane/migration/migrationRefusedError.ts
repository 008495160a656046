// A target's refusal of a migration at PrepareMigration: the range overlaps one this pod owns, or
// one still arriving here by another migration (docs/migration.md, "Refused migrations"). Nothing
// changed on the target; the handler answers FAILED_PRECONDITION with this message, and the
// source fails the migration while still owning the range.

export class MigrationRefusedError extends Error {
  override readonly name = 'MigrationRefusedError';
}

/** Marks the details of a refusal on the wire, so the source can tell it from other failures. */
export const REFUSED_PREFIX = 'migration refused: ';
