// Runs one measurement in its own Node process, so each starts from a clean RSS and a fresh V8
// (no JIT feedback, heap or allocator state carried over from the engine into the baseline or
// back). The child prints exactly one JSON line on stdout as its last line; anything else it
// writes is kept only to explain a failure.

import { spawn } from 'node:child_process';

/** Output kept from a child, so a chatty or runaway child cannot exhaust the parent. */
const OUTPUT_BYTES_MAX = 1024 * 1024;
const REASON_CHARS_MAX = 600;

export type ChildOutcome<T> =
  | { ok: true; result: T; elapsedMs: number }
  | { ok: false; reason: string; elapsedMs: number };

export interface ChildOptions {
  /** Node flags placed before the script, e.g. --max-old-space-size=8192. */
  nodeArgs: readonly string[];
  scriptArgs: readonly string[];
  timeoutMs: number;
  /** The child's environment; the parent's when absent. */
  env?: NodeJS.ProcessEnv;
}

function appendBounded(kept: string, chunk: Buffer): string {
  const next = kept + chunk.toString('utf8');
  return next.length > OUTPUT_BYTES_MAX ? next.slice(next.length - OUTPUT_BYTES_MAX) : next;
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? '';
}

export function runChild<T>(scriptPath: string, options: ChildOptions): Promise<ChildOutcome<T>> {
  const started = Date.now();
  const child = spawn(process.execPath, [...options.nodeArgs, scriptPath, ...options.scriptArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout.on('data', (chunk: Buffer) => { stdout = appendBounded(stdout, chunk); });
  child.stderr.on('data', (chunk: Buffer) => { stderr = appendBounded(stderr, chunk); });
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, options.timeoutMs);
  return new Promise((resolve) => {
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, reason: `spawn failed: ${error.message}`, elapsedMs: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const elapsedMs = Date.now() - started;
      if (code === 0 && !timedOut) {
        try {
          resolve({ ok: true, result: JSON.parse(lastLine(stdout)) as T, elapsedMs });
          return;
        } catch (error) {
          resolve({ ok: false, reason: `unparsable result line: ${String(error)}`, elapsedMs });
          return;
        }
      }
      const how = timedOut ? `timed out after ${options.timeoutMs} ms` : `exit code ${code}, signal ${signal}`;
      const detail = stderr.trim().slice(-REASON_CHARS_MAX).replace(/\s+/g, ' ');
      resolve({ ok: false, reason: `${how}: ${detail}`, elapsedMs });
    });
  });
}

/** The value after `--name` in argv; null when the option is absent. */
export function optionValue(argv: readonly string[], name: string): string | null {
  const at = argv.indexOf(name);
  if (at < 0) return null;
  const value = argv[at + 1];
  if (value === undefined) throw new Error(`${name} needs a value`);
  return value;
}

/**
 * The entry point of a benchmark script: `--worker <json>` runs one measurement in this
 * process (a child the parent started); otherwise this process is the parent, in smoke mode
 * when `--smoke` is given.
 */
export async function benchEntry(argv: readonly string[], workerMain: (paramsJson: string) => Promise<void>,
  parentMain: (smoke: boolean) => Promise<void>): Promise<void> {
  const workerAt = argv.indexOf('--worker');
  if (workerAt < 0) {
    await parentMain(argv.includes('--smoke'));
    return;
  }
  const paramsJson = argv[workerAt + 1];
  if (paramsJson === undefined) throw new Error('--worker needs a JSON parameter object');
  await workerMain(paramsJson);
}
