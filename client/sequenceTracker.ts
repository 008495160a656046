// RIFL sequence numbers on the client (DESIGN.md §5): every mutation gets the next number; the
// first incomplete one is sent with every batch so pods can drop completion records below it.
// A mutation stays incomplete until the client has its final result, even if the caller gave
// up on it (a timeout): its seq must not be acknowledged while a retry could still run it.

export class SequenceTracker {
  private next = 1;
  /** Incomplete seqs are [first, next) minus those in `doneAhead`. */
  private first = 1;
  private readonly doneAhead = new Set<number>();

  take(): number {
    return this.next++;
  }

  complete(seq: number): void {
    if (seq < this.first || seq >= this.next) return;
    this.doneAhead.add(seq);
    while (this.doneAhead.delete(this.first)) this.first++;
  }

  /** The smallest seq without a final result (the next one to be taken if none). */
  get firstIncomplete(): number {
    return this.first;
  }

  /**
   * Seqs from the first incomplete one to the last taken: a pod may hold this many of our completion
   * records unacknowledged, so the client keeps it within the pods' window (RIFL).
   */
  get span(): number {
    return this.next - this.first;
  }

  get incompleteCount(): number {
    return this.next - this.first - this.doneAhead.size;
  }
}
