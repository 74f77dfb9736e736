// ConnectionPool: maxActivePerAddress, the first-come first-served wait queue, get() timeouts and aborts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortError, ConnectionPool, PoolTimeoutError, type Connection } from '../src/index.js';
import { until, within } from './helpers.js';
import { NetEcho, netPool, assertStats, closedOf, hasCode, roundTrip } from './connection-pool-fixtures.js';

test('maxActivePerAddress: concurrent get() calls never dial more than the limit; waiters are served in order', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await netPool(t, { maxActivePerAddress: 2 });
  const order: number[] = [];
  const gets = [0, 1, 2, 3, 4, 5].map((i) =>
    pool.get(srv.address).then((c) => {
      order.push(i);
      return c;
    }),
  );
  assertStats(pool, { idle: 0, active: 0, dialed: 2, reused: 0, evicted: 0, waiting: 4 });
  const c0 = await gets[0]!;
  const c1 = await gets[1]!;
  await until(() => srv.accepted.length === 2, 'the server to accept the two dials');
  assertStats(pool, { idle: 0, active: 2, dialed: 2, reused: 0, evicted: 0, waiting: 4 });
  assert.deepEqual(order.sort(), [0, 1]);

  // Each put() goes straight to the first waiter.
  pool.put(c1);
  pool.put(c0);
  const c2 = await gets[2]!;
  const c3 = await gets[3]!;
  assert.equal(c2, c1);
  assert.equal(c3, c0);
  assertStats(pool, { idle: 0, active: 2, dialed: 2, reused: 2, evicted: 0, waiting: 2 });
  pool.put(c3);
  pool.put(c2);
  const [c4, c5] = await Promise.all([gets[4]!, gets[5]!]);
  assert.equal(c4, c0);
  assert.equal(c5, c1);
  assert.deepEqual(order.slice(2), [2, 3, 4, 5], 'waiters were not served first come, first served');
  for (const c of [c4, c5]) assert.equal(await roundTrip(c, 'served'), 'served');
  assertStats(pool, { idle: 0, active: 2, dialed: 2, reused: 4, evicted: 0, waiting: 0 });
  assert.equal(srv.accepted.length, 2, 'the server saw more connections than the limit');
});

test('maxActivePerAddress: slots freed by closes are redialed for the waiters, in order, never above the limit', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await netPool(t, { maxActivePerAddress: 2 });
  // Client side: how many handed-out connections were not yet closed whenever a get() resolved.
  const all: Connection[] = [];
  let maxOpen = 0;
  const order: number[] = [];
  const gets = Array.from({ length: 8 }, (_, i) =>
    pool.get(srv.address).then((c) => {
      order.push(i);
      all.push(c);
      maxOpen = Math.max(maxOpen, all.filter((x) => !x.closed).length);
      return c;
    }),
  );
  // Each connection is used, then dropped in one of the ways that free a slot.
  const held: Connection[] = [await gets[0]!, await gets[1]!];
  for (let i = 2; i < 8; i++) {
    const c = held.shift()!;
    assert.equal(await roundTrip(c, `m${i}`), `m${i}`);
    if (i % 3 === 0) pool.discard(c);
    else if (i % 3 === 1) (await srv.peerOf(c)).end(); // the server closes it while in use
    else {
      c.close(new Error('broken'));
      pool.put(c);
    }
    held.push(await gets[i]!);
    assert.ok(pool.stats().waiting <= 8 - i - 1);
  }
  assert.deepEqual(order.slice(2), [2, 3, 4, 5, 6, 7]);
  assert.equal(maxOpen, 2, `${maxOpen} connections open at once`);
  assert.equal(pool.stats().dialed, 8);
  assert.equal(srv.accepted.length, 8);
  const s = pool.stats();
  assert.equal(s.active, 2);
  assert.equal(s.waiting, 0);
});

test('the limit is per address: another address dials while one is full', { timeout: 5000 }, async (t) => {
  const s1 = await NetEcho.listen();
  const s2 = await NetEcho.listen();
  const pool = new ConnectionPool({ maxActivePerAddress: 1 });
  t.after(async () => {
    await pool.close();
    await Promise.all([s1.close(), s2.close()]);
  });
  const a = await pool.get(s1.address);
  const waiting = pool.get(s1.address);
  const b = await within(pool.get(s2.address), 2000, 'a get() for another address');
  assert.equal(await roundTrip(b, 'b'), 'b');
  assertStats(pool, { idle: 0, active: 2, dialed: 2, reused: 0, evicted: 0, waiting: 1 });
  pool.put(a);
  assert.equal(await waiting, a);
});

