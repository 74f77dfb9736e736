// Process warnings for errors nobody takes: named and coded as documented, and rate limited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createWarner } from '../src/util/index.js';
import { RawClient, serve, until, within } from './helpers.js';

function collectWarnings(t: { after: (fn: () => void) => void }): Error[] {
  const seen: Error[] = [];
  const on = (w: Error) => seen.push(w);
  process.on('warning', on);
  t.after(() => process.off('warning', on));
  return seen;
}

test('an unhandled handler error becomes a NocopyWarning with code NOCOPY_HANDLER_ERROR', { timeout: 10_000 }, async (t) => {
  const seen = collectWarnings(t);
  const { loop, port } = await serve(() => {
    throw new RangeError('handler failed');
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  c.socket.write('x');
  await within(c.closed, 3000, 'the close');
  await until(() => seen.length === 1, 'the warning');
  const w = seen[0]! as Error & { code?: string };
  assert.equal(w.name, 'NocopyWarning');
  assert.equal(w.code, 'NOCOPY_HANDLER_ERROR');
  assert.match(w.message, /^RangeError: handler failed$/);
});

test('warnings are rate limited: a burst, then one summary of the suppressed ones', { timeout: 10_000 }, async (t) => {
  const seen = collectWarnings(t);
  const warn = createWarner({ code: 'TEST_FLOOD', burst: 5, intervalMs: 300 });
  for (let i = 0; i < 100; i++) warn(Object.assign(new Error(`peer ${i} misbehaved`), { code: 'ERR_X' }));
  // The burst is emitted at once; process 'warning' follows on the next tick, before this turn ends.
  await new Promise((r) => setImmediate(r));
  assert.equal(seen.filter((w) => (w as { code?: string }).code === 'TEST_FLOOD').length, 5);
  assert.match(seen[0]!.message, /^Error \[ERR_X\]: peer 0 misbehaved$/);
  await until(() => seen.length === 6, 'the summary', 2000);
  assert.match(seen[5]!.message, /^95 more warning\(s\) like the ones above were suppressed/);
  // A new interval lets warnings through again.
  warn('later');
  await until(() => seen.length === 7, 'the next warning');
  assert.equal(seen[6]!.message, 'later');
});
