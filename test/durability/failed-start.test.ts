// A pod whose start() fails while it restores its state (an unreadable manifest; a routing table
// in it that does not cover the keyspace) must reject with the error that stopped it and leave
// nothing open: no listening socket (gRPC or bulk channel), no file of the data dir. Before this
// was so, the gRPC server and the bulk listener stayed bound and an in-process test hung.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { durablePod } from '../support/durablePod.js';

const HALF = (1n << 63n).toString();

function listeningSockets(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'TCPServerWrap').length;
}

/** Files under `dir` this process has open (Linux: /proc/self/fd). */
function openFilesUnder(dir: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(dir) ? [target] : [];
    } catch {
      return [];
    }
  });
}

/** Polls until `ok` holds (closing a listening socket completes on a later tick); false after 2 s. */
async function eventually(ok: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 2000;
  while (!ok()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

function podWithManifest(t: { after(fn: () => unknown): void }, manifestText: string): { dataDir: string; pod: ReturnType<typeof durablePod> } {
  const dataDir = mkdtempSync(join(tmpdir(), 'slicekv-failed-start-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  mkdirSync(join(dataDir, 'pods', 'pod-f'), { recursive: true });
  writeFileSync(join(dataDir, 'pods', 'pod-f', 'manifest.json'), manifestText);
  return { dataDir, pod: durablePod(dataDir, 'pod-f') };
}

test('Pod.start: a manifest that cannot be read rejects start with that error, and the servers it bound are closed', { timeout: 30_000 }, async (t) => {
  const { dataDir, pod } = podWithManifest(t, '{"format": 1, "ranges": [');
  const before = listeningSockets();
  await assert.rejects(pod.start(), (error: Error) => error instanceof SyntaxError);
  assert.ok(await eventually(() => listeningSockets() === before), `listening sockets left open: ${listeningSockets() - before}`);
  assert.deepEqual(openFilesUnder(dataDir), []);
});

test('Pod.start: a failure after the log was opened (routes in the manifest that leave a gap) closes the log and the servers', { timeout: 30_000 }, async (t) => {
  const route = { start: '0', end: HALF, view: 1, owner: 'pod-f', address: '127.0.0.1:1' };
  const { dataDir, pod } = podWithManifest(t, JSON.stringify({ format: 1, pod: 'pod-f', ranges: [], routes: [route] }));
  const before = listeningSockets();
  await assert.rejects(pod.start(), (error: Error) => error instanceof RangeError && /routes leave .* uncovered/.test(error.message));
  assert.ok(existsSync(join(dataDir, 'pods', 'pod-f', 'wal')), 'the start got as far as the log');
  assert.ok(await eventually(() => listeningSockets() === before), `listening sockets left open: ${listeningSockets() - before}`);
  assert.deepEqual(openFilesUnder(dataDir), [], 'the log file is closed');
});
