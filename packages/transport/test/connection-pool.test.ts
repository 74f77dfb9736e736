// ConnectionPool: LIFO reuse, stats, dead idle connections, idle caps, the idle sweep, unhealthy returns.
// Real sockets on 127.0.0.1; the server side is an EventLoop echo or a plain `net` server the test controls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectionPool, EventLoop, InvalidOptionError } from '../src/index.js';
import { sleep, until } from './helpers.js';
import { NetEcho, loopPool, netPool, assertStats, closedOf, echoRaw, hasCode, loopEcho, roundTrip } from './connection-pool-fixtures.js';

test('LIFO: get() reuses the newest idle connection; stats after every step', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await loopPool(t);
  const [a, b, c] = await Promise.all([pool.get(srv.address), pool.get(srv.address), pool.get(srv.address)]);
  assert.ok(a !== b && b !== c && a !== c);
  assertStats(pool, { idle: 0, active: 3, dialed: 3, reused: 0, evicted: 0, waiting: 0 });
  for (const [i, conn] of [a!, b!, c!].entries()) assert.equal(await roundTrip(conn, `hello ${i}`), `hello ${i}`);

  pool.put(a!);
  assertStats(pool, { idle: 1, active: 2, dialed: 3, reused: 0, evicted: 0, waiting: 0 });
  pool.put(b!);
  pool.put(c!);
  assertStats(pool, { idle: 3, active: 0, dialed: 3, reused: 0, evicted: 0, waiting: 0 });
  assert.ok(a!.isActive() && b!.isActive() && c!.isActive(), 'put() closed a healthy connection');

  const first = await pool.get(srv.address);
  assert.equal(first, c, 'not the newest idle connection');
  assertStats(pool, { idle: 2, active: 1, dialed: 3, reused: 1, evicted: 0, waiting: 0 });
  const second = await pool.get(srv.address);
  assert.equal(second, b);
  assertStats(pool, { idle: 1, active: 2, dialed: 3, reused: 2, evicted: 0, waiting: 0 });
  assert.equal(await roundTrip(second, 'again'), 'again');

  pool.put(second);
  const third = await pool.get(srv.address);
  assert.equal(third, b, 'the connection just put back is the newest');
  assertStats(pool, { idle: 1, active: 2, dialed: 3, reused: 3, evicted: 0, waiting: 0 });
  assert.equal(srv.loop.stats().accepted, 3, 'the server accepted a connection the stats do not count');
});

test('idle connections are kept per address', { timeout: 5000 }, async (t) => {
  const s1 = await loopEcho();
  const s2 = await loopEcho();
  const pool = new ConnectionPool();
  t.after(async () => {
    await pool.close();
    await Promise.all([s1.loop.shutdown({ timeout: 100 }), s2.loop.shutdown({ timeout: 100 })]);
  });
  const a = await pool.get(s1.address);
  pool.put(a);
  const b = await pool.get(s2.address);
  assert.notEqual(b, a, 'a connection to one address was handed out for another');
  assert.equal(b.remotePort, s2.port);
  assert.equal(await roundTrip(b, 'two'), 'two');
  assertStats(pool, { idle: 1, active: 1, dialed: 2, reused: 0, evicted: 0, waiting: 0 });
  assert.equal(await pool.get(s1.address), a);
  assertStats(pool, { idle: 0, active: 2, dialed: 2, reused: 1, evicted: 0, waiting: 0 });
});

test('put() twice, or of a connection the pool never handed out, changes nothing', { timeout: 5000 }, async (t) => {
  const srv = await loopEcho();
  const pool = new ConnectionPool();
  const other = new ConnectionPool();
  t.after(async () => {
    await pool.close();
    await other.close();
    await srv.loop.shutdown({ timeout: 100 });
  });
  const a = await pool.get(srv.address);
  pool.put(a);
  pool.put(a);
  assertStats(pool, { idle: 1, active: 0, dialed: 1, reused: 0, evicted: 0, waiting: 0 });
  const foreign = await other.get(srv.address);
  pool.put(foreign);
  pool.discard(foreign);
  assert.ok(foreign.isActive(), 'a pool closed a connection it does not own');
  assertStats(pool, { idle: 1, active: 0, dialed: 1, reused: 0, evicted: 0, waiting: 0 });
  assert.equal(other.stats().active, 1);
});

