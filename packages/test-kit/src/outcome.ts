// A promise's settled outcome without an unhandled rejection in between, and an error's stable
// `code`: shared by the RPC, fault and soak tests, which count how calls end.
import assert from 'node:assert/strict';

export type Outcome<T = unknown> = { ok: true; value: T } | { ok: false; error: unknown };

/** The settled outcome of a promise, without an unhandled rejection in between. */
export function outcome<T = unknown>(p: Promise<T>): Promise<Outcome<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The error's stable `code` (a string like ERR_CONN_CLOSED); fails the test if it has none. */
export function codeOf(err: unknown): string {
  const code = errorCode(err);
  assert.equal(typeof code, 'string', `an error without a string code: ${String(err)}`);
  assert.match(code!, /^[A-Z][A-Z0-9_]+$/, `not an error code: ${String(code)}`);
  return code!;
}

/** The error's `code` when it is a string, else undefined (for counting, where a missing code is data). */
export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}
