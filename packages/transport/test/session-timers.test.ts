// The timing wheel, and the session timers on it: cron, heartbeat, idle, after/every, all
// cancelled at close (no callback after onClose).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RawClient, deferred, sleep, until, within } from './helpers.js';
import { fastWheel, recorder, sessionServer } from './session-fixtures.js';
import { TimingWheel, type Session } from '../src/index.js';
import { Counter64 } from '../src/session/counter.js';
import { backoffDelay, resolveBackoff } from '../src/util/backoff.js';

test('wheel: timers fire after their time, never before, in tick resolution; cancel is final', async () => {
  const wheel = new TimingWheel({ tick: 10, slots: 8 });
  const t0 = performance.now();
  const fired: [string, number][] = [];
  const at = (name: string) => () => fired.push([name, performance.now() - t0]);
  wheel.after(25, at('25'));
  wheel.after(5, at('5'));
  wheel.after(200, at('200')); // beyond one rotation of 8 x 10 ms: waits whole rounds
  const cancelled = wheel.after(30, at('cancelled'));
  cancelled.cancel();
  cancelled.cancel();
  assert.equal(cancelled.active, false);
  assert.equal(wheel.size, 3);
  await until(() => fired.length === 3, 'all fired', 2000);
  assert.deepEqual(fired.map((f) => f[0]), ['5', '25', '200']);
  for (const [name, ms] of fired) assert.ok(ms >= Number(name) - 1, `${name} fired early at ${ms.toFixed(1)} ms`);
  assert.equal(wheel.size, 0, 'one-shots leave the wheel');
});

test('wheel: every() repeats until cancelled; a callback may cancel another timer of the same slot', async () => {
  const wheel = new TimingWheel({ tick: 5, slots: 16 });
  let n = 0;
  const rep = wheel.every(10, () => void n++);
  let victimFired = false;
  const victim = wheel.after(20, () => void (victimFired = true));
  wheel.after(20, () => victim.cancel()); // same slot as victim, added later: walked first
  await until(() => n >= 5, 'five repeats', 2000);
  rep.cancel();
  const after = n;
  // A later timer on the same wheel has fired: a repeat (or the victim) due before it would have run.
  await within(new Promise<void>((r) => wheel.after(40, () => r())), 5000, 'a later timer on the wheel'); // within: the wheel's timer does not keep the process alive
  assert.equal(n, after, 'no repeat after cancel');
  assert.equal(victimFired, false);
  assert.equal(wheel.size, 0);
});

test('wheel: a throwing callback goes to its onError and the others still fire', async () => {
  const wheel = new TimingWheel({ tick: 5 });
  const errors: unknown[] = [];
  let ok = false;
  wheel.after(5, () => { throw new Error('x'); }, undefined, (e) => errors.push(e));
  wheel.after(5, () => void (ok = true));
  await until(() => ok && errors.length === 1, 'both ran', 2000);
});

test('wheel: 100,000 timers cost one Node timer, and cancelling all of them empties it', () => {
  const wheel = new TimingWheel({ tick: 50 });
  const before = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const timers = Array.from({ length: 100_000 }, (_, i) => wheel.every(1000 + (i % 997), () => {}));
  const during = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  assert.equal(wheel.size, 100_000);
  assert.ok(during - before <= 1, `${during - before} Node timers for 100,000 wheel timers`);
  for (const t of timers) t.cancel();
  assert.equal(wheel.size, 0);
});

test('wheel options are checked', () => {
  assert.throws(() => new TimingWheel({ slots: 100 }), RangeError);
  assert.throws(() => new TimingWheel({ tick: -1 }), { code: 'ERR_INVALID_OPTION' });
});

