// One Pod run by the process kubelet: a local process per container, its readiness, restarts
// and the PodStatus a kubelet would report for it.
//
// Lifecycle: start() launches every container (a launch error fails the Pod with a reason);
// a container that exits is restarted per spec.restartPolicy (Always, the default; OnFailure;
// Never) after a back-off of 500 ms doubling to 10 s, at most restartLimit times, after which the
// Pod is Failed (a real kubelet would stay in CrashLoopBackOff for ever; a test wants an end).
// terminate(graceMs) is the deletion path: SIGTERM, SIGKILL after the grace period.
// Every change is published through onStatus; the kubelet writes it to the Pod's status.

import type { V1Container, V1ContainerState, V1ContainerStatus, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { containerLaunch, PodNotRunnableError, podFolder, volumeFolders, type CommandMapper, type EnvLookups } from './containerLaunch.js';
import { startManagedProcess, type ExitStatus, type ManagedProcess } from './managedProcess.js';
import { probeKind, runProbeOnce } from './readinessProbe.js';

export interface PodRuntimeOptions {
  rootDir: string;
  podIP: string;
  hostIP: string;
  nodeName: string;
  lookups: EnvLookups;
  commandMapper: CommandMapper;
  restartLimit: number;
  /** KUBECONFIG for the containers (the ServiceAccount's), unless a container sets its own. */
  kubeconfigPath: string | undefined;
  onStatus: (status: V1PodStatus) => void;
}

interface ContainerRun {
  container: V1Container;
  process: ManagedProcess | undefined;
  restartCount: number;
  ready: boolean;
  startedAt: string | undefined;
  probeTimer: NodeJS.Timeout | undefined;
  probeSuccesses: number;
  probeFailures: number;
  exit: { exitCode: number; reason: string; startedAt: string; finishedAt: string } | undefined;
  waitingReason: string | undefined;
}

const RESTART_BACKOFF_MS_FIRST = 500;
const RESTART_BACKOFF_MS_MAX = 10_000;
const SIGNAL_EXIT_BASE = 128;

function exitCodeOf(status: ExitStatus): number {
  if (status.code !== null) return status.code;
  const signals: Record<string, number> = { SIGKILL: 9, SIGTERM: 15, SIGINT: 2 };
  return SIGNAL_EXIT_BASE + (signals[status.signal ?? ''] ?? 0);
}

export class PodRuntime {
  readonly key: string;
  readonly uid: string;
  private readonly runs: ContainerRun[];
  private readonly startTime = new Date().toISOString();
  private terminating = false;
  private failure: { reason: string; message: string } | undefined;
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  /** Each condition's status and when it last changed (lastTransitionTime). */
  private readonly conditionSince = new Map<string, { status: string; since: Date }>();

  constructor(readonly pod: V1Pod, private readonly options: PodRuntimeOptions) {
    this.key = `${pod.metadata?.namespace ?? 'default'}/${pod.metadata?.name ?? ''}`;
    this.uid = pod.metadata?.uid ?? '';
    this.runs = (pod.spec?.containers ?? []).map((container) => ({
      container, process: undefined, restartCount: 0, ready: false, startedAt: undefined, probeTimer: undefined,
      probeSuccesses: 0, probeFailures: 0, exit: undefined, waitingReason: 'ContainerCreating',
    }));
  }

  get podIP(): string {
    return this.options.podIP;
  }

  /** Pids of the containers' live processes. */
  pids(): number[] {
    return this.runs.flatMap((run) => (run.process?.isRunning() === true ? [run.process.pid] : []));
  }

  logPath(containerName: string): string {
    const { namespace, name } = this.pod.metadata ?? {};
    return join(this.options.rootDir, 'logs', `${namespace ?? 'default'}_${name ?? ''}_${containerName}.log`);
  }

  async start(): Promise<void> {
    try {
      if ((this.pod.spec?.initContainers ?? []).length > 0) {
        throw new PodNotRunnableError('InitContainersNotSupported', 'init containers are not run by the process kubelet');
      }
      mkdirSync(join(podFolder(this.pod, this.options.rootDir)), { recursive: true });
      mkdirSync(join(this.options.rootDir, 'logs'), { recursive: true });
      for (const folder of volumeFolders(this.pod, this.options.rootDir).values()) mkdirSync(folder, { recursive: true });
      for (const run of this.runs) await this.launch(run);
    } catch (error) {
      // A real kubelet retries a CreateContainerConfigError (a missing ConfigMap, say); a test
      // wants the failure at once, with its reason.
      this.failure = error instanceof PodNotRunnableError ? { reason: error.reason, message: error.message }
        : { reason: 'CreateContainerConfigError', message: String(error) };
      for (const run of this.runs) run.process?.kill9();
    }
    this.publish();
  }

  private async launch(run: ContainerRun): Promise<void> {
    const fields = { podIP: this.options.podIP, hostIP: this.options.hostIP, nodeName: this.options.nodeName };
    const launch = await containerLaunch(this.pod, run.container, this.options.rootDir, fields, this.options.lookups, this.options.commandMapper);
    if (this.terminating) return;
    const [command, ...args] = launch.argv;
    const env = this.options.kubeconfigPath === undefined ? launch.env : { KUBECONFIG: this.options.kubeconfigPath, ...launch.env };
    const process = startManagedProcess({ command, args, env, cwd: launch.cwd, logPath: this.logPath(run.container.name) });
    run.process = process;
    run.startedAt = new Date().toISOString();
    run.waitingReason = undefined;
    run.ready = probeKind(run.container.readinessProbe) !== 'httpGet' && probeKind(run.container.readinessProbe) !== 'tcpSocket';
    run.probeSuccesses = 0;
    run.probeFailures = 0;
    this.scheduleProbe(run, (run.container.readinessProbe?.initialDelaySeconds ?? 0) * 1000);
    void process.exited.then((status) => this.onExit(run, process, status));
  }

  private scheduleProbe(run: ContainerRun, delayMs: number): void {
    const probe = run.container.readinessProbe;
    const kind = probeKind(probe);
    if (probe === undefined || (kind !== 'httpGet' && kind !== 'tcpSocket')) return;
    run.probeTimer = setTimeout(() => {
      void runProbeOnce(probe, this.options.podIP, run.container.ports ?? []).catch(() => false).then((ok) => {
        if (this.terminating || run.process?.isRunning() !== true) return;
        run.probeSuccesses = ok ? run.probeSuccesses + 1 : 0;
        run.probeFailures = ok ? 0 : run.probeFailures + 1;
        const ready = ok ? (run.ready || run.probeSuccesses >= (probe.successThreshold ?? 1))
          : (run.ready && run.probeFailures < (probe.failureThreshold ?? 3));
        if (ready !== run.ready) {
          run.ready = ready;
          this.publish();
        }
        this.scheduleProbe(run, (probe.periodSeconds ?? 10) * 1000);
      });
    }, delayMs);
  }

  private onExit(run: ContainerRun, process: ManagedProcess, status: ExitStatus): void {
    if (run.process !== process) return;
    clearTimeout(run.probeTimer);
    run.ready = false;
    const exitCode = exitCodeOf(status);
    run.exit = {
      exitCode, reason: exitCode === 0 ? 'Completed' : 'Error', startedAt: run.startedAt ?? this.startTime, finishedAt: new Date().toISOString(),
    };
    run.process = undefined;
    const policy = this.pod.spec?.restartPolicy ?? 'Always';
    const restart = !this.terminating && (policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0));
    if (restart && run.restartCount >= this.options.restartLimit) {
      this.failure = { reason: 'RestartLimitExceeded', message: `container ${run.container.name} exited ${run.restartCount + 1} times` };
    } else if (restart) {
      run.waitingReason = run.restartCount === 0 ? 'Restarting' : 'CrashLoopBackOff';
      const backoffMs = Math.min(RESTART_BACKOFF_MS_FIRST * 2 ** run.restartCount, RESTART_BACKOFF_MS_MAX);
      const timer = setTimeout(() => {
        this.restartTimers.delete(timer);
        if (this.terminating) return;
        run.restartCount += 1;
        void this.launch(run).catch((error: unknown) => {
          this.failure = { reason: 'RestartFailed', message: String(error) };
        }).finally(() => this.publish());
      }, backoffMs);
      this.restartTimers.add(timer);
    }
    this.publish();
  }

  /** SIGTERM every container, SIGKILL after graceMs; resolves when all processes are gone. */
  async terminate(graceMs: number): Promise<void> {
    this.terminating = true;
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    for (const run of this.runs) clearTimeout(run.probeTimer);
    await Promise.all(this.runs.map((run) => run.process?.stop(graceMs)));
  }

  /** SIGKILL every container now (chaos); the restart policy then applies. */
  kill9(): void {
    for (const run of this.runs) run.process?.kill9();
  }

  private publish(): void {
    this.options.onStatus(this.status());
  }

  status(): V1PodStatus {
    const containerStatuses = this.runs.map((run) => containerStatus(run));
    const allReady = this.failure === undefined && this.runs.every((run) => run.ready);
    const condition = (type: string, ok: boolean): V1PodCondition => {
      const status = ok ? 'True' : 'False';
      const previous = this.conditionSince.get(type);
      if (previous?.status !== status) this.conditionSince.set(type, { status, since: new Date() });
      return { type, status, lastTransitionTime: this.conditionSince.get(type)?.since ?? new Date() };
    };
    return {
      phase: this.phase(),
      podIP: this.options.podIP,
      podIPs: [{ ip: this.options.podIP }],
      hostIP: this.options.hostIP,
      hostIPs: [{ ip: this.options.hostIP }],
      startTime: new Date(this.startTime),
      conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('ContainersReady', allReady), condition('Ready', allReady)],
      containerStatuses,
      ...(this.failure === undefined ? {} : { reason: this.failure.reason, message: this.failure.message }),
    };
  }

  private phase(): string {
    if (this.failure !== undefined) return 'Failed';
    if (this.runs.some((run) => run.process !== undefined || run.exit === undefined || run.waitingReason !== undefined)) return 'Running';
    return this.runs.every((run) => run.exit?.exitCode === 0) ? 'Succeeded' : 'Failed';
  }
}

function containerStatus(run: ContainerRun): V1ContainerStatus {
  const { container, process, exit } = run;
  const terminated = exit === undefined ? undefined
    : { exitCode: exit.exitCode, reason: exit.reason, startedAt: new Date(exit.startedAt), finishedAt: new Date(exit.finishedAt) };
  let state: V1ContainerState = { waiting: { reason: 'ContainerCreating' } };
  if (process !== undefined) state = { running: { startedAt: new Date(run.startedAt ?? Date.now()) } };
  else if (run.waitingReason !== undefined) state = { waiting: { reason: run.waitingReason } };
  else if (terminated !== undefined) state = { terminated };
  return {
    name: container.name,
    image: container.image ?? '',
    imageID: '',
    ready: run.ready,
    started: process !== undefined,
    restartCount: run.restartCount,
    ...(process === undefined ? {} : { containerID: `process://${process.pid}` }),
    state,
    ...(terminated !== undefined && process !== undefined ? { lastState: { terminated } } : {}),
  };
}
