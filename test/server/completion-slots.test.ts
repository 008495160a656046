// CompletionSlots (dataplane/rifl/completionSlots.ts), one client's completion records by seq,
// against a Map model: random adds (mostly the next seqs, with gaps and some out of order),
// lookups, moves and acknowledgements — short spans looked up seq by seq, long jumps by a pass
// over the table — compared after every step. Seeded; the seed is in the failure message.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompletionSlots } from '../../dataplane/rifl/completionSlots.js';
import { Random } from '../support/random.js';

const STEPS = 40_000;

function compare(slots: CompletionSlots, model: Map<number, [number, number]>, mark: number, next: number, where: string): void {
  assert.equal(slots.size, model.size, `${where}: size`);
  for (let seq = Math.max(0, mark - 3); seq < next + 3; seq++) {
    const slot = slots.find(seq);
    const expected = model.get(seq);
    if (expected === undefined) {
      assert.equal(slot, -1, `${where}: seq ${seq} is not held`);
    } else {
      assert.ok(slot >= 0, `${where}: seq ${seq} is held`);
      assert.deepEqual([slots.segmentIdAt(slot), slots.offsetAt(slot)], expected, `${where}: seq ${seq}'s address`);
    }
  }
  const visited: string[] = [];
  slots.forEach((segmentId, offsetBytes) => visited.push(`${segmentId}/${offsetBytes}`));
  assert.deepEqual(visited.sort(), [...model.values()].map(([s, o]) => `${s}/${o}`).sort(), `${where}: forEach`);
}

interface Run {
  readonly random: Random;
  readonly slots: CompletionSlots;
  readonly model: Map<number, [number, number]>;
  mark: number;
  next: number;
  released: number;
}

/** Mostly the next seq; sometimes a gap; sometimes an older seq not held (a late op). */
function addOne(run: Run): void {
  const { random, slots, model } = run;
  let seq = run.next + (random.chance(0.1) ? random.below(40) : 0);
  if (random.chance(0.05) && run.next > run.mark) seq = run.mark + random.below(run.next - run.mark);
  if (model.has(seq)) return;
  const address: [number, number] = [random.below(1000), random.below(1 << 30)];
  slots.add(seq, address[0], address[1]);
  model.set(seq, address);
  run.next = Math.max(run.next, seq + 1);
}

function moveOne(run: Run): void {
  const seqs = [...run.model.keys()];
  const seq = seqs[run.random.below(seqs.length)];
  const address: [number, number] = [run.random.below(1000), run.random.below(1 << 30)];
  run.slots.moveAt(run.slots.find(seq), address[0], address[1]);
  run.model.set(seq, address);
}

/** Acknowledges: a short step, or (rarely) a jump far past what the table could hold. */
function acknowledge(run: Run, where: string): void {
  const { random, model, mark } = run;
  const to = random.chance(0.02) ? run.next + 5000 : mark + random.below(Math.max(1, run.next - mark + 2));
  const expected = [...model.entries()].filter(([seq]) => seq >= mark && seq < to).map(([, a]) => a.join('/')).sort();
  const got: string[] = [];
  run.slots.releaseSpan(mark, to, (segmentId, offsetBytes) => got.push(`${segmentId}/${offsetBytes}`));
  assert.deepEqual(got.sort(), expected, `${where}: released [${mark}, ${to})`);
  for (const seq of [...model.keys()]) if (seq < to) model.delete(seq);
  run.released += got.length;
  run.mark = Math.max(mark, to);
  run.next = Math.max(run.next, run.mark);
}

test('completion slots: random adds, moves and acknowledgements match a Map', () => {
  const seed = Number(process.env.SLICEKV_SEED ?? 0x51075) >>> 0;
  const run: Run = { random: new Random(seed), slots: new CompletionSlots(), model: new Map(), mark: 1, next: 1, released: 0 };
  for (let step = 0; step < STEPS; step++) {
    const where = `seed ${seed} step ${step}`;
    const roll = run.random.below(100);
    if (roll < 55 && run.model.size < 600) addOne(run);
    else if (roll < 65 && run.model.size > 0) moveOne(run);
    else acknowledge(run, where);
    if (step % 97 === 0 || step === STEPS - 1) compare(run.slots, run.model, run.mark, run.next, where);
  }
  assert.ok(run.released > 10_000, `the run released records (${run.released})`);
  const rest: number[] = [];
  run.slots.releaseAll((segmentId) => rest.push(segmentId));
  assert.equal(rest.length, run.model.size);
  assert.equal(run.slots.size, 0);
  // Emptied (its arrays given up), the table takes records again.
  assert.equal(run.slots.find(run.mark), -1);
  run.slots.add(run.mark, 7, 8);
  assert.deepEqual([run.slots.segmentIdAt(run.slots.find(run.mark)), run.slots.offsetAt(run.slots.find(run.mark))], [7, 8]);
});
