// The Dockerfile, replayed without a Docker engine (this machine and CI have none): its stages are
// parsed, every COPY and RUN is carried out into a temporary folder per stage (honouring
// .dockerignore, with `npm ci` offline from the npm cache), the runtime stage's tree is made
// read-only, and both commands of the image are started from it as the image's USER would run
// them. So a file the Dockerfile forgets to copy, a build step that needs a file outside the
// context, or a run-time write to the root filesystem fails here.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { get as httpGet } from 'node:http';
import { createInterface } from 'node:readline';
import { adminClient } from '../../proto/adminClient.js';
import { MALLOC_TUNABLE } from '../../proto/dataplaneEnvironment.js';
import { startControlPlane } from './support/controlPlane.js';
import { REPO_ROOT } from './support/k8sTools.js';

const REPO = REPO_ROOT;
const STEP_TIMEOUT_MS = 120_000;
/** The control plane for the operator check may first build its tools (minutes on a cold machine). */
const K8S_START_TIMEOUT_MS = 40 * 60_000;
const OPERATOR_READY_MS_MAX = 60_000;
/** Both commands drain and exit well within this after SIGTERM (the operator forces exit at 10 s). */
const EXIT_MS_MAX = 20_000;

/** `promise`, or a rejection naming `what` after `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms); });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface Instruction { readonly keyword: string; readonly text: string }
interface Stage { readonly name: string; readonly base: string; readonly instructions: Instruction[] }

/** Dockerfile text -> stages. Joins `\` continuations, drops comments, expands global ARGs in FROM. */
export function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const match = /^(\S+)\s+(.*)$/.exec(line);
    assert.ok(match !== null, `Dockerfile: cannot parse "${line}"`);
    const keyword = match[1].toUpperCase();
    const rest = match[2];
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest.replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? ''));
      assert.ok(from !== null, `Dockerfile: cannot parse FROM ${rest}`);
      stages.push({ base: from[1], name: from[2] ?? String(stages.length), instructions: [] });
    } else if (keyword === 'ARG' && stages.length === 0) {
      const [name, value = ''] = rest.split('=');
      args.set(name, value);
    } else {
      assert.ok(stages.length > 0, `Dockerfile: ${keyword} before the first FROM`);
      stages[stages.length - 1].instructions.push({ keyword, text: rest });
    }
  }
  return stages;
}

function globToRegExp(pattern: string): RegExp {
  const source = pattern.split('**').map((part) => part.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('.*');
  return new RegExp(`^${source.replace(/^\.\*\//, '(.*/)?')}$`);
}

/** .dockerignore semantics: the last pattern matching the path or one of its parents decides. */
function dockerIgnoreFilter(text: string): (relativePath: string) => boolean {
  const rules = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).map((l) => {
    const include = l.startsWith('!');
    const pattern = (include ? l.slice(1) : l).replace(/^\/+/, '').replace(/\/+$/, '');
    return { include, regexp: globToRegExp(pattern) };
  });
  return (relativePath) => {
    const parts = relativePath.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const rule of rules) {
      if (prefixes.some((p) => rule.regexp.test(p))) excluded = !rule.include;
    }
    return !excluded;
  };
}

interface StageState { readonly root: string; cwd: string; readonly env: Record<string, string>; user?: string; entrypoint?: string[] }

/** A path inside a stage's filesystem, relative to its working directory when not absolute. */
function inStage(state: StageState, containerPath: string): string {
  return join(state.root, posix.isAbsolute(containerPath) ? containerPath : posix.join(state.cwd, containerPath));
}

function expandSources(baseDir: string, source: string): string[] {
  if (!source.includes('*')) return [source];
  const directory = posix.dirname(source);
  const regexp = globToRegExp(posix.basename(source));
  return readdirSync(join(baseDir, directory)).filter((n) => regexp.test(n)).sort().map((n) => posix.join(directory, n));
}

