// Locates the real Kubernetes binaries the k8s tests run (etcd, kube-apiserver, kubectl, helm)
// and builds them from the pinned Go modules in test/k8s/tools when they are missing, so that
// `npm test` works on a fresh machine where Go is installed. See docs/k8s-test-harness.md.
//
// Order: KUBEBUILDER_ASSETS (when it holds etcd, kube-apiserver and kubectl; helm too if there),
// else the cache folder test/k8s/tools/build.sh maps the pinned versions to.

import { execFile, spawn } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

/** The repository root, from this file's place (dist/test/k8s/support/ after the build). */
export const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
assert.ok(existsSync(join(REPO_ROOT, 'bin', 'slicekv.js')), `REPO_ROOT ${REPO_ROOT} has no bin/slicekv.js`);

const BUILD_SCRIPT = join(REPO_ROOT, 'test', 'k8s', 'tools', 'build.sh');
/** A cold build of all four tools took 5.5-7.5 min on 2 cores (docs/k8s-test-harness.md). */
const BUILD_TIMEOUT_MS_DEFAULT = 40 * 60_000;
const PRINT_TIMEOUT_MS = 30_000;

export interface K8sTools {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
  helm: string;
}

export interface EnsureK8sToolsOptions {
  /** Upper bound for a build when binaries are missing. */
  buildTimeoutMs?: number;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function printBinDir(): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', [BUILD_SCRIPT, '--print-bin-dir'], { timeout: PRINT_TIMEOUT_MS }, (error, stdout) => {
      if (error !== null) reject(new Error(`${BUILD_SCRIPT} --print-bin-dir failed: ${error.message}`));
      else resolve(stdout.trim());
    });
  });
}

function toolsIn(binDir: string): K8sTools {
  const assets = process.env.KUBEBUILDER_ASSETS;
  const fromAssets = (name: string): string | undefined =>
    assets !== undefined && assets !== '' && isExecutable(join(assets, name)) ? join(assets, name) : undefined;
  const haveAssets = ['etcd', 'kube-apiserver', 'kubectl'].every((name) => fromAssets(name) !== undefined);
  const pick = (name: string): string => (haveAssets ? fromAssets(name) : undefined) ?? join(binDir, name);
  return { etcd: pick('etcd'), kubeApiserver: pick('kube-apiserver'), kubectl: pick('kubectl'), helm: fromAssets('helm') ?? join(binDir, 'helm') };
}

function missing(tools: K8sTools): string[] {
  return Object.values(tools).filter((path) => !isExecutable(path));
}

function runBuild(timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    // The build prints one line per tool with its time; the test log is the right place for it.
    const child = spawn('bash', [BUILD_SCRIPT], { stdio: ['ignore', 2, 2] }); // stderr: keeps the TAP stream clean
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${BUILD_SCRIPT} failed (exit ${code ?? signal}); a build is bounded by ${timeoutMs} ms`));
    });
  });
}

let ensuring: Promise<K8sTools> | undefined;

/**
 * The paths of etcd, kube-apiserver, kubectl and helm, building them first if they are missing.
 * Concurrent callers in one process share one build.
 */
export function ensureK8sTools(options: EnsureK8sToolsOptions = {}): Promise<K8sTools> {
  ensuring ??= (async () => {
    const binDir = await printBinDir();
    let tools = toolsIn(binDir);
    if (missing(tools).length > 0) {
      await runBuild(options.buildTimeoutMs ?? BUILD_TIMEOUT_MS_DEFAULT);
      tools = toolsIn(binDir);
    }
    const stillMissing = missing(tools);
    assert.equal(stillMissing.length, 0, `k8s tools missing after the build: ${stillMissing.join(', ')}`);
    return tools;
  })();
  ensuring.catch(() => {
    ensuring = undefined; // let a later call try again
  });
  return ensuring;
}

/** True when the tools are already there (no build needed); for tests that choose their timeout. */
export async function k8sToolsPresent(): Promise<boolean> {
  return missing(toolsIn(await printBinDir())).length === 0;
}
