// A raw KV.Session stream for tests: write open / batch messages, await replies in order.

import * as grpc from '@grpc/grpc-js';
import { slicekvServices } from '../../proto/grpcDefinition.js';
import type { SessionReplyMessage } from '../../proto/messages.js';
import { FRAME_FORMAT_VERSION } from '../../proto/wire/index.js';

type Duplex = grpc.ClientDuplexStream<object, SessionReplyMessage>;

/** A session stream with a queue of replies to await one at a time. */
export class TestSession {
  readonly stream: Duplex;
  private readonly replies: SessionReplyMessage[] = [];
  private waiting: ((reply: SessionReplyMessage) => void) | null = null;
  readonly ended: Promise<grpc.ServiceError | null>;

  constructor(address: string) {
    const kv = new (slicekvServices().KV)(address, grpc.credentials.createInsecure()) as unknown as { Session(): Duplex };
    this.stream = kv.Session();
    this.stream.on('data', (reply: SessionReplyMessage) => {
      if (this.waiting !== null) {
        const wake = this.waiting;
        this.waiting = null;
        wake(reply);
      } else this.replies.push(reply);
    });
    this.ended = new Promise((resolve) => {
      this.stream.on('error', (error: grpc.ServiceError) => resolve(error));
      this.stream.on('end', () => resolve(null));
    });
  }

  next(): Promise<SessionReplyMessage> {
    const queued = this.replies.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** `partialReplies`: take a batch answered in parts (docs/wire-format.md), as the SDK does. */
  open(id = 1, partialReplies = false): void {
    this.stream.write({ open: { clientId: Buffer.alloc(16, id), zone: 'z1', frameFormatVersion: FRAME_FORMAT_VERSION, partialReplies } });
  }

  batch(batchId: string, ops: Buffer): void {
    this.stream.write({ batch: { batchId, ops } });
  }
}