function copyInstruction(state: StageState, text: string, stages: Map<string, StageState>, kept: (p: string) => boolean): void {
  const words = text.split(/\s+/);
  const fromFlag = words[0].startsWith('--from=') ? words.shift()?.slice('--from='.length) : undefined;
  const destination = words.pop();
  assert.ok(destination !== undefined && words.length > 0, `COPY needs sources and a destination: ${text}`);
  const fromStage = fromFlag === undefined ? undefined : stages.get(fromFlag);
  assert.ok(fromFlag === undefined || fromStage !== undefined, `COPY --from=${fromFlag}: no such earlier stage`);
  const sourceRoot = fromStage === undefined ? REPO : fromStage.root;
  const sources = words.flatMap((s) => expandSources(sourceRoot, fromStage === undefined ? s : s.replace(/^\/+/, '')));
  const target = inStage(state, destination);
  for (const source of sources) {
    const from = join(sourceRoot, fromStage === undefined ? source : source.replace(/^\/+/, ''));
    assert.ok(existsSync(from), `COPY ${source}: not found in ${fromStage === undefined ? 'the build context' : `stage ${fromFlag}`}`);
    const isDirectory = statSync(from).isDirectory();
    const to = isDirectory || destination.endsWith('/') ? (isDirectory ? target : join(target, posix.basename(source))) : target;
    mkdirSync(isDirectory ? to : dirname(to), { recursive: true });
    cpSync(from, to, {
      recursive: true,
      filter: (path) => fromStage !== undefined || path === REPO || kept(path.slice(REPO.length).replace(/\\/g, '/')),
    });
  }
}

/** This process's environment less what the test runner sets for its own children. */
function buildEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  return env;
}

/**
 * Runs one RUN line. Each `&&`-joined command must be one the replay knows: `npm ci` (made
 * offline, so it installs from the npm cache that `npm ci` in the repository filled), `npm run
 * <script>`, and `npm cache clean --force`, which is skipped: it only shrinks the image layer and
 * here it would empty the machine's npm cache.
 */
function runInstruction(state: StageState, text: string): void {
  for (const command of text.split('&&').map((c) => c.trim())) {
    if (/^npm cache clean --force$/.test(command)) continue;
    assert.ok(/^npm (ci|run \S+)( --[\w=-]+)*$/.test(command), `the Dockerfile replay does not know how to run "${command}"; teach test/k8s/dockerfileBuild.test.ts`);
    const line = command.startsWith('npm ci') ? `${command} --offline` : command;
    const result = spawnSync('sh', ['-c', line], {
      cwd: join(state.root, state.cwd), env: { ...buildEnvironment(), ...state.env }, encoding: 'utf8', timeout: STEP_TIMEOUT_MS,
    });
    assert.equal(result.status, 0, `RUN ${line} failed (status ${result.status}, signal ${result.signal}):\n${result.stdout}\n${result.stderr}`);
  }
}

