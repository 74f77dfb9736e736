// Promises of the proxy README checked in behaviour (issue 28, item 6): dialTimeout bounds the dial
// of an upstream that never completes the handshake, and writeTimeout closes a pair whose reader
// takes nothing. Kept in test/ (packages/proxy/test is another concern's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createProxy } from '@nocopy/proxy';
import { RawClient, until, within } from '@nocopy/test-kit';

/**
 * A TCP port whose connects never complete: a listener with a backlog of 1 in a child process that
 * is then stopped (SIGSTOP), so nothing accepts; once the kernel's accept queue is full (the fillers
 * below), further SYNs are dropped and a connect waits. No route tricks, loopback only.
 */
async function blackHole(t: import('node:test').TestContext): Promise<number> {
  const child = spawn(process.execPath, ['-e', `
    const s = require('node:net').createServer();
    s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
      process.stdout.write(s.address().port + '\\n', () => process.kill(process.pid, 'SIGSTOP'));
    });`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => void child.kill('SIGKILL'));
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(String(line).trim());
  // Fill the accept queue (backlog + 1 on Linux): these complete in the kernel and wait there.
  const fillers: net.Socket[] = [];
  t.after(() => fillers.forEach((s) => s.destroy()));
  for (let i = 0; i < 4; i++) {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.on('error', () => {});
    fillers.push(s);
  }
  await until(() => fillers.filter((s) => !s.connecting).length >= 2, 'the accept queue to fill', 10_000);
  return port;
}

test('README "dialTimeout: ms to connect to the upstream": an upstream that never answers the SYN is given up after dialTimeout, and the client closed', { timeout: 60_000 }, async (t) => {
  const port = await blackHole(t);
  const errors: { error: unknown; stage: string }[] = [];
  const proxy = await createProxy({ upstream: `127.0.0.1:${port}`, dialTimeout: 300, onError: (error, info) => void errors.push({ error, stage: info.stage }) });
  t.after(() => proxy.shutdown({ timeout: 1000 }));
  // From before the connect: the proxy starts its dial when it accepts, before connect() resolves here.
  const t0 = performance.now();
  const c = await RawClient.connect((proxy.address() as AddressInfo).port);
  await within(c.closed, 20_000, 'the proxy to close the client once the dial timed out');
  const took = performance.now() - t0;
  assert.equal(errors.length, 1, errors.map((e) => String(e.error)).join('; '));
  assert.equal(errors[0]!.stage, 'dial');
  assert.equal((errors[0]!.error as { code?: string }).code, 'ERR_DIAL_TIMEOUT');
  // Timers are late, never early: not before dialTimeout.
  assert.ok(took >= 300 - 2, `closed after ${took.toFixed(0)} ms`);
  assert.equal(proxy.stats().dialFailures, 1);
});

test('README "writeTimeout: close a pair whose reader takes nothing for this many ms"', { timeout: 60_000 }, async (t) => {
  // An upstream that sends without end (honouring backpressure) to a client that never reads.
  let upstreamSocket: net.Socket | undefined;
  const upstreamClosed = new Promise<void>((resolve) => {
    const server = net.createServer((sock) => {
      upstreamSocket = sock;
      sock.on('error', () => {});
      sock.on('close', () => resolve());
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = (): void => {
        while (!sock.destroyed && sock.write(chunk));
        if (!sock.destroyed) sock.once('drain', pump);
      };
      pump();
    });
    server.listen(0, '127.0.0.1');
    t.after(() => new Promise<void>((r) => {
      upstreamSocket?.destroy();
      server.close(() => r());
    }));
    servers.push(server);
  });
  await once(servers[0]!, 'listening');
  const upstreamPort = (servers[0]!.address() as AddressInfo).port;
  const errors: { error: unknown; stage: string }[] = [];
  const proxy = await createProxy({ upstream: `127.0.0.1:${upstreamPort}`, writeTimeout: 300, onError: (error, info) => void errors.push({ error, stage: info.stage }) });
  t.after(() => proxy.shutdown({ timeout: 1000 }));
  const c = await RawClient.connect((proxy.address() as AddressInfo).port);
  t.after(() => c.destroy());
  c.socket.pause(); // takes nothing
  // The proxy closes both connections of the pair. (The client cannot see its close while it reads
  // nothing: the FIN waits behind the bytes its kernel has not delivered.)
  await until(() => proxy.stats().clients === 0 && proxy.stats().upstreams === 0, () => `the pair to be closed (${JSON.stringify(proxy.stats())})`, 20_000);
  await within(upstreamClosed, 20_000, 'the proxy to close the upstream of that pair');
  assert.ok(
    errors.some((e) => (e.error as { code?: string }).code === 'ERR_WRITE_TIMEOUT'),
    `a write timeout was reported: ${errors.map((e) => `${e.stage}: ${String(e.error)}`).join('; ')}`,
  );
  assert.equal(c.received, 0, 'the client took nothing');
  c.socket.resume();
  await within(c.closed, 20_000, 'the client to reach the close once it reads');
});

const servers: net.Server[] = [];
