// The slicekv client (DESIGN.md §1, §4, §5): fetches the routing table from any pod, routes each
// key by its hash to the owner of its range, batches and pipelines per pod session, re-routes
// on WRONG_RANGE, and gives every mutation a RIFL sequence number so that retries — after a
// re-route, a lost connection or an overloaded pod — are applied at most once.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { KeyHasher } from '../proto/keyspace/hash.js';
import { RouteTable } from '../proto/keyspace/routes.js';
import { routeFromMessage, type RouteMessage } from '../proto/messages.js';
import { Opcode, WireStatus, type ResultReader } from '../proto/wire/index.js';
import { ClientSession, type SessionOwner } from './clientSession.js';
import { SlicekvError, type SlicekvErrorCode } from './errors.js';
import { PendingOp, type OpResult } from './pendingOp.js';
import { RouteMoves } from './routeMoves.js';
import { SequenceTracker } from './sequenceTracker.js';

export interface ClientOptions {
  /** Pod addresses (host:port) to fetch routes from; any live one will do. */
  readonly seeds: readonly string[];
  /** This client's zone, counted by pods for locality placement. */
  readonly zone?: string;
  /** Default per-call deadline. */
  readonly timeoutMs?: number;
  /** Attempts per op across re-routes and retries before SLICEKV_RETRIES_EXHAUSTED. */
  readonly attemptsMax?: number;
}

export interface CallOptions {
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface Entry {
  value: Buffer;
  version: number;
}

export type CasResult = { ok: true; version: number } | { ok: false; currentVersion: number };

/** Outstanding mutation seqs per client: the pods' default RIFL window (dataplane/rifl, windowMax). */
const RIFL_WINDOW_MAX = 512;
const BACKOFF_MS_BASE = 2;
const BACKOFF_MS_MAX = 200;

export class SlicekvClient implements SessionOwner {
  /** RIFL client id; replaced (with a fresh sequence) when a pod says our lease expired. */
  private id = randomBytes(16);
  private generation = 0;
  idRotations = 0;
  readonly zone: string;
  private routes: RouteTable | null = null;
  private refreshing: Promise<void> | null = null;
  private readonly sessions = new Map<string, ClientSession>();
  private readonly channels = new Map<string, grpc.Client>();
  private sequences = new SequenceTracker();
  /**
   * Every pod address a routing table named: asked for routes too, so the client still finds
   * the cluster when its seeds are gone (a seed pod died, its ranges moved). Bounded by the
   * cluster's pod count over the client's life.
   */
  private readonly knownAddresses = new Set<string>();
  /** An owner address a WRONG_RANGE named: asked first at the next route refresh. */
  private routeHint: string | null = null;
  /** Moves learned from WRONG_RANGE, applied over fetched tables until they catch up. */
  private readonly moves = new RouteMoves();
  /** Mutations waiting for room in the RIFL window, in call order. */
  private readonly windowWaiting: PendingOp[] = [];
  private readonly hasher = new KeyHasher();
  private readonly timeoutMs: number;
  private readonly attemptsMax: number;
  private closed = false;

  constructor(private readonly options: ClientOptions) {
    if (options.seeds.length === 0) throw new SlicekvError('SLICEKV_INVALID_ARGUMENT', 'at least one seed address is needed');
    this.zone = options.zone ?? '';
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.attemptsMax = options.attemptsMax ?? 16;
  }

  // ---- API -----------------------------------------------------------------------------------

  async get(key: Buffer | string, options?: CallOptions): Promise<Entry | null> {
    const r = await this.call(Opcode.GET, key, null, 0, 0, options);
    if (r.status === WireStatus.NOT_FOUND) return null;
    return { value: r.value ?? Buffer.alloc(0), version: r.version };
  }

  async put(key: Buffer | string, value: Buffer | string, options?: CallOptions): Promise<{ version: number }> {
    const r = await this.call(Opcode.PUT, key, toBuffer(value), 0, 0, options);
    return { version: r.version };
  }

  /** Deletes the key; false if it did not exist. */
  async delete(key: Buffer | string, options?: CallOptions): Promise<boolean> {
    const r = await this.call(Opcode.DELETE, key, null, 0, 0, options);
    return r.status === WireStatus.OK;
  }

  /** Writes only if the key's version is `expectedVersion` (0: only if absent). */
  async putIfVersion(key: Buffer | string, value: Buffer | string, expectedVersion: number, options?: CallOptions): Promise<CasResult> {
    const r = await this.call(Opcode.PUT_IF_VERSION, key, toBuffer(value), expectedVersion, 0, options);
    return r.status === WireStatus.OK ? { ok: true, version: r.version } : { ok: false, currentVersion: r.version };
  }

