// Runs a command line tool (kubectl, helm) to completion with a time bound, optional stdin, and
// its output collected up to a bound.

import { spawn } from 'node:child_process';

export interface CommandResult {
  /** Exit code; null when the command was killed (see `timedOut`). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunCommandOptions {
  env: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs: number;
}

const OUTPUT_BYTES_MAX = 16 * 1024 * 1024;

export function runCommand(command: string, args: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { env: options.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let outputBytes = 0;
    const collect = (into: Buffer[]) => (chunk: Buffer): void => {
      outputBytes += chunk.length;
      if (outputBytes <= OUTPUT_BYTES_MAX) into.push(chunk);
      else child.kill('SIGKILL');
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString(), timedOut });
    });
    child.stdin.on('error', () => undefined); // a command that exits before reading its input
    child.stdin.end(options.input ?? '');
  });
}
