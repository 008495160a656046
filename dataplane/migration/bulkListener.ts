// The source's end of the bulk channel (docs/migration.md, "Bulk channel"): a TCP listener the
// targets of this pod's migrations connect to (the target connects so that it can read into one
// reused buffer: Node offers that to connecting sockets only), and the sender a migration pushes
// its pre-copy chunks through. A connection's first frame is HELLO naming the migration; it is
// handed to the migration that expects it (the HELLO may arrive before the migration asks).
// Everything is bounded: connections waiting to be claimed, the time to say HELLO, frame sizes.

import net from 'node:net';
import { assert } from '../store/assert.js';
import { BulkFrameError, FRAME_RECORDS_BYTES_MAX, FrameKind, FrameReader, HAND_OVER_BYTES_MAX, frameHead, type Frame } from './bulkFrame.js';

const UNCLAIMED_MAX = 64;
const EMPTY = Buffer.alloc(0);
const HELLO_WAIT_MS = 5_000;
const UNCLAIMED_KEPT_MS = 10_000;

/** Pushes CHUNK frames, then the OWNERSHIP frame, to one target and waits for each one's ACK. */
export class BulkSender {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (error: Error) => void; timer: NodeJS.Timeout; what: string }>();
  private failure: Error | null = null;

  constructor(private readonly socket: net.Socket, reader: FrameReader) {
    reader.onFrame = (frame) => this.answer(frame);
    socket.on('close', () => this.failAll(new Error('bulk channel closed by the target')));
  }

  /** Whether the channel still works (nothing failed or closed it yet). */
  get open(): boolean {
    return this.failure === null;
  }

  /** Sends a pre-copy chunk; resolves once the target installed it. `records` must stay unchanged until then. */
  send(migrationId: string, records: Buffer, slices: Buffer, timeoutMs: number): Promise<void> {
    return this.frame(FrameKind.CHUNK, migrationId, records, slices, timeoutMs);
  }

  /**
   * Hands the range over: `request` is an encoded ReceiveOwnershipRequest; resolves once the
   * target took ownership, rejects with its reason if it refused (as the ReceiveOwnership call
   * would), or when the channel fails (the transfer is then in doubt, as after a failed call).
   */
  async handOver(migrationId: string, request: Buffer, timeoutMs: number): Promise<void> {
    assert(request.length <= HAND_OVER_BYTES_MAX, 'a hand-over stays within its bound');
    // All but the last frame's worth go first, one part at a time (each acknowledged once the
    // target holds it); the OWNERSHIP frame with the rest makes the target take the range.
    let at = 0;
    for (; request.length - at > FRAME_RECORDS_BYTES_MAX; at += FRAME_RECORDS_BYTES_MAX) {
      await this.frame(FrameKind.OWNERSHIP_PART, migrationId, request.subarray(at, at + FRAME_RECORDS_BYTES_MAX), EMPTY, timeoutMs);
    }
    await this.frame(FrameKind.OWNERSHIP, migrationId, request.subarray(at), EMPTY, timeoutMs);
  }

  private frame(kind: FrameKind.CHUNK | FrameKind.OWNERSHIP | FrameKind.OWNERSHIP_PART, migrationId: string, records: Buffer, slices: Buffer,
    timeoutMs: number): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const seq = ++this.seq;
    const what = kind === FrameKind.CHUNK ? 'bulk chunk' : kind === FrameKind.OWNERSHIP ? 'hand-over' : 'hand-over part';
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => this.failAll(new Error(`${what} ${seq} not acknowledged in ${timeoutMs} ms`)), timeoutMs);
      this.waiting.set(seq, { resolve, reject, timer, what });
    });
    this.socket.cork();
    this.socket.write(frameHead(kind, seq, migrationId, slices.length, records.length));
    if (slices.length > 0) this.socket.write(slices);
    this.socket.write(records);
    this.socket.uncork();
    return done;
  }

  /** Ends the channel (failAll destroys the socket; nothing is unacknowledged when a pre-copy closes it). */
  close(): void {
    this.failAll(new Error('bulk channel closed'));
  }

  private answer(frame: Frame): void {
    const waiter = this.waiting.get(frame.seq);
    if (waiter === undefined || (frame.kind !== FrameKind.ACK && frame.kind !== FrameKind.ERROR)) {
      this.failAll(new BulkFrameError(`unexpected frame kind ${frame.kind} seq ${frame.seq} from the target`));
      return;
    }
    this.waiting.delete(frame.seq);
    clearTimeout(waiter.timer);
    if (frame.kind === FrameKind.ACK) waiter.resolve();
    else waiter.reject(new Error(`target refused ${waiter.what}: ${frame.records.toString('utf8')}`));
  }

  private failAll(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiting.clear();
    this.socket.destroy();
  }
}

interface Unclaimed {
  readonly sender: BulkSender;
  readonly timer: NodeJS.Timeout;
}

export class BulkListener {
  private readonly unclaimed = new Map<string, Unclaimed>();
  private readonly expected = new Map<string, (sender: BulkSender) => void>();
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server, readonly port: number) {
    server.on('connection', (socket) => this.accept(socket));
  }

  /** Listens on host:port (port 0: any free one). */
  static listen(host: string, port: number): Promise<BulkListener> {
    const server = net.createServer({ noDelay: true });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve(new BulkListener(server, (server.address() as net.AddressInfo).port)));
    });
  }

  /** The sender of the connection that says HELLO for `migrationId` (rejects after `timeoutMs`). */
  expect(migrationId: string, timeoutMs: number): Promise<BulkSender> {
    const early = this.unclaimed.get(migrationId);
    if (early !== undefined) {
      this.unclaimed.delete(migrationId);
      clearTimeout(early.timer);
      return Promise.resolve(early.sender);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.expected.delete(migrationId);
        reject(new Error(`no bulk connection for migration ${migrationId} in ${timeoutMs} ms`));
      }, timeoutMs);
      this.expected.set(migrationId, (sender) => {
        clearTimeout(timer);
        resolve(sender);
      });
    });
  }

  /** Stops listening and ends every connection (a migration sending on one fails). */
  close(): void {
    for (const { sender, timer } of this.unclaimed.values()) {
      clearTimeout(timer);
      sender.close();
    }
    this.unclaimed.clear();
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }

  private accept(socket: net.Socket): void {
    socket.setNoDelay(true);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    const helloTimer = setTimeout(() => socket.destroy(), HELLO_WAIT_MS);
    const reader = new FrameReader((frame) => {
      clearTimeout(helloTimer);
      if (frame.kind !== FrameKind.HELLO) throw new BulkFrameError(`first frame of kind ${frame.kind}, not HELLO`);
      this.claim(frame.id, new BulkSender(socket, reader), socket);
    });
    socket.on('data', (data) => {
      try {
        reader.push(data, data.length);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
  }

  private claim(migrationId: string, sender: BulkSender, socket: net.Socket): void {
    const waiter = this.expected.get(migrationId);
    if (waiter !== undefined) {
      this.expected.delete(migrationId);
      waiter(sender);
      return;
    }
    if (this.unclaimed.size >= UNCLAIMED_MAX || this.unclaimed.has(migrationId)) {
      socket.destroy();
      return;
    }
    const timer = setTimeout(() => {
      this.unclaimed.delete(migrationId);
      sender.close();
    }, UNCLAIMED_KEPT_MS);
    this.unclaimed.set(migrationId, { sender, timer });
  }
}