for (const how of ['graceful', 'reset'] as const) {
  test(`an idle connection the server closed (${how}) leaves the stack and is never handed out`, { timeout: 5000 }, async (t) => {
    const srv = await NetEcho.listen();
    const pool = new ConnectionPool();
    t.after(async () => {
      await pool.close();
      await srv.close();
    });
    const [a, b] = await Promise.all([pool.get(srv.address), pool.get(srv.address)]);
    pool.put(a!);
    pool.put(b!);
    assertStats(pool, { idle: 2, active: 0, dialed: 2, reused: 0, evicted: 0, waiting: 0 });
    // Behind the pool's back: the newest idle one dies.
    const peer = await srv.peerOf(b!);
    if (how === 'graceful') peer.end();
    else peer.resetAndDestroy();
    await until(() => !b!.isActive(), 'the client to see the close');
    const got = await pool.get(srv.address);
    assert.equal(got, a, 'get() did not return the live idle connection');
    assert.equal(await roundTrip(got, 'alive?'), 'alive?');
    assertStats(pool, { idle: 0, active: 1, dialed: 2, reused: 1, evicted: 1, waiting: 0 });
    await closedOf(b!);
    assert.equal(pool.stats().evicted, 1, 'the dead connection was counted twice');
  });

  test(`when every idle connection is dead (${how}), get() dials a fresh one`, { timeout: 5000 }, async (t) => {
    const srv = await NetEcho.listen();
    const pool = new ConnectionPool();
    t.after(async () => {
      await pool.close();
      await srv.close();
    });
    const conns = await Promise.all([pool.get(srv.address), pool.get(srv.address)]);
    for (const c of conns) pool.put(c);
    for (const c of conns) {
      const peer = await srv.peerOf(c);
      if (how === 'graceful') peer.end();
      else peer.resetAndDestroy();
    }
    // Without any get(): a dead idle connection leaves the stack by itself once it has closed.
    await until(() => pool.stats().idle === 0, 'the dead idle connections to leave the stack');
    assertStats(pool, { idle: 0, active: 0, dialed: 2, reused: 0, evicted: 2, waiting: 0 });
    const fresh = await pool.get(srv.address);
    assert.ok(!conns.includes(fresh));
    assert.equal(await roundTrip(fresh, 'fresh'), 'fresh');
    assertStats(pool, { idle: 0, active: 1, dialed: 3, reused: 0, evicted: 2, waiting: 0 });
    assert.equal(srv.accepted.length, 3);
  });
}

test('get() called while dead idle connections are still closing skips them all and dials', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await netPool(t);
  const conns = await Promise.all([pool.get(srv.address), pool.get(srv.address), pool.get(srv.address)]);
  for (const c of conns) pool.put(c);
  const peers = await Promise.all(conns.map((c) => srv.peerOf(c)));
  for (const p of peers) p.end();
  // The moment the last one sees the FIN (its close callback may not have run yet), ask.
  await until(() => conns.every((c) => !c.isActive()), 'the client to see the FINs');
  const got = await pool.get(srv.address);
  assert.ok(!conns.includes(got), 'get() returned a dead connection');
  assert.equal(await roundTrip(got, 'x'), 'x');
  await Promise.all(conns.map(closedOf));
  assertStats(pool, { idle: 0, active: 1, dialed: 4, reused: 0, evicted: 3, waiting: 0 });
});

test('an idle connection that received unsolicited input is not handed out', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await netPool(t);
  const [a, b] = await Promise.all([pool.get(srv.address), pool.get(srv.address)]);
  pool.put(a!);
  pool.put(b!);
  (await srv.peerOf(b!)).write('junk');
  await until(() => b!.reader.length > 0, 'the junk to arrive');
  const got = await pool.get(srv.address);
  assert.equal(got, a);
  assert.equal(b!.isActive(), false, 'the connection with stray input was not closed');
  await closedOf(b!);
  assertStats(pool, { idle: 0, active: 1, dialed: 2, reused: 1, evicted: 1, waiting: 0 });
});