test('cron: onCron every cronPeriod; a slow async onCron skips periods of its own session only', async (t) => {
  const wheel = fastWheel();
  const counts = new Map<number, number>();
  const slowGate = deferred();
  let slowCalls = 0;
  const { listener } = recorder({
    onMessage(s, m) {
      if (m === 'slow') s.attributes.set(kSlow, true);
    },
    onCron(s) {
      counts.set(s.id, (counts.get(s.id) ?? 0) + 1);
      if (s.attributes.get(kSlow)) {
        slowCalls++;
        return slowGate.promise;
      }
    },
  });
  const { server, port } = await sessionServer({ listener, cronPeriod: 20, wheel });
  t.after(() => server.shutdown());
  const slow = await RawClient.connect(port);
  await slow.write('slow\n');
  const fast = await RawClient.connect(port);
  await until(() => server.size === 2, 'two sessions');
  const [sSlow, sFast] = [...server.sessions()];
  await until(() => slowCalls === 1, 'slow cron started');
  // Counted in periods, not ms: while the slow onCron runs, the other session's cron runs 5 more
  // times, and the slow one is not called again in any of those periods.
  const fastAtStart = counts.get(sFast!.id) ?? 0;
  await until(() => (counts.get(sFast!.id) ?? 0) >= fastAtStart + 5, () => `5 more crons of the other session (${(counts.get(sFast!.id) ?? 0) - fastAtStart})`, 10_000);
  assert.equal(slowCalls, 1, 'a running onCron is not called again');
  slowGate.resolve();
  await until(() => (counts.get(sSlow!.id) ?? 0) >= 2, 'slow cron resumes');
  fast.socket.destroy();
});
const kSlow = new (await import('../src/index.js')).AttributeKey<boolean>('slow');

test('heartbeat: sent every interval; a silent peer is closed with ERR_HEARTBEAT_TIMEOUT, a talking one stays', async (t) => {
  const wheel = fastWheel();
  const { listener, rec } = recorder();
  const { server, port } = await sessionServer({ listener, wheel, heartbeat: { interval: 30, timeout: 150, message: 'PING' } });
  t.after(() => server.shutdown());
  const silent = await RawClient.connect(port);
  const talker = await RawClient.connect(port);
  const talking = setInterval(() => void talker.write('pong\n').catch(() => {}), 30);
  t.after(() => clearInterval(talking));
  await silent.closed;
  const got = silent.take().toString();
  assert.match(got, /^(PING\n){2,}$/, `the silent peer got heartbeats before the close: ${JSON.stringify(got)}`);
  assert.ok(rec.errors.some((e) => (e as { code?: string }).code === 'ERR_HEARTBEAT_TIMEOUT'));
  // Counted in heartbeats: 5 more PINGs (5 intervals, past the 150 ms timeout) and still open.
  const heard = talker.received;
  await until(() => talker.received >= heard + 5 * 5 || talker.isClosed, () => `5 more heartbeats to the talker (${talker.received - heard} bytes)`, 10_000);
  assert.equal(talker.isClosed, false, 'the talking peer is kept');
  assert.equal(server.size, 1);
});

test('idle timeout on the wheel: no input or output for idleTimeout closes with ERR_IDLE_TIMEOUT', async (t) => {
  const wheel = fastWheel();
  const { listener, rec } = recorder();
  // 40 ms between writes against a 1500 ms idle timeout: room for a busy machine's late timers (with
  // 400 ms, a gap between two writes beside a full suite and a busy loop reached it once).
  const { server, port } = await sessionServer({ listener, wheel, idleTimeout: 1500 });
  t.after(() => server.shutdown());
  const c = await RawClient.connect(port);
  let last = 0;
  for (let i = 0; i < 4; i++) {
    await sleep(40);
    await c.write('keep\n');
    last = Date.now();
  }
  assert.equal(c.isClosed, false, 'activity keeps it open');
  await c.closed;
  // Timers are late, never early: the close comes no sooner than idleTimeout after the last write
  // (less one wheel tick of 10 ms, and a few ms for the write to reach the server).
  assert.ok(Date.now() - last >= 1500 - 15, `closed ${Date.now() - last} ms after the last activity`);
  await until(() => rec.events.includes('close'), 'closed');
  assert.equal((rec.reasons[0] as { code?: string }).code, 'ERR_IDLE_TIMEOUT');
});

