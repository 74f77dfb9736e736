// Message routing (tao's handler registry): handlers registered per message type, and a listener
// whose onMessage dispatches each message to the handler of its type.
import { UnknownMessageTypeError } from '../errors.js';
import type { SessionListener } from './listener.js';
import type { Session } from './session.js';

export type RouteHandler<M, Out> = (session: Session<M, Out>, message: M) => void | Promise<void>;

export class Router<M, Out = M, T = unknown> {
  readonly #typeOf: (message: M) => T;
  readonly #routes = new Map<T, RouteHandler<M, Out>>();

  /** `typeOf` tells a message's type (for TLV messages: `(m) => m.type`). */
  constructor(typeOf: (message: M) => T) {
    this.#typeOf = typeOf;
  }

  /** Routes messages of `type` to `handler`; a second handler for a type replaces the first. */
  on(type: T, handler: RouteHandler<M, Out>): this {
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    this.#routes.set(type, handler);
    return this;
  }

  off(type: T): this {
    this.#routes.delete(type);
    return this;
  }

  /** Calls the handler of the message's type; a type with none throws UnknownMessageTypeError (onError, and the session closes). */
  dispatch(session: Session<M, Out>, message: M): void | Promise<void> {
    const type = this.#typeOf(message);
    const handler = this.#routes.get(type);
    if (handler === undefined) throw new UnknownMessageTypeError(type);
    return handler(session, message);
  }

  /** A listener that routes every message; the other callbacks come from `rest`. */
  listener(rest: Omit<SessionListener<M, Out>, 'onMessage'> = {}): SessionListener<M, Out> {
    return { ...rest, onMessage: (session, message) => this.dispatch(session, message) };
  }
}
