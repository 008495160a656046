// Polling a migration's MigrationStatus until it satisfies a condition, for migration tests.

import type { AdminClient } from '../../proto/adminClient.js';

/** The fields of a MigrationStatus entry the tests look at. */
export interface MigrationInfo {
  migrationId: string;
  role: string;
  phase: string;
  paused: boolean;
  error: string;
  bytesMoved: string;
  recordsMoved: string;
  preCopyBytes: string;
  preCopyRounds?: number;
}

/** The migration's status on the pod `admin` talks to (undefined: the pod does not know it). */
export async function migrationInfo(admin: AdminClient, id: string): Promise<MigrationInfo> {
  return ((await admin.call('MigrationStatus', { migrationId: id })).migrations as MigrationInfo[])[0];
}

/** Polls every 20 ms until the migration's status satisfies `ok`; throws with the last status after `timeoutMs`. */
export async function untilMigration(admin: AdminClient, id: string, ok: (i: MigrationInfo) => boolean, timeoutMs = 30_000): Promise<MigrationInfo> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await migrationInfo(admin, id);
    if (current !== undefined && ok(current)) return current;
    if (Date.now() > deadline) throw new Error(`migration ${id}: ${JSON.stringify(current)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
