// Ranges taken from a dead pod by partitioned recovery. The recovering pods write one marker
// file per range into the dead pod's folder (`pods/<dead>/taken/<range id>.json`) instead of
// editing its manifest: several pods recover shares of the same pod at once, and separate files
// need no lock. A pod that comes back drops the taken ranges from its manifest before it serves.

import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rangesOverlap, type HashRange } from '../../proto/keyspace/range.js';
import { rangeId } from './checkpointFile.js';
import { fsyncDirectory } from './fsyncDirectory.js';
import type { ManifestRange } from './manifest.js';

export async function markTaken(podDir: string, ranges: readonly HashRange[], by: string): Promise<void> {
  const dir = join(podDir, 'taken');
  await mkdir(dir, { recursive: true });
  for (const range of ranges) {
    await writeFile(join(dir, `${rangeId(range.start, range.end)}.json`), JSON.stringify({ start: String(range.start), end: String(range.end), by }));
  }
  await fsyncDirectory(dir);
}

export async function readTaken(podDir: string): Promise<HashRange[]> {
  const dir = join(podDir, 'taken');
  const names = await readdir(dir).catch(() => [] as string[]);
  const ranges: HashRange[] = [];
  for (const name of names.filter((n) => n.endsWith('.json'))) {
    const json = JSON.parse(await readFile(join(dir, name), 'utf8')) as { start: string; end: string };
    ranges.push({ start: BigInt(json.start), end: BigInt(json.end) });
  }
  return ranges;
}

/** The manifest's ranges minus the taken ones; a partly taken range keeps its other pieces. */
export function withoutTaken(entries: readonly ManifestRange[], taken: readonly HashRange[]): ManifestRange[] {
  let pieces = [...entries];
  for (const cut of taken) {
    pieces = pieces.flatMap((entry) => {
      if (!rangesOverlap(entry, cut)) return [entry];
      const left = entry.start < cut.start ? [{ ...entry, end: cut.start }] : [];
      const right = cut.end < entry.end ? [{ ...entry, start: cut.end }] : [];
      return [...left, ...right];
    });
  }
  return pieces;
}

/** Removes the markers of `ranges` that `by` wrote (a recovery that failed after marking); others' stay. */
export async function unmarkTaken(podDir: string, ranges: readonly HashRange[], by: string): Promise<void> {
  const dir = join(podDir, 'taken');
  for (const range of ranges) {
    const path = join(dir, `${rangeId(range.start, range.end)}.json`);
    const text = await readFile(path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (text !== null && (JSON.parse(text) as { by: string }).by === by) await rm(path, { force: true });
  }
  await fsyncDirectory(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
}
