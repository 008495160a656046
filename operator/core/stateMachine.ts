// Explicit state machines for custom-resource phases (STYLE.md, "State machines"): a table of
// legal moves, and transitionTo(from[], to) that refuses an illegal move and logs every change
// as "A -> B". The phase itself lives in the object's status; a machine is made per reconcile
// from the phase observed.

import type { Logger } from './ports.js';

export type TransitionTable<S extends string> = Readonly<Record<S, readonly S[]>>;

export class PhaseMachine<S extends string> {
  constructor(
    private readonly name: string,
    private readonly table: TransitionTable<S>,
    private current: S,
    private readonly log: Logger,
  ) {}

  get phase(): S {
    return this.current;
  }

  /**
   * Moves to `to` when the current phase is one of `from` and the table allows the move.
   * Staying in the same phase is always allowed and not logged. Returns whether the phase is
   * now `to`.
   */
  transitionTo(from: readonly S[], to: S): boolean {
    if (this.current === to) return true;
    if (!from.includes(this.current) || !this.table[this.current].includes(to)) {
      this.log.warn({ machine: this.name, from: this.current, to, allowedFrom: from }, `${this.name}: refused ${this.current} -> ${to}`);
      return false;
    }
    this.log.info({ machine: this.name, from: this.current, to }, `${this.name}: ${this.current} -> ${to}`);
    this.current = to;
    return true;
  }
}