function replay(stages: Stage[], workRoot: string): Map<string, StageState> {
  const kept = dockerIgnoreFilter(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
  const states = new Map<string, StageState>();
  for (const stage of stages) {
    const state: StageState = { root: join(workRoot, stage.name), cwd: '/', env: {} };
    mkdirSync(state.root, { recursive: true });
    for (const { keyword, text } of stage.instructions) {
      if (keyword === 'WORKDIR') {
        state.cwd = posix.resolve(state.cwd, text);
        mkdirSync(join(state.root, state.cwd), { recursive: true });
      } else if (keyword === 'ENV') {
        const [name, ...value] = text.split('=');
        state.env[name] = value.join('=');
      } else if (keyword === 'COPY') copyInstruction(state, text, states, kept);
      else if (keyword === 'RUN') runInstruction(state, text);
      else if (keyword === 'USER') state.user = text;
      else if (keyword === 'ENTRYPOINT') state.entrypoint = JSON.parse(text) as string[];
      else assert.ok(['EXPOSE', 'CMD', 'ARG', 'LABEL'].includes(keyword), `the Dockerfile replay does not know ${keyword}`);
    }
    states.set(stage.name, state);
  }
  return states;
}

function setWritable(path: string, writable: boolean): void {
  const result = spawnSync('chmod', ['-R', writable ? 'u+w' : 'a-w', path]);
  assert.equal(result.status, 0, `chmod -R on ${path} failed`);
}

function listTree(path: string): string[] {
  return readdirSync(path, { recursive: true, encoding: 'utf8' }).sort();
}

interface Entrypoint { readonly command: string; readonly args: string[]; readonly cwd: string; readonly env: Record<string, string>; readonly uid?: number; readonly gid?: number }

/** The runtime stage's ENTRYPOINT as a process here: `node` is this Node, container paths map into the stage. */
function entrypointOf(state: StageState, writableTmp: string): Entrypoint {
  const entrypoint = state.entrypoint;
  assert.ok(entrypoint !== undefined && entrypoint[0] === 'node', 'the runtime stage has ENTRYPOINT ["node", ...]');
  const [uid, gid] = (state.user ?? '0').split(':').map(Number);
  // As root, run as the image's user, so that the read-only tree really refuses writes.
  const asUser = process.getuid?.() === 0 ? { uid, gid: gid ?? uid } : {};
  return {
    command: process.execPath,
    args: entrypoint.slice(1).map((a) => (a.startsWith('/') ? join(state.root, a) : a)),
    cwd: join(state.root, state.cwd),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent', TMPDIR: writableTmp, ...state.env },
    ...asUser,
  };
}

async function dataplaneAnswersHealth(entry: Entrypoint): Promise<void> {
  const child = spawnEntrypoint(entry, ['dataplane', '--listen', '127.0.0.1:0', '--metrics-port', '0', '--memory', '64MiB', '--pod-name', 'pod-image']);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const events: string[] = [];
  try {
    const address = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`dataplane did not log "listening" within 20 s; stderr:\n${stderr}`)), 20_000);
      void exited.then((code) => reject(new Error(`dataplane exited with ${code} before listening; stderr:\n${stderr}`)));
      createInterface({ input: child.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        events.push(String(entry.event));
        if (entry.event === 'listening') { clearTimeout(timer); resolve(String(entry.address)); }
      });
    });
    const admin = adminClient(address);
    try {
      const reply = await admin.call('Health', {}, 5_000);
      assert.equal(reply.pod, 'pod-image');
      assert.equal(reply.serving, true);
    } finally {
      admin.close();
    }
    assert.ok(!events.includes('malloc-tunable-missing'), `the image's environment carries the malloc tunable; events: ${events.join(', ')}`);
    child.kill('SIGTERM');
    assert.equal(await within(exited, EXIT_MS_MAX, 'dataplane exit after SIGTERM'), 0, `dataplane exits 0 after SIGTERM; stderr:\n${stderr}`);
  } finally {
    child.kill('SIGKILL');
  }
}

function spawnEntrypoint(entry: Entrypoint, args: string[]) {
  return spawn(entry.command, [...entry.args, ...args],
    { cwd: entry.cwd, env: entry.env, stdio: ['ignore', 'pipe', 'pipe'], ...(entry.uid === undefined ? {} : { uid: entry.uid, gid: entry.gid }) });
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = httpGet(url, { timeout: 2_000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(0));
  });
}

/**
 * `slicekv operator` from the image tree against a real kube-apiserver with the CRDs: it must log
 * that it started, answer /readyz 200 on its metrics port (the chart's readiness probe) once its
 * informers synced, and exit 0 on SIGTERM. The kubeconfig carries the CA inline, so the image's
 * user can read everything it needs from one file in the writable /tmp stand-in.
 */
async function operatorBecomesReady(entry: Entrypoint, writableTmp: string): Promise<void> {
  const controlPlane = await startControlPlane({ startTimeoutMs: 120_000 });
  try {
    const crds = await controlPlane.kubectl(['apply', '--server-side', '-f', join(REPO_ROOT, 'crds')]);
    assert.equal(crds.code, 0, crds.stderr);
    const kubeconfigPath = join(writableTmp, 'kubeconfig.json');
    writeFileSync(kubeconfigPath, JSON.stringify({
      apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
      clusters: [{ name: 'test', cluster: { server: controlPlane.server, 'certificate-authority-data': readFileSync(controlPlane.caPath).toString('base64') } }],
      users: [{ name: 'admin', user: { token: controlPlane.tokenFor('admin') } }],
      contexts: [{ name: 'test', context: { cluster: 'test', user: 'admin', namespace: 'default' } }],
    }), { mode: 0o644 });
    const child = spawnEntrypoint(entry, ['operator', '--kubeconfig', kubeconfigPath, '--namespace', 'default', '--metrics-port', '0', '--identity', 'image-test']);
    let output = '';
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const metricsPort = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`operator did not log "starting" within 20 s:\n${output}`)), 20_000);
        void exited.then((code) => reject(new Error(`operator exited with ${code} before starting:\n${output}`)));
        createInterface({ input: child.stdout }).on('line', (line) => {
          output += `${line}\n`;
          const entry = JSON.parse(line) as Record<string, unknown>;
          if (entry.event === 'starting') { clearTimeout(timer); resolve(Number(entry.metricsPort)); }
        });
      });
      const deadline = Date.now() + OPERATOR_READY_MS_MAX;
      while ((await httpStatus(`http://127.0.0.1:${metricsPort}/readyz`)) !== 200) {
        assert.ok(Date.now() < deadline, `operator /readyz not 200 within ${OPERATOR_READY_MS_MAX} ms:\n${output}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.equal(await httpStatus(`http://127.0.0.1:${metricsPort}/healthz`), 200);
      child.kill('SIGTERM');
      assert.equal(await within(exited, EXIT_MS_MAX, 'operator exit after SIGTERM'), 0, `operator exits 0 after SIGTERM:\n${output}`);
    } finally {
      child.kill('SIGKILL');
    }
  } finally {
    await controlPlane.stop();
  }
}

