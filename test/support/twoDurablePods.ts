// Two durable in-process pods sharing a data dir (as on the shared volume), for migration tests:
// pod-s owns [0, 2^63) and [2^63, 2^64) at view 2 and holds `keys` keys k0..k{keys-1} with the
// values `valueOf(i)`; pod-t owns nothing. The data dir and the Admin client go with the test.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '../../client/index.js';
import { adminClient, type AdminClient } from '../../proto/adminClient.js';
import type { Pod } from '../../dataplane/server/pod.js';
import { durablePod } from './durablePod.js';

export const HALF = (1n << 63n).toString();

export interface TwoPods {
  readonly source: Pod;
  readonly target: Pod;
  /** Admin client of the source. */
  readonly admin: AdminClient;
  readonly dataDir: string;
}

export async function twoDurablePods(t: { after(fn: () => unknown): void }, keys: number, valueOf: (i: number) => string): Promise<TwoPods> {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-migrate-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const source = durablePod(dataDir, 'pod-s');
  const target = durablePod(dataDir, 'pod-t');
  const sourceAddress = await source.start();
  await target.start();
  const admin = adminClient(sourceAddress);
  t.after(() => admin.close());
  const whole = { start: '0', end: '0', view: 1 };
  await admin.call('AssignRanges', { owned: [whole], routes: [{ ...whole, owner: 'pod-s', address: sourceAddress }] });
  await admin.call('SplitRange', { range: whole, at: HALF });
  const client = createClient({ seeds: [sourceAddress] });
  await client.mput([...Array(keys).keys()].map((i) => [`k${i}`, valueOf(i)]));
  client.close();
  return { source, target, admin, dataDir };
}
