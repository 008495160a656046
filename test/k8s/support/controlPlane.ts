// A real Kubernetes control plane for tests (the envtest pattern): etcd and kube-apiserver on
// loopback, built from pinned sources (k8sTools.ts), with RBAC on and static-token users.
//
// What a test gets is the real API server: admission, validation, RBAC, watches, CRDs, server-side
// apply, field selectors. What it does not get, because there is no kube-controller-manager,
// kube-scheduler or kubelet (processKubelet.ts stands in for the last two, for Pods only):
//   - no controllers: a Deployment, ReplicaSet, StatefulSet or Job makes no Pods; a Service gets no
//     EndpointSlices; a PVC stays Pending (no provisioner, no binder);
//   - no garbage collection: ownerReferences are stored but dependents are never deleted;
//   - no namespace finalization: deleting a Namespace leaves it Terminating for ever, so tests
//     use a fresh namespace name (or a fresh control plane) instead of deleting one;
//   - no ServiceAccount token controller and no `default` ServiceAccount per namespace: the
//     ServiceAccount admission plugin is disabled (as envtest does), and a test acts as a
//     ServiceAccount through a static token whose user is system:serviceaccount:<ns>:<name>
//     (serviceAccountToken below), which RBAC bindings to that ServiceAccount match for real; the
//     process kubelet hands that token's kubeconfig to the ServiceAccount's Pods (KUBECONFIG);
//   - no node lifecycle: Nodes are never marked NotReady and Pods are never evicted.

import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { ensureK8sTools, type K8sTools } from './k8sTools.js';
import { writeControlPlaneCertificates, type ControlPlaneCertificates } from './certificates.js';
import { freeLoopbackPorts } from './freePort.js';
import { startManagedProcess, type ManagedProcess } from './managedProcess.js';
import { runCommand, type CommandResult } from './runCommand.js';

export type { CommandResult } from './runCommand.js';

/** A static bearer token (--token-auth-file) and the user it authenticates as. */
export interface StaticTokenUser {
  /** How the test refers to it: kubeconfigFor(name), tokenFor(name). */
  name: string;
  user: string;
  groups: readonly string[];
  uid?: string;
}

export interface ControlPlaneOptions {
  /** Users besides `admin` (system:masters); the token file is read once, at start. */
  tokens?: readonly StaticTokenUser[];
  /** Extra kube-apiserver flags, appended last (so they override ours). */
  apiserverArgs?: readonly string[];
  /** Bound on etcd + kube-apiserver becoming ready, per attempt. */
  startTimeoutMs?: number;
  /** Keep the temp dir (logs, certs, data) after stop(); also SLICEKV_K8S_KEEP=1. */
  keepRootDir?: boolean;
}

export interface ToolOptions {
  /** Kubeconfig to use; the admin one by default. */
  kubeconfig?: string;
  input?: string;
  timeoutMs?: number;
}

export interface ApiResponse {
  status: number;
  body: string;
}

export interface ControlPlane {
  /** https://127.0.0.1:<port> */
  server: string;
  caPath: string;
  adminKubeconfigPath: string;
  /** The temp dir holding certs, data, kubeconfigs and the etcd / kube-apiserver logs. */
  rootDir: string;
  tools: K8sTools;
  kubeconfigFor(tokenName: string): string;
  /**
   * The kubeconfig of the first registered token whose user is ServiceAccount namespace/name
   * (serviceAccountToken), or undefined; the process kubelet gives it to that ServiceAccount's Pods.
   */
  serviceAccountKubeconfig(namespace: string, serviceAccount: string): string | undefined;
  tokenFor(tokenName: string): string;
  kubectl(args: readonly string[], options?: ToolOptions): Promise<CommandResult>;
  helm(args: readonly string[], options?: ToolOptions): Promise<CommandResult>;
  /** One HTTPS request to the API server as `tokenName` (admin by default). */
  request(method: string, path: string, options?: { tokenName?: string; body?: unknown }): Promise<ApiResponse>;
  stop(): Promise<void>;
}

export const ADMIN_TOKEN_NAME = 'admin';
const START_TIMEOUT_MS_DEFAULT = 90_000;
const START_ATTEMPTS_MAX = 3;
const POLL_INTERVAL_MS = 200;
const REQUEST_TIMEOUT_MS = 10_000;
const TOOL_TIMEOUT_MS_DEFAULT = 60_000;
const STOP_GRACE_MS = 5_000;

/** A token that authenticates as ServiceAccount `namespace/serviceAccount`, with its groups. */
export function serviceAccountToken(namespace: string, serviceAccount: string, name = `${namespace}:${serviceAccount}`): StaticTokenUser {
  return {
    name,
    user: `system:serviceaccount:${namespace}:${serviceAccount}`,
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  };
}

interface IssuedToken extends StaticTokenUser {
  token: string;
}