test('Dockerfile: multi-stage, non-root, one entrypoint for operator and dataplane', () => {
  const stages = parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8'));
  assert.ok(stages.length >= 2, 'a build stage and a runtime stage');
  const runtime = stages[stages.length - 1];
  const of = (keyword: string): string[] => runtime.instructions.filter((i) => i.keyword === keyword).map((i) => i.text);
  assert.deepEqual(of('ENTRYPOINT').map((t) => JSON.parse(t) as unknown), [['node', '/app/bin/slicekv.js']]);
  const user = of('USER').at(-1);
  assert.ok(user !== undefined && /^[1-9]\d*(:\d+)?$/.test(user), `runtime USER is a numeric non-root uid, got ${user}`);
  assert.ok(of('RUN').some((r) => /npm ci\b.*--omit=dev/.test(r)), 'runtime installs production dependencies only');
  assert.ok(!of('COPY').some((c) => /^\.\s|node_modules/.test(c)), 'runtime copies no whole context and no node_modules');
  assert.ok(stages[0].instructions.some((i) => i.keyword === 'RUN' && /npm run build/.test(i.text)), 'the build stage compiles');
  assert.ok(of('ENV').includes(`GLIBC_TUNABLES=${MALLOC_TUNABLE}`), 'the runtime sets the data plane\'s malloc tunable (proto/dataplaneEnvironment.ts)');
});

test('Dockerfile: replayed stages build; dataplane serves Health from a read-only tree; operator runs', { timeout: K8S_START_TIMEOUT_MS + 300_000 }, async (t) => {
  const workRoot = mkdtempSync(join(tmpdir(), 'slicekv-image-'));
  const writableTmp = join(workRoot, 'tmp');
  try {
    chmodSync(workRoot, 0o755);
    const states = replay(parseDockerfile(readFileSync(join(REPO, 'Dockerfile'), 'utf8')), workRoot);
    const runtime = [...states.values()].at(-1);
    assert.ok(runtime !== undefined);
    assert.ok(!existsSync(join(runtime.root, 'app', 'dist', 'test')), 'no compiled tests in the image');
    assert.ok(!existsSync(join(runtime.root, 'app', 'node_modules', 'typescript')), 'no dev dependencies in the image');
    mkdirSync(writableTmp, { mode: 0o1777 });
    chmodSync(writableTmp, 0o1777);
    setWritable(runtime.root, false);
    const filesBefore = listTree(runtime.root);
    const entry = entrypointOf(runtime, writableTmp);

    await dataplaneAnswersHealth(entry);

    const dispatcher = readFileSync(join(runtime.root, 'app', 'bin', 'slicekv.js'), 'utf8');
    const operatorMissing = dispatcher.includes("case 'operator'") ? false : 'bin/slicekv.js has no `operator` command yet';
    await t.test('operator: from the read-only tree, becomes ready against a real kube-apiserver and exits 0 on SIGTERM',
      { skip: operatorMissing, timeout: K8S_START_TIMEOUT_MS }, () => operatorBecomesReady(entry, writableTmp));
    assert.deepEqual(listTree(runtime.root), filesBefore, 'nothing was written into the image tree');
  } finally {
    setWritable(workRoot, true);
    rmSync(workRoot, { recursive: true, force: true });
  }
});
