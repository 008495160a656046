// kvcheck (Porcupine with the key-value model in test/linearizability/model.go) on hand-written
// histories — each violation next to its passing twin, so a failure is known to come from the
// point under test — and on a history recorded from 8 SDK clients against a real pod.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, SlicekvError, type SlicekvClient } from '../../client/index.js';
import { WireDetail } from '../../proto/wire/index.js';
import { DEFAULT_POD_CONFIG, Pod } from '../../dataplane/server/pod.js';
import { MIB } from '../../dataplane/store/index.js';
import { assignWholeKeyspace } from '../support/assignRanges.js';
import { seedFromEnvironment, replayHint } from '../support/environment.js';
import { HistoryRecorder, type HistoryOp, type HistoryOutput, type KvClient } from '../support/historyRecorder.js';
import { checkHistory, ensureKvCheck } from '../support/linearizability.js';
import { Random } from '../support/random.js';

const TIMEOUT_SECONDS = 10;

/** A hand-written op: [call, return] in abstract time units; return null = unknown outcome. */
function op(process: number, call: number, ret: number | null, fields: Omit<HistoryOp, 'process' | 'call' | 'return' | 'output'>,
  output: HistoryOutput | null = null): HistoryOp {
  return { process, call, return: ret, output: ret === null ? null : output, ...fields };
}

async function linearizable(history: HistoryOp[]): Promise<boolean> {
  const verdict = await checkHistory(history, { timeoutSeconds: TIMEOUT_SECONDS });
  assert.equal(verdict.ops, history.filter((o) => !(o.op === 'get' && o.return === null)).length, 'kvcheck read every op');
  return verdict.linearizable;
}

test('kvcheck: builds from the module proxy (or is cached) and runs', async () => {
  const binary = await ensureKvCheck();
  assert.match(binary, /\.cache\/linearizability\/[0-9a-f]{16}\/bin\/kvcheck$/);
});

test('kvcheck: a concurrent history over two keys with every op kind is linearizable', async () => {
  const history = [
    op(0, 0, 10, { op: 'put', key: 'k', value: 'a' }, { version: 3 }),
    // Overlaps the put of b: may see a or b.
    op(1, 12, 30, { op: 'get', key: 'k' }, { found: true, value: 'b', version: 5 }),
    op(2, 11, 20, { op: 'put', key: 'k', value: 'b' }, { version: 5 }),
    op(0, 15, 25, { op: 'get', key: 'k' }, { found: true, value: 'a', version: 3 }),
    op(1, 40, 50, { op: 'putIfVersion', key: 'k', value: 'c', expectedVersion: 5 }, { ok: true, version: 9 }),
    op(2, 41, 52, { op: 'putIfVersion', key: 'k', value: 'd', expectedVersion: 5 }, { ok: false, currentVersion: 9 }),
    op(0, 60, 70, { op: 'deleteIfVersion', key: 'k', expectedVersion: 9 }, { ok: true, version: 0 }),
    op(1, 61, 75, { op: 'get', key: 'k' }, { found: false }),
    op(2, 80, 90, { op: 'delete', key: 'k' }, { existed: false }),
    op(0, 80, 95, { op: 'putIfVersion', key: 'k', value: 'e', expectedVersion: 0 }, { ok: true, version: 12 }),
    op(0, 0, 5, { op: 'incrBy', key: 'n', delta: 2 }, { integer: 2 }),
    op(1, 1, 8, { op: 'incrBy', key: 'n', delta: 5 }, { integer: 7 }),
    op(2, 2, 9, { op: 'incrBy', key: 'n', delta: -1 }, { integer: 6 }),
    op(2, 10, 11, { op: 'get', key: 'n' }, { found: true, value: '6', version: 40 }),
    op(1, 20, 30, { op: 'deleteIfVersion', key: 'n', expectedVersion: 39 }, { ok: false, currentVersion: 40 }),
    op(1, 31, 32, { op: 'delete', key: 'n' }, { existed: true }),
    op(1, 33, 34, { op: 'incrBy', key: 'n', delta: 1 }, { integer: 1 }),
  ];
  const verdict = await checkHistory(history, { timeoutSeconds: TIMEOUT_SECONDS });
  assert.deepEqual({ linearizable: verdict.linearizable, ops: verdict.ops, partitions: verdict.partitions },
    { linearizable: true, ops: history.length, partitions: 2 });
});

