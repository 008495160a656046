// Loads proto/slicekv.proto for grpc-js. 64-bit integers arrive as decimal strings (exact), enums
// as their names, bytes as Buffers.

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

export const PROTO_PATH = fileURLToPath(new URL('../../proto/slicekv.proto', import.meta.url));

export interface SlicekvServices {
  KV: grpc.ServiceClientConstructor;
  Admin: grpc.ServiceClientConstructor;
}

let loaded: SlicekvServices | null = null;

export function slicekvServices(): SlicekvServices {
  if (loaded !== null) return loaded;
  const definition = loadSync(PROTO_PATH, { longs: String, enums: String, defaults: true, oneofs: true });
  const root = grpc.loadPackageDefinition(definition) as unknown as { slicekv: { v1: SlicekvServices } };
  loaded = root.slicekv.v1;
  for (const service of [loaded.KV, loaded.Admin]) warmCodecs(service.service);
  return loaded;
}

/**
 * Runs every method's (de)serializers once on an empty message. protobufjs generates a message
 * type's encode / decode / fromObject / toObject code on first use: left lazy, a pod paid 2-4 ms
 * of code generation in the middle of a migration's owner switch (the first ReceiveOwnership on
 * each side) and a client on its first call of a kind. Done once per process, at load.
 */
function warmCodecs(service: grpc.ServiceDefinition): void {
  for (const method of Object.values(service)) {
    method.requestDeserialize(method.requestSerialize({}));
    method.responseDeserialize(method.responseSerialize({}));
  }
}
