// ConnectionPool.close(): every connection closed, waiters and dials in progress rejected, no reuse afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionPool, PoolClosedError } from '../src/index.js';
import { until, within } from './helpers.js';
import { NetEcho, assertStats, hasCode } from './connection-pool-fixtures.js';

const closedErr = hasCode('ERR_POOL_CLOSED', PoolClosedError);

test('close() closes idle and in-use connections, rejects waiters, and refuses get() afterwards', { timeout: 5000 }, async (t) => {
  const s1 = await NetEcho.listen();
  const s2 = await NetEcho.listen();
  t.after(() => Promise.all([s1.close(), s2.close()]));
  const pool = new ConnectionPool({ maxActivePerAddress: 1 });
  // s1: one idle connection. s2: one in use, and a get() waiting for it.
  const idle = await pool.get(s1.address);
  pool.put(idle);
  const inUse = await pool.get(s2.address);
  const waiter = pool.get(s2.address);
  const timedWaiter = pool.get(s2.address, { timeout: 3000 });
  assertStats(pool, { idle: 1, active: 1, dialed: 2, reused: 0, evicted: 0, waiting: 2 });

  const closing = pool.close();
  assert.equal(pool.closed, true);
  await assert.rejects(waiter, closedErr);
  await assert.rejects(timedWaiter, closedErr);
  assert.equal(idle.isActive(), false);
  assert.equal(inUse.isActive(), false);
  await within(closing, 2000, 'close()');
  assert.ok(idle.closed && inUse.closed, 'close() resolved before its connections were closed');
  assertStats(pool, { idle: 0, active: 0, dialed: 2, reused: 0, evicted: 0, waiting: 0 });
  await until(() => s1.open().length === 0 && s2.open().length === 0, 'the servers to see the closes');

  await assert.rejects(pool.get(s1.address), closedErr);
  await assert.rejects(pool.get(s2.address, { timeout: 100 }), closedErr);
  // Returning or discarding a connection after close() is harmless.
  pool.put(inUse);
  pool.discard(inUse);
  await pool.close(); // idempotent
  assertStats(pool, { idle: 0, active: 0, dialed: 2, reused: 0, evicted: 0, waiting: 0 });
});

test('close() while a dial is in progress: the get() rejects with PoolClosedError and nothing stays open', { timeout: 5000 }, async (t) => {
  const srv = await NetEcho.listen();
  t.after(() => srv.close());
  const pool = new ConnectionPool();
  const dialing = pool.get(srv.address);
  await pool.close();
  await assert.rejects(within(dialing, 2000, 'the dialing get()'), closedErr);
  assertStats(pool, { idle: 0, active: 0, dialed: 1, reused: 0, evicted: 0, waiting: 0 });
  await until(() => srv.open().length === 0, 'the dialed connection to be closed');
});

test('close() does not leave a get() hanging on a dial that never completes', { timeout: 5000 }, async (t) => {
  const silent = await NetEcho.listen({ echo: false });
  t.after(() => silent.close());
  const pool = new ConnectionPool({ maxActivePerAddress: 1, dial: { tls: true, timeout: 5000 } });
  const dialing = pool.get(silent.address);
  const queued = pool.get(silent.address);
  await until(() => silent.accepted.length === 1, 'the dial to reach the server');
  await within(pool.close(), 2000, 'close()');
  await assert.rejects(queued, closedErr);
  await assert.rejects(within(dialing, 2000, 'the dialing get()'), closedErr);
  await until(() => silent.open().length === 0, 'the abandoned dial to be closed');
  assertStats(pool, { idle: 0, active: 0, dialed: 1, reused: 0, evicted: 0, waiting: 0 });
});
