// The /metrics endpoints of `nocopy-rpc serve --metrics PORT` and `nocopy-proxy --metrics PORT`,
// scraped while a load runs and after it: `promtool check metrics` accepts them, and the counters
// match the calls and bytes this test made.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { createClient } from '@nocopy/rpc-demo';
import { type Cli, promtoolCheck, proxyBin, rpcBin, sample, samplesBy, scrape, skipWithoutPromtool, startCli } from './prom.js';

const skip = skipWithoutPromtool;

function checked(text: string, what: string): void {
  const r = promtoolCheck(text);
  assert.equal(r.status, 0, `promtool check metrics on ${what}: ${r.output}\n${text}`);
}

describe('nocopy-rpc serve --metrics', { skip }, () => {
  let cli: Cli;
  let rpcAddress = '';
  let metricsUrl = '';
  before(async () => {
    cli = await startCli(rpcBin, ['serve', '--port', '0', '--metrics', '0']);
    rpcAddress = /on (127\.0\.0\.1:\d+)/.exec(cli.line)?.[1] ?? '';
    metricsUrl = /metrics on (http:\/\/\S+\/metrics)/.exec(cli.line)?.[1] ?? '';
    assert.ok(rpcAddress !== '' && metricsUrl !== '', cli.line);
  });
  after(() => cli?.stop());

  it('serves metrics promtool accepts, under load and after, whose counters match the calls made', async () => {
    const client = createClient({ address: rpcAddress, connections: 2 });
    const lanes = 16;
    const perLane = 150;
    const bad = 25;
    let done = 0;
    let underLoad = '';
    try {
      const lane = async (): Promise<void> => {
        for (let i = 0; i < perLane; i++) {
          assert.equal(await client.call('echo', `x${i}`), `x${i}`);
          // Halfway, with the other lanes' calls in flight: a scrape under load.
          if (++done === (lanes * perLane) / 2) underLoad = await scrape(metricsUrl);
        }
      };
      const failing = async (): Promise<void> => {
        for (let i = 0; i < bad; i++) await assert.rejects(client.call('add', 'one', 2), { code: 'ERR_BAD_ARGS' });
      };
      await Promise.all([...Array.from({ length: lanes }, lane), failing(), client.call('sleep', 20)]);
    } finally {
      await client.close();
    }
    assert.notEqual(underLoad, '');
    checked(underLoad, 'a scrape under load');
    const text = await scrape(metricsUrl);
    checked(text, 'a scrape after the load');

    const calls = lanes * perLane;
    assert.equal(sample(text, 'nocopy_rpc_server_calls_total', { rpc_method: 'echo' }), calls);
    assert.equal(sample(text, 'nocopy_rpc_server_errors_total', { rpc_method: 'echo' }), 0);
    assert.equal(sample(text, 'nocopy_rpc_server_calls_total', { rpc_method: 'add' }), bad);
    assert.equal(sample(text, 'nocopy_rpc_server_errors_total', { rpc_method: 'add' }), bad);
    assert.equal(sample(text, 'nocopy_rpc_server_calls_total', { rpc_method: 'sleep' }), 1);
    // The duration histograms count the same calls, the failed ones under their error code.
    assert.equal(sample(text, 'rpc_server_duration_count', { rpc_method: 'echo', rpc_system: 'nocopy-msgpack-rpc' }), calls);
    assert.equal(sample(text, 'rpc_server_duration_bucket', { rpc_method: 'echo', le: '+Inf' }), calls);
    assert.equal(sample(text, 'rpc_server_duration_count', { rpc_method: 'add', error_type: 'ERR_BAD_ARGS' }), bad);
    assert.equal(sample(text, 'rpc_server_duration_count', { rpc_method: 'sleep' }), 1);
    assert.ok(sample(text, 'rpc_server_duration_sum', { rpc_method: 'sleep' })! >= 15, 'sleep(20) took about 20 ms (Node timers may fire a little early)');
    // The client closed: no connection left, no call in flight; the pool's memory is reported.
    assert.equal(sample(text, 'nocopy_rpc_server_in_flight'), 0);
    // The server's EventLoop: the client's connections, and no input left buffered.
    assert.ok(sample(text, 'nocopy_transport_accepted_total')! >= 1);
    assert.equal(sample(text, 'nocopy_transport_inbound_bytes'), 0);
    assert.ok(sample(text, 'nocopy_pool_memory', { state: 'idle' })! > 0);
    assert.ok(sample(underLoad, 'nocopy_rpc_server_calls_total', { rpc_method: 'echo' })! >= calls / 2);
  });

  it('answers 404 elsewhere than /metrics', async () => {
    const res = await fetch(metricsUrl.replace(/\/metrics$/, '/other'));
    assert.equal(res.status, 404);
    await res.text();
  });
});

