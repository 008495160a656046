// proto/slicekv.proto parses with the loader the server and SDK will use, declares the RPCs the
// design needs, and keeps the BatchStatus numbers docs/wire-format.md documents.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';

const PROTO_PATH = fileURLToPath(new URL('../../../proto/slicekv.proto', import.meta.url));

interface MethodShape {
  requestStream: boolean;
  responseStream: boolean;
}

test('slicekv.proto: loads and declares the KV and Admin services', () => {
  const definition = loadSync(PROTO_PATH, { longs: String, enums: String, defaults: true, oneofs: true });
  const kv = definition['slicekv.v1.KV'] as unknown as Record<string, MethodShape>;
  assert.ok(kv, 'service slicekv.v1.KV');
  assert.deepEqual({ requestStream: kv.Session.requestStream, responseStream: kv.Session.responseStream },
    { requestStream: true, responseStream: true }, 'Session is a bidirectional stream');
  assert.equal(kv.GetRoutes.requestStream, false);
  const admin = definition['slicekv.v1.Admin'] as unknown as Record<string, MethodShape>;
  for (const method of ['AssignRanges', 'SplitRange', 'MergeRanges', 'Stats', 'Health']) {
    assert.ok(admin[method], `Admin.${method}`);
  }
});

test('slicekv.proto: BatchStatus values are the documented ones', () => {
  const definition = loadSync(PROTO_PATH, { enums: String });
  const batchStatus = definition['slicekv.v1.BatchStatus'] as unknown as { type: { value: { name: string; number: number }[] } };
  const numbers = Object.fromEntries(batchStatus.type.value.map((v) => [v.name, v.number]));
  assert.deepEqual(numbers, {
    BATCH_OK: 0, BATCH_MALFORMED: 1, BATCH_OVERLOADED: 2, BATCH_SESSION_INVALID: 3, BATCH_DRAINING: 4,
  });
});