test('after/every run on the session and are all cancelled at close: no timer callback after onClose', async (t) => {
  const wheel = fastWheel();
  const events: string[] = [];
  let session: Session<string> | undefined;
  const { listener } = recorder({
    onOpen(s) {
      session = s;
      s.every(10, () => void events.push('every'));
      s.after(10_000, () => void events.push('late after'));
      s.after(15, () => void events.push('after'));
    },
    onCron() {
      events.push('cron');
    },
    onClose() {
      events.push('close');
    },
  });
  const { server, port } = await sessionServer({ listener, wheel, cronPeriod: 10, heartbeat: { interval: 10, timeout: 10_000, message: 'hb' } });
  t.after(() => server.shutdown());
  const c = await RawClient.connect(port);
  await until(() => events.includes('after') && events.filter((e) => e === 'every').length >= 3, 'timers ran');
  const pending = wheel.size;
  assert.ok(pending >= 4, `${pending} timers pending while open`);
  c.socket.destroy();
  await until(() => events.includes('close'), 'closed');
  // A later timer on the same wheel has fired: every 10 ms timer, the 15 ms one and the cron would have run by then.
  await within(new Promise<void>((r) => wheel.after(80, () => r())), 5000, 'a later timer on the wheel');
  assert.equal(events.at(-1), 'close', `after onClose: ${events.slice(events.indexOf('close')).join(', ')}`);
  assert.equal(wheel.size, 0, 'every timer of the session left the wheel');
  assert.throws(() => session!.after(10, () => {}), { code: 'ERR_CONN_CLOSED' });
});

test('a throwing timer callback goes to onError and closes the session', async (t) => {
  const wheel = fastWheel();
  const { listener, rec } = recorder({
    onOpen(s) {
      s.after(10, () => {
        throw new Error('timer failed');
      });
    },
  });
  const { server, port } = await sessionServer({ listener, wheel });
  t.after(() => server.shutdown());
  const c = await RawClient.connect(port);
  await c.closed;
  await until(() => rec.events.includes('close'), 'closed');
  assert.deepEqual(rec.events, ['open', 'error:timer failed', 'close']);
});

test('64-bit counters: past 4 GiB and past 2^53 they do not wrap', () => {
  const c = new Counter64();
  c.add(2 ** 32 - 1);
  c.add(1);
  assert.equal(c.value, 2n ** 32n, 'getty wraps to 0 here');
  for (let i = 0; i < 1000; i++) c.add(2 ** 32 + 7);
  assert.equal(c.value, 2n ** 32n + 1000n * (2n ** 32n + 7n));
  const big = new Counter64();
  for (let i = 0; i < 3; i++) big.add(2 ** 52);
  big.add(3);
  assert.equal(big.value, 3n * 2n ** 52n + 3n, 'exact beyond 2^53, where a plain number loses units');
});

test('backoff: grows exponentially to max; jitter spreads 100 clients over the interval', () => {
  const b = resolveBackoff({ initial: 100, max: 1000, jitter: 0 });
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((i) => backoffDelay(b, i)), [100, 200, 400, 800, 1000, 1000]);
  const j = resolveBackoff({ initial: 1000, max: 1000, jitter: 0.5 });
  const delays = Array.from({ length: 100 }, () => backoffDelay(j, 0));
  assert.ok(delays.every((d) => d >= 500 && d <= 1000));
  const buckets = new Set(delays.map((d) => Math.floor((d - 500) / 50)));
  assert.ok(buckets.size >= 8, `100 delays fell in only ${buckets.size} of 10 buckets of 50 ms`);
  assert.throws(() => resolveBackoff({ initial: 10, max: 5 }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => resolveBackoff({ jitter: 2 }), { code: 'ERR_INVALID_OPTION' });
});
