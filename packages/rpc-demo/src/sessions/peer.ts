// A session (TCP, TLS, Unix or WebSocket: any transport the session layer carries) as a peer of the
// RpcServer. Over a stream each reply is a ReplyBox handed to session.send(), which the codec encodes
// straight into the connection's output (one write per event-loop turn); over WebSocket a reply is
// encoded at `out` and sent as one message. Also the stream codec's Batch and the input refused.
//
// A plain peer over a stream may half-close (FIN) and still read its replies, as MessagePack-RPC
// peers do: its calls in flight hold the connection open, and once the session no longer sends
// (a peer's FIN makes it inactive) replies go to the connection's writer directly.
import { LinkBuffer } from '@nocopy/linkbuffer';
import type { Connection, Session } from '@nocopy/transport';
import { RESOLVED, noop } from '@nocopy/transport/util';
import type { Framing, Message } from '../rpc/protocol.js';
import { MessageReader, endResponses } from '../rpc/protocol.js';
import { NO_PEER, type Peer } from '../rpc/context.js';
import { PeerState } from '../rpc/peer-state.js';
import { type ReplyTarget, writeReply } from '../rpc/reply.js';

/** How long a stream peer ended for malformed input may take to close after our FIN before it is cut. */
const FAILED_LINGER = 2000;

/** Input that did not decode: the session's codec hands it on as a message, so that the server answers and ends the peer gracefully. */
export class Refused {
  readonly error: unknown;
  constructor(error: unknown) {
    this.error = error;
  }
}

/**
 * The messages of one read over a stream, decoded in one pass (MessageReader.read, in place for
 * 'framed' input) and delivered as one session message; reused per peer. `refused`: the input after
 * them did not decode.
 */
export class Batch {
  readonly messages: (Message | undefined)[] = [];
  at = 0;
  refused: unknown = undefined;
  /** MessageReader's callback: false stops the read at BATCH_MAX messages (the rest stays in the input). */
  readonly add = (m: Message): boolean => this.messages.push(m) < BATCH_MAX;
}

/** Messages per batch at most: what one read decodes before its calls run stays bounded. */
const BATCH_MAX = 1024;

/** What a peer's session decodes: a message (a batch of them over a stream), or the reason its input was refused. */
export type PeerInput = Message | Batch | Refused;

/** A reply for the codec to encode into the session's output, reused per peer (send() encodes at once). */
export class ReplyBox {
  readonly framing: Framing;
  readonly max: number;
  id = 0;
  err: unknown = null;
  result: unknown = null;
  /** In a batch: the reply goes on in the region of the one before (endResponses() closes it). */
  keep = false;
  /** Set by the encoding: the answer sent is an error. */
  failed = false;
  constructor(framing: Framing, max: number) {
    this.framing = framing;
    this.max = max;
  }
}

/** What a peer's session sends: a reply, or bytes written for the peer. */
export type PeerOutput = ReplyBox | Uint8Array;

function peerOf(a: string | undefined): Peer {
  // "ip:port" or "[v6]:port"; undefined over a Unix socket.
  const colon = a === undefined ? -1 : a.lastIndexOf(':');
  if (colon < 0) return NO_PEER;
  const bracketed = a!.startsWith('[');
  return Object.freeze({ address: a!.slice(bracketed ? 1 : 0, bracketed ? colon - 1 : colon), port: Number(a!.slice(colon + 1)) });
}

export class SessionPeer extends PeerState {
  readonly session: Session<PeerInput, PeerOutput>;
  readonly peer: Peer;
  readonly out = new LinkBuffer();
  readonly framing: Framing;
  /** This peer's decoder (a stream transport; a message transport decodes each message whole). */
  readonly messages: MessageReader;
  /** The connection under a stream session (undefined over WebSocket). */
  readonly #conn: Connection<unknown> | undefined;
  /** Sends that wait for the peer to read (the socket holds maxOutboundBytes, or ws's buffer is full). */
  #sending = 0;
  readonly #sent = (): void => {
    if (--this.#sending !== 0) return;
    // The server resumes a peer it paused; one paused for output alone goes on here.
    this.onFlushed?.();
    if (!this.paused) this.redispatch();
  };
  #resume: (() => void) | null = null;
  /** Calls in flight and their replies: shutdown waits for them (whenIdle). */
  #held = 0;
  #idle: (() => void)[] = [];
  #ended = false;
  readonly #box: ReplyBox;
  /** The stream codec's batch of decoded messages. */
  readonly batch = new Batch();
  /** A batch is being delivered: its sync replies share a region of the output. */
  inBatch = false;
  /** The session is gone (gone() ran): what is left of a batch is dropped. */
  isGone = false;

  constructor(session: Session<PeerInput, PeerOutput>, framing: Framing, maxMessageSize: number) {
    super();
    this.session = session;
    this.framing = framing;
    this.messages = new MessageReader(framing, maxMessageSize);
    this.peer = peerOf(session.remoteAddress);
    this.#box = new ReplyBox(framing, maxMessageSize);
    this.#conn = session.connection;
    // Over a stream the codec encodes each reply straight into the connection's output. (A WebSocket
    // message's writer is no encode target: there a reply is encoded at `out` and sent as one array.)
    if (session.transport === 'tcp') this.reply = this.#sendReply;
    // The peer gone while the input waits at a pause: the session's close waits for that input call,
    // so here, at the session's signal (any transport), its calls are cancelled, the input released
    // and the rest of its batch dropped. A FIN counts only from our client (it ends a connection
    // once it waits for no call); a plain peer may half-close and still read its replies.
    session.signal.addEventListener('abort', this.#peerGone, { once: true });
    session.connection?.socket.once('end', () => {
      if (this.extPeer) this.#peerGone();
    });
  }

  readonly #peerGone = (): void => {
    this.isGone = true;
    this.cancelCalls();
    this.redispatch();
  };

