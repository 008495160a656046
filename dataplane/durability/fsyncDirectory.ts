// A new or renamed file's name is durable only once its directory is synced.

import { open } from 'node:fs/promises';

export async function fsyncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