function issueTokens(extra: readonly StaticTokenUser[]): Map<string, IssuedToken> {
  const all: StaticTokenUser[] = [{ name: ADMIN_TOKEN_NAME, user: 'admin', groups: ['system:masters'] }, ...extra];
  const issued = new Map<string, IssuedToken>();
  for (const entry of all) {
    assert.ok(!issued.has(entry.name), `token name ${entry.name} given twice`);
    assert.ok(!entry.user.includes(',') && !entry.user.includes('"'), `token user ${entry.user} would break the CSV`);
    issued.set(entry.name, { ...entry, token: randomBytes(24).toString('hex') });
  }
  return issued;
}

function tokenFileCsv(tokens: Map<string, IssuedToken>): string {
  // token,user,uid,"group1,group2"
  return [...tokens.values()].map((t) => `${t.token},${t.user},${t.uid ?? t.user},"${t.groups.join(',')}"`).join('\n') + '\n';
}

function kubeconfigJson(server: string, caPath: string, tokenName: string, token: string): string {
  // JSON is YAML; kubectl, helm and @kubernetes/client-node all read it.
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'slicekv-test', cluster: { server, 'certificate-authority': caPath } }],
    users: [{ name: tokenName, user: { token } }],
    contexts: [{ name: tokenName, context: { cluster: 'slicekv-test', user: tokenName } }],
    'current-context': tokenName,
  }, null, 2);
}

