// proto/grpcDefinition.ts warms every message type's codecs when the services load: protobufjs
// generates a type's encode / decode / fromObject / toObject code on first use, and left lazy that
// ran inside a migration's owner switch. Nested types (routes, ranges, replies' bodies) must be
// warm too, not only the methods' top-level messages.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

// The protobufjs instance @grpc/proto-loader generates code with.
const requireFromLoader = createRequire(createRequire(import.meta.url).resolve('@grpc/proto-loader'));
const protobuf = requireFromLoader('protobufjs') as { util: { codegen: (...args: unknown[]) => unknown } };

test('codec warm-up: after the services load, real messages with nested types generate no more code', async () => {
  let generated = 0;
  const codegen = protobuf.util.codegen;
  const counting = Object.assign((...args: unknown[]): unknown => {
    generated++;
    return codegen(...args);
  }, codegen);
  protobuf.util.codegen = counting;
  try {
    const { slicekvServices } = await import('../../proto/grpcDefinition.js');
    const services = slicekvServices();
    assert.ok(generated > 0, 'loading generated the codecs (the counter sees protobufjs code generation)');
    generated = 0;
    const route = { start: '1', end: '2', view: 3, owner: 'pod-a', address: '127.0.0.1:1' };
    const ownership = services.Admin.service.ReceiveOwnership;
    ownership.requestDeserialize(ownership.requestSerialize({ migrationId: 'm', range: { start: '1', end: '2', view: 3 }, routes: [route], entries: Buffer.alloc(4) }));
    const routes = services.KV.service.GetRoutes;
    routes.responseDeserialize(routes.responseSerialize({ routes: [route] }));
    const status = services.Admin.service.MigrationStatus;
    status.responseDeserialize(status.responseSerialize({ migrations: [{ migrationId: 'm', range: { start: '1', end: '2', view: 3 }, transitions: ['PREPARE@1'] }] }));
    assert.equal(generated, 0, 'no code generated for messages after load');
  } finally {
    protobuf.util.codegen = codegen;
  }
});