test('maxIdlePerAddress: a put() beyond the cap closes the connection', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await loopPool(t, { maxIdlePerAddress: 2 });
  const conns = await Promise.all([1, 2, 3].map(() => pool.get(srv.address)));
  pool.put(conns[0]!);
  pool.put(conns[1]!);
  assertStats(pool, { idle: 2, active: 1, dialed: 3, reused: 0, evicted: 0, waiting: 0 });
  pool.put(conns[2]!);
  assert.equal(conns[2]!.isActive(), false, 'the connection over the cap was kept');
  assert.ok(conns[0]!.isActive() && conns[1]!.isActive());
  assertStats(pool, { idle: 2, active: 0, dialed: 3, reused: 0, evicted: 1, waiting: 0 });
  await closedOf(conns[2]!);
  await until(() => srv.loop.stats().connections === 2, 'the server to see the close');
  // The two kept are the ones reused, newest first.
  assert.equal(await pool.get(srv.address), conns[1]);
  assert.equal(await pool.get(srv.address), conns[0]);
  assertStats(pool, { idle: 0, active: 2, dialed: 3, reused: 2, evicted: 1, waiting: 0 });
});

test('maxIdlePerAddress 0 keeps nothing idle', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await loopPool(t, { maxIdlePerAddress: 0 });
  const a = await pool.get(srv.address);
  pool.put(a);
  assert.equal(a.isActive(), false);
  assertStats(pool, { idle: 0, active: 0, dialed: 1, reused: 0, evicted: 1, waiting: 0 });
  const b = await pool.get(srv.address);
  assert.notEqual(b, a);
  assert.equal(await roundTrip(b, 'b'), 'b');
});

test('maxIdleGlobal holds over all addresses', { timeout: 5000 }, async (t) => {
  const s1 = await loopEcho();
  const s2 = await loopEcho();
  const pool = new ConnectionPool({ maxIdleGlobal: 2 });
  t.after(async () => {
    await pool.close();
    await Promise.all([s1.loop.shutdown({ timeout: 100 }), s2.loop.shutdown({ timeout: 100 })]);
  });
  const [a1, a2] = await Promise.all([pool.get(s1.address), pool.get(s1.address)]);
  const b1 = await pool.get(s2.address);
  pool.put(a1!);
  pool.put(a2!);
  pool.put(b1);
  assert.equal(b1.isActive(), false, 'the global idle cap was exceeded');
  assertStats(pool, { idle: 2, active: 0, dialed: 3, reused: 0, evicted: 1, waiting: 0 });
  // Taking one from the first address makes room for the second.
  const again = await pool.get(s1.address);
  assert.equal(again, a2);
  const b2 = await pool.get(s2.address);
  assert.notEqual(b2, b1);
  pool.put(b2);
  assert.ok(b2.isActive(), 'there was room under the global cap');
  assertStats(pool, { idle: 2, active: 1, dialed: 4, reused: 1, evicted: 1, waiting: 0 });
});

test('the shared sweep closes idle connections past idleTimeout; one in use is not touched', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await netPool(t, { idleTimeout: 50 });
  const s2 = await loopEcho();
  t.after(() => s2.loop.shutdown({ timeout: 100 }));
  const [a, b, held] = await Promise.all([pool.get(srv.address), pool.get(srv.address), pool.get(srv.address)]);
  const other = await pool.get(s2.address);
  pool.put(a!);
  pool.put(b!);
  pool.put(other);
  assertStats(pool, { idle: 3, active: 1, dialed: 4, reused: 0, evicted: 0, waiting: 0 });
  await until(() => pool.stats().idle === 0, 'the sweep to close the idle connections', 2000);
  await Promise.all([closedOf(a!), closedOf(b!), closedOf(other)]);
  assertStats(pool, { idle: 0, active: 1, dialed: 4, reused: 0, evicted: 3, waiting: 0 });
  await until(() => srv.open().length === 1, 'the server to see the closes');
  // The connection held all along was never swept.
  assert.ok(held!.isActive());
  assert.equal(await roundTrip(held!, 'held'), 'held');
  // And the sweep re-arms for connections put back later.
  pool.put(held!);
  assert.equal(pool.stats().idle, 1);
  await until(() => pool.stats().idle === 0, 'the sweep to run again', 2000);
  await closedOf(held!);
  const fresh = await pool.get(srv.address);
  assert.equal(await roundTrip(fresh, 'new'), 'new');
  assertStats(pool, { idle: 0, active: 1, dialed: 5, reused: 0, evicted: 4, waiting: 0 });
});

