// Test seam (`--test-fault-fail POINT=COUNT`, or `Durability.writeFaults` in-process): the next
// COUNT writes at POINT fail as if the disk refused them. Empty, and so off, by default. The ADOPT_
// points are the steps of a migration target's durable adoption of a range (Durability.adopt): the
// hold on the source's files, then the manifest's temporary file, its rename into place, and the
// folder's fsync after the rename (the one step whose failure leaves the new manifest maybe in
// place). The MANIFEST_ points are the same three steps of every manifest replacement (assignment,
// split, merge, checkpoint, recovery, a range taken back, an adoption). RECOVERY_TAKEN is a
// partitioned recovery's last step, marking its ranges taken in the dead pod's folder.

export const WRITE_FAULT_POINTS = [
  'ADOPT_HOLD', 'ADOPT_MANIFEST_WRITE', 'ADOPT_MANIFEST_RENAME', 'ADOPT_MANIFEST_DIR_FSYNC', 'MANIFEST_WRITE', 'MANIFEST_RENAME', 'MANIFEST_DIR_FSYNC',
  'RECOVERY_TAKEN',
] as const;

export type WriteFaultPoint = (typeof WRITE_FAULT_POINTS)[number];

export class WriteFaults {
  private readonly failuresLeft = new Map<WriteFaultPoint, number>();

  /** The next `count` writes at `point` fail. */
  set(point: WriteFaultPoint, count: number): void {
    if (!Number.isInteger(count) || count < 0) throw new RangeError(`a fault count is a whole number, not ${count}`);
    this.failuresLeft.set(point, count);
  }

  /** Throws an I/O error (EIO) at `point` while failures are left there. */
  check(point: WriteFaultPoint): void {
    const left = this.failuresLeft.get(point) ?? 0;
    if (left === 0) return;
    this.failuresLeft.set(point, left - 1);
    throw Object.assign(new Error(`EIO: fault injected at ${point}`), { code: 'EIO' });
  }
}

export function isWriteFaultPoint(name: string): name is WriteFaultPoint {
  return (WRITE_FAULT_POINTS as readonly string[]).includes(name);
}
