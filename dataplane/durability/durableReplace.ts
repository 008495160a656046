// Replacing a small file atomically and durably — the manifest, a hold on another pod's files:
// the new content goes to a temporary file that is fsynced, renamed over the old file, and the
// folder is fsynced (a renamed file's name is durable only then). A failure says whether the new
// content may be in place (ManifestWriteError.mayHaveLanded): a failure before the rename left the
// old content (the temporary file is removed), so does a failed rename whose temporary file is
// still there; a failed rename whose temporary file is gone (on a network file system a retried
// rename can fail after the first went through), or a failed folder fsync after the rename, may
// have left the new one. See "Manifest" in docs/durability.md.

import { open, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDirectory } from './fsyncDirectory.js';
import { ManifestWriteError } from './manifestWriteError.js';

/** The steps of a replacement, for a test fault before each (writeFaults.ts). */
export type ReplaceStep = 'WRITE' | 'RENAME' | 'DIR_FSYNC';

/**
 * Replaces `path` with `text` atomically and durably. `what` names the file in error messages
 * ("manifest", "hold"). The temporary file's name ends in `.tmp`, so readers of a folder of such
 * files take only the final names.
 */
export async function replaceFileDurably(path: string, text: string, what: string, beforeStep: (step: ReplaceStep) => void = () => undefined): Promise<void> {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    beforeStep('WRITE');
    await writeSynced(temporary, text);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw new ManifestWriteError(`${path}: writing the new ${what} failed, nothing written: ${(error as Error).message}`, false, { cause: error });
  }
  await renameIntoPlace(temporary, path, what, beforeStep);
  try {
    beforeStep('DIR_FSYNC');
    await fsyncDirectory(dirname(path));
  } catch (error) {
    throw new ManifestWriteError(`${path}: fsyncing the folder after the rename failed, the new ${what} may be in place: ${(error as Error).message}`, true,
      { cause: error });
  }
}

async function writeSynced(path: string, text: string): Promise<void> {
  await writeFile(path, text);
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * A rename that fails did nothing if the temporary file is still there (a rename moves the name
 * atomically); without it — or if it cannot be told — the rename may have happened.
 */
async function renameIntoPlace(temporary: string, path: string, what: string, beforeStep: (step: ReplaceStep) => void): Promise<void> {
  try {
    beforeStep('RENAME');
    await rename(temporary, path);
  } catch (error) {
    const stillThere = await stat(temporary).then(() => true, () => false);
    if (stillThere) await unlink(temporary).catch(() => undefined);
    const outcome = stillThere ? 'nothing written' : `the new ${what} may be in place`;
    throw new ManifestWriteError(`${path}: renaming the new ${what} into place failed, ${outcome}: ${(error as Error).message}`, !stillThere, { cause: error });
  }
}
