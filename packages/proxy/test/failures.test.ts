// Failures: an upstream that is down when a client connects, an upstream that dies mid-stream, a
// client that dies mid-stream. Each time the other side is closed, the error is reported when it
// matters, and nothing is leaked (no connection, no pooled block).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describeError, logToStderr } from '../src/index.js';
import { assertDrained, deadPort, proxyRig, pump, RawClient, startProxy, until, within } from './helpers.js';

test('upstream down at connect time: the client is closed and a clear error is reported', async () => {
  const port = await deadPort();
  const f = await startProxy(`127.0.0.1:${port}`);
  try {
    const client = await RawClient.dial(f.port, { allowHalfOpen: false }).connected();
    client.socket.write('anyone there?');
    await within(client.closed, 5000, 'client closed');
    assert.equal(client.received, 0);
    assert.equal(f.errors.length, 1);
    const { error, info } = f.errors[0]!;
    assert.equal((error as { code?: string }).code, 'ERR_DIAL_FAILED');
    assert.equal(((error as Error).cause as { code?: string }).code, 'ECONNREFUSED');
    assert.equal(info.stage, 'dial');
    assert.equal(info.upstream, `127.0.0.1:${port}`);
    assert.match(info.client, /^127\.0\.0\.1:\d+$/);
    const line = describeError(error, info);
    assert.match(line, new RegExp(`^upstream 127\\.0\\.0\\.1:${port} unreachable, closing client 127\\.0\\.0\\.1:\\d+: .*ECONNREFUSED`));
    assert.equal(f.proxy.stats().dialFailures, 1);
    await assertDrained(f);
  } finally {
    await f.proxy.shutdown();
  }
});

test('the default error handler writes exactly one line to stderr', () => {
  // In a child process, so that this test's own stderr stays clean.
  const helpers = fileURLToPath(new URL('../src/index.js', import.meta.url));
  const code = `
    import { logToStderr } from ${JSON.stringify(helpers)};
    const err = Object.assign(new Error('dial 127.0.0.1:1 failed: connect ECONNREFUSED 127.0.0.1:1'), { code: 'ERR_DIAL_FAILED' });
    logToStderr(err, { stage: 'dial', client: '127.0.0.1:5555', upstream: '127.0.0.1:1' });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(
    r.stderr,
    'nocopy-proxy: upstream 127.0.0.1:1 unreachable, closing client 127.0.0.1:5555: dial 127.0.0.1:1 failed: connect ECONNREFUSED 127.0.0.1:1 (ERR_DIAL_FAILED)\n',
  );
  assert.equal(typeof logToStderr, 'function');
});

test('upstream dies mid-stream (reset): the client is closed, nothing leaked, the reset reported when Node sees it as an error', async () => {
  await using f = await proxyRig((s) => {
    void pump(s, 4 * 1024 * 1024).then(() => setTimeout(() => s.resetAndDestroy(), 20));
  });
  const client = RawClient.dial(f.port, { allowHalfOpen: false, keep: false });
  await within(client.closed, 10_000, 'client closed after the upstream died');
  assert.ok(client.received <= 4 * 1024 * 1024);
  await assertDrained(f);
  // The reset comes after the last byte. Read promptly, Node sees ECONNRESET and the proxy reports
  // it; on a loaded machine the proxy's socket sometimes reads the end of the stream instead (Node
  // emits 'end', no error), which closes the pair like a clean end. Either way the client is
  // closed and nothing leaks; what is reported is one upstream ECONNRESET or nothing.
  await new Promise((r) => setImmediate(r));
  assert.ok(f.errors.length <= 1, `${f.errors.length} failures reported`);
  if (f.errors.length === 1) {
    assert.equal(f.errors[0]!.info.stage, 'upstream');
    assert.equal((f.errors[0]!.error as { code?: string }).code, 'ECONNRESET');
  }
});

test('upstream process gone mid-exchange (FIN, then nothing reads): the client still sending is closed, nothing leaked', async () => {
  await using f = await proxyRig((s) => {
    s.once('data', () => s.destroy()); // like a process that exits: FIN, and later writes get a reset
  }, {}, { allowHalfOpen: false });
  const client = await RawClient.dial(f.port, { allowHalfOpen: true, keep: false }).connected();
  // Keeps sending after the upstream is gone; the proxy must not keep the pair open.
  // It gets the FIN passed on, or a reset once the proxy's writes to the dead upstream fail.
  const sending = pump(client.socket, 64 * 1024 * 1024, 64 * 1024).catch(() => {});
  await within(client.closed, 10_000, 'client closed');
  await sending;
  await assertDrained(f);
});

test('client dies mid-stream: the upstream connection is closed, nothing leaked, nothing reported', async () => {
  await using f = await proxyRig((s) => {
    void pump(s, 256 * 1024 * 1024).catch(() => {});
  });
  const client = RawClient.dial(f.port, { allowHalfOpen: true, keep: false });
  await client.waitForReceived(1024 * 1024);
  client.socket.resetAndDestroy();
  await until(() => f.up.accepted === 1 && f.up.sockets.size === 0, 'upstream socket closed');
  await assertDrained(f);
  assert.deepEqual(f.errors, []);
});

test('many clients of an upstream that closes every connection at once: all pairs close', async () => {
  await using f = await proxyRig((s) => s.destroy(), {}, { allowHalfOpen: false });
  const clients = Array.from({ length: 30 }, () => RawClient.dial(f.port, { allowHalfOpen: false }));
  await within(Promise.all(clients.map((c) => c.closed)), 10_000, 'all clients closed');
  await assertDrained(f, 'proxy', { poolUsed: false }); // no byte flows either way
});
