// The open sessions of a server (TCP, UDP or WebSocket): the owner each Session reports to, with the
// counts, iteration and broadcast every server offers, and a wait for all of them to finish.
import { type Session, kFinished, kOpened } from './session.js';

export class SessionSet<In, Out> {
  readonly #live = new Set<Session<In, Out>>();
  #opened = 0;
  #closed = 0;
  #empty: (() => void)[] = [];

  add(s: Session<In, Out>): void {
    this.#live.add(s);
  }

  /** Sessions onOpen accepted. */
  get opened(): number {
    return this.#opened;
  }

  /** Sessions whose onClose has run. */
  get closed(): number {
    return this.#closed;
  }

  get size(): number {
    return this.#live.size;
  }

  values(): IterableIterator<Session<In, Out>> {
    return this.#live.values();
  }

  [Symbol.iterator](): IterableIterator<Session<In, Out>> {
    return this.#live.values();
  }

  /** Sends `message` to every active session (that `filter` accepts); returns how many it went to. */
  broadcast(message: Out, filter?: (s: Session<In, Out>) => boolean): number {
    let n = 0;
    for (const s of this.#live) {
      if (!s.isActive() || (filter !== undefined && !filter(s))) continue;
      void s.send(message);
      n++;
    }
    return n;
  }

  /** Resolves once no session is left (at once if none is). */
  whenEmpty(): Promise<void> {
    if (this.#live.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#empty.push(resolve));
  }

  /** @internal */
  [kOpened](): void {
    this.#opened++;
  }

  /** @internal */
  [kFinished](s: Session<In, Out>): void {
    if (!this.#live.delete(s)) return;
    this.#closed++;
    if (this.#live.size === 0) for (const resolve of this.#empty.splice(0)) resolve();
  }
}