test('a waiter times out with PoolTimeoutError and leaves the queue; the one behind it is still served', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await netPool(t, { maxActivePerAddress: 1 });
  const a = await pool.get(srv.address);
  const impatient = pool.get(srv.address, { timeout: 50 });
  const patient = pool.get(srv.address);
  assertStats(pool, { idle: 0, active: 1, dialed: 1, reused: 0, evicted: 0, waiting: 2 });
  await assert.rejects(impatient, hasCode('ERR_POOL_TIMEOUT', PoolTimeoutError));
  assertStats(pool, { idle: 0, active: 1, dialed: 1, reused: 0, evicted: 0, waiting: 1 });
  pool.put(a);
  assert.equal(await patient, a);
  assertStats(pool, { idle: 0, active: 1, dialed: 1, reused: 1, evicted: 0, waiting: 0 });
  // With nobody waiting any more, the next put() keeps it idle: the timed-out waiter took nothing.
  pool.put(a);
  assertStats(pool, { idle: 1, active: 0, dialed: 1, reused: 1, evicted: 0, waiting: 0 });
});

test('an AbortSignal rejects a waiting get() with ABORT_ERR; an aborted one never dials', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await netPool(t, { maxActivePerAddress: 1 });
  const a = await pool.get(srv.address);
  const ac = new AbortController();
  const aborted = pool.get(srv.address, { signal: ac.signal, timeout: 5000 });
  const next = pool.get(srv.address);
  assert.equal(pool.stats().waiting, 2);
  const reason = new Error('no longer needed');
  ac.abort(reason);
  await assert.rejects(aborted, (err: unknown) => {
    hasCode('ABORT_ERR', AbortError)(err);
    assert.equal((err as Error).cause, reason);
    return true;
  });
  assertStats(pool, { idle: 0, active: 1, dialed: 1, reused: 0, evicted: 0, waiting: 1 });
  pool.put(a);
  assert.equal(await next, a);
  // Already aborted: rejected at once, no dial, no queue.
  await assert.rejects(pool.get(srv.address, { signal: AbortSignal.abort() }), hasCode('ABORT_ERR', AbortError));
  pool.put(a);
  await assert.rejects(pool.get(srv.address, { signal: AbortSignal.abort() }), hasCode('ABORT_ERR', AbortError));
  assertStats(pool, { idle: 1, active: 0, dialed: 1, reused: 1, evicted: 0, waiting: 0 });
});

test('get() timeout bounds a dial that never completes: PoolTimeoutError, and the slot is freed', { timeout: 5000 }, async (t) => {
  const silent = await NetEcho.listen({ echo: false });
  const pool = new ConnectionPool({ maxActivePerAddress: 1, dial: { tls: true, timeout: 5000 } });
  t.after(async () => {
    await pool.close();
    await silent.close();
  });
  await assert.rejects(within(pool.get(silent.address, { timeout: 100 }), 2000, 'the get() timeout'), hasCode('ERR_POOL_TIMEOUT', PoolTimeoutError));
  assertStats(pool, { idle: 0, active: 0, dialed: 1, reused: 0, evicted: 0, waiting: 0 });
  await until(() => silent.accepted.length === 1 && silent.open().length === 0, 'the abandoned dial to be closed');
  // The slot is free: the next get() dials at once instead of waiting.
  const again = pool.get(silent.address, { timeout: 50 });
  assert.equal(pool.stats().waiting, 0);
  assert.equal(pool.stats().dialed, 2);
  await assert.rejects(again, hasCode('ERR_POOL_TIMEOUT', PoolTimeoutError));
});

test("a waiter's timeout also bounds the dial started for it when a slot frees", { timeout: 5000 }, async (t) => {
  const silent = await NetEcho.listen({ echo: false });
  const pool = new ConnectionPool({ maxActivePerAddress: 1, dial: { tls: true, timeout: 5000 } });
  t.after(async () => {
    await pool.close();
    await silent.close();
  });
  const first = pool.get(silent.address, { timeout: 100 });
  const second = pool.get(silent.address, { timeout: 250 });
  assert.equal(pool.stats().waiting, 1);
  await assert.rejects(first, hasCode('ERR_POOL_TIMEOUT', PoolTimeoutError));
  // The first dial gave up its slot; the second get() now dials, and must still give up at its own deadline.
  await assert.rejects(within(second, 2000, "the waiter's timeout"), hasCode('ERR_POOL_TIMEOUT', PoolTimeoutError));
  assertStats(pool, { idle: 0, active: 0, dialed: 2, reused: 0, evicted: 0, waiting: 0 });
  await until(() => silent.accepted.length === 2 && silent.open().length === 0, 'both dials to be closed');
});

