// The total input budget of an EventLoop (maxInboundBytesTotal): past 3/4 of it, connections holding
// partial input stop reading; at it, those holding the most are closed with InboundBudgetError, and
// the rest read again. Connections with nothing buffered are never held back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InboundBudgetError, InvalidOptionError, defaultInboundTotal, EventLoop } from '../src/index.js';
import { RawClient, echoFrames, serve, until, within } from './helpers.js';

const KiB = 1024;

/** The length prefix of a frame that never completes, then `n` bytes of its body. */
function partial(n: number): Buffer {
  const b = Buffer.alloc(4 + n, 0x61);
  b.writeUInt32BE(4 * 1024 * 1024, 0);
  return b;
}

test('defaults and options: sized to the machine, Infinity turns it off, bad values are refused', async () => {
  const d = defaultInboundTotal();
  assert.ok(d >= 32 * 1024 * KiB && d <= 256 * 1024 * KiB, String(d));
  assert.equal(new EventLoop(echoFrames).maxInboundBytesTotal, d);
  assert.equal(new EventLoop(echoFrames, { maxInboundBytesTotal: Infinity }).maxInboundBytesTotal, Infinity);
  for (const bad of [0, -1, 1.5, NaN, '1']) {
    assert.throws(() => new EventLoop(echoFrames, { maxInboundBytesTotal: bad as number }), InvalidOptionError, String(bad));
  }
  // The handler sees how much the connection buffers, so the test waits for the read itself.
  let held = 0;
  const { loop, port } = await serve((ctx, conn) => {
    held = conn.reader.length;
    return echoFrames(ctx, conn);
  }, { maxInboundBytesTotal: Infinity });
  const c = await RawClient.connect(port);
  await c.write(partial(1000));
  await until(() => held === 1004, () => `the partial frame read (${held} of 1004 bytes)`);
  assert.equal(loop.stats().inboundBytes, 0, 'not counted when off');
  c.destroy();
  await loop.shutdown({ timeout: 100 });
});

test('past the low-water mark a growing partial holder pauses; stuck there, the largest holder is closed and the rest resume', { timeout: 15_000 }, async (t) => {
  const LIMIT = 256 * KiB;
  const errors: unknown[] = [];
  const { loop, port } = await serve(echoFrames, { maxInboundBytesTotal: LIMIT, onError: (e) => errors.push(e) });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const honest = await RawClient.connect(port);
  t.after(() => honest.destroy());

  // A holds 150 KiB of a partial frame: under the low-water mark (192 KiB), reading on.
  const a = await RawClient.connect(port);
  t.after(() => a.destroy());
  await a.write(partial(150 * KiB));
  await until(() => loop.stats().inboundBytes >= 150 * KiB, 'A buffered');
  assert.equal(loop.stats().inboundPaused, 0);

  // B adds more until the total passes the low-water mark: B is paused (its data waits in the kernel).
  const b = await RawClient.connect(port);
  t.after(() => b.destroy());
  void b.write(partial(150 * KiB)).catch(() => {});
  await until(() => loop.stats().inboundPaused === 1, 'B paused');
  const atPause = loop.stats().inboundBytes;
  assert.ok(atPause > LIMIT * 0.75 && atPause <= LIMIT, `between low water and the limit: ${atPause}`);

  // A connection with nothing buffered still gets its complete requests answered meanwhile.
  assert.equal((await honest.roundTrip('still served')).toString(), 'still served');

  // C adds a little, and is paused too. Nobody can progress: after RELIEF_MS the largest holder, A,
  // is closed; B and C read on.
  const c = await RawClient.connect(port);
  t.after(() => c.destroy());
  void c.write(partial(120 * KiB)).catch(() => {});
  // A liveness bound, not a speed check: the relief comes after RELIEF_MS (1 s) at most once C pushes.
  await within(a.closed, 15_000, 'A to be closed');
  // Exactly one connection closed, and B and C still open: the relief stopped as soon as the total
  // was back under the low-water mark (it goes on while the total is past it and holders remain).
  const evicted = errors.filter((e) => e instanceof InboundBudgetError);
  assert.equal(evicted.length, 1, errors.map(String).join('; '));
  assert.equal((evicted[0] as InboundBudgetError).code, 'ERR_INBOUND_BUDGET');
  assert.equal(loop.stats().inboundEvicted, 1);
  await until(() => loop.stats().inboundBytes >= 150 * KiB + 120 * KiB - 100 * KiB, 'B and C to read what they sent');
  assert.equal(b.isClosed, false);
  assert.equal(c.isClosed, false);
  assert.ok(loop.stats().inboundBytes <= LIMIT);
  assert.equal((await honest.roundTrip('after')).toString(), 'after');
});

