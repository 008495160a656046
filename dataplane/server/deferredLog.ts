// Log lines written a moment after they are logged, in batches. Migration steps log every
// transition, and at an owner switch those lines (JSON and a write to stdout, ~0.1-0.4 ms each on
// the shared VM) came between the source giving the range up and the target serving it; written
// at the next check phase instead, they still ran ahead of the first re-routed batch (profiled).
// So lines wait LINE_DELAY_MS and go out together, in the order they were logged, each with
// `atMs`, the time it was logged (pino's `time` is when it was written). Bounded: past
// LINES_PENDING_MAX waiting lines everything is written at once. flush() writes what waits (at
// exit); lines waiting when the process is killed are lost, as lines in a pipe's buffer would be.

/** How long a line waits at most. */
export const LINE_DELAY_MS = 20;
/** Lines waiting beyond which the queue is written at once. */
const LINES_PENDING_MAX = 256;

export type LogLine = (message: string, fields: object) => void;

export interface DeferredLog {
  readonly log: LogLine;
  flush(): void;
}

export function deferredLog(write: LogLine): DeferredLog {
  const pending: [string, object][] = [];
  let timer: NodeJS.Timeout | null = null;
  const flush = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    for (const [message, fields] of pending.splice(0)) write(message, fields);
  };
  const log: LogLine = (message, fields) => {
    pending.push([message, { ...fields, atMs: Date.now() }]);
    if (pending.length >= LINES_PENDING_MAX) flush();
    else timer ??= setTimeout(flush, LINE_DELAY_MS);
  };
  return { log, flush };
}