describe('nocopy-rpc serve --processes 2 --metrics', { skip }, () => {
  it("serves the cluster's metrics and every worker's, whose counters add up to the calls made, and exits on SIGTERM", async () => {
    const cli = await startCli(rpcBin, ['serve', '--port', '0', '--processes', '2', '--metrics', '0']);
    try {
      const url = /metrics on (http:\/\/\S+\/metrics)/.exec(cli.line)?.[1] ?? '';
      const rpcAddress = /on (127\.0\.0\.1:\d+)/.exec(cli.line)?.[1] ?? '';
      assert.ok(url !== '' && rpcAddress !== '', cli.line);
      // Four connections, handed round-robin by the primary: both workers serve calls.
      const client = createClient({ address: rpcAddress, connections: 4 });
      const calls = 400;
      const bad = 10;
      let underLoad = '';
      try {
        await client.ready();
        await Promise.all([
          ...Array.from({ length: calls }, async (_, i) => {
            assert.equal(await client.call('echo', i), i);
            if (i === calls / 2) underLoad = await scrape(url);
          }),
          ...Array.from({ length: bad }, () => assert.rejects(client.call('add', 'one', 2), { code: 'ERR_BAD_ARGS' })),
        ]);
      } finally {
        await client.close();
      }
      checked(underLoad, 'the cluster under load');
      const text = await scrape(url);
      checked(text, 'the cluster after the load');
      assert.equal(sample(text, 'nocopy_cluster_workers', { state: 'ready' }), 2);
      assert.equal(sample(text, 'nocopy_cluster_restarts_total'), 0);
      const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
      const echo = samplesBy(text, 'nocopy_rpc_server_calls_total', 'worker', { rpc_method: 'echo' });
      assert.deepEqual([...echo.keys()].sort(), ['0', '1'], 'both workers report');
      assert.ok([...echo.values()].every((n) => n > 0), `calls spread over both workers: ${JSON.stringify([...echo])}`);
      assert.equal(sum(echo), calls);
      assert.equal(sum(samplesBy(text, 'nocopy_rpc_server_errors_total', 'worker', { rpc_method: 'add' })), bad);
      assert.equal(sum(samplesBy(text, 'rpc_server_duration_count', 'worker', { rpc_method: 'echo' })), calls);
      assert.equal(sum(samplesBy(text, 'rpc_server_duration_count', 'worker', { rpc_method: 'add', error_type: 'ERR_BAD_ARGS' })), bad);
      assert.equal(samplesBy(text, 'nocopy_pool_memory', 'worker', { state: 'idle' }).size, 2, "each worker's pool");
      assert.ok(sum(samplesBy(underLoad, 'nocopy_rpc_server_calls_total', 'worker', { rpc_method: 'echo' })) >= calls / 2);
    } finally {
      // stop() waits for the exit: the endpoint must not keep the primary alive.
      await cli.stop();
    }
    assert.equal(cli.child.exitCode, 0);
  });
});