test('equal holders are closed in age order, the oldest first, until the total is back under 3/4', { timeout: 30_000 }, async (t) => {
  const LIMIT = 128 * KiB;
  const LOW = LIMIT * 0.75; // 96 KiB: 12 holders of 8 KiB
  const HOLD = 8 * KiB;
  const N = 24;
  const errors: unknown[] = [];
  const closed: number[] = [];
  const { loop, port } = await serve(echoFrames, { maxInboundBytesTotal: LIMIT, onError: (e) => errors.push(e) });
  t.after(() => loop.shutdown({ timeout: 100 }));
  // Every peer's 8 KiB is counted or its peer evicted (each eviction takes one 8 KiB holder away).
  const accounted = () => loop.stats().inboundBytes + loop.stats().inboundEvicted * HOLD;
  // Each sends 8 KiB: one read each, so each lands whole before its connection can be paused.
  for (let i = 0; i < N; i++) {
    const p = await RawClient.connect(port);
    t.after(() => p.destroy());
    void p.closed.then(() => closed.push(i));
    await p.write(partial(HOLD - 4));
    await until(() => accounted() >= (i + 1) * HOLD, () => `peer ${i} buffered (${accounted()} of ${(i + 1) * HOLD})`, 15_000);
  }
  // Settled: nobody is paused any more (a paused holder past 3/4 is relieved after RELIEF_MS), and
  // every eviction has reached its client.
  await until(() => loop.stats().inboundPaused === 0, () => `no connection paused (${loop.stats().inboundPaused})`, 15_000);
  await until(() => closed.length === loop.stats().inboundEvicted, () => `${closed.length} of ${loop.stats().inboundEvicted} evicted clients closed`, 15_000);
  const { inboundBytes, inboundEvicted } = loop.stats();
  // 24 peers of 8 KiB past a 128 KiB limit: every relief closes holders until the total is at most
  // 96 KiB (3/4), not merely under the limit, and no further; with equal holders that leaves
  // exactly 12 open, whichever way (limit reached, or RELIEF_MS elapsed) each relief came.
  assert.ok(inboundEvicted > 0, 'some holders were closed');
  assert.ok(inboundBytes <= LOW, `back under 3/4 of the limit: ${inboundBytes} > ${LOW}`);
  assert.ok(inboundBytes > LOW - HOLD, `no more closed than needed: ${inboundBytes} left`);
  assert.equal(inboundBytes, (N - inboundEvicted) * HOLD, 'the survivors hold their 8 KiB each');
  assert.equal(errors.length, inboundEvicted);
  assert.ok(errors.every((e) => e instanceof InboundBudgetError), errors.map(String).join('; '));
  // Equal holders: the oldest go first, so the closed ones are exactly peers 0..k-1.
  assert.deepEqual([...closed].sort((x, y) => x - y), Array.from({ length: inboundEvicted }, (_, i) => i), `closed in age order: ${closed}`);
});

test('a closed connection gives its share back at once', { timeout: 10_000 }, async (t) => {
  const { loop, port } = await serve(echoFrames, { maxInboundBytesTotal: 1024 * KiB });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const a = await RawClient.connect(port);
  await a.write(partial(100 * KiB));
  await until(() => loop.stats().inboundBytes >= 100 * KiB, 'buffered');
  a.destroy();
  await until(() => loop.stats().inboundBytes === 0 && loop.connections === 0, 'released');
});