test("a waiter's AbortSignal also aborts the dial started for it", { timeout: 5000 }, async (t) => {
  const silent = await NetEcho.listen({ echo: false });
  const pool = new ConnectionPool({ maxActivePerAddress: 1, dial: { tls: true, timeout: 5000 } });
  t.after(async () => {
    await pool.close();
    await silent.close();
  });
  const ac = new AbortController();
  const first = pool.get(silent.address, { timeout: 50 });
  const second = pool.get(silent.address, { signal: ac.signal });
  await assert.rejects(first, hasCode('ERR_POOL_TIMEOUT', PoolTimeoutError));
  assert.equal(pool.stats().dialed, 2, 'the waiter was not given a dial');
  ac.abort();
  await assert.rejects(within(second, 2000, 'the abort'), hasCode('ABORT_ERR', AbortError));
  assertStats(pool, { idle: 0, active: 0, dialed: 2, reused: 0, evicted: 0, waiting: 0 });
});

test('a dial failure rejects get() with the dial error, frees the slot, and the waiter behind it is served', { timeout: 5000 }, async (t) => {
  const srv = await NetEcho.listen();
  const port = srv.port;
  await srv.close(); // nothing listens on `port` now
  const address = `127.0.0.1:${port}`;
  const pool = new ConnectionPool({ maxActivePerAddress: 1 });
  t.after(() => pool.close());
  const refused = (err: unknown) => {
    hasCode('ERR_DIAL_FAILED')(err);
    assert.equal(((err as Error).cause as NodeJS.ErrnoException).code, 'ECONNREFUSED');
    return true;
  };
  const first = pool.get(address);
  const second = pool.get(address);
  assertStats(pool, { idle: 0, active: 0, dialed: 1, reused: 0, evicted: 0, waiting: 1 });
  await assert.rejects(first, refused);
  // The waiter got the freed slot and its own dial (refused as well).
  await assert.rejects(second, refused);
  assertStats(pool, { idle: 0, active: 0, dialed: 2, reused: 0, evicted: 0, waiting: 0 });
  // Once a server listens there, the slot is usable.
  const again = await NetEcho.listen({ port });
  t.after(() => again.close());
  const c = await within(pool.get(address), 2000, 'a get() after the failures');
  assert.equal(await roundTrip(c, 'up'), 'up');
  assertStats(pool, { idle: 0, active: 1, dialed: 3, reused: 0, evicted: 0, waiting: 0 });
  pool.discard(c);
  await closedOf(c);
});

test("get()'s AbortSignal, or the pool's dial.signal, aborts a dial in progress with ABORT_ERR", { timeout: 5000 }, async (t) => {
  const silent = await NetEcho.listen({ echo: false });
  const poolAc = new AbortController();
  const pool = new ConnectionPool({ maxActivePerAddress: 1, dial: { tls: true, timeout: 5000, signal: poolAc.signal } });
  t.after(async () => {
    await pool.close();
    await silent.close();
  });
  const ac = new AbortController();
  const reason = new Error('stop');
  const dialing = pool.get(silent.address, { signal: ac.signal, timeout: 3000 });
  await until(() => silent.accepted.length === 1, 'the dial to reach the server');
  ac.abort(reason);
  await assert.rejects(within(dialing, 2000, 'the abort'), (err: unknown) => {
    hasCode('ABORT_ERR', AbortError)(err);
    assert.equal((err as Error).cause, reason);
    return true;
  });
  assertStats(pool, { idle: 0, active: 0, dialed: 1, reused: 0, evicted: 0, waiting: 0 });
  // The pool-wide dial signal still applies to every dial.
  const second = pool.get(silent.address);
  await until(() => silent.accepted.length === 2, 'the second dial to reach the server');
  poolAc.abort();
  await assert.rejects(within(second, 2000, "the pool's dial signal"), hasCode('ABORT_ERR', AbortError));
  await assert.rejects(pool.get(silent.address), hasCode('ABORT_ERR', AbortError));
  assertStats(pool, { idle: 0, active: 0, dialed: 3, reused: 0, evicted: 0, waiting: 0 });
  await until(() => silent.open().length === 0, 'the aborted dials to be closed');
});

test('a bad get() option rejects (never throws) and leaves the stats alone', { timeout: 5000 }, async (t) => {
  const pool = new ConnectionPool();
  t.after(() => pool.close());
  let p: Promise<unknown> | undefined;
  assert.doesNotThrow(() => {
    p = pool.get('127.0.0.1:1', { timeout: -1 });
  });
  await assert.rejects(p!, hasCode('ERR_INVALID_OPTION'));
  await assert.rejects(pool.get('no-port-here'), hasCode('ERR_INVALID_OPTION'));
  assertStats(pool, { idle: 0, active: 0, dialed: 1, reused: 0, evicted: 0, waiting: 0 });
});
