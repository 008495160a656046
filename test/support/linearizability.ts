// Locates kvcheck, the Porcupine-based linearizability checker in test/linearizability, building
// it with test/linearizability/build.sh when missing, and runs it on a recorded history.
// The model, the history format and what unknown outcomes mean: docs/linearizability.md.

import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import type { HistoryOp } from './historyRecorder.js';

/** The repository root, from this file's place (dist/test/support/ after the build). */
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
assert.ok(existsSync(join(REPO_ROOT, 'bin', 'slicekv.js')), `REPO_ROOT ${REPO_ROOT} has no bin/slicekv.js`);

const BUILD_SCRIPT = join(REPO_ROOT, 'test', 'linearizability', 'build.sh');
/** A cold build (Porcupine from the module proxy, empty Go caches) takes a few seconds. */
const BUILD_TIMEOUT_MS = 5 * 60_000;
const PRINT_TIMEOUT_MS = 30_000;
/** Time kvcheck may take beyond its own -timeout to parse, start and print. */
const CHECK_SLACK_MS = 15_000;
const OUTPUT_BYTES_MAX = 1024 * 1024;

export interface CheckOptions {
  /** Bound on Porcupine's search; kvcheck exits 2 (and checkHistory rejects) past it. */
  timeoutSeconds: number;
  /** When the history is not linearizable, write Porcupine's HTML visualization here. */
  visualizationPath?: string;
}

export interface CheckResult {
  linearizable: boolean;
  ops: number;
  partitions: number;
  seconds: number;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function runScript(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [BUILD_SCRIPT, ...args], { timeout: timeoutMs, maxBuffer: OUTPUT_BYTES_MAX }, (error, stdout, stderr) => {
      if (error !== null) reject(new Error(`${BUILD_SCRIPT} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

let ensuring: Promise<string> | undefined;

/** The path of kvcheck, building it first when missing. Concurrent callers share one build. */
export function ensureKvCheck(): Promise<string> {
  ensuring ??= (async () => {
    const binary = join(await runScript(['--print-bin-dir'], PRINT_TIMEOUT_MS), 'kvcheck');
    if (!isExecutable(binary)) {
      const built = (await runScript([], BUILD_TIMEOUT_MS)).split('\n').pop();
      assert.equal(built, binary, 'build.sh printed the binary it was asked for');
    }
    assert.ok(isExecutable(binary), `kvcheck missing after the build: ${binary}`);
    return binary;
  })();
  ensuring.catch(() => {
    ensuring = undefined; // let a later call try again
  });
  return ensuring;
}

/** The history as kvcheck reads it: JSON lines. Accepts ops or text already in that format. */
export function historyText(history: readonly HistoryOp[] | string): string {
  if (typeof history === 'string') return history;
  return history.map((op) => JSON.stringify(op)).join('\n') + '\n';
}

/**
 * Checks a history with kvcheck. Resolves with its verdict (linearizable or not); rejects on bad
 * input or when the check does not finish within timeoutSeconds.
 */
export async function checkHistory(history: readonly HistoryOp[] | string, options: CheckOptions): Promise<CheckResult> {
  assert.ok(options.timeoutSeconds > 0, 'a check is bounded');
  const binary = await ensureKvCheck();
  const dir = mkdtempSync(join(tmpdir(), 'slicekv-history-'));
  try {
    const path = join(dir, 'history.jsonl');
    writeFileSync(path, historyText(history));
    const args = [`-timeout=${options.timeoutSeconds}s`];
    if (options.visualizationPath !== undefined) args.push(`-visualize=${options.visualizationPath}`);
    args.push(path);
    return await runCheck(binary, args, options.timeoutSeconds * 1000 + CHECK_SLACK_MS);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function runCheck(binary: string, args: string[], timeoutMs: number): Promise<CheckResult> {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { timeout: timeoutMs, maxBuffer: OUTPUT_BYTES_MAX }, (error, stdout, stderr) => {
      const code = error === null ? 0 : error.code;
      let verdict: CheckResult & { error?: string };
      try {
        verdict = JSON.parse(stdout.trim().split('\n').pop() ?? '') as CheckResult & { error?: string };
      } catch {
        reject(new Error(`kvcheck ${args.join(' ')} exited ${String(code)} without a verdict: ${stderr}`));
        return;
      }
      if ((code === 0 && verdict.linearizable) || (code === 1 && !verdict.linearizable)) {
        resolve({ linearizable: verdict.linearizable, ops: verdict.ops, partitions: verdict.partitions, seconds: verdict.seconds });
      } else {
        reject(new Error(`kvcheck ${args.join(' ')} exited ${String(code)}: ${verdict.error ?? stderr}`));
      }
    });
  });
}
