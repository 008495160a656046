// A child process the k8s harness owns: its output goes to a log file, it is stopped with
// SIGTERM then SIGKILL after a bounded grace, and it cannot outlive the test process.
//
// Outliving is prevented twice: every live child is SIGKILLed from a process 'exit' handler (and
// on SIGINT/SIGTERM of the test process), and, where util-linux's setpriv is installed, the child
// runs with a parent-death signal (PR_SET_PDEATHSIG = SIGKILL), which also covers a test process
// that is itself SIGKILLed (the node:test runner's timeout). setpriv execs the real program, so
// the pid we hold is the program's own.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import assert from 'node:assert/strict';

export interface ManagedProcessOptions {
  command: string;
  args: readonly string[];
  logPath: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ManagedProcess {
  readonly pid: number;
  readonly logPath: string;
  /** Resolves once the process has exited. */
  readonly exited: Promise<ExitStatus>;
  isRunning(): boolean;
  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
  stop(graceMs: number): Promise<ExitStatus>;
  kill9(): void;
}

const SETPRIV = '/usr/bin/setpriv';
const live = new Set<ChildProcess>();
let exitHooksInstalled = false;

function killAllLive(): void {
  for (const child of live) child.kill('SIGKILL');
  live.clear();
}

function installExitHooks(): void {
  if (exitHooksInstalled) return;
  exitHooksInstalled = true;
  process.once('exit', killAllLive);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAllLive();
      process.kill(process.pid, signal); // our handler is gone now: the default action follows
    });
  }
}

export function startManagedProcess(options: ManagedProcessOptions): ManagedProcess {
  installExitHooks();
  const logFd = openSync(options.logPath, 'a');
  const withDeathSignal = existsSync(SETPRIV);
  const command = withDeathSignal ? SETPRIV : options.command;
  const args = withDeathSignal ? ['--pdeathsig', 'SIGKILL', '--', options.command, ...options.args] : [...options.args];
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', logFd, logFd], env: options.env ?? process.env, cwd: options.cwd });
  } finally {
    closeSync(logFd); // the child holds its own copy
  }
  assert.ok(child.pid !== undefined, `could not start ${options.command} (see ${options.logPath})`);
  live.add(child);
  let running = true;
  const exited = new Promise<ExitStatus>((resolve) => {
    const finish = (status: ExitStatus): void => {
      running = false;
      live.delete(child);
      resolve(status);
    };
    child.once('exit', (code, signal) => finish({ code, signal }));
    child.once('error', () => finish({ code: null, signal: null })); // e.g. ENOENT without setpriv

  });
  const stop = async (graceMs: number): Promise<ExitStatus> => {
    if (!running) return exited;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const status = await exited;
    clearTimeout(timer);
    return status;
  };
  return {
    pid: child.pid,
    logPath: options.logPath,
    exited,
    isRunning: () => running,
    stop,
    kill9: () => {
      if (running) child.kill('SIGKILL');
    },
  };
}