  /** Deletes only if the key's version is `expectedVersion`. */
  async deleteIfVersion(key: Buffer | string, expectedVersion: number, options?: CallOptions): Promise<CasResult> {
    const r = await this.call(Opcode.DELETE_IF_VERSION, key, null, expectedVersion, 0, options);
    if (r.status === WireStatus.OK) return { ok: true, version: 0 };
    return { ok: false, currentVersion: r.status === WireStatus.NOT_FOUND ? 0 : r.version };
  }

  /** Adds `delta` to the key's decimal integer value (a missing key counts as 0); returns the new value. */
  async incrBy(key: Buffer | string, delta: number | bigint, options?: CallOptions): Promise<number | bigint> {
    const r = await this.call(Opcode.INCR_BY, key, null, 0, delta, options);
    return r.integer;
  }

  mget(keys: readonly (Buffer | string)[], options?: CallOptions): Promise<(Entry | null)[]> {
    return Promise.all(keys.map((key) => this.get(key, options)));
  }

  async mput(entries: readonly [Buffer | string, Buffer | string][], options?: CallOptions): Promise<void> {
    await Promise.all(entries.map(([key, value]) => this.put(key, value, options)));
  }

  /** The routing table currently in use (fetching it if needed). */
  async routeTable(): Promise<RouteTable> {
    if (this.routes === null) await this.refreshRoutes();
    if (this.routes === null) throw new SlicekvError('SLICEKV_NO_ROUTES', 'no routes');
    return this.routes;
  }

  close(): void {
    this.closed = true;
    for (const session of this.sessions.values()) session.close();
    for (const channel of this.channels.values()) channel.close();
  }

  // ---- dispatch ------------------------------------------------------------------------------

  private call(opcode: Opcode, key: Buffer | string, value: Buffer | null, expectedVersion: number, delta: number | bigint,
    options: CallOptions | undefined): Promise<OpResult> {
    if (this.closed) return Promise.reject(new SlicekvError('SLICEKV_CLOSED', 'the client is closed'));
    const keyBytes = toBuffer(key);
    return new Promise<OpResult>((resolve, reject) => {
      const op = new PendingOp(opcode, keyBytes, value, expectedVersion, delta, 0, { resolve, reject });
      this.hasher.hashKey(keyBytes, 0, keyBytes.length);
      op.hashHi = this.hasher.hi;
      op.hashLo = this.hasher.lo;
      this.arm(op, options);
      if (opcode === Opcode.GET) void this.dispatch(op);
      else this.admit(op);
    });
  }

  /**
   * Gives a mutation its seq and sends it once fewer than RIFL_WINDOW_MAX seqs are outstanding;
   * until then it waits here in order. A pod refuses mutations beyond its window (OVERLOADED), so
   * sending more would only buy retries.
   */
  private admit(op: PendingOp): void {
    if (this.windowWaiting.length === 0 && this.sequences.span < RIFL_WINDOW_MAX) {
      op.seq = this.sequences.take();
      op.generation = this.generation;
      void this.dispatch(op);
    } else {
      this.windowWaiting.push(op);
    }
  }

  private admitWaiting(): void {
    while (this.windowWaiting.length > 0 && this.sequences.span < RIFL_WINDOW_MAX) {
      const op = this.windowWaiting.shift() as PendingOp;
      op.seq = this.sequences.take();
      op.generation = this.generation;
      void this.dispatch(op);
    }
  }

  /** Deadline and abort for the caller's promise; the op itself continues to a final result. */
  private arm(op: PendingOp, options: CallOptions | undefined): void {
    const timeoutMs = options?.timeoutMs ?? this.timeoutMs;
    op.deadline = setTimeout(() => op.reject(new SlicekvError('SLICEKV_TIMEOUT', `no answer within ${timeoutMs} ms`)), timeoutMs);
    op.deadline.unref();
    const signal = options?.signal;
    if (signal === undefined) return;
    if (signal.aborted) op.reject(new SlicekvError('SLICEKV_ABORTED', 'aborted'));
    else signal.addEventListener('abort', () => op.reject(new SlicekvError('SLICEKV_ABORTED', 'aborted')), { once: true });
  }

  private async dispatch(op: PendingOp): Promise<void> {
    if (this.closed) {
      this.finish(op, new SlicekvError('SLICEKV_CLOSED', 'the client is closed'));
      return;
    }
    if (op.seq > 0 && op.generation !== this.generation) {
      this.finish(op, new SlicekvError('SLICEKV_SESSION_EXPIRED',
        'a pod expired this client\'s lease while the op was outstanding; whether it was applied is unknown'));
      return;
    }
    if (++op.attempts > this.attemptsMax) {
      this.finish(op, new SlicekvError('SLICEKV_RETRIES_EXHAUSTED', `no pod served the op in ${this.attemptsMax} attempts`));
      return;
    }
    const redirect = op.redirect;
    if (redirect !== null) {
      op.redirect = null;
      op.view = redirect.view;
      this.sessionFor(redirect.address).enqueueSoon(op);
      return;
    }
    try {
      const routes = await this.routeTable();
      const route = routes.find(op.hashHi, op.hashLo);
      op.view = route.view;
      this.sessionFor(route.address).enqueue(op);
    } catch (error) {
      this.retryLater(op, error instanceof SlicekvError ? error : new SlicekvError('SLICEKV_NO_ROUTES', String(error)));
    }
  }

