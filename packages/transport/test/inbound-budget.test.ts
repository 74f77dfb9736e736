// The total input budget of an EventLoop (maxInboundBytesTotal): past 3/4 of it, connections holding
// partial input stop reading; at it, those holding the most are closed with InboundBudgetError, and
// the rest read again. Connections with nothing buffered are never held back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InboundBudgetError, InvalidOptionError, defaultInboundTotal, EventLoop } from '../src/index.js';
import { RawClient, echoFrames, serve, sleep, until, within } from './helpers.js';

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
  const { loop, port } = await serve(echoFrames, { maxInboundBytesTotal: Infinity });
  const c = await RawClient.connect(port);
  await c.write(partial(1000));
  await sleep(50);
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
  const t0 = Date.now();
  await within(a.closed, 5000, 'A to be closed');
  assert.ok(Date.now() - t0 < 2500, `closed within about RELIEF_MS (${Date.now() - t0} ms)`);
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

test('equal holders are closed in age order, the oldest first', { timeout: 15_000 }, async (t) => {
  const LIMIT = 128 * KiB;
  const errors: unknown[] = [];
  const closed: number[] = [];
  const { loop, port } = await serve(echoFrames, { maxInboundBytesTotal: LIMIT, onError: (e) => errors.push(e) });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const peers: RawClient[] = [];
  // Each sends 8 KiB: one read each, so each lands whole before its connection can be paused.
  for (let i = 0; i < 24; i++) {
    const p = await RawClient.connect(port);
    peers.push(p);
    t.after(() => p.destroy());
    void p.closed.then(() => closed.push(i));
    await p.write(partial(8 * KiB - 4));
    await until(() => loop.stats().inboundBytes >= Math.min((i + 1) * 8 * KiB, 96 * KiB) || loop.stats().inboundEvicted > 0, `peer ${i} buffered`);
  }
  await until(() => loop.stats().inboundEvicted > 0, 'an eviction');
  await sleep(100);
  assert.ok(loop.stats().inboundBytes <= LIMIT);
  assert.ok(errors.every((e) => e instanceof InboundBudgetError), errors.map(String).join('; '));
  // Equal holders: the oldest go first.
  const first = [...closed].sort((x, y) => x - y).slice(0, closed.length);
  assert.deepEqual(first, Array.from({ length: closed.length }, (_, i) => i), `closed in age order: ${closed}`);
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
