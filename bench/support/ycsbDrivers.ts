// The two clients the YCSB benchmark measures, behind one shape: the slicekv SDK and ioredis.
//
// Both batch the same way, which is what makes "the same pipelining depth" mean the same thing
// on both sides: every op issued in one event-loop tick goes out in one write, flushed from a
// setImmediate (the SDK: one batch frame per pod session, client/clientSession.ts; ioredis with
// enableAutoPipelining: one pipeline per connection, ioredis/built/autoPipelining.js). Each has
// one connection to its server.
//
// The drivers add no promise of their own on the hot path: get() and put() return the
// library's promise and valueOf() unpacks a read result synchronously, so neither side pays for
// an adapter the other does not. Each worker process uses one driver only, so the calls in the
// benchmark's loops stay monomorphic.

import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import { createClient, type Entry, type SlicekvClient } from '../../client/client.js';
import type { SystemName } from './ycsbServers.js';

export interface KvDriver<R> {
  readonly system: SystemName;
  /** The client library and its version. */
  readonly clientDescription: string;
  get(key: Buffer): Promise<R>;
  /** The value of a get's result; null when the key was missing. */
  valueOf(result: R): Buffer | null;
  put(key: Buffer, value: Buffer): Promise<unknown>;
  close(): Promise<void>;
}

const packageVersion = (name: string): string =>
  (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;

export function ioredisVersion(): string {
  return packageVersion('ioredis');
}

export function hdrHistogramVersion(): string {
  return packageVersion('hdr-histogram-js');
}

class SlicekvDriver implements KvDriver<Entry | null> {
  readonly system = 'slicekv';
  readonly clientDescription = 'slicekv SDK (client/client.ts), one session, batches per tick';

  constructor(private readonly client: SlicekvClient) {}

  get(key: Buffer): Promise<Entry | null> {
    return this.client.get(key);
  }

  valueOf(result: Entry | null): Buffer | null {
    return result === null ? null : result.value;
  }

  put(key: Buffer, value: Buffer): Promise<unknown> {
    return this.client.put(key, value);
  }

  close(): Promise<void> {
    this.client.close();
    return Promise.resolve();
  }
}

class RedisDriver implements KvDriver<Buffer | null> {
  readonly system = 'redis';
  readonly clientDescription = `ioredis ${ioredisVersion()}, one connection, enableAutoPipelining: true`;

  constructor(private readonly redis: Redis) {}

  get(key: Buffer): Promise<Buffer | null> {
    return this.redis.getBuffer(key);
  }

  valueOf(result: Buffer | null): Buffer | null {
    return result;
  }

  put(key: Buffer, value: Buffer): Promise<unknown> {
    return this.redis.set(key, value);
  }

  async close(): Promise<void> {
    await this.redis.quit();
  }
}

/** A connected slicekv client: routes fetched, session open (one warm-up op has completed). */
export async function connectSlicekv(address: string, probeKey: Buffer): Promise<KvDriver<Entry | null>> {
  const client = createClient({ seeds: [address] });
  await client.get(probeKey);
  return new SlicekvDriver(client);
}

export async function connectRedis(address: string, probeKey: Buffer): Promise<KvDriver<Buffer | null>> {
  const at = address.lastIndexOf(':');
  const redis = new Redis({
    host: address.slice(0, at), port: Number(address.slice(at + 1)), enableAutoPipelining: true, lazyConnect: true,
    // A benchmark wants errors, not silent reconnects and replays.
    maxRetriesPerRequest: 0, enableOfflineQueue: false,
  });
  await redis.connect();
  await redis.getBuffer(probeKey);
  return new RedisDriver(redis);
}