  private sessionFor(address: string): ClientSession {
    let session = this.sessions.get(address);
    if (session === undefined || session.isClosed) {
      let channel = this.channels.get(address);
      if (channel === undefined) {
        channel = ClientSession.channelFor(address);
        this.channels.set(address, channel);
      }
      session = new ClientSession(address, this, channel);
      this.sessions.set(address, session);
    }
    return session;
  }

  private retryLater(op: PendingOp, lastError: SlicekvError): void {
    if (op.attempts >= this.attemptsMax) {
      this.finish(op, lastError);
      return;
    }
    const delayMs = Math.min(BACKOFF_MS_MAX, BACKOFF_MS_BASE * 2 ** op.attempts) * (0.5 + Math.random() / 2);
    setTimeout(() => void this.dispatch(op), delayMs).unref();
  }

  /** Ends an op with an error: its seq is complete (the pod will not run it, or already said so). */
  private finish(op: PendingOp, error: SlicekvError): void {
    if (op.seq > 0 && op.generation === this.generation) this.sequences.complete(op.seq);
    op.reject(error);
    this.admitWaiting();
  }

  // ---- routes --------------------------------------------------------------------------------

  private refreshRoutes(): Promise<void> {
    if (this.refreshing !== null) return this.refreshing;
    this.refreshing = this.fetchRoutes().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async fetchRoutes(): Promise<void> {
    const hint = this.routeHint;
    this.routeHint = null;
    const candidates = [...new Set([...(hint === null ? [] : [hint]), ...(this.routes?.addresses() ?? []), ...this.knownAddresses, ...this.options.seeds])];
    let lastError: unknown = null;
    for (const address of candidates) {
      try {
        const reply = await this.getRoutesFrom(address);
        if (reply.length === 0) continue;
        this.routes = this.moves.apply(new RouteTable(reply.map(routeFromMessage)));
        for (const known of this.routes.addresses()) this.knownAddresses.add(known);
        return;
      } catch (error) {
        lastError = error;
      }
    }
    throw new SlicekvError('SLICEKV_NO_ROUTES', `no pod answered GetRoutes (${String(lastError)})`);
  }

  private getRoutesFrom(address: string): Promise<RouteMessage[]> {
    let channel = this.channels.get(address);
    if (channel === undefined) {
      channel = ClientSession.channelFor(address);
      this.channels.set(address, channel);
    }
    const kv = channel as unknown as { GetRoutes(req: object, opts: object, cb: (e: Error | null, r: { routes: RouteMessage[] }) => void): void };
    return new Promise((resolve, reject) => {
      kv.GetRoutes({}, { deadline: Date.now() + 2000 }, (error, reply) => (error ? reject(error) : resolve(reply.routes)));
    });
  }

  /** WRONG_RANGE named `address` as owner at `view`, newer than the op's: follow the move (routeMoves.ts). */
  private followMove(op: PendingOp, address: string, view: number): void {
    op.redirect = { address, view };
    op.followedMove = true;
    if (this.routes !== null) this.routes = this.moves.learn(this.routes, op.hashHi, op.hashLo, view, address);
    this.refreshAfterMove = true;
    void this.dispatch(op);
  }

  /**
   * A move was followed: the routing table is refreshed once a re-routed op is answered, not at
   * once. The refresh asks the new owner first (routeHint), which at that moment is taking the
   * range over, with the re-routed ops on their way to it: a GetRoutes call there (a new HTTP/2
   * stream and a unary handler) went ahead of them. Meanwhile the learned move routes the range.
   */
  private refreshAfterMove = false;

  private followedMoveAnswered(op: PendingOp): void {
    op.followedMove = false;
    if (!this.refreshAfterMove) return;
    this.refreshAfterMove = false;
    void this.refreshRoutes().catch(() => undefined);
  }

  // ---- SessionOwner --------------------------------------------------------------------------

  firstIncomplete(): number {
    return this.sequences.firstIncomplete;
  }

  onResult(op: PendingOp, reader: ResultReader): void {
    if (op.followedMove) this.followedMoveAnswered(op);
    switch (reader.status) {
      case WireStatus.WRONG_RANGE:
        // The pod named the owner it knows: ask that one for routes first (after a migration it
        // is the new owner, and knows its range before the other pods are told).
        if (reader.owner !== '') this.routeHint = reader.owner;
        // A newer view than the op's, with its owner (a migration or split just happened): the op
        // and the ops after it go there at once; the routing table is refreshed meanwhile.
        if (reader.owner !== '' && reader.currentView > op.view) {
          this.followMove(op, reader.owner, reader.currentView);
          return;
        }
        // Re-route at once the first time; after that the routing tables may still be settling
        // (a pod not yet told of a change), so back off between attempts.
        this.routes = null;
        if (op.attempts <= 1) void this.dispatch(op);
        else this.retryLater(op, new SlicekvError('SLICEKV_RETRIES_EXHAUSTED', `WRONG_RANGE until out of attempts (owner ${reader.owner})`));
        return;
      case WireStatus.OVERLOADED:
      case WireStatus.UNAVAILABLE:
        this.retryLater(op, new SlicekvError('SLICEKV_RETRIES_EXHAUSTED', `pod answered ${reader.status} until out of attempts`));
        return;
      default:
        break;
    }
    if (reader.status === WireStatus.SESSION_EXPIRED && op.generation === this.generation) this.rotateId();
    const error = errorFor(reader.status, reader.detail);
    if (error !== null) {
      this.finish(op, error);
      return;
    }
    if (op.seq > 0) this.sequences.complete(op.seq);
    this.admitWaiting();
    op.resolve({
      status: reader.status, detail: reader.detail, version: reader.version,
      value: reader.opcode === Opcode.GET && reader.status === WireStatus.OK ? Buffer.from(reader.value()) : null,
      integer: reader.integer,
    });
  }

  onBatchRefused(ops: PendingOp[], status: string, message: string): void {
    for (const op of ops) {
      if (status === 'BATCH_MALFORMED') this.finish(op, new SlicekvError('SLICEKV_MALFORMED', message));
      else this.retryLater(op, new SlicekvError('SLICEKV_RETRIES_EXHAUSTED', `${status}: ${message}`));
    }
  }

  get clientId(): Buffer {
    return this.id;
  }

  /** A pod refused to open a session for our id: its lease there expired. */
  onSessionExpired(): void {
    this.rotateId();
  }

  /**
   * RIFL: once a pod expired our lease it has dropped our completion records, so the old id can
   * never again tell a retry from a new op. Start over with a new id and sequence; mutations that
   * carry an old seq fail with SLICEKV_SESSION_EXPIRED (their outcome is unknown), reads go on.
   */
  private rotateId(): void {
    this.id = randomBytes(16);
    this.generation++;
    this.idRotations++;
    this.sequences = new SequenceTracker();
    for (const session of this.sessions.values()) session.close();
    this.admitWaiting();
  }

  /**
   * A pod is about to hand a range to `address`: a session there now saves a connection set-up
   * (TCP, HTTP/2, SessionOpen) at the owner switch. Bounded: hints beyond CONNECT_HINT_SESSIONS_MAX
   * open sessions are ignored (ops still go wherever they are sent).
   */
  onConnectHint(address: string): void {
    if (this.closed || this.sessions.has(address) || this.sessions.size >= CONNECT_HINT_SESSIONS_MAX) return;
    this.sessionFor(address);
  }

  onSessionLost(session: ClientSession, ops: PendingOp[]): void {
    if (this.sessions.get(session.address) === session) this.sessions.delete(session.address);
    this.routes = null;
    for (const op of ops) this.retryLater(op, new SlicekvError('SLICEKV_RETRIES_EXHAUSTED', `connection to ${session.address} lost`));
  }
}

/** Sessions beyond which connect hints are ignored. */
const CONNECT_HINT_SESSIONS_MAX = 64;

/** Statuses that end an op with an error; the others are outcomes the API returns. */
const ERROR_CODES: ReadonlyMap<number, SlicekvErrorCode> = new Map([
  [WireStatus.INVALID_ARGUMENT, 'SLICEKV_INVALID_ARGUMENT'],
  [WireStatus.OUT_OF_MEMORY, 'SLICEKV_OUT_OF_MEMORY'],
  [WireStatus.CORRUPT, 'SLICEKV_CORRUPT'],
  [WireStatus.SESSION_EXPIRED, 'SLICEKV_SESSION_EXPIRED'],
]);

function errorFor(status: number, detail: number): SlicekvError | null {
  const code = ERROR_CODES.get(status);
  return code === undefined ? null : new SlicekvError(code, `pod answered status ${status}`, detail);
}

function toBuffer(data: Buffer | string): Buffer {
  return typeof data === 'string' ? Buffer.from(data) : data;
}

export function createClient(options: ClientOptions): SlicekvClient {
  return new SlicekvClient(options);
}
