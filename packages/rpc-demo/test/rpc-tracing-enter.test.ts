// The call messages' enter(): a start subscriber runs the calls it chooses inside something of its
// own (a context), the others as they are; two subscribers' enters nest in subscription order; a
// bound store and an enter() work together. And the client's message names the connection the call
// was written on (address, peer), also through a middleware.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { ClientCallMessage, ServerCallMessage } from '../src/rpc/tracing.js';
import { client, sleep, startServer } from './rpc-helpers.js';

const SERVER = 'nocopy:rpc:server:call';
const CLIENT = 'nocopy:rpc:client:call';

describe('enter() of a call message', () => {
  it("runs the calls a start subscriber chose inside its enter(), nested in subscription order, and leaves the others alone", async () => {
    const als = new AsyncLocalStorage<string[]>();
    const tc = diagnostics.tracingChannel<unknown, ServerCallMessage>(SERVER);
    const wrap = (tag: string) => ({
      start(m: ServerCallMessage) {
        if (m.method !== 'where') return;
        const outer = m.enter;
        const mine = (run: () => unknown): unknown => als.run([...(als.getStore() ?? []), tag], run);
        m.enter = outer === undefined ? mine : (run) => outer(() => mine(run));
      },
    });
    const first = wrap('first');
    const second = wrap('second');
    const { server, address } = await startServer({}, (s) => {
      s.register('where', async () => {
        await sleep(1);
        return als.getStore() ?? null;
      });
      s.register('plain', () => als.getStore() ?? null);
    });
    const c = client(address, { connections: 1 });
    tc.subscribe(first as never);
    tc.subscribe(second as never);
    try {
      assert.deepEqual(await c.call('where'), ['first', 'second']);
      assert.equal(await c.call('plain'), null);
    } finally {
      tc.unsubscribe(first as never);
      tc.unsubscribe(second as never);
      await c.close();
      await server.shutdown();
    }
  });

  it('works beside a store bound to start: both are current in the handler', async () => {
    const store = new AsyncLocalStorage<string>();
    const entered = new AsyncLocalStorage<string>();
    const start = diagnostics.channel(`tracing:${SERVER}:start`);
    start.bindStore(store, () => 'from the store');
    const sub = { start: (m: ServerCallMessage) => void (m.enter = (run) => entered.run('from enter', run)) };
    const tc = diagnostics.tracingChannel<unknown, ServerCallMessage>(SERVER);
    tc.subscribe(sub as never);
    const { server, address } = await startServer({}, (s) => s.register('both', () => [store.getStore() ?? null, entered.getStore() ?? null]));
    const c = client(address, { connections: 1 });
    try {
      assert.deepEqual(await c.call('both'), ['from the store', 'from enter']);
    } finally {
      start.unbindStore(store);
      tc.unsubscribe(sub as never);
      await c.close();
      await server.shutdown();
    }
  });
});

describe("the client's message", () => {
  it('names the connection the call was written on: the address dialed and the socket, with or without a middleware', async () => {
    const { server, address, port } = await startServer({}, (s) => s.register('add', (a: number, b: number) => a + b));
    const messages: ClientCallMessage[] = [];
    const sub = { start: (m: ClientCallMessage) => void messages.push(m) };
    const tc = diagnostics.tracingChannel<unknown, ClientCallMessage>(CLIENT);
    const plain = client(address, { connections: 1 });
    const wrapped = client(address, { connections: 1 });
    wrapped.use(async (_call, next) => {
      await sleep(1); // sent after the start event's turn is over
      return next();
    });
    await Promise.all([plain.ready(), wrapped.ready()]);
    tc.subscribe(sub as never);
    try {
      assert.equal(await plain.call('add', 1, 2), 3);
      assert.equal(await wrapped.call('add', 3, 4), 7);
    } finally {
      tc.unsubscribe(sub as never);
    }
    try {
      assert.equal(messages.length, 2);
      for (const m of messages) {
        assert.equal(m.address, address);
        assert.equal(m.peer?.address, '127.0.0.1');
        assert.equal(m.peer?.port, port);
      }
    } finally {
      await plain.close();
      await wrapped.close();
      await server.shutdown();
    }
  });
});