test('a connection reused before its idle deadline gets a new deadline when put back', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await loopPool(t, { idleTimeout: 250 });
  const a = await pool.get(srv.address);
  pool.put(a);
  // Take it and return it well inside the deadline, a few times over more than one idleTimeout.
  for (let i = 0; i < 7; i++) {
    await sleep(50);
    const got = await pool.get(srv.address);
    assert.equal(got, a, `round ${i}: the connection was swept while it was fresh`);
    pool.put(got);
  }
  assertStats(pool, { idle: 1, active: 0, dialed: 1, reused: 7, evicted: 0, waiting: 0 });
});

test('put() closes a connection returned with unread input, or one that saw an error', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await netPool(t);
  const [unread, errored, reset] = await Promise.all([1, 2, 3].map(() => pool.get(srv.address)));
  // Unread input: the echo arrives and nobody reads it.
  unread!.writer.writeString('reply nobody reads');
  await unread!.writer.flush();
  await unread!.reader.waitFor(5, { timeout: 2000 });
  pool.put(unread!);
  assert.equal(unread!.isActive(), false, 'a connection with unread input was kept');
  assertStats(pool, { idle: 0, active: 2, dialed: 3, reused: 0, evicted: 1, waiting: 0 });
  // An error closed it (as a failed write or a protocol error would).
  errored!.close(new Error('protocol error'));
  assert.notEqual(errored!.error, undefined);
  pool.put(errored!);
  assertStats(pool, { idle: 0, active: 1, dialed: 3, reused: 0, evicted: 2, waiting: 0 });
  // Reset by the server while in use.
  (await srv.peerOf(reset!)).resetAndDestroy();
  await until(() => !reset!.isActive(), 'the client to see the reset');
  pool.put(reset!);
  await Promise.all([closedOf(unread!), closedOf(errored!), closedOf(reset!)]);
  const s = pool.stats();
  assert.equal(s.idle, 0, 'a dead connection was kept idle');
  assert.equal(s.active, 0);
  const fresh = await pool.get(srv.address);
  assert.ok(![unread, errored, reset].includes(fresh));
  assert.equal(await roundTrip(fresh, 'ok'), 'ok');
  assert.equal(pool.stats().dialed, 4);
});

test('discard() closes the connection and frees its slot', { timeout: 5000 }, async (t) => {
  const { srv, pool } = await netPool(t, { maxActivePerAddress: 1 });
  const a = await pool.get(srv.address);
  const waiting = pool.get(srv.address);
  assertStats(pool, { idle: 0, active: 1, dialed: 1, reused: 0, evicted: 0, waiting: 1 });
  pool.discard(a);
  assert.equal(a.isActive(), false);
  assertStats(pool, { idle: 0, active: 0, dialed: 1, reused: 0, evicted: 0, waiting: 1 });
  const b = await waiting;
  assert.notEqual(b, a);
  assert.equal(await roundTrip(b, 'b'), 'b');
  assertStats(pool, { idle: 0, active: 1, dialed: 2, reused: 0, evicted: 0, waiting: 0 });
  pool.discard(a); // twice: nothing
  pool.put(a);
  assertStats(pool, { idle: 0, active: 1, dialed: 2, reused: 0, evicted: 0, waiting: 0 });
  await until(() => srv.open().length === 1, 'the server to see the discarded connection close');
});

test('options are checked', () => {
  for (const bad of [
    { maxActivePerAddress: 0 },
    { maxIdlePerAddress: -1 },
    { maxIdleGlobal: 1.5 },
    { idleTimeout: -5 },
    { network: 'udp' as never },
  ]) {
    assert.throws(() => new ConnectionPool(bad), hasCode('ERR_INVALID_OPTION', InvalidOptionError), JSON.stringify(bad));
  }
});

test("network 'unix': connections to a socket path are pooled and reused", { skip: process.platform === 'win32', timeout: 5000 }, async (t) => {
  const path = join(tmpdir(), `nocopy-${process.pid}-pool.sock`);
  const loop = new EventLoop(echoRaw);
  await loop.listen({ path });
  const pool = new ConnectionPool({ network: 'unix' });
  t.after(async () => {
    await pool.close();
    await loop.shutdown({ timeout: 100 });
  });
  const a = await pool.get(path);
  assert.equal(await roundTrip(a, 'unix'), 'unix');
  pool.put(a);
  assert.equal(await pool.get(path), a);
  assertStats(pool, { idle: 0, active: 1, dialed: 1, reused: 1, evicted: 0, waiting: 0 });
  assert.equal(loop.stats().accepted, 1);
});