test('kvcheck: a read of the old value after a later write was acknowledged is not linearizable', async () => {
  const writes = [
    op(0, 0, 10, { op: 'put', key: 'k', value: 'a' }, { version: 1 }),
    op(1, 20, 30, { op: 'put', key: 'k', value: 'b' }, { version: 2 }),
  ];
  assert.equal(await linearizable([...writes, op(2, 40, 50, { op: 'get', key: 'k' }, { found: true, value: 'b', version: 2 })]), true);
  const stale = [...writes, op(2, 40, 50, { op: 'get', key: 'k' }, { found: true, value: 'a', version: 1 })];
  assert.equal(await linearizable(stale), false);
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-kvcheck-'));
  try {
    const visualizationPath = join(dir, 'stale.html');
    assert.equal((await checkHistory(stale, { timeoutSeconds: TIMEOUT_SECONDS, visualizationPath })).linearizable, false);
    assert.match(readFileSync(visualizationPath, 'utf8'), /<html/i, 'Porcupine wrote its visualization');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Absent after an acknowledged write, and a version that did not grow, are stale too.
  assert.equal(await linearizable([...writes, op(2, 40, 50, { op: 'get', key: 'k' }, { found: false })]), false);
  assert.equal(await linearizable([writes[0], op(1, 20, 30, { op: 'put', key: 'k', value: 'b' }, { version: 1 })]), false);
});

test('kvcheck: an incrBy applied twice is not linearizable, with or without an unknown outcome', async () => {
  const increments = [
    op(0, 0, 10, { op: 'incrBy', key: 'n', delta: 1 }, { integer: 1 }),
    op(1, 20, 30, { op: 'incrBy', key: 'n', delta: 2 }, { integer: 3 }),
  ];
  const read = (value: string): HistoryOp => op(2, 40, 50, { op: 'get', key: 'n' }, { found: true, value, version: 7 });
  assert.equal(await linearizable([...increments, read('3')]), true);
  assert.equal(await linearizable([...increments, read('5')]), false, 'the +2 applied twice');
  assert.equal(await linearizable([increments[0], op(1, 20, 30, { op: 'incrBy', key: 'n', delta: 1 }, { integer: 3 })]), false);
  // A retried incrBy whose reply was lost may have run once, never twice.
  const lost = op(1, 20, null, { op: 'incrBy', key: 'n', delta: 2 });
  assert.equal(await linearizable([increments[0], lost, read('3')]), true);
  assert.equal(await linearizable([increments[0], lost, read('1')]), true);
  assert.equal(await linearizable([increments[0], lost, read('5')]), false);
});

test('kvcheck: incrBy on a non-integer value fails definitely, and only on one', async () => {
  const failed = op(1, 20, 30, { op: 'incrBy', key: 'k', delta: 1 }, { error: 'SLICEKV_INVALID_ARGUMENT', detail: 'VALUE_NOT_INTEGER' });
  assert.equal(await linearizable([op(0, 0, 10, { op: 'put', key: 'k', value: 'x' }, { version: 4 }), failed]), true);
  assert.equal(await linearizable([op(0, 0, 10, { op: 'put', key: 'k', value: '7' }, { version: 4 }), failed]), false);
  assert.equal(await linearizable([op(0, 0, 10, { op: 'put', key: 'k', value: '07' }, { version: 4 }), failed]), true, 'not canonical');
});

test('kvcheck: a compare-and-set that succeeds against a stale version is not linearizable', async () => {
  const writes = [
    op(0, 0, 10, { op: 'put', key: 'k', value: 'a' }, { version: 5 }),
    op(1, 20, 30, { op: 'put', key: 'k', value: 'b' }, { version: 7 }),
  ];
  const cas = (expectedVersion: number): HistoryOp => op(2, 40, 50, { op: 'putIfVersion', key: 'k', value: 'c', expectedVersion }, { ok: true, version: 9 });
  assert.equal(await linearizable([...writes, cas(7)]), true);
  assert.equal(await linearizable([...writes, cas(5)]), false);
  // And one that reports a mismatch although the version matched.
  assert.equal(await linearizable([...writes, op(2, 40, 50, { op: 'putIfVersion', key: 'k', value: 'c', expectedVersion: 7 }, { ok: false, currentVersion: 7 })]), false);
  // Versions reached through incrBy (not reported by the SDK) are pinned by the first read.
  const counted = [
    op(0, 0, 10, { op: 'incrBy', key: 'n', delta: 1 }, { integer: 1 }),
    op(0, 11, 12, { op: 'get', key: 'n' }, { found: true, value: '1', version: 3 }),
  ];
  assert.equal(await linearizable([...counted, op(1, 20, 30, { op: 'putIfVersion', key: 'n', value: '9', expectedVersion: 3 }, { ok: true, version: 4 })]), true);
  assert.equal(await linearizable([...counted, op(1, 20, 30, { op: 'putIfVersion', key: 'n', value: '9', expectedVersion: 2 }, { ok: true, version: 4 })]), false);
});

test('kvcheck: a put with an unknown outcome may be visible or not, but does not flicker', async () => {
  const history = [
    op(0, 0, 10, { op: 'put', key: 'k', value: 'a' }, { version: 3 }),
    op(1, 20, null, { op: 'put', key: 'k', value: 'b' }),
  ];
  const read = (call: number, value: string, version: number): HistoryOp => op(2, call, call + 10, { op: 'get', key: 'k' }, { found: true, value, version });
  assert.equal(await linearizable([...history, read(40, 'b', 8)]), true, 'took effect');
  assert.equal(await linearizable([...history, read(40, 'a', 3)]), true, 'did not (yet) take effect');
  assert.equal(await linearizable([...history, read(40, 'a', 3), read(60, 'b', 8)]), true, 'took effect late');
  assert.equal(await linearizable([...history, read(40, 'b', 8), read(60, 'a', 3)]), false, 'undone');
  assert.equal(await linearizable([...history, read(40, 'b', 3)]), false, 'a new value under the old version');
  assert.equal(await linearizable([...history, read(5, 'b', 8)]), false, 'visible before it was called');
});

test('kvcheck: bad input is an error, not a verdict', async () => {
  await assert.rejects(checkHistory('{"process":0,"op":"frob","key":"k","call":1}\n', { timeoutSeconds: 5 }), /unknown op/);
  await assert.rejects(checkHistory('{"process":0,"op":"get","key":"k","call":1,"return":2}\n', { timeoutSeconds: 5 }), /needs an output/);
});

test('kvcheck: a search past its bound is an error, not a verdict', async () => {
  // 40 increments of distinct powers of two with unknown outcomes, then a read no subset of them
  // explains: proving that means trying all 2^40 subsets.
  const history = [...Array(40).keys()].map((i) => op(i, 0, null, { op: 'incrBy', key: 'n', delta: 2 ** i }));
  history.push(op(40, 10, 20, { op: 'get', key: 'n' }, { found: true, value: 'x', version: 1 }));
  const started = Date.now();
  await assert.rejects(checkHistory(history, { timeoutSeconds: 1 }), /did not finish within 1s/);
  assert.ok(Date.now() - started < 10_000, 'the bound held');
});

test('historyRecorder: definite errors keep their outcome, ambiguous ones leave it unknown', async () => {
  const failing = (error: unknown): KvClient => {
    const reject = (): Promise<never> => Promise.reject(error);
    return { get: reject, put: reject, delete: reject, putIfVersion: reject, deleteIfVersion: reject, incrBy: reject };
  };
  const outcome = async (error: unknown): Promise<Pick<HistoryOp, 'return' | 'output' | 'error'>> => {
    const recorder = new HistoryRecorder();
    await assert.rejects(recorder.client(failing(error)).incrBy('n', 1n));
    const [recorded] = recorder.ops();
    assert.equal(recorded.delta, 1);
    return { return: recorded.return === null ? null : 0, output: recorded.output, ...(recorded.error === undefined ? {} : { error: recorded.error }) };
  };
  const unknown = (code: string): object => ({ return: null, output: null, error: code });
  assert.deepEqual(await outcome(new SlicekvError('SLICEKV_INVALID_ARGUMENT', 'x', WireDetail.INCREMENT_OVERFLOW)),
    { return: 0, output: { error: 'SLICEKV_INVALID_ARGUMENT', detail: 'INCREMENT_OVERFLOW' } });
  assert.deepEqual(await outcome(new SlicekvError('SLICEKV_OUT_OF_MEMORY', 'x')), { return: 0, output: { error: 'SLICEKV_OUT_OF_MEMORY' } });
  assert.deepEqual(await outcome(new SlicekvError('SLICEKV_INVALID_ARGUMENT', 'x', WireDetail.SEQUENCE_STALE)), unknown('SLICEKV_INVALID_ARGUMENT'));
  for (const code of ['SLICEKV_TIMEOUT', 'SLICEKV_RETRIES_EXHAUSTED', 'SLICEKV_SESSION_EXPIRED', 'SLICEKV_ABORTED', 'SLICEKV_NO_ROUTES'] as const) {
    assert.deepEqual(await outcome(new SlicekvError(code, 'x')), unknown(code));
  }
  assert.deepEqual(await outcome(new Error('socket hang up')), unknown('Error: socket hang up'));
});

const PROCESS_COUNT = 8;
const RUN_MS = 2000;
const PLAIN_KEYS = [...Array(24).keys()].map((i) => `user:${i}`);
const HOT_KEYS = ['hot:0', 'hot:1', 'hot:2', 'hot:3'];
const COUNTERS = ['count:0', 'count:1', 'count:2'];

interface Workload {
  incremented: Map<string, number>;
  casOk: number;
  casMismatch: number;
}

/** One logical client: one op at a time, YCSB-A on plain keys plus CAS and incrBy on hot ones. */
async function runProcess(client: KvClient, random: Random, deadline: number, process: number, totals: Workload): Promise<void> {
  let n = 0;
  while (Date.now() < deadline) {
    const roll = random.float();
    n++;
    if (roll < 0.35) {
      await client.get(random.pick(PLAIN_KEYS));
    } else if (roll < 0.7) {
      await client.put(random.pick(PLAIN_KEYS), `p${process}-${n}`);
    } else if (roll < 0.75) {
      await client.delete(random.pick(PLAIN_KEYS));
    } else if (roll < 0.87) {
      const key = random.pick(HOT_KEYS);
      const current = await client.get(key);
      const result = await client.putIfVersion(key, `c${process}-${n}`, current?.version ?? 0);
      if (result.ok) totals.casOk++;
      else totals.casMismatch++;
    } else {
      const key = random.pick(COUNTERS);
      const delta = random.between(1, 5);
      await client.incrBy(key, delta);
      totals.incremented.set(key, (totals.incremented.get(key) ?? 0) + delta);
    }
  }
}

test('kvcheck: 8 SDK clients against a real pod for 2 s record a linearizable history', async () => {
  const seed = seedFromEnvironment();
  console.log(`linearizability live test: seed ${seed} (${replayHint(seed)})`);
  await ensureKvCheck(); // build before the clock starts
  const pod = new Pod({ ...DEFAULT_POD_CONFIG, podName: 'pod-lin', store: { memoryLimitBytes: 32 * MIB, segmentSizeBytes: MIB, valueLengthMax: 64 * 1024 } });
  await assignWholeKeyspace(await pod.start(), pod.podName);
  const clients: SlicekvClient[] = [];
  try {
    const recorder = new HistoryRecorder();
    const random = new Random(seed);
    const totals: Workload = { incremented: new Map(), casOk: 0, casMismatch: 0 };
    const deadline = Date.now() + RUN_MS;
    await Promise.all([...Array(PROCESS_COUNT).keys()].map((process) => {
      const client = createClient({ seeds: [pod.address], timeoutMs: 5000 });
      clients.push(client);
      return runProcess(recorder.client(client, process), random.fork(), deadline, process, totals);
    }));
    // Recorded outcomes the workload does not produce: a definite error and an unknown outcome
    // (an aborted put, which the SDK still sends).
    const probe = recorder.client(clients[1], PROCESS_COUNT + 1);
    await probe.put('probe:text', 'x');
    await assert.rejects(probe.incrBy('probe:text', 1), { code: 'SLICEKV_INVALID_ARGUMENT' });
    assert.deepEqual(recorder.ops().at(-1)?.output, { error: 'SLICEKV_INVALID_ARGUMENT', detail: 'VALUE_NOT_INTEGER' });
    await assert.rejects(probe.put('probe:late', 'v', { signal: AbortSignal.abort() }), { code: 'SLICEKV_ABORTED' });
    assert.deepEqual({ ...recorder.ops().at(-1), call: 0 }, { process: PROCESS_COUNT + 1, op: 'put', key: 'probe:late', value: 'v', call: 0, return: null, output: null, error: 'SLICEKV_ABORTED' });
    await probe.get('probe:late');
    const reader = recorder.client(clients[0], PROCESS_COUNT);
    for (const key of COUNTERS) {
      const entry = await reader.get(key);
      assert.equal(entry?.value.toString(), String(totals.incremented.get(key) ?? 0), `${key}: every acknowledged incrBy applied once (seed ${seed})`);
    }
    const ops = recorder.ops();
    assert.equal(recorder.unknownCount, 1, 'a healthy pod leaves no outcome unknown but the aborted put\'s');
    assert.ok(ops.length > 2000 && totals.casOk > 20 && totals.casMismatch > 20,
      `a real workload: ${ops.length} ops, ${totals.casOk} CAS ok, ${totals.casMismatch} CAS mismatch`);
    const verdict = await checkHistory(ops, { timeoutSeconds: 30 });
    console.log(`linearizability live test: ${JSON.stringify(verdict)}, CAS ${totals.casOk} ok / ${totals.casMismatch} mismatch`);
    assert.deepEqual({ linearizable: verdict.linearizable, ops: verdict.ops, partitions: verdict.partitions },
      { linearizable: true, ops: ops.length, partitions: PLAIN_KEYS.length + HOT_KEYS.length + COUNTERS.length + 2 }, replayHint(seed));
    // The same history with the final read of a counter one higher (an increment applied twice) fails.
    const last = ops[ops.length - 1];
    assert.ok(last.op === 'get' && last.output?.found === true);
    const tampered = [...ops.slice(0, -1), { ...last, output: { ...last.output, value: String(Number(last.output.value) + 1) } }];
    assert.equal((await checkHistory(tampered, { timeoutSeconds: 30 })).linearizable, false, 'the checker reads the recorded history');
  } finally {
    for (const client of clients) client.close();
    await pod.stop();
  }
});
