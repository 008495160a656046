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
  return loaded;
}
