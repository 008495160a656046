// Clients that leave many large completion records unacknowledged (RIFL: a completion record
// holds its key), for tests of what carries them: checkpoints, migration hand-overs.

import { createClient, type SlicekvClient } from '../../client/index.js';
import type { Pod } from '../../dataplane/server/pod.js';

/** Keys of 16 KiB less a little (the engine's default key bound is 16 KiB). */
export const HELD_KEY_BYTES = 16 * 1024 - 8;

/**
 * `clients` SDK clients of the pod at `address` each put `putsPerClient` keys of HELD_KEY_BYTES
 * in one batch and go quiet: those completion records stay unacknowledged. The clients close
 * when the test ends; returned for the test to go on with.
 */
export async function holdCompletions(t: { after(fn: () => unknown): void }, address: string, clients: number, putsPerClient: number): Promise<SlicekvClient[]> {
  const made: SlicekvClient[] = [];
  t.after(() => made.forEach((c) => c.close()));
  for (let c = 0; c < clients; c++) {
    const client = createClient({ seeds: [address] });
    made.push(client);
    await client.mput([...Array(putsPerClient).keys()].map((i) => [Buffer.from(`c${c}:k${i}:`.padEnd(HELD_KEY_BYTES, 'x')), Buffer.from(`v${i}`)]));
  }
  return made;
}

/** Completion records the pod's client table holds. */
export function completionCount(pod: Pod): number {
  let count = 0;
  pod.clients.forEachCompletion(() => count++);
  return count;
}
