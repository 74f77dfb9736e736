// Write timeouts name the side that stopped reading: a client that takes nothing is reported once
// with stage 'client', an upstream that takes nothing once with stage 'upstream' (the forwarding
// from the other side is what waited, but the stuck writer is the peer's). Both pairs close and
// nothing is leaked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { Upstream, assertDrained, pump, sleep, startProxy, until, within } from './helpers.js';

const LIMIT = 64 * 1024;
const TIMEOUT = 300;

function writeTimeouts(errors: { error: unknown; info: { stage: string } }[]): string[] {
  return errors.filter((e) => (e.error as { code?: unknown }).code === 'ERR_WRITE_TIMEOUT').map((e) => e.info.stage);
}

test('a client that reads nothing: one write timeout, reported with stage client', async () => {
  // The upstream floods; the client connects and never reads, so the proxy's writes to it stall.
  const up = await new Upstream((s) => {
    void pump(s, 256 * 1024 * 1024).catch(() => {});
  }).listen();
  const f = await startProxy(up.address, { writeTimeout: TIMEOUT, maxInboundBytes: LIMIT, maxOutboundBytes: LIMIT });
  try {
    const client = net.connect({ port: f.port, host: '127.0.0.1' });
    client.on('error', () => {});
    await once(client, 'connect');
    client.pause();
    // Not once(): that rejects on the reset the proxy may answer with.
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await until(() => writeTimeouts(f.errors).length > 0, () => `a write timeout (errors: ${JSON.stringify(f.errors.map((e) => e.info))})`, 20_000);
    client.resume();
    await within(closed, 10_000, 'client closed after its write timeout');
    await until(() => f.proxy.stats().clients === 0 && f.proxy.stats().upstreams === 0, 'pair closed', 10_000);
    // Late reports would come from the close callbacks and the rejected forwarding, within a few turns.
    await sleep(50);
    assert.deepEqual(writeTimeouts(f.errors), ['client'], JSON.stringify(f.errors.map((e) => ({ code: (e.error as { code?: unknown }).code, ...e.info }))));
    await assertDrained(f);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});

test('an upstream that reads nothing: one write timeout, reported with stage upstream', async () => {
  // The upstream never reads; the client floods, so the proxy's writes to the upstream stall.
  const up = await new Upstream((s) => s.pause()).listen();
  const f = await startProxy(up.address, { writeTimeout: TIMEOUT, maxInboundBytes: LIMIT, maxOutboundBytes: LIMIT });
  try {
    const client = net.connect({ port: f.port, host: '127.0.0.1' });
    client.on('error', () => {});
    client.resume();
    await once(client, 'connect');
    // Not once(): that rejects on the reset the proxy may answer with.
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    void pump(client, 256 * 1024 * 1024).catch(() => {});
    await until(() => writeTimeouts(f.errors).length > 0, () => `a write timeout (errors: ${JSON.stringify(f.errors.map((e) => e.info))})`, 20_000);
    await within(closed, 10_000, 'client closed after the upstream write timeout');
    await until(() => f.proxy.stats().clients === 0 && f.proxy.stats().upstreams === 0, 'pair closed', 10_000);
    await sleep(50);
    assert.deepEqual(writeTimeouts(f.errors), ['upstream'], JSON.stringify(f.errors.map((e) => ({ code: (e.error as { code?: unknown }).code, ...e.info }))));
    await assertDrained(f);
  } finally {
    await f.proxy.shutdown();
    await up.close();
  }
});
