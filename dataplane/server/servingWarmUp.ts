// Warming the serving path before a pod serves: a session (dataplane/server/session.ts) on a
// scratch stream runs batches of YCSB-like ops through a batch executor, RIFL bookkeeping and the
// wire reader and writer, against a scratch engine, client table and range table that are dropped
// afterwards. warmUpEngine (dataplane/store/warmUp.ts) warms the engine alone; the code around it
// also runs in V8's interpreter until it has run enough, and a new pod runs it for the first time
// when it takes over its first range: at a migration's owner switch, with the clients that were
// just re-routed to it waiting (bench:migration profiles: the target's first batches ran cold).
// Same classes, so the optimised code and type feedback serve the real session too. Nothing here
// touches the network or the pod's own state; a restarting pod skips it, as the engine warm-up.

import { EventEmitter } from 'node:events';
import { BatchWriter, FRAME_FORMAT_VERSION, type FrameLimits } from '../../proto/wire/index.js';
import type { SessionReplyMessage, SessionRequestMessage } from '../../proto/messages.js';
import { Store, WARM_UP_SCRATCH } from '../store/index.js';
import { assert } from '../store/assert.js';
import { ClientTable } from '../rifl/clientTable.js';
import { OwnedRanges } from '../ranges/ownedRanges.js';
import { systemClock } from '../clock.js';
import { BatchExecutor } from './batchExecutor.js';
import { Session, type SessionHost, type SessionStream } from './session.js';

const BATCHES = 400;
const OPS_PER_BATCH = 16;
const KEYS = 2000;
const KEY_BYTES = 16;
const VALUE_BYTES = 100;
const VIEW = 1;

/** Runs BATCHES batches through a scratch session; returns how long it took and the ops run. */
export function warmUpServing(limits: FrameLimits): { ms: number; ops: number } {
  const started = performance.now();
  const stream = new ScratchStream();
  new Session(scratchHost(limits), stream as unknown as SessionStream);
  stream.emit('data', { open: { clientId: Buffer.alloc(16, 7), zone: '', frameFormatVersion: FRAME_FORMAT_VERSION, partialReplies: true } } satisfies SessionRequestMessage);
  const writer = new BatchWriter(limits);
  const key = Buffer.alloc(KEY_BYTES);
  const value = Buffer.alloc(VALUE_BYTES, 1);
  let seq = 1;
  let ops = 0;
  for (let batch = 0; batch < BATCHES; batch++) {
    writer.begin(seq);
    for (let i = 0; i < OPS_PER_BATCH; i++, ops++) {
      key.writeUInt32LE((ops * 2654435761) % KEYS, 0);
      const kind = ops % 20;
      if (kind < 10) writer.get(key, VIEW);
      else if (kind < 16) writer.put(key, value, VIEW, seq++);
      else if (kind < 18) writer.incrBy(COUNTER, 1, VIEW, seq++);
      else if (kind < 19) writer.putIfVersion(key, value, ops, VIEW, seq++);
      else writer.delete(key, VIEW, seq++);
    }
    stream.emit('data', { batch: { batchId: String(batch), ops: Buffer.from(writer.finish()) } } satisfies SessionRequestMessage);
  }
  assert(stream.batchesOk === BATCHES && stream.opened, `the serving warm-up ran every batch (${stream.batchesOk} of ${BATCHES} answered BATCH_OK)`);
  return { ms: performance.now() - started, ops };
}

const COUNTER = Buffer.from('warm-up-counter!');

function scratchHost(limits: FrameLimits): SessionHost {
  const store = new Store(WARM_UP_SCRATCH);
  const clients = new ClientTable(store, systemClock);
  const ranges = new OwnedRanges();
  ranges.assign([{ start: 0n, end: 1n << 64n, view: VIEW }]);
  const executor = new BatchExecutor({ store, ranges, clients, routes: () => null, selfAddress: () => '', wal: () => null });
  return {
    podName: 'warm-up', limits, clients, executor, unsentReplies: 0, unsentRepliesMax: Infinity, batchesInFlightMax: BATCHES,
    draining: false, dropNextReply: false, wal: null, onBatch: () => undefined,
  };
}

/** Takes the session's replies as a gRPC stream would, counting them. */
class ScratchStream extends EventEmitter {
  readonly cancelled = false;
  readonly destroyed = false;
  opened = false;
  batchesOk = 0;

  write(reply: SessionReplyMessage, done?: () => void): boolean {
    if (reply.opened) this.opened = true;
    if (reply.batch?.status === 'BATCH_OK') this.batchesOk++;
    done?.();
    return true;
  }

  end(): void {}
  pause(): void {}
  resume(): void {}
}
