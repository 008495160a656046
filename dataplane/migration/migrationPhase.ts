// The phases of a live migration (Shadowfax, DESIGN.md §6) as an explicit state machine: every
// move is checked against the allowed predecessors, timestamped and kept, so MigrationStatus and
// the logs show exactly how a migration went.
//
//   PREPARE -> TRANSFER_OWNERSHIP -> MOVE_DATA -> CHECKPOINT -> COMPLETE
//      \______________\_________________\____________\______-> CANCELLED | ABORTED | FAILED
//
// CANCELLED: ended before ownership moved; at the target also when it decided it never took the
// range (ResolveMigration in PREPARE, or installing ownership failed before it adopted the range).
// ABORTED (source): the protocol broke off after the source gave the range up, the target answered
// that it never took it, and the source took the range back at a new view (docs/migration.md,
// "Failures"). FAILED: ended with an error and no such decision (or, at the source, still in doubt).

export type MigrationPhase = 'PREPARE' | 'TRANSFER_OWNERSHIP' | 'MOVE_DATA' | 'CHECKPOINT' | 'COMPLETE' | 'CANCELLED' | 'ABORTED' | 'FAILED';

export class IllegalTransitionError extends Error {
  override readonly name = 'IllegalTransitionError';
}

export class PhaseMachine {
  phase: MigrationPhase = 'PREPARE';
  readonly transitions: string[];

  constructor(private readonly onTransition: (from: MigrationPhase, to: MigrationPhase) => void, nowMs: number) {
    this.transitions = [`PREPARE@${nowMs}`];
  }

  /** Moves to `to` if the current phase is one of `from`; refuses (throws) otherwise. */
  transitionTo(from: readonly MigrationPhase[], to: MigrationPhase, nowMs: number): void {
    if (!from.includes(this.phase)) throw new IllegalTransitionError(`migration cannot go ${this.phase} -> ${to}`);
    const previous = this.phase;
    this.phase = to;
    this.transitions.push(`${to}@${nowMs}`);
    this.onTransition(previous, to);
  }

  get finished(): boolean {
    return this.phase === 'COMPLETE' || this.phase === 'CANCELLED' || this.phase === 'ABORTED' || this.phase === 'FAILED';
  }
}
