// How the process kubelet turns one container of a Pod into a local command line: the image's
// command mapped to a program on this machine, the environment a kubelet would give it, and the
// Pod's volumes mapped to local folders.
//
// Command: Kubernetes' rule (command replaces the image ENTRYPOINT, args replace CMD), then
// `$(VAR)` references expanded from the container's env (`$$` escapes a `$`), then the mapper.
// The default mapper knows the slicekv image, whose entrypoint is `node /app/bin/slicekv.js`:
//   ["slicekv", ...rest] | ["node", "/app/bin/slicekv.js", ...rest] | [] + image *slicekv* + args
//     -> [process.execPath, <repo>/bin/slicekv.js, ...rest]
// Any other image is refused (the Pod fails with reason ImageNotRunnable) unless the test passes
// its own mapper.
//
// Volumes: a container cannot be given its own mount namespace here, so each volume is a local
// folder and every occurrence of a mount path in the command, env values and workingDir is
// rewritten to that folder (`--data-dir=/data/wal` -> `--data-dir=<root>/pvc/ns/claim/wal`):
//   persistentVolumeClaim -> <root>/pvc/<namespace>/<claimName>   (outlives the Pod: a new Pod
//                                                                    with the same claim sees it)
//   hostPath              -> <root>/hostpath/<path>
//   emptyDir              -> <root>/pods/<namespace>_<name>_<uid>/volumes/<volume> (removed with the Pod)
// configMap, secret, projected, downwardAPI and other volume kinds are refused (Pod fails with
// reason VolumeNotSupported), as are init containers.

import type { V1Container, V1EnvVar, V1Pod } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './k8sTools.js';

/** Maps a container's final argv to the local argv to run, or undefined if it cannot. */
export type CommandMapper = (argv: readonly string[], container: V1Container) => string[] | undefined;

export class PodNotRunnableError extends Error {
  constructor(readonly reason: 'ImageNotRunnable' | 'VolumeNotSupported' | 'EnvNotSupported' | 'InitContainersNotSupported', message: string) {
    super(message);
  }
}

const SLICEKV_BIN = join(REPO_ROOT, 'bin', 'slicekv.js');

export const defaultCommandMapper: CommandMapper = (argv, container) => {
  if (argv[0] === 'slicekv') return [process.execPath, SLICEKV_BIN, ...argv.slice(1)];
  if (argv[0] === 'node' && argv[1] === '/app/bin/slicekv.js') return [process.execPath, SLICEKV_BIN, ...argv.slice(2)];
  if ((container.command ?? []).length === 0 && /slicekv/.test(container.image ?? '')) return [process.execPath, SLICEKV_BIN, ...argv];
  return undefined;
};

/** Kubernetes' $(VAR) expansion: defined references are replaced, others kept, `$$` is `$`. */
export function expandReferences(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) =>
    (match === '$$' ? '$' : env.get(name ?? '') ?? match));
}

/** The Pod's volumes as local folders, by volume name. */
export function volumeFolders(pod: V1Pod, rootDir: string): Map<string, string> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const folders = new Map<string, string>();
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.persistentVolumeClaim !== undefined) {
      folders.set(volume.name, join(rootDir, 'pvc', namespace, volume.persistentVolumeClaim.claimName));
    } else if (volume.hostPath !== undefined) {
      folders.set(volume.name, join(rootDir, 'hostpath', volume.hostPath.path));
    } else if (volume.emptyDir !== undefined) {
      folders.set(volume.name, join(podFolder(pod, rootDir), 'volumes', volume.name));
    } else {
      const kind = Object.keys(volume).find((key) => key !== 'name') ?? 'unknown';
      throw new PodNotRunnableError('VolumeNotSupported', `volume ${volume.name}: ${kind} volumes are not supported by the process kubelet`);
    }
  }
  return folders;
}

/** The Pod's own folder (cwd of its processes, emptyDirs); removed when the Pod is gone. */
export function podFolder(pod: V1Pod, rootDir: string): string {
  const { namespace, name, uid } = pod.metadata ?? {};
  return join(rootDir, 'pods', `${namespace ?? 'default'}_${name ?? 'unnamed'}_${uid ?? 'no-uid'}`);
}

type PathRewrite = (text: string) => string;

