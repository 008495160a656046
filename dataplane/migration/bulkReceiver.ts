// The target's end of the bulk channel (docs/migration.md, "Bulk channel"): connects to the
// source's bulk listener, says HELLO for the migration, then installs each CHUNK as it arrives
// (`install` is the PreCopy handler) and answers ACK, or ERROR with the reason; the OWNERSHIP
// frame that may follow is the hand-over (`takeOwnership` is the ReceiveOwnership handler),
// answered the same way once it is done; a hand-over larger than a frame comes as OWNERSHIP_PART
// frames first, kept until OWNERSHIP brings the rest (at most HAND_OVER_BYTES_MAX in all). Reads go into one
// reused buffer (Node's `onread`), frames are reassembled in another: no allocation per chunk.
// A malformed frame or a silent source ends the connection; the source then fails the chunk.

import net from 'node:net';
import { FrameKind, FrameReader, HAND_OVER_BYTES_MAX, smallFrame, type Frame } from './bulkFrame.js';

const READ_BUFFER_BYTES = 256 * 1024;
const CONNECT_TIMEOUT_MS = 3_000;
/** A source silent this long (between chunks) is gone. */
const IDLE_TIMEOUT_MS = 120_000;

/** What the target does with the source's frames. */
export interface BulkHandlers {
  /** Installs a chunk; throws to refuse it. */
  readonly install: (records: Buffer, slices: Buffer) => void;
  /** Takes ownership from an encoded ReceiveOwnershipRequest (its own copy); rejects to refuse it. */
  readonly takeOwnership: (request: Buffer) => Promise<void>;
}

/** Splits "host:port" (host may be a bracketed IPv6 address). */
export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  const port = Number(address.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new RangeError(`not a host:port address: ${address}`);
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port };
}

/** Connects to the source's listener at `address` for `migrationId`; resolves once HELLO is sent. */
export function openBulkReceiver(address: string, migrationId: string, handlers: BulkHandlers): Promise<net.Socket> {
  const { host, port } = splitAddress(address);
  const handOver = new HandOverParts();
  const reader = new FrameReader((frame) => answer(socket, frame, handlers, handOver));
  const onread = {
    buffer: Buffer.allocUnsafeSlow(READ_BUFFER_BYTES),
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      try {
        reader.push(buffer, bytes);
      } catch {
        socket.destroy();
      }
      return true;
    },
  };
  // net.connect hands `onread` to the socket's constructor (Socket#connect alone ignores it).
  const socket = net.connect({ host, port, noDelay: true, onread });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`bulk connection to ${address} not made in ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.setTimeout(IDLE_TIMEOUT_MS, () => socket.destroy());
      socket.on('error', () => socket.destroy());
      socket.write(smallFrame(FrameKind.HELLO, 0, migrationId));
      resolve(socket);
    });
  });
}

/** The pieces of a hand-over received so far (OWNERSHIP_PART frames), in order. */
class HandOverParts {
  private parts: Buffer[] = [];
  private bytes = 0;
  /** A part was refused: the hand-over it belonged to cannot be whole. */
  private broken = false;

  /** Keeps a copy of a part (the frame's bytes are reused once the handler returns). */
  add(records: Buffer): void {
    if (this.broken || this.bytes + records.length > HAND_OVER_BYTES_MAX) {
      this.broken = true;
      throw new Error(`hand-over larger than ${HAND_OVER_BYTES_MAX} bytes`);
    }
    this.parts.push(Buffer.from(records));
    this.bytes += records.length;
  }

  /** The whole hand-over, the last piece being `records` (copied); and forgets the parts. */
  finish(records: Buffer): Buffer {
    const { parts, broken, bytes } = this;
    this.parts = [];
    this.bytes = 0;
    this.broken = false;
    if (broken || bytes + records.length > HAND_OVER_BYTES_MAX) throw new Error(`hand-over larger than ${HAND_OVER_BYTES_MAX} bytes, or a part of it refused`);
    return parts.length === 0 ? Buffer.from(records) : Buffer.concat([...parts, records]);
  }
}

function answer(socket: net.Socket, frame: Frame, handlers: BulkHandlers, handOver: HandOverParts): void {
  const { seq } = frame;
  const done = (): void => void socket.write(smallFrame(FrameKind.ACK, seq, ''));
  const refused = (error: unknown): void => void socket.write(smallFrame(FrameKind.ERROR, seq, '', error instanceof Error ? error.message : String(error)));
  if (frame.kind === FrameKind.OWNERSHIP_PART || frame.kind === FrameKind.OWNERSHIP) {
    let request: Buffer;
    try {
      if (frame.kind === FrameKind.OWNERSHIP_PART) {
        handOver.add(frame.records);
        done();
        return;
      }
      request = handOver.finish(frame.records);
    } catch (error) {
      refused(error);
      return;
    }
    handlers.takeOwnership(request).then(done, refused);
    return;
  }
  if (frame.kind !== FrameKind.CHUNK) {
    socket.destroy();
    return;
  }
  try {
    handlers.install(frame.records, frame.slices);
    done();
  } catch (error) {
    refused(error);
  }
}
