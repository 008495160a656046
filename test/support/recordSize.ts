// Record size as the layout documents it (dataplane/store/layout.ts): a 20-byte header, the key,
// the value, padded to 4 bytes. Written out here rather than imported so a change to the
// engine's arithmetic cannot silently move the tests' expectations with it.

export const RECORD_HEADER_BYTES = 20;

export function expectedRecordBytes(keyLength: number, valueLength: number): number {
  return (RECORD_HEADER_BYTES + keyLength + valueLength + 3) & ~3;
}
