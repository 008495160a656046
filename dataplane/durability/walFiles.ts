// Naming and listing of write-ahead log files: `wal-<first lsn, 16 decimal digits>.log` in the
// pod's wal/ folder, so a plain sort of the names is the log's order and a file's name says
// where it starts.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const NAME = /^wal-(\d{16})\.log$/;

export interface WalFile {
  readonly path: string;
  readonly startLsn: number;
}

export function walFileName(startLsn: number): string {
  return `wal-${String(startLsn).padStart(16, '0')}.log`;
}

/** The log's files in order (empty when the folder does not exist). */
export function listWalFiles(dir: string): WalFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const files: WalFile[] = [];
  for (const name of names) {
    const match = NAME.exec(name);
    if (match !== null) files.push({ path: join(dir, name), startLsn: Number(match[1]) });
  }
  return files.sort((a, b) => a.startLsn - b.startLsn);
}
