// A pod's manifest (`<data dir>/pods/<pod>/manifest.json`): the ranges the pod owns and, for each,
// where its state comes from — checkpoint files (each filtered to the range) and then the
// write-ahead logs to replay, in order. Replacing the manifest (write, fsync, rename, fsync the
// folder) is the commit point of every durability step: a new checkpoint, an assignment, a
// recovery. A failed replacement says whether the new manifest may be in place (ManifestWriteError).
// See "Manifest" in docs/durability.md.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HashRange } from '../../proto/keyspace/range.js';
import type { Route } from '../../proto/keyspace/routes.js';
import { replaceFileDurably, type ReplaceStep } from './durableReplace.js';

/** Where pod `pod`'s manifest lives under the data dir. */
export function manifestPathOf(dataDir: string, pod: string): string {
  return join(dataDir, 'pods', pod, 'manifest.json');
}

export interface ReplaySource {
  /** Whose write-ahead log. */
  readonly pod: string;
  readonly fromLsn: number;
  /** Null: to the end of that log. */
  readonly toLsn: number | null;
}

export interface ManifestRange extends HashRange {
  readonly view: number;
  /** Paths relative to the data dir. */
  readonly checkpoints: readonly string[];
  readonly replays: readonly ReplaySource[];
  /** Records in the checkpoints when they were written (recovery sizes the index from it). */
  readonly records?: number;
}

export interface Manifest {
  readonly pod: string;
  readonly ranges: readonly ManifestRange[];
  /** The last routing table the pod was given, so a restarted pod can route clients at once. */
  readonly routes: readonly Route[];
}

interface ManifestJson {
  format: 1;
  pod: string;
  ranges: { start: string; end: string; view: number; checkpoints: string[]; replays: ReplaySource[]; records?: number }[];
  routes?: { start: string; end: string; view: number; owner: string; address: string }[];
}

export async function readManifest(path: string): Promise<Manifest | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const json = JSON.parse(text) as ManifestJson;
  if (json.format !== 1) throw new Error(`${path}: unknown manifest format ${String(json.format)}`);
  return {
    pod: json.pod,
    ranges: json.ranges.map((r) => ({
      start: BigInt(r.start), end: BigInt(r.end), view: r.view, checkpoints: r.checkpoints, replays: r.replays, ...(r.records === undefined ? {} : { records: r.records }),
    })),
    routes: (json.routes ?? []).map((r) => ({ start: BigInt(r.start), end: BigInt(r.end), view: r.view, owner: r.owner, address: r.address })),
  };
}

/** The steps of replacing the manifest, for a test fault before each (writeFaults.ts). */
export type ManifestStep = ReplaceStep;

/** Replaces the manifest at `path` atomically and durably (durableReplace.ts); a failure is a ManifestWriteError. */
export async function writeManifest(path: string, manifest: Manifest, beforeStep: (step: ManifestStep) => void = () => undefined): Promise<void> {
  const json: ManifestJson = {
    format: 1,
    pod: manifest.pod,
    ranges: manifest.ranges.map((r) => ({
      start: String(r.start), end: String(r.end), view: r.view, checkpoints: [...r.checkpoints], replays: [...r.replays],
      ...(r.records === undefined ? {} : { records: r.records }),
    })),
    routes: manifest.routes.map((r) => ({ start: String(r.start), end: String(r.end), view: r.view, owner: r.owner, address: r.address })),
  };
  await replaceFileDurably(path, JSON.stringify(json, null, 1), 'manifest', beforeStep);
}