function httpGetStatus(url: string, ca?: Buffer): Promise<number> {
  return new Promise((resolve) => {
    const options = { timeout: 2_000, ...(ca === undefined ? {} : { ca }) };
    const request = (url.startsWith('https:') ? httpsRequest : httpRequest)(url, options, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.once('timeout', () => request.destroy());
    request.once('error', () => resolve(0));
    request.end();
  });
}

async function waitUntilReady(what: string, url: string, process: ManagedProcess, deadline: number, ca?: Buffer): Promise<void> {
  while (Date.now() < deadline) {
    if (!process.isRunning()) {
      throw new Error(`${what} exited while starting: ${tail(process.logPath)}`);
    }
    if ((await httpGetStatus(url, ca)) === 200) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  throw new Error(`${what} not ready at ${url} in time: ${tail(process.logPath)}`);
}

function tail(path: string, lines = 15): string {
  try {
    return `last lines of ${path}:\n` + readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no log at ${path})`;
  }
}

interface Started {
  etcd: ManagedProcess;
  apiserver: ManagedProcess;
  server: string;
}

function startEtcd(tools: K8sTools, rootDir: string, clientPort: number, peerPort: number, attempt: number): ManagedProcess {
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  return startManagedProcess({
    command: tools.etcd,
    args: [
      '--name=test', `--data-dir=${join(rootDir, `etcd-data-${attempt}`)}`,
      `--listen-client-urls=${client}`, `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`, `--initial-advertise-peer-urls=${peer}`, `--initial-cluster=test=${peer}`,
      // A test cluster's data dies with the test: skipping fsync makes every API write faster.
      '--unsafe-no-fsync=true', '--log-level=warn',
    ],
    logPath: join(rootDir, 'etcd.log'),
  });
}

function apiserverArgs(rootDir: string, certs: ControlPlaneCertificates, etcdPort: number, securePort: number, extra: readonly string[]): string[] {
  return [
    '--advertise-address=127.0.0.1', '--bind-address=127.0.0.1', `--secure-port=${securePort}`,
    `--etcd-servers=http://127.0.0.1:${etcdPort}`,
    `--cert-dir=${join(rootDir, 'apiserver-certs')}`,
    `--tls-cert-file=${certs.servingCertPath}`, `--tls-private-key-file=${certs.servingKeyPath}`,
    `--client-ca-file=${certs.caCertPath}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${certs.serviceAccountPublicKeyPath}`,
    `--service-account-signing-key-file=${certs.serviceAccountKeyPath}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    '--authorization-mode=RBAC',
    `--token-auth-file=${join(rootDir, 'tokens.csv')}`,
    '--allow-privileged=true',
    // No controller-manager creates the `default` ServiceAccount or token Secrets (see the header).
    '--disable-admission-plugins=ServiceAccount',
    '--profiling=false',
    ...extra,
  ];
}

async function startOnce(tools: K8sTools, rootDir: string, certs: ControlPlaneCertificates, options: ControlPlaneOptions, attempt: number): Promise<Started> {
  const [etcdClientPort, etcdPeerPort, securePort] = await freeLoopbackPorts(3);
  const deadline = Date.now() + (options.startTimeoutMs ?? START_TIMEOUT_MS_DEFAULT);
  const etcd = startEtcd(tools, rootDir, etcdClientPort, etcdPeerPort, attempt);
  let apiserver: ManagedProcess | undefined;
  try {
    await waitUntilReady('etcd', `http://127.0.0.1:${etcdClientPort}/health`, etcd, deadline);
    apiserver = startManagedProcess({
      command: tools.kubeApiserver,
      args: apiserverArgs(rootDir, certs, etcdClientPort, securePort, options.apiserverArgs ?? []),
      logPath: join(rootDir, 'kube-apiserver.log'),
    });
    const server = `https://127.0.0.1:${securePort}`;
    // /readyz is open to anonymous users (system:public-info-viewer) and turns 200 only after
    // the bootstrap RBAC roles and priority levels are in etcd.
    await waitUntilReady('kube-apiserver', `${server}/readyz`, apiserver, deadline, readFileSync(certs.caCertPath));
    return { etcd, apiserver, server };
  } catch (error) {
    await apiserver?.stop(STOP_GRACE_MS);
    await etcd.stop(STOP_GRACE_MS);
    throw error;
  }
}

function isPortClash(error: unknown): boolean {
  return error instanceof Error && /address already in use/i.test(error.message);
}

/** Starts etcd and kube-apiserver on free loopback ports; resolves when /readyz answers 200. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const tools = await ensureK8sTools();
  const rootDir = mkdtempSync(join(tmpdir(), 'slicekv-k8s-'));
  const tokens = issueTokens(options.tokens ?? []);
  writeFileSync(join(rootDir, 'tokens.csv'), tokenFileCsv(tokens), { mode: 0o600 });
  const certs = await writeControlPlaneCertificates(rootDir);
  let started: Started | undefined;
  for (let attempt = 1; started === undefined; attempt++) {
    try {
      started = await startOnce(tools, rootDir, certs, options, attempt);
    } catch (error) {
      // Ports are checked free just before use; another process may take one in between.
      if (!isPortClash(error) || attempt >= START_ATTEMPTS_MAX) throw error;
    }
  }
  return controlPlaneHandle(tools, rootDir, certs, tokens, started, options);
}

function controlPlaneHandle(tools: K8sTools, rootDir: string, certs: ControlPlaneCertificates,
  tokens: Map<string, IssuedToken>, started: Started, options: ControlPlaneOptions): ControlPlane {
  const { server } = started;
  const kubeconfigs = new Map<string, string>();
  for (const entry of tokens.values()) {
    const path = join(rootDir, `kubeconfig-${entry.name.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
    writeFileSync(path, kubeconfigJson(server, certs.caCertPath, entry.name, entry.token), { mode: 0o600 });
    kubeconfigs.set(entry.name, path);
  }
  const lookup = <T>(map: Map<string, T>, name: string): T => {
    const value = map.get(name);
    if (value === undefined) throw new Error(`no token named ${name}; register it in startControlPlane({ tokens })`);
    return value;
  };
  const adminKubeconfigPath = lookup(kubeconfigs, ADMIN_TOKEN_NAME);
  const toolEnv = (kubeconfig: string): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH, HOME: rootDir, KUBECONFIG: kubeconfig, KUBECACHEDIR: join(rootDir, 'kube-cache'),
    HELM_CACHE_HOME: join(rootDir, 'helm', 'cache'), HELM_CONFIG_HOME: join(rootDir, 'helm', 'config'),
    HELM_DATA_HOME: join(rootDir, 'helm', 'data'),
  });
  const runTool = (binary: string, args: readonly string[], toolOptions: ToolOptions): Promise<CommandResult> => {
    const kubeconfig = toolOptions.kubeconfig ?? adminKubeconfigPath;
    return runCommand(binary, [`--kubeconfig=${kubeconfig}`, ...args], {
      env: toolEnv(kubeconfig), timeoutMs: toolOptions.timeoutMs ?? TOOL_TIMEOUT_MS_DEFAULT,
      ...(toolOptions.input === undefined ? {} : { input: toolOptions.input }),
    });
  };
  let stopping: Promise<void> | undefined;
  return {
    server, caPath: certs.caCertPath, adminKubeconfigPath, rootDir, tools,
    kubeconfigFor: (name) => lookup(kubeconfigs, name),
    serviceAccountKubeconfig: (namespace, serviceAccount) => {
      const user = serviceAccountToken(namespace, serviceAccount).user;
      const entry = [...tokens.values()].find((candidate) => candidate.user === user);
      return entry === undefined ? undefined : kubeconfigs.get(entry.name);
    },
    tokenFor: (name) => lookup(tokens, name).token,
    kubectl: (args, toolOptions = {}) => runTool(tools.kubectl, args, toolOptions),
    helm: (args, toolOptions = {}) => runTool(tools.helm, args, toolOptions),
    request: (method, path, requestOptions = {}) =>
      apiRequest(server, readFileSync(certs.caCertPath), lookup(tokens, requestOptions.tokenName ?? ADMIN_TOKEN_NAME).token, method, path, requestOptions.body),
    stop: () => {
      stopping ??= (async () => {
        await started.apiserver.stop(STOP_GRACE_MS);
        await started.etcd.stop(STOP_GRACE_MS);
        if (options.keepRootDir !== true && process.env.SLICEKV_K8S_KEEP !== '1') rmSync(rootDir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

function apiRequest(server: string, ca: Buffer, token: string, method: string, path: string, body: unknown): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = httpsRequest(`${server}${path}`, {
      method, ca, timeout: REQUEST_TIMEOUT_MS,
      headers: { authorization: `Bearer ${token}`, accept: 'application/json', ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.once('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      response.once('error', reject);
    });
    request.once('timeout', () => request.destroy(new Error(`${method} ${path}: no answer in ${REQUEST_TIMEOUT_MS} ms`)));
    request.once('error', reject);
    request.end(payload);
  });
}
