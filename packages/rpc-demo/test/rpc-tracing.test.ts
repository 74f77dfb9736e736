// Tracing channels nocopy:rpc:client:call and nocopy:rpc:server:call (start/end/asyncStart/asyncEnd/
// error, as undici and node:http publish them), bound stores, and per-method stats.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { AsyncLocalStorage } from 'node:async_hooks';
import { RpcError } from '../src/errors.js';
import type { CallContext } from '../src/rpc/context.js';
import { client, registerBasics, sleep, startServer, until } from './rpc-helpers.js';

const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;

/** Subscribes to every event of `name`, logging `event method` (and the message); returns the log and unsubscribe. */
function record(name: string) {
  const log: string[] = [];
  const messages: Record<string, unknown>[] = [];
  const handlers = Object.fromEntries(
    EVENTS.map((e) => [
      e,
      (m: unknown) => {
        const msg = m as Record<string, unknown>;
        log.push(`${e} ${String(msg.method)}`);
        if (e === 'start') messages.push(msg);
      },
    ]),
  ) as unknown as diagnostics.TracingChannelSubscribers<object>;
  const tc = diagnostics.tracingChannel(name);
  tc.subscribe(handlers);
  return { log, messages, stop: () => tc.unsubscribe(handlers) };
}

describe('tracing channels', () => {
  it('a server publishes start/end for sync calls, start/end/asyncStart/asyncEnd for async ones, error before the end', async () => {
    const { server, address } = await startServer({}, (s) => {
      registerBasics(s);
      s.register('boom', () => {
        throw new RpcError('boom', 'ERR_BOOM');
      });
      s.register('asyncBoom', async () => {
        await sleep(0);
        throw new RpcError('later boom', 'ERR_BOOM');
      });
    });
    const c = client(address, { connections: 1 });
    await c.call('add', 0, 0); // the connection and its hello before recording
    const srv = record('nocopy:rpc:server:call');
    try {
      assert.equal(await c.request('add', [1, 2], { metadata: { trace: 'abc' } }), 3);
      assert.equal(await c.call('asyncAdd', 1, 2), 3);
      await assert.rejects(c.call('boom'), { code: 'ERR_BOOM' });
      await assert.rejects(c.call('asyncBoom'), { code: 'ERR_BOOM' });
      await c.notify('note', 'x');
      await until(() => srv.log.length === 16, () => `all events: ${srv.log.join(', ')}`);
      assert.deepEqual(srv.log, [
        'start add', 'end add',
        'start asyncAdd', 'end asyncAdd', 'asyncStart asyncAdd', 'asyncEnd asyncAdd',
        'start boom', 'error boom', 'end boom',
        'start asyncBoom', 'end asyncBoom', 'error asyncBoom', 'asyncStart asyncBoom', 'asyncEnd asyncBoom',
        'start note', 'end note',
      ]);
      const [add, asyncAdd, boom] = srv.messages as { params: unknown[]; result?: unknown; error?: unknown; context: CallContext }[];
      assert.deepEqual(add!.params, [1, 2]);
      assert.equal(add!.result, 3);
      assert.equal(add!.context.metadata.trace, 'abc');
      assert.equal(asyncAdd!.result, 3);
      assert.equal((boom!.error as RpcError).code, 'ERR_BOOM');
    } finally {
      srv.stop();
      await c.close();
      await server.shutdown();
    }
  });

  it('a client publishes start, end, then asyncStart/asyncEnd (or error) per call, with method, params and options', async () => {
    const { server, address } = await startServer({}, (s) => registerBasics(s));
    const c = client(address, { connections: 1 });
    const cli = record('nocopy:rpc:client:call');
    try {
      assert.equal(await c.request('add', [2, 3], { timeout: 1234 }), 5);
      await assert.rejects(c.call('nosuch'), { code: 'ERR_METHOD_NOT_FOUND' });
      assert.deepEqual(cli.log, ['start add', 'end add', 'asyncStart add', 'asyncEnd add', 'start nosuch', 'end nosuch', 'error nosuch', 'asyncStart nosuch', 'asyncEnd nosuch']);
      const [add, nosuch] = cli.messages as { params: unknown[]; options: { timeout?: number }; result?: unknown; error?: unknown }[];
      assert.deepEqual(add!.params, [2, 3]);
      assert.equal(add!.options.timeout, 1234);
      assert.equal(add!.result, 5);
      assert.equal((nosuch!.error as RpcError).code, 'ERR_METHOD_NOT_FOUND');
    } finally {
      cli.stop();
      await c.close();
      await server.shutdown();
    }
    assert.equal(diagnostics.tracingChannel('nocopy:rpc:client:call').hasSubscribers, false, 'unsubscribed: nothing is published');
  });

  it("a store bound to the server's start event is current inside the handler (a span)", async () => {
    const als = new AsyncLocalStorage<{ span: string }>();
    const start = diagnostics.channel('tracing:nocopy:rpc:server:call:start');
    start.bindStore(als, (m) => ({ span: `span of ${(m as { method: string }).method}` }));
    const { server, address } = await startServer({}, (s) =>
      s.register('where', async () => {
        await sleep(1);
        return als.getStore()?.span ?? null;
      }),
    );
    const c = client(address, { connections: 1 });
    try {
      assert.equal(await c.call('where'), 'span of where');
    } finally {
      start.unbindStore(als);
      await c.close();
      await server.shutdown();
    }
  });
});

describe('per-method stats', () => {
  it('stats().methods counts calls and errors per method; with latency: true, a histogram per method', async () => {
    for (const latency of [false, true]) {
      const { server, address } = await startServer({ latency }, (s) => {
        registerBasics(s);
        s.register('fail', async () => {
          throw new Error('no');
        });
      });
      const c = client(address, { connections: 1 });
      try {
        for (let i = 0; i < 5; i++) await c.call('add', i, i);
        await c.call('asyncAdd', 1, 1);
        await assert.rejects(c.call('fail'));
        const m = server.stats().methods;
        assert.deepEqual([m.add!.calls, m.add!.errors, m.asyncAdd!.calls, m.fail!.calls, m.fail!.errors, m.echo!.calls], [5, 0, 1, 1, 1, 0]);
        if (!latency) assert.equal(m.add!.latency, null);
        else {
          assert.equal(m.add!.latency!.count, 5);
          assert.equal(m.fail!.latency!.count, 1);
          assert.ok(m.asyncAdd!.latency!.min >= 1 && m.asyncAdd!.latency!.percentile(50) >= m.asyncAdd!.latency!.min);
        }
      } finally {
        await c.close();
        await server.shutdown();
      }
    }
  });
});
