// One client's completion records (RIFL), by seq: where each unacknowledged completed mutation's
// record lies in the log (segment id, byte offset). An open-addressed table in typed arrays,
// linear probing on the seq's low bits (seqs are a client's counter, so mostly consecutive),
// deletion by backward shift (no tombstones). It replaces a Map<seq, {segmentId, offsetBytes}>,
// which made an object and a Map entry per mutation and, on every acknowledgement, walked every
// record the client held (RIFL's window: up to 512) making an entry array each: with 64 batches
// in flight from one client (~200 records held) that was 3-4x the serving path's collections
// (session 9, docs/design-notes.md "Exactly-once in practice").
//
// A client without records has no arrays (they are made at its first record, given up when its
// lease expires), so the up to 100k clients a pod tracks cost no more than they did.
//
// Every seq held is at or above the client's first incomplete seq (ClientTable never records
// one below it), so an acknowledgement that moves the mark from `from` to `to` releases exactly
// the seqs of [from, to) held here: looked up one by one when that span is shorter than the
// table, else found by one pass over it.

import { assert } from '../store/assert.js';

const EMPTY = -1;
const INITIAL_SLOTS = 8;
/** A client that holds no records yet has no arrays of its own (a pod tracks up to 100k clients). */
const NO_SEQS = new Float64Array(0);
const NO_WORDS = new Int32Array(0);
/** Grow when more than half the slots are taken. */
const LOAD_SHIFT = 1;

export class CompletionSlots {
  private seqs = NO_SEQS;
  private segmentIds = NO_WORDS;
  private offsets = NO_WORDS;
  private mask = 0;
  size = 0;

  /** The slot holding `seq`, or -1. */
  find(seq: number): number {
    if (this.size === 0 || !(seq >= 0)) return -1;
    const seqs = this.seqs;
    for (let i = this.home(seq); ; i = (i + 1) & this.mask) {
      const held = seqs[i];
      if (held === seq) return i;
      if (held === EMPTY) return -1;
    }
  }

  segmentIdAt(slot: number): number {
    return this.segmentIds[slot];
  }

  offsetAt(slot: number): number {
    return this.offsets[slot];
  }

  /** The record at `slot` moved (the cleaner relocated it). */
  moveAt(slot: number, segmentId: number, offsetBytes: number): void {
    this.segmentIds[slot] = segmentId;
    this.offsets[slot] = offsetBytes;
  }

  /** Adds `seq`, which is not held. */
  add(seq: number, segmentId: number, offsetBytes: number): void {
    assert(Number.isSafeInteger(seq) && seq >= 0, 'seqs are non-negative safe integers');
    if ((this.size + 1) << LOAD_SHIFT > this.seqs.length) this.grow();
    let i = this.home(seq);
    while (this.seqs[i] !== EMPTY) {
      assert(this.seqs[i] !== seq, 'a seq is recorded once');
      i = (i + 1) & this.mask;
    }
    this.seqs[i] = seq;
    this.segmentIds[i] = segmentId;
    this.offsets[i] = offsetBytes;
    this.size++;
  }

  /** Removes every seq in [from, to), calling `release` with each one's address. */
  releaseSpan(from: number, to: number, release: (segmentId: number, offsetBytes: number) => void): void {
    if (this.size === 0 || !(to > from)) return;
    if (to - from <= this.seqs.length) {
      for (let seq = from; seq < to; seq++) {
        const slot = this.find(seq);
        if (slot >= 0) this.releaseAt(slot, release);
      }
      return;
    }
    const seqs = this.seqs;
    for (let i = 0; i < seqs.length;) {
      // A removal shifts a later entry into slot i: look at it again.
      if (seqs[i] !== EMPTY && seqs[i] >= from && seqs[i] < to) this.releaseAt(i, release);
      else i++;
    }
  }

  forEach(visit: (segmentId: number, offsetBytes: number) => void): void {
    const seqs = this.seqs;
    for (let i = 0; i < seqs.length; i++) if (seqs[i] !== EMPTY) visit(this.segmentIds[i], this.offsets[i]);
  }

  /** Removes everything, calling `release` with each address; the arrays are given up. */
  releaseAll(release: (segmentId: number, offsetBytes: number) => void): void {
    this.forEach(release);
    this.seqs = NO_SEQS;
    this.segmentIds = NO_WORDS;
    this.offsets = NO_WORDS;
    this.mask = 0;
    this.size = 0;
  }

  private home(seq: number): number {
    return (seq >>> 0) & this.mask;
  }

  private releaseAt(slot: number, release: (segmentId: number, offsetBytes: number) => void): void {
    release(this.segmentIds[slot], this.offsets[slot]);
    this.removeAt(slot);
  }

  /** Backward-shift deletion: later entries of the probe run move up so no lookup stops short. */
  private removeAt(slot: number): void {
    const seqs = this.seqs;
    const mask = this.mask;
    let hole = slot;
    for (let j = (hole + 1) & mask; seqs[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.home(seqs[j]);
      // The entry at j may fill the hole if its home is not in the cyclic range (hole, j].
      const homeAfterHole = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (homeAfterHole) continue;
      seqs[hole] = seqs[j];
      this.segmentIds[hole] = this.segmentIds[j];
      this.offsets[hole] = this.offsets[j];
      hole = j;
    }
    seqs[hole] = EMPTY;
    this.size--;
  }

  private grow(): void {
    const { seqs, segmentIds, offsets } = this;
    const slots = Math.max(INITIAL_SLOTS, seqs.length * 2);
    this.seqs = new Float64Array(slots).fill(EMPTY);
    this.segmentIds = new Int32Array(slots);
    this.offsets = new Int32Array(slots);
    this.mask = slots - 1;
    this.size = 0;
    for (let i = 0; i < seqs.length; i++) if (seqs[i] !== EMPTY) this.add(seqs[i], segmentIds[i], offsets[i]);
  }
}