describe('nocopy-proxy --metrics', { skip }, () => {
  let upstream: net.Server;
  let cli: Cli;
  let listen = '';
  let metricsUrl = '';
  before(async () => {
    upstream = net.createServer((s) => s.pipe(s));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    cli = await startCli(proxyBin, ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${(upstream.address() as AddressInfo).port}`, '--metrics', '0']);
    listen = /listening on (127\.0\.0\.1:\d+)/.exec(cli.line)?.[1] ?? '';
    metricsUrl = /metrics on (http:\/\/\S+\/metrics)/.exec(cli.line)?.[1] ?? '';
    assert.ok(listen !== '' && metricsUrl !== '', cli.line);
  });
  after(async () => {
    await cli?.stop();
    upstream?.close();
  });

  it('counts the connections and the bytes forwarded each way', async () => {
    const size = 64 * 1024;
    const payload = Buffer.alloc(size, 7);
    const [host, port] = listen.split(':') as [string, string];
    const pairs = 3;
    await Promise.all(Array.from({ length: pairs }, async () => {
      const s = net.connect(Number(port), host);
      await once(s, 'connect');
      s.end(payload);
      let got = 0;
      for await (const chunk of s) got += (chunk as Buffer).length;
      assert.equal(got, size);
    }));
    const text = await scrape(metricsUrl);
    checked(text, 'the proxy');
    assert.equal(sample(text, 'nocopy_proxy_accepted_total'), pairs);
    assert.equal(sample(text, 'nocopy_proxy_bytes_total', { network_io_direction: 'up' }), pairs * size);
    assert.equal(sample(text, 'nocopy_proxy_bytes_total', { network_io_direction: 'down' }), pairs * size);
    assert.equal(sample(text, 'nocopy_proxy_dial_failures_total'), 0);
    // No RPC here: the proxy's endpoint has no RPC histograms.
    assert.equal(sample(text, 'rpc_server_duration_count'), undefined);
  });
});

describe('nocopy-proxy --processes 2 --metrics', { skip }, () => {
  it("serves every worker's proxy figures, which add up to the connections and bytes forwarded", async () => {
    const upstream = net.createServer((s) => s.pipe(s));
    upstream.listen(0, '127.0.0.1');
    await once(upstream, 'listening');
    const cli = await startCli(proxyBin, ['--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${(upstream.address() as AddressInfo).port}`, '--processes', '2', '--metrics', '0']);
    try {
      const listen = /listening on (127\.0\.0\.1:\d+)/.exec(cli.line)?.[1] ?? '';
      const url = /metrics on (http:\/\/\S+\/metrics)/.exec(cli.line)?.[1] ?? '';
      assert.ok(listen !== '' && url !== '', cli.line);
      const [host, port] = listen.split(':') as [string, string];
      const size = 32 * 1024;
      const pairs = 6;
      // One after the other: the primary hands connections round-robin, so both workers forward some.
      for (let i = 0; i < pairs; i++) {
        const s = net.connect(Number(port), host);
        await once(s, 'connect');
        s.end(Buffer.alloc(size, i));
        let got = 0;
        for await (const chunk of s) got += (chunk as Buffer).length;
        assert.equal(got, size);
      }
      const text = await scrape(url);
      checked(text, 'the proxy cluster');
      const sum = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
      const accepted = samplesBy(text, 'nocopy_proxy_accepted_total', 'worker');
      assert.deepEqual([...accepted.keys()].sort(), ['0', '1'], 'both workers report');
      assert.ok([...accepted.values()].every((n) => n > 0), `connections spread over both workers: ${JSON.stringify([...accepted])}`);
      assert.equal(sum(accepted), pairs);
      assert.equal(sum(samplesBy(text, 'nocopy_proxy_bytes_total', 'worker', { network_io_direction: 'up' })), pairs * size);
      assert.equal(sum(samplesBy(text, 'nocopy_proxy_bytes_total', 'worker', { network_io_direction: 'down' })), pairs * size);
      assert.equal(samplesBy(text, 'nocopy_pool_memory', 'worker', { state: 'idle' }).size, 2, "each worker's pool");
      assert.equal(sample(text, 'nocopy_cluster_workers', { state: 'ready' }), 2);
    } finally {
      await cli.stop();
      upstream.close();
    }
    assert.equal(cli.child.exitCode, 0);
  });
});
