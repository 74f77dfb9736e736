// One connection of the RPC client as the client layer sees it (a subchannel's link), and one call.
// A link multiplexes calls by msgid over its connection; requests written in the same tick leave in
// one flush. It knows what its server announced in the hello (the extensions, its idempotent
// methods) and whether that server is draining (it sent "$/drain"): then no new call goes to it,
// and it is closed once the calls it carries are answered.
import type { Subchannel } from '@nocopy/transport';
import type { LinkConn } from './ws-link.js';
import { type Framing, type Message, MessageReader, writeMessage } from './protocol.js';
import { CANCEL } from './extensions.js';
import type { Metadata } from './extensions.js';
import type { Due } from './deadline-queue.js';
import type { ClientCallMessage } from './tracing.js';

/**
 * Calls made in the same tick share a connection's flush, up to this many, before the balancer moves
 * on. Spreading every call over the connections cost one socket write per connection per tick.
 */
export const BATCH_PER_LINK = 8;

/** A call from request() to its settling, across waits and retries. */
export interface Call extends Due {
  readonly method: string;
  readonly params: unknown[];
  readonly metadata: Metadata | null;
  readonly signal: AbortSignal | null;
  /** The caller's timeout in ms (0: none), counted from startedAt. */
  readonly timeout: number;
  /** performance.now() when the call was made; 0 when its first attempt needs no clock (sent at once). */
  startedAt: number;
  /** The caller said whether the method is idempotent (undefined: the client's list and the server's announcement decide). */
  readonly idempotent: boolean | undefined;
  readonly waitForReady: boolean;
  /** Internal calls (hello, $health probes) bypass balancing, retries and outlier accounting. */
  readonly internal: boolean;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: unknown) => void;
  link: RpcLink | null;
  id: number;
  /** performance.now() when sent (for outlier latencies), else 0. */
  sentAt: number;
  timer: NodeJS.Timeout | null;
  onAbort: (() => void) | null;
  /** Aborts the call's wait for a ready server. */
  waitAbort: AbortController | null;
  /** Retries made so far. */
  retries: number;
  settled: boolean;
  /** The request carried the extension element (the server speaks cancel). */
  ext: boolean;
  /** Its message on nocopy:rpc:client:call, if published there: told each connection the call is written on. */
  traced: ClientCallMessage | null;
}

const NO_PEER = Object.freeze({ address: undefined, port: undefined });

export class RpcLink {
  readonly sub: Subchannel<RpcLink>;
  /** A TCP Connection, or a WebSocket one (ws-link.ts). */
  conn!: LinkConn<RpcLink>;
  /** The address dialed ("host:port", a Unix socket path) and the socket's remote end, once connected. */
  endpoint = '';
  peer: { readonly address: string | undefined; readonly port: number | undefined } = NO_PEER;
  readonly pending = new Map<number, Call>();
  readonly messages: MessageReader;
  /** Bound once by the client: the per-message callback of messages.read(). */
  onMessage: (m: Message) => boolean = () => true;
  readonly flush: () => void;
  nextId = 0;
  flushQueued = false;
  /** Requests written since the last flush. */
  batched = 0;
  /** The server announced the extensions (cancel, deadline, metadata, drain). */
  ext = false;
  /** Methods the server announced as idempotent. */
  idempotent: ReadonlySet<string> | null = null;
  /** The server sent "$/drain", or the channel let the link go: closed once pending is empty. */
  retired = false;
  /** Calls that timed out since the last reply on this link. */
  timeouts = 0;
  /** A $health check of this link is under way (after many timeouts). */
  pinging = false;
  /** Resolves once the connection has closed. */
  closed: Promise<void>;
  markClosed!: () => void;

  constructor(sub: Subchannel<RpcLink>, framing: Framing, max: number) {
    this.sub = sub;
    this.messages = new MessageReader(framing, max);
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    this.flush = () => {
      this.flushQueued = false;
      this.batched = 0;
      // A failed flush closes the connection, whose close callback settles the pending calls.
      this.conn.writer.flush().catch(() => {});
    };
  }

  /** Takes new calls: connected, not draining, still its subchannel's link. */
  usable(): boolean {
    return !this.retired && this.sub.link === this && this.conn.isActive();
  }

  nextMsgId(): number {
    let id = this.nextId;
    // 32-bit ids wrap; skip any still pending on this connection.
    do id = (id + 1) >>> 0;
    while (this.pending.has(id));
    this.nextId = id;
    return id;
  }

  scheduleFlush(): void {
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flush);
    }
  }

  /** Retired and idle: close it (gracefully: what was written still goes out, then the FIN). */
  closeIfDone(): void {
    if (this.retired && this.pending.size === 0) this.conn.close();
  }
}

export function onResponses(link: RpcLink, conn: LinkConn<RpcLink>): void {
  try {
    link.messages.read(conn.reader, link.onMessage);
  } catch (err) {
    conn.close(err);
  }
}

/** [2, "$/cancel", [id]] on the call's connection, flushed with the tick's other messages. */
export function cancelRemote(link: RpcLink, id: number, framing: Framing, max: number): void {
  if (!link.conn.isActive()) return;
  try {
    writeMessage(link.conn.writer, framing, [2, CANCEL, [id]], max);
  } catch {
    return; // the connection is closing: the server abandons the call by itself
  }
  link.scheduleFlush();
}

export function newCall(
  method: string,
  params: unknown[],
  metadata: Metadata | null,
  signal: AbortSignal | null,
  timeout: number,
  idempotent: boolean | undefined,
  waitForReady: boolean,
  internal: boolean,
  resolve: (v: unknown) => void,
  reject: (e: unknown) => void,
): Call {
  return { method, params, metadata, signal, timeout, startedAt: 0, idempotent, waitForReady, internal, resolve, reject, link: null, id: 0, sentAt: 0, timer: null, onAbort: null, waitAbort: null, retries: 0, settled: false, ext: false, dueAt: 0, traced: null };
}
