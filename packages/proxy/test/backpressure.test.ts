// Backpressure travels through the proxy: a reader that does not read on one side pauses reading on
// the other, so the sender is held up and the proxy's memory stays bounded by its limits (not by
// how much is sent). When the reader resumes, every byte arrives.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type net from 'node:net';
import { assertDrained, pump, RawClient, sleep, startProxy, StreamVerifier, until, Upstream, within, type ProxyFixture } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const LIMIT = 64 * KiB; // maxInboundBytes and maxOutboundBytes of the proxy under test
// Unread input (LIMIT, plus at most one read of up to 64 KiB that crosses it) on the sending side,
// output queued in the receiving socket (LIMIT, plus the one batch that crossed it, up to the
// input limit), rounded up to whole pooled blocks: about 4 x 64 KiB. 1 MiB leaves room for block
// rounding while staying far below what unbounded buffering would hold (the tens of MiB sent).
const BOUND = 1 * MiB;
// More than the kernel's socket buffers on the path can absorb (with tcp_rmem up to 32 MiB, as on
// some hosts, four buffers hold about 72 MiB): without backpressure the sender would finish.
const TOTAL = 256 * MiB;
const PAUSE = 1500;

interface Peak {
  /** Pooled memory (the upstream side reads into pooled blocks; output batches pin them until written). */
  pool: number;
  /** Everything the proxy holds: unread input and unsent output, pooled or not (accepted sockets' chunks are Node's). */
  buffered: number;
}

/** Samples the proxy for `ms`, keeping the peaks. */
async function watch(f: ProxyFixture, ms: number): Promise<Peak> {
  const peak: Peak = { pool: 0, buffered: 0 };
  const end = Date.now() + ms;
  while (Date.now() < end) {
    peak.pool = Math.max(peak.pool, f.pool.stats().bytesOutstanding);
    peak.buffered = Math.max(peak.buffered, f.proxy.stats().bufferedBytes);
    await sleep(5);
  }
  return peak;
}

function assertBounded(peak: Peak, what: string): void {
  assert.ok(peak.pool <= BOUND, `pool held ${peak.pool} B while ${what} (bound ${BOUND})`);
  assert.ok(peak.buffered <= BOUND, `proxy buffered ${peak.buffered} B while ${what} (bound ${BOUND})`);
}

test('a client that does not read pauses the upstream; proxy memory stays bounded; then every byte arrives', async () => {
  const progress = { sent: 0, waiting: false };
  let upSocket: net.Socket | undefined;
  const up = await new Upstream((s) => {
    upSocket = s;
    void pump(s, TOTAL, 128 * KiB, progress).then(() => s.end(), () => {});
  }).listen();
  const f = await startProxy(up.address, { maxInboundBytes: LIMIT, maxOutboundBytes: LIMIT });
  try {
    const v = new StreamVerifier();
    const client = RawClient.dial(f.port, { allowHalfOpen: true, keep: false });
    client.socket.on('data', (c: Buffer) => v.feed(c));
    await until(() => v.bytes > 0, 'first bytes');
    client.socket.pause(); // the slow reader
    const peak = await watch(f, PAUSE);
    // The upstream's writes back up once the kernel buffers and the proxy's bounded buffers are full.
    assert.ok(progress.waiting, 'the upstream is held up by backpressure');
    assert.ok(progress.sent < TOTAL / 2, `the upstream sent ${progress.sent} of ${TOTAL} B to a client that reads nothing`);
    assertBounded(peak, 'the client read nothing');
    assert.ok(peak.buffered > 0);
    assert.ok((upSocket?.writableLength ?? 0) > 0, 'the upstream has output queued');

    client.socket.resume();
    await within(client.endReceived, 30_000, 'the whole stream after resuming');
    assert.equal(v.mismatchAt, -1, `stream differs at byte ${v.mismatchAt}`);
    assert.equal(v.bytes, TOTAL);
    client.socket.end();
    await within(client.closed, 5000, 'client closed');
    await assertDrained(f);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

test('an upstream that does not read pauses the client; proxy memory stays bounded; then every byte arrives', async () => {
  const progress = { sent: 0, waiting: false };
  const v = new StreamVerifier();
  let upSocket: net.Socket | undefined;
  const up = await new Upstream((s) => {
    upSocket = s;
    s.pause(); // the slow reader, from the start
    s.on('data', (c: Buffer) => v.feed(c));
    s.on('end', () => s.end(`${v.bytes} ${v.mismatchAt}`));
  }).listen();
  const f = await startProxy(up.address, { maxInboundBytes: LIMIT, maxOutboundBytes: LIMIT });
  try {
    const client = await RawClient.dial(f.port, { allowHalfOpen: true }).connected();
    const upload = pump(client.socket, TOTAL, 128 * KiB, progress);
    const peak = await watch(f, PAUSE);
    assert.ok(progress.waiting, 'the client is held up by backpressure');
    assert.ok(progress.sent < TOTAL / 2, `the client sent ${progress.sent} of ${TOTAL} B to an upstream that reads nothing`);
    assertBounded(peak, 'the upstream read nothing');
    assert.ok(peak.buffered > 0);

    upSocket!.resume();
    await within(upload, 30_000, 'the upload after resuming');
    client.socket.end();
    await within(client.endReceived, 30_000, 'the upstream verdict');
    assert.equal(client.data().toString(), `${TOTAL} -1`);
    await within(client.closed, 5000, 'client closed');
    await assertDrained(f);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

test('a slow reader on one pair does not hold up another pair', async () => {
  const up = await new Upstream((s) => {
    void pump(s, 32 * MiB, 128 * KiB).then(() => s.end()).catch(() => {});
  }).listen();
  const f = await startProxy(up.address, { maxInboundBytes: LIMIT, maxOutboundBytes: LIMIT });
  try {
    const slow = RawClient.dial(f.port, { allowHalfOpen: true, keep: false });
    await slow.waitForReceived(1);
    slow.socket.pause();
    const fast = RawClient.dial(f.port, { allowHalfOpen: true, keep: false });
    const v = new StreamVerifier();
    fast.socket.on('data', (c: Buffer) => v.feed(c));
    await within(fast.endReceived, 30_000, 'the fast client to get its whole stream');
    assert.equal(v.check(32 * MiB, 'the fast client\'s stream'), '');
    fast.socket.end();
    slow.socket.destroy();
    await within(Promise.all([fast.closed, slow.closed]), 5000, 'clients closed');
    await assertDrained(f);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});
