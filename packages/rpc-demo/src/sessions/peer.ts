// A session (TCP, TLS, Unix or WebSocket: any transport the session layer carries) as a peer of the
// RpcServer. Over a stream each reply is a ReplyBox handed to session.send(), which the codec encodes
// straight into the connection's output (one write per event-loop turn); over WebSocket a reply is
// encoded at `out` and sent as one message. Also the stream codec's Batch and the input refused.
import { LinkBuffer } from '@nocopy/linkbuffer';
import type { Session } from '@nocopy/transport';
import { RESOLVED } from '@nocopy/transport/util';
import type { Framing, Message } from '../rpc/protocol.js';
import { MessageReader } from '../rpc/protocol.js';
import { NO_PEER, type Peer } from '../rpc/context.js';
import { PeerState } from '../rpc/conn-state.js';

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
  readonly eachReply = true;
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
    // Over a stream the codec encodes each reply straight into the connection's output. (A WebSocket
    // message's writer is no encode target: there a reply is encoded at `out` and sent as one array.)
    if (session.transport === 'tcp') this.reply = this.#sendReply;
    // The peer gone while the input waits at a pause: the session's close waits for that input call,
    // so here its calls are cancelled, the input released and the rest of its batch dropped. As over
    // the EventLoop, a FIN counts only from our client (it ends a connection once it waits for no
    // call); a plain peer may half-close and still read its replies.
    const socket = session.connection?.socket;
    socket?.once('close', this.#peerGone);
    socket?.once('end', () => {
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

  hold(): void {
    this.#held++;
  }

  unhold(): void {
    if (this.#held > 0 && --this.#held === 0) this.#settleIdle();
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

  /** The async reply was sent as it was written (eachReply): its call's hold goes now. */
  queueFlush(): void {
    this.unhold();
    if (this.failed !== null && this.inFlight === 0) this.end();
  }

  sendOut(): void {
    const out = this.out;
    out.flush();
    if (out.length === 0) return;
    this.#track(this.session.send(out.readBinary(out.length)));
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    // What was written and not yet sent (the refusal's answer) goes before the FIN.
    if (!this.out.closed) this.sendOut();
    this.session.close(this.failed);
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
