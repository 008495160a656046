// A migration source's durable record of a range it gave up and whose new owner is not yet
// confirmed (docs/migration.md, "In-doubt transfers"). It is written before the source's manifest
// drops the range and removed once the target's answer decided the range's owner, so a source
// that crashes in between knows after its restart that it must ask the target.
//
// The record is also a *hold* (docs/durability.md, "Manifest"): the files the range's state is in
// (this pod's checkpoints and log window, and other pods' named in its sources) are not deleted
// while the owner is undecided — the source needs them to take the range back, the target to
// finish from them. One file per migration and per pod named, `holds/outgoing-<source>-<id>.json`,
// so records need no lock and `heldByOthers()` reads them like any other hold.

import { mkdir, readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ReplaySource } from './manifest.js';
import { fsyncDirectory } from './fsyncDirectory.js';

export interface OutgoingTransfer {
  readonly migrationId: string;
  /** The range's bounds (decimal strings) and the view the source owned it at. */
  readonly start: string;
  readonly end: string;
  readonly view: number;
  readonly targetPod: string;
  readonly targetAddress: string;
  /** Where the range was durable at the source when it gave the range up (Durability.sourcesJson). */
  readonly durableSources: string;
}

interface RecordJson {
  fromLsn: number;
  checkpoints: string[];
  transfer: OutgoingTransfer;
}

const PREFIX = 'outgoing-';

function fileName(sourcePod: string, migrationId: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(migrationId)) throw new Error(`migration id ${JSON.stringify(migrationId)} cannot name a file`);
  return `${PREFIX}${sourcePod}-${migrationId}.json`;
}

/** Writes the record (and a hold in every other pod's folder its sources name), fsynced. */
export async function recordOutgoing(dataDir: string, sourcePod: string, transfer: OutgoingTransfer): Promise<void> {
  const sources = transfer.durableSources === '' ? { checkpoints: [], replays: [] }
    : (JSON.parse(transfer.durableSources) as { checkpoints: string[]; replays: ReplaySource[] });
  const pods = new Set([sourcePod, ...sources.replays.map((r) => r.pod)]);
  for (const pod of pods) {
    const fromLsn = Math.min(...sources.replays.filter((r) => r.pod === pod).map((r) => r.fromLsn), Number.MAX_SAFE_INTEGER);
    const dir = join(dataDir, 'pods', pod, 'holds');
    await mkdir(dir, { recursive: true });
    const record: RecordJson = { fromLsn, checkpoints: sources.checkpoints, transfer };
    await writeFile(join(dir, fileName(sourcePod, transfer.migrationId)), JSON.stringify(record), { flush: true });
    await fsyncDirectory(dir);
  }
}

/** Removes the record and its holds: the range's owner is decided and durable. */
export async function forgetOutgoing(dataDir: string, sourcePod: string, transfer: OutgoingTransfer): Promise<void> {
  const sources = transfer.durableSources === '' ? { replays: [] as ReplaySource[] } : (JSON.parse(transfer.durableSources) as { replays: ReplaySource[] });
  for (const pod of new Set([...sources.replays.map((r) => r.pod), sourcePod])) {
    await unlink(join(dataDir, 'pods', pod, 'holds', fileName(sourcePod, transfer.migrationId))).catch(() => undefined);
  }
}

/** The source's undecided transfers (read at restart). */
export async function readOutgoing(dataDir: string, sourcePod: string): Promise<OutgoingTransfer[]> {
  const dir = join(dataDir, 'pods', sourcePod, 'holds');
  const names = await readdir(dir).catch(() => [] as string[]);
  const transfers: OutgoingTransfer[] = [];
  for (const name of names.filter((n) => n.startsWith(`${PREFIX}${sourcePod}-`) && n.endsWith('.json'))) {
    const record = JSON.parse(await readFile(join(dir, name), 'utf8')) as RecordJson;
    transfers.push(record.transfer);
  }
  return transfers;
}
