// Promise helpers every layer needs on its hot paths: one settled promise to return instead of
// allocating one per call, a thenable check that does not assume a native Promise, and a no-op for
// `.catch()` on promises whose rejection is reported elsewhere.

/** One settled promise, returned by calls that have nothing to wait for (no allocation per call). */
export const RESOLVED: Promise<void> = Promise.resolve();

/** Whether `v` is a promise or any object with a `then` method (what `await` would wait for). */
export function isThenable<T = unknown>(v: unknown): v is PromiseLike<T> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

/** Does nothing: the handler for a rejection that is already reported another way. */
export function noop(): void {}

/** A rejected promise that counts as handled: `await` on it throws, ignoring it is not a crash. */
export function rejected(err: unknown): Promise<never> {
  const p = Promise.reject(err);
  p.catch(noop);
  return p;
}