  /** A reply through the session (encoded into its output by the codec), not through `out`. */
  readonly #sendReply = (id: number, err: unknown, result: unknown): boolean => {
    if (!this.session.isActive()) return this.#halfOpenReply(id, err, result);
    const box = this.#box;
    box.id = id;
    box.err = err;
    box.result = result;
    // A region stays open only while the output does not wait: a waiting send() flushes at once.
    box.keep = this.inBatch && this.session.connection?.writer.waiting === false;
    box.failed = false;
    this.#track(this.session.send(box));
    box.err = box.result = null;
    return box.failed;
  };

  /**
   * The session no longer sends (the peer's FIN, or it is closing): a plain peer that half-closed
   * still reads, so while the connection's writer is open the reply is written there and sent.
   */
  #halfOpenReply(id: number, err: unknown, result: unknown): boolean {
    const w = this.#halfOpenWriter();
    if (w === null) return false;
    endResponses(); // a batch's region ends before this reply
    const failed = writeReply(w as unknown as ReplyTarget, this.framing, id, err, result, this.#box.max, false);
    w.flush().catch(noop);
    return failed;
  }

  #halfOpenWriter(): Connection<unknown>['writer'] | null {
    const c = this.#conn;
    return c === undefined || c.writer.closed || c.writeEnded ? null : c.writer;
  }

  #track(p: Promise<void>): void {
    // Only a send that waits for the peer counts against MAX_SENDING.
    if (p === RESOLVED) return;
    this.#sending++;
    p.then(this.#sent, this.#sent);
  }

  /**
   * A peer that does not read its replies: decoding pauses until the socket takes them, as a TCP
   * connection of the EventLoop stops reading while its output waits (and the writeTimeout cuts a
   * peer that never reads).
   */
  get waiting(): boolean {
    return this.#sending > 0;
  }

  /** A call in flight: it holds the connection open too (a drain, or the peer's half-close, waits for it). */
  hold(): void {
    this.#held++;
    this.#conn?.hold();
  }

  unhold(): void {
    if (this.#held === 0) return;
    this.#conn?.unhold();
    if (--this.#held === 0) this.#settleIdle();
  }

  /** Resolves once no call of this peer is in flight (or the session is gone). */
  whenIdle(): Promise<void> {
    return this.#held === 0 ? RESOLVED : new Promise((resolve) => this.#idle.push(resolve));
  }

  #settleIdle(): void {
    const waiters = this.#idle;
    this.#idle = [];
    for (const w of waiters) w();
  }

  /** The session's next message waits for this (the server paused at maxInFlight). */
  whenResumed(): Promise<void> {
    return new Promise((resolve) => (this.#resume = resolve));
  }

  redispatch(): void {
    const r = this.#resume;
    this.#resume = null;
    r?.();
  }

  /**
   * An async reply went to session.send(): its call's hold goes once the session has flushed it (a
   * microtask queued before this one), so that a connection that closes at the last unhold (drain,
   * half-close) has the reply on the socket first. One microtask per turn for every reply.
   */
  queueFlush(): void {
    if (this.#releasing++ === 0) queueMicrotask(this.#release);
  }

  #releasing = 0;
  readonly #release = (): void => {
    const n = this.#releasing;
    this.#releasing = 0;
    for (let i = 0; i < n; i++) this.unhold();
    if (this.failed !== null && this.inFlight === 0) this.end();
  };

  sendOut(): void {
    const out = this.out;
    out.flush();
    if (out.length === 0) return;
    const bytes = out.readBinary(out.length);
    if (this.session.isActive()) {
      this.#track(this.session.send(bytes));
      return;
    }
    const w = this.#halfOpenWriter();
    if (w === null) return;
    endResponses();
    w.writeBinary(bytes);
    w.flush().catch(noop);
  }

  /**
   * After a decode error, once every call decoded before it is answered: the replies, then a FIN.
   * Over a stream the end is graceful, so that the peer reads them (an abort sends a reset, and a
   * peer still writing would lose replies that had reached it); its input is dropped meanwhile (the
   * codec), and a peer that does not close within FAILED_LINGER is cut off.
   */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    // What was written and not yet sent (the refusal's answer) goes before the FIN.
    if (!this.out.closed) this.sendOut();
    const conn = this.#conn;
    const err = this.failed;
    if (conn === undefined) {
      this.session.close(err);
      return;
    }
    // The reason it ends, for the session's onClose and the diagnostics channel.
    if (conn.error === undefined) conn.error = err;
    const abort = () => conn.close(err);
    const timer = setTimeout(abort, FAILED_LINGER).unref();
    conn.addCloseCallback(() => clearTimeout(timer));
    conn.closeWrite().catch(abort);
  }

  /** The session closed: nothing is held any more, a paused input loop is released, the buffer goes back to the pool. */
  gone(): void {
    this.isGone = true;
    this.#held = 0;
    this.#settleIdle();
    this.redispatch();
    this.out.close();
  }
}
