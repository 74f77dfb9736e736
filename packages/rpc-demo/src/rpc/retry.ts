// Retries of calls whose connection dropped after the request was sent. Only an idempotent method
// may run twice, so only those are retried (on another server when there is one), within the call's
// deadline and a budget: grpc's retry throttling, a token bucket where every retried failure spends
// a token and every success gives back `tokenRatio` of one; retries stop while the bucket is at or
// below half. A fleet that is failing as a whole thus gets little extra load from retries, while
// a single server lost under load has its calls moved elsewhere.
import { InvalidOptionError } from '@nocopy/transport';
import { checkCount } from '@nocopy/transport/util';

export interface RetryOptions {
  /** Methods that may run more than once, or a predicate. Also per call: `{ idempotent: true }`; and a server may announce its own (register(..., { idempotent: true })). */
  idempotent?: readonly string[] | ((method: string) => boolean);
  /** Attempts per call at most, the first included. Default 3. */
  maxAttempts?: number;
  /** The retry budget: tokens at most (default 100) and what a success gives back (default 0.1). */
  budget?: { maxTokens?: number; tokenRatio?: number };
}

export class RetryPolicy {
  readonly maxAttempts: number;
  readonly maxTokens: number;
  readonly tokenRatio: number;
  readonly #idempotent: (method: string) => boolean;
  #tokens: number;
  /** Calls retried, and retries refused by the budget. */
  retried = 0;
  throttled = 0;

  constructor(o: RetryOptions | undefined) {
    if (o !== undefined && (o === null || typeof o !== 'object')) throw new InvalidOptionError('retry', o, 'an object');
    const idem = o?.idempotent;
    if (idem === undefined) this.#idempotent = () => false;
    else if (typeof idem === 'function') this.#idempotent = idem;
    else if (Array.isArray(idem) && idem.every((m) => typeof m === 'string')) {
      const set = new Set(idem);
      this.#idempotent = (m) => set.has(m);
    } else throw new InvalidOptionError('retry.idempotent', idem, 'an array of method names or a function');
    this.maxAttempts = checkCount('retry.maxAttempts', o?.maxAttempts, 3);
    this.maxTokens = checkCount('retry.budget.maxTokens', o?.budget?.maxTokens, 100);
    const ratio = o?.budget?.tokenRatio ?? 0.1;
    if (typeof ratio !== 'number' || !(ratio > 0 && ratio <= 1)) throw new InvalidOptionError('retry.budget.tokenRatio', ratio, 'a number above 0, at most 1');
    this.tokenRatio = ratio;
    this.#tokens = this.maxTokens;
  }

  /** The client's own list (or predicate) says `method` is idempotent. */
  idempotent(method: string): boolean {
    return this.#idempotent(method);
  }

  /** Tokens left now. */
  get tokens(): number {
    return this.#tokens;
  }

  /** A call succeeded: a share of a token back. */
  succeeded(): void {
    if (this.#tokens < this.maxTokens) this.#tokens = Math.min(this.maxTokens, this.#tokens + this.tokenRatio);
  }

  /** A retryable failure: spends a token; true when the budget still allows the retry. */
  allow(): boolean {
    this.#tokens = Math.max(0, this.#tokens - 1);
    if (this.#tokens > this.maxTokens / 2) {
      this.retried++;
      return true;
    }
    this.throttled++;
    return false;
  }
}
