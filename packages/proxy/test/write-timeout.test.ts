// Write timeouts name the side that stopped reading: a client that takes nothing is reported once
// with stage 'client', an upstream that takes nothing once with stage 'upstream' (the forwarding
// from the other side is what waited, but the stuck writer is the peer's). Both pairs close and
// nothing is leaked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { assertDrained, proxyRig, pump, sleep, until, within, type ProxyFixture } from './helpers.js';

const LIMIT = 64 * 1024;
const TIMEOUT = 300;

function writeTimeouts(errors: { error: unknown; info: { stage: string } }[]): string[] {
  return errors.filter((e) => (e.error as { code?: unknown }).code === 'ERR_WRITE_TIMEOUT').map((e) => e.info.stage);
}

/**
 * Waits for the write timeout, lets the client go on (`then`), waits for the client and the pair to
 * close, and checks that exactly one write timeout was reported, with `stage`.
 */
async function assertOneWriteTimeout(f: ProxyFixture, closed: Promise<void>, stage: string, then?: () => void): Promise<void> {
  await until(() => writeTimeouts(f.errors).length > 0, () => `a write timeout (errors: ${JSON.stringify(f.errors.map((e) => e.info))})`, 20_000);
  then?.();
  await within(closed, 10_000, `client closed after the ${stage} write timeout`);
  await until(() => f.proxy.stats().clients === 0 && f.proxy.stats().upstreams === 0, 'pair closed', 10_000);
  // Late reports would come from the close callbacks and the rejected forwarding, within a few turns.
  await sleep(50);
  assert.deepEqual(writeTimeouts(f.errors), [stage], JSON.stringify(f.errors.map((e) => ({ code: (e.error as { code?: unknown }).code, ...e.info }))));
  await assertDrained(f);
}

test('a client that reads nothing: one write timeout, reported with stage client', async () => {
  // The upstream floods; the client connects and never reads, so the proxy's writes to it stall.
  await using f = await proxyRig((s) => {
    void pump(s, 256 * 1024 * 1024).catch(() => {});
  }, { writeTimeout: TIMEOUT, maxInboundBytes: LIMIT, maxOutboundBytes: LIMIT });
  const client = net.connect({ port: f.port, host: '127.0.0.1' });
  client.on('error', () => {});
  await once(client, 'connect');
  client.pause();
  // Not once(): that rejects on the reset the proxy may answer with.
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  await assertOneWriteTimeout(f, closed, 'client', () => client.resume());
});

test('an upstream that reads nothing: one write timeout, reported with stage upstream', async () => {
  // The upstream never reads; the client floods, so the proxy's writes to the upstream stall.
  await using f = await proxyRig((s) => s.pause(), { writeTimeout: TIMEOUT, maxInboundBytes: LIMIT, maxOutboundBytes: LIMIT });
  const client = net.connect({ port: f.port, host: '127.0.0.1' });
  client.on('error', () => {});
  client.resume();
  await once(client, 'connect');
  // Not once(): that rejects on the reset the proxy may answer with.
  const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
  void pump(client, 256 * 1024 * 1024).catch(() => {});
  await assertOneWriteTimeout(f, closed, 'upstream');
});
