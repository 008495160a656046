// A short digest of the compiled code a process runs. The repository is shared and the engine
// is being tuned while benchmarks run: a rebuild of dist/ between two child processes would
// silently compare two different engines. Each worker reports the digest of the engine code it
// loaded, and the parent flags a run whose workers disagree.

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const DIGEST_HEX_CHARS = 16;

/** Digest of the .js files directly in each directory, in name order. */
export function codeDigest(directories: readonly string[]): string {
  const hash = createHash('sha256');
  for (const directory of directories) {
    for (const name of readdirSync(directory).filter((n) => n.endsWith('.js')).sort()) {
      hash.update(name);
      hash.update(readFileSync(join(directory, name)));
    }
  }
  return hash.digest('hex').slice(0, DIGEST_HEX_CHARS);
}
