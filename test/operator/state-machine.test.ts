import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PhaseMachine } from '../../operator/core/stateMachine.js';
import { CLUSTER_PHASES } from '../../operator/core/steps/clusterStatus.js';
import { RANGE_PHASES } from '../../operator/core/steps/assignRanges.js';
import { recordingLogger, type LogLine } from './fixture.js';

test('PhaseMachine.transitionTo: makes legal moves and logs them as A -> B', () => {
  const log: LogLine[] = [];
  const machine = new PhaseMachine('KVCluster x', CLUSTER_PHASES, 'Pending', recordingLogger(log));
  assert.equal(machine.transitionTo(['Pending'], 'Creating'), true);
  assert.equal(machine.transitionTo(['Creating'], 'Running'), true);
  assert.equal(machine.phase, 'Running');
  assert.deepEqual(log.map((l) => l.message), ['KVCluster x: Pending -> Creating', 'KVCluster x: Creating -> Running']);
});

test('PhaseMachine.transitionTo: refuses a move the table forbids, or from a phase not listed, and logs the refusal', () => {
  const log: LogLine[] = [];
  const machine = new PhaseMachine('KVCluster x', CLUSTER_PHASES, 'Pending', recordingLogger(log));
  assert.equal(machine.transitionTo(['Pending'], 'Running'), false, 'Pending -> Running is not in the table');
  assert.equal(machine.transitionTo(['Creating'], 'Degraded'), false, 'current phase not in from[]');
  assert.equal(machine.phase, 'Pending');
  assert.equal(log.filter((l) => l.level === 'warn').length, 2);
  const range = new PhaseMachine('ShardRange r', RANGE_PHASES, 'Pending', recordingLogger(log));
  assert.equal(range.transitionTo(['Pending'], 'Unavailable'), false);
  assert.equal(range.transitionTo(['Pending'], 'Assigned'), true);
});

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

test('operator/core imports no Kubernetes client, gRPC or Node I/O module (DESIGN.md §1: ports only)', () => {
  const files = sources('operator/core');
  assert.ok(files.length >= 10, `found the core sources (${files.length}); run from the repository root`);
  for (const file of files) {
    const imports = [...readFileSync(file, 'utf8').matchAll(/from\s+'([^']+)'/g)].map((m) => m[1]);
    for (const spec of imports) {
      assert.ok(spec.startsWith('.'), `${file} imports package ${spec}`);
      assert.ok(!spec.includes('/kube/') && !spec.includes('dataplane/') && !spec.includes('client/'), `${file} imports ${spec}`);
    }
  }
});
