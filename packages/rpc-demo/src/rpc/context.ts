// What a handler knows about its call besides the params: `this` in a handler (a `function` or a
// method; arrow functions ignore it, so `(a, b) => a + b` handlers are unchanged). One object per
// call; the AbortSignal is made only when a handler asks for `signal`. The server hooks an async
// call ([kWatch]) to free its in-flight slot as soon as it is cancelled, and sweeps the deadlines of
// its calls, so that a handler ignoring its signal cannot hold the slot past them.
import { CallCancelledError } from '../errors.js';
import { type Metadata, NO_METADATA } from './extensions.js';

export interface Peer {
  /** The peer's IP address (undefined on a Unix socket). */
  address: string | undefined;
  port: number | undefined;
}

/** Why a call's signal aborted: `reason.code` is one of these. */
export type CancelCode = 'ERR_RPC_CANCELLED' | 'ERR_RPC_DEADLINE' | 'ERR_CONN_CLOSED';

/** @internal The server's hook on an async call: `onCancel` runs once if the call is cancelled before it settles. */
export const kWatch = Symbol('nocopy.rpc.watch');
/** @internal Whether the server's onCancel hook ran (the call was abandoned: its reply is dropped). */
export const kAbandoned = Symbol('nocopy.rpc.abandoned');

export class CallContext {
  /** The method called. */
  readonly method: string;
  /** The request's msgid (-1 for a notification). */
  readonly id: number;
  /** The call's params; middleware may replace them before next(). */
  params: unknown[];
  /** String metadata the caller sent (trace ids, auth tokens); empty from plain MessagePack-RPC peers. */
  readonly metadata: Metadata;
  /** When the caller gives up, in Date.now() ms; Infinity when it set no deadline. */
  readonly deadline: number;
  readonly peer: Peer;
  /** Per-connection values shared by every call on it (set by middleware: the authenticated user, say). */
  readonly attributes: Map<string, unknown>;
  #controller: AbortController | null = null;
  #timer: NodeJS.Timeout | null = null;
  #reason: Error | null = null;
  #done = false;
  #onCancel: ((ctx: CallContext, code: CancelCode) => void) | null = null;
  /** @internal */
  [kAbandoned] = false;

  constructor(method: string, id: number, params: unknown[], metadata: Metadata, deadline: number, peer: Peer, attributes: Map<string, unknown>) {
    this.method = method;
    this.id = id;
    this.params = params;
    this.metadata = metadata;
    this.deadline = deadline;
    this.peer = peer;
    this.attributes = attributes;
  }

  /**
   * Aborted when the client cancels the call (it aborted or timed out), when the deadline passes, or
   * when the connection closes; `signal.reason` is a CallCancelledError whose `code` says which.
   */
  get signal(): AbortSignal {
    let c = this.#controller;
    if (c === null) {
      c = this.#controller = new AbortController();
      if (this.#reason !== null) c.abort(this.#reason);
      else if (this.deadline !== Infinity && !this.#done) {
        const left = this.deadline - Date.now();
        if (left <= 0) c.abort(cancelReason('ERR_RPC_DEADLINE', this.method));
        else this.#timer = setTimeout(() => this.cancel('ERR_RPC_DEADLINE'), Math.min(left, 2 ** 31 - 1)).unref();
      }
    }
    return c.signal;
  }

  /** Whether the call was cancelled (by the client, its deadline or the connection's close). */
  get cancelled(): boolean {
    return this.#reason !== null || (this.deadline !== Infinity && Date.now() >= this.deadline);
  }

  /** Aborts the call's signal (once). */
  cancel(code: CancelCode): void {
    if (this.#reason !== null || this.#done) return;
    this.#reason = cancelReason(code, this.method);
    this.#clearTimer();
    this.#controller?.abort(this.#reason);
    const f = this.#onCancel;
    if (f !== null) {
      this.#onCancel = null;
      this[kAbandoned] = true;
      f(this, code);
    }
  }

  /**
   * @internal The server runs `onCancel` once if this call (its handler still running) is cancelled:
   * by the client, the connection, or its deadline (the signal's timer, or the server's sweep).
   */
  [kWatch](onCancel: (ctx: CallContext, code: CancelCode) => void): void {
    if (!this.#done && this.#reason === null) this.#onCancel = onCancel;
  }

  /** The call settled: its deadline timer goes. */
  finish(): void {
    this.#done = true;
    this.#onCancel = null;
    this.#clearTimer();
  }

  #clearTimer(): void {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
    }
  }
}

function cancelReason(code: CancelCode, method: string): Error {
  return new CallCancelledError(method, code);
}

export const NO_PEER: Peer = Object.freeze({ address: undefined, port: undefined });
export { NO_METADATA };
