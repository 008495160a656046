// Loads proto/slicekv.proto for grpc-js. 64-bit integers arrive as decimal strings (exact), enums
// as their names, bytes as Buffers.

import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { loadSync, type MessageTypeDefinition as LoaderMessageType, type PackageDefinition } from '@grpc/proto-loader';

type MessageTypeDefinition = LoaderMessageType<object, object>;

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
  for (const service of [loaded.KV, loaded.Admin]) warmCodecs(service.service, definition);
  return loaded;
}

/**
 * Runs every method's (de)serializers once on a message with every field filled (nested types
 * too). protobufjs generates a message type's encode / decode / fromObject /
 * toObject code on first use, per type: left lazy, a pod paid 2-4 ms of code generation in the
 * middle of a migration's owner switch (the first ReceiveOwnership on each side) and a client on
 * its first call of a kind; warming with empty messages still left the nested types (routes,
 * ranges, replies' bodies) to the first message that carried one (~1 ms at the switch, profiled).
 * Scalars are filled as well: the first 64-bit integer, bytes or string field a generated
 * function converts runs cold code (long.js's toString, buffer copies): a real ReceiveOwnership
 * still took 0.5-0.6 ms to encode and 0.5 ms to decode the first time, 0.1-0.2 ms after.
 * Done once per process, at load.
 */
function warmCodecs(service: grpc.ServiceDefinition, definition: PackageDefinition): void {
  for (const method of Object.values(service) as (grpc.MethodDefinition<object, object> & MessageTypes)[]) {
    method.requestDeserialize(method.requestSerialize(sampleMessage(definition, method.requestType, 0)));
    method.responseDeserialize(method.responseSerialize(sampleMessage(definition, method.responseType, 0)));
  }
}

/** The message types proto-loader names on each method. */
interface MessageTypes {
  readonly requestType?: MessageTypeDefinition;
  readonly responseType?: MessageTypeDefinition;
}

/** Nested messages are filled this deep at most (recursive types stop there). */
const SAMPLE_DEPTH_MAX = 4;
const PACKAGE = 'slicekv.v1.';

/** An object of the type with each message-typed field set (one element for repeated ones), recursively. */
function sampleMessage(definition: PackageDefinition, type: MessageTypeDefinition | undefined, depth: number): Record<string, unknown> {
  const sample: Record<string, unknown> = {};
  if (type === undefined || depth >= SAMPLE_DEPTH_MAX) return sample;
  const fields = (type.type as { field?: FieldDescriptor[] }).field ?? [];
  for (const field of fields) {
    if (field.type !== 'TYPE_MESSAGE') {
      const scalar = SAMPLE_SCALARS.get(field.type);
      if (scalar !== undefined) sample[camelCase(field.name)] = field.label === 'LABEL_REPEATED' ? [scalar()] : scalar();
      continue;
    }
    // Map fields' entry types are nested in their message and not listed: left out.
    const nested = definition[PACKAGE + field.typeName] as MessageTypeDefinition | undefined;
    if (nested?.format === undefined) continue;
    const value = sampleMessage(definition, nested, depth + 1);
    sample[camelCase(field.name)] = field.label === 'LABEL_REPEATED' ? [value] : value;
  }
  return sample;
}

/** A sample value per scalar field type, as proto-loader's options (longs: String) write them; enums are left out. */
const SAMPLE_SCALARS: ReadonlyMap<string, () => unknown> = new Map<string, () => unknown>([
  ...['TYPE_INT64', 'TYPE_UINT64', 'TYPE_SINT64', 'TYPE_FIXED64', 'TYPE_SFIXED64'].map((type) => [type, () => '18446744073709551615'.slice(type === 'TYPE_UINT64' || type === 'TYPE_FIXED64' ? 0 : 1)] as const),
  ...['TYPE_INT32', 'TYPE_UINT32', 'TYPE_SINT32', 'TYPE_FIXED32', 'TYPE_SFIXED32', 'TYPE_DOUBLE', 'TYPE_FLOAT'].map((type) => [type, () => 7] as const),
  ['TYPE_BOOL', () => true],
  ['TYPE_STRING', () => 'sample'],
  ['TYPE_BYTES', () => Buffer.alloc(64, 1)],
]);

interface FieldDescriptor {
  readonly name: string;
  readonly type: string;
  readonly typeName: string;
  readonly label: string;
}

/** proto-loader's object keys for a field (keepCase off): lower camel case. */
function camelCase(name: string): string {
  return name.replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase());
}
