// A server a benchmark runs as a child process (a slicekv pod, a redis-server), with its output
// lines kept (bounded) and timestamped, so a benchmark can wait for a line ("listening", "Ready to
// accept connections") and read figures the server logs about itself ("recovered", "DB loaded from
// disk"). Every process started here is SIGKILLed if the benchmark exits, fails or is
// interrupted first (killServerProcessesOnExit); a benchmark never leaves a server behind.

import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

/** Output lines kept per process; older ones are dropped (a chatty server cannot exhaust us). */
const LINES_KEPT_MAX = 2000;
const STDERR_KEPT_CHARS = 2000;

export interface OutputLine {
  readonly text: string;
  /** performance.now() when the line arrived. */
  readonly atMs: number;
}

export interface ServerProcess {
  readonly name: string;
  readonly pid: number;
  /** performance.now() right before spawn(). */
  readonly spawnedAtMs: number;
  readonly exited: Promise<number | null>;
  /** The first kept line that matches, or the first that arrives within timeoutMs. */
  waitForLine(match: (text: string) => boolean, timeoutMs: number, what: string): Promise<OutputLine>;
  lines(): readonly OutputLine[];
  /** stderr's tail, whitespace squeezed: for error messages. */
  stderrTail(): string;
  /** SIGKILL, what a crash does; resolves once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. */
  stop(graceMs: number): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/** SIGKILLs every server process still running. */
export function killAllServerProcesses(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Installs (once) the hooks that kill every server process when this process exits or is interrupted. */
export function killServerProcessesOnExit(cleanUp: () => void = () => undefined): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    killAllServerProcesses();
    cleanUp();
  });
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`benchmark interrupted by ${signal}: killing its servers`);
      process.exit(1);
    });
  }
}

interface Waiter {
  match(text: string): boolean;
  found(line: OutputLine): void;
}

export function spawnServerProcess(name: string, command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): ServerProcess {
  const spawnedAtMs = performance.now();
  const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  running.add(child);
  const kept: OutputLine[] = [];
  const waiters = new Set<Waiter>();
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEPT_CHARS);
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    const line = { text, atMs: performance.now() };
    kept.push(line);
    if (kept.length > LINES_KEPT_MAX) kept.shift();
    for (const waiter of waiters) if (waiter.match(text)) waiter.found(line);
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    });
    // Not started at all (e.g. not installed): there will be no 'exit'.
    child.once('error', (error) => {
      running.delete(child);
      stderr += ` ${error.message}`;
      resolve(null);
    });
  });
  const stderrTail = (): string => stderr.trim().replace(/\s+/g, ' ');
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null || !running.has(child);
  return {
    name, pid: child.pid ?? -1, spawnedAtMs, exited, stderrTail,
    lines: () => kept,
    waitForLine: (match, timeoutMs, what) => {
      const already = kept.find((line) => match(line.text));
      if (already !== undefined) return Promise.resolve(already);
      return new Promise<OutputLine>((resolve, reject) => {
        const waiter: Waiter = { match, found: (line) => settle(() => resolve(line)) };
        const timer = setTimeout(() => settle(() => reject(new Error(`${name}: no ${what} within ${timeoutMs} ms: ${stderrTail()}`))), timeoutMs);
        function settle(then: () => void): void {
          clearTimeout(timer);
          waiters.delete(waiter);
          then();
        }
        waiters.add(waiter);
        void exited.then((code) => settle(() => reject(new Error(`${name} exited (code ${code}) before ${what}: ${stderrTail()}`))));
      });
    },
    kill9: async () => {
      if (!gone()) child.kill('SIGKILL');
      await exited;
    },
    stop: async (graceMs) => {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