function mountRewriter(container: V1Container, folders: ReadonlyMap<string, string>): PathRewrite {
  const mounts = (container.volumeMounts ?? []).map((mount) => {
    const folder = folders.get(mount.name);
    if (folder === undefined) throw new PodNotRunnableError('VolumeNotSupported', `volumeMount ${mount.name} names no volume of the Pod`);
    const mountPath = mount.mountPath.replace(/\/+$/, '');
    return { mountPath, local: mount.subPath === undefined || mount.subPath === '' ? folder : join(folder, mount.subPath) };
  }).sort((a, b) => b.mountPath.length - a.mountPath.length); // /data/wal before /data
  return (text) => {
    let result = text;
    for (const { mountPath, local } of mounts) {
      const escaped = mountPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      result = result.replace(new RegExp(`(^|[=:,\\s])${escaped}(?=$|[/,:\\s])`, 'g'), (_m, before: string) => `${before}${local}`);
    }
    return result;
  };
}

/** Values for a `fieldRef` env var (the downward API fields a kubelet fills in). */
export interface PodFields {
  podIP: string;
  hostIP: string;
  nodeName: string;
}

export interface EnvLookups {
  configMapKey(namespace: string, name: string, key: string): Promise<string | undefined>;
  secretKey(namespace: string, name: string, key: string): Promise<string | undefined>;
}

function fieldValue(pod: V1Pod, fields: PodFields, fieldPath: string): string {
  const values: Record<string, string | undefined> = {
    'metadata.name': pod.metadata?.name, 'metadata.namespace': pod.metadata?.namespace, 'metadata.uid': pod.metadata?.uid,
    'spec.nodeName': fields.nodeName, 'spec.serviceAccountName': pod.spec?.serviceAccountName ?? 'default',
    'status.podIP': fields.podIP, 'status.podIPs': fields.podIP, 'status.hostIP': fields.hostIP, 'status.hostIPs': fields.hostIP,
  };
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (labelOrAnnotation !== null) {
    const map = labelOrAnnotation[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[labelOrAnnotation[2]] ?? '';
  }
  const value = values[fieldPath];
  if (value === undefined) throw new PodNotRunnableError('EnvNotSupported', `fieldRef ${fieldPath} is not supported`);
  return value;
}

async function envValue(entry: V1EnvVar, pod: V1Pod, fields: PodFields, lookups: EnvLookups, env: ReadonlyMap<string, string>): Promise<string | undefined> {
  if (entry.valueFrom === undefined) return expandReferences(entry.value ?? '', env);
  const namespace = pod.metadata?.namespace ?? 'default';
  const { fieldRef, configMapKeyRef, secretKeyRef } = entry.valueFrom;
  if (fieldRef !== undefined) return fieldValue(pod, fields, fieldRef.fieldPath);
  if (configMapKeyRef !== undefined) return lookups.configMapKey(namespace, configMapKeyRef.name ?? '', configMapKeyRef.key);
  if (secretKeyRef !== undefined) return lookups.secretKey(namespace, secretKeyRef.name ?? '', secretKeyRef.key);
  throw new PodNotRunnableError('EnvNotSupported', `env ${entry.name}: resourceFieldRef is not supported`);
}

export interface ContainerLaunch {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
}

/** The local command line, environment and working folder for `container` of `pod`. */
export async function containerLaunch(pod: V1Pod, container: V1Container, rootDir: string, fields: PodFields,
  lookups: EnvLookups, mapper: CommandMapper = defaultCommandMapper): Promise<ContainerLaunch> {
  const rewrite = mountRewriter(container, volumeFolders(pod, rootDir));
  const env = new Map<string, string>();
  for (const entry of container.env ?? []) {
    const value = await envValue(entry, pod, fields, lookups, env);
    if (value !== undefined) env.set(entry.name, rewrite(value));
  }
  const argv = [...(container.command ?? []), ...(container.args ?? [])].map((arg) => rewrite(expandReferences(arg, env)));
  const mapped = mapper(argv, container);
  if (mapped === undefined || mapped.length === 0) {
    throw new PodNotRunnableError('ImageNotRunnable', `container ${container.name} (image ${container.image ?? '?'}, argv ${JSON.stringify(argv)}): no local program for it`);
  }
  // A workingDir outside every mount (a folder of the image, say /app) does not exist here.
  const workingDir = container.workingDir === undefined ? undefined : rewrite(container.workingDir);
  const cwd = workingDir !== undefined && existsSync(workingDir) ? workingDir : podFolder(pod, rootDir);
  return {
    argv: mapped,
    // A container sees only its own env plus what every kubelet adds (HOSTNAME); PATH is kept so
    // that a mapped command can find node and the tools it calls.
    // HOME is the Pod's folder, so that tools which write under it (kubectl's cache) stay there.
    env: { PATH: process.env.PATH, HOME: podFolder(pod, rootDir), HOSTNAME: pod.metadata?.name ?? '', ...Object.fromEntries(env) },
    cwd,
  };
}
