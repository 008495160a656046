// The payload of a completion record (the engine stores it opaquely, dataplane/store):
//
//  +----------------------+------------+------------------------------------------+
//  | client id (16 bytes) | u64 seq    | the op's result, exactly as sent on the  |
//  |                      |            | wire (docs/wire-format.md "Result frame")|
//  +----------------------+------------+------------------------------------------+
//
// Saving the encoded result means a retry is answered with the very bytes the first attempt
// produced, whatever the op was.

import { readUint64, writeUint64 } from '../../proto/wire/int64.js';

export const CLIENT_ID_BYTES = 16;
export const PAYLOAD_AT_SEQ = CLIENT_ID_BYTES;
export const PAYLOAD_AT_RESULT = CLIENT_ID_BYTES + 8;

export function writePayloadHeader(target: Buffer, clientId: Uint8Array, seq: number): void {
  // Client ids are 16 bytes (checked at the edge): no view made per mutation.
  target.set(clientId.length === CLIENT_ID_BYTES ? clientId : clientId.subarray(0, CLIENT_ID_BYTES), 0);
  writeUint64(target, PAYLOAD_AT_SEQ, seq);
}

export function payloadSeq(bytes: Uint8Array, payloadOffset: number): number {
  return readUint64(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), payloadOffset + PAYLOAD_AT_SEQ);
}

/** The client id of a payload as the hex string the client table is keyed by. */
export function payloadClientKey(bytes: Uint8Array, payloadOffset: number): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset + payloadOffset, CLIENT_ID_BYTES).toString('hex');
}
