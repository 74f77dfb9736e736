// The handler's context (`this`): metadata, deadline, peer, connection attributes, and a signal that
// aborts when the client cancels, the deadline passes or the connection closes, offloaded calls
// included. And the wire: a plain MessagePack-RPC peer never sees an extension.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { decode, encode, decodeMultiStream } from '@msgpack/msgpack';
import { InvalidOptionError } from '@nocopy/transport';
import type { CallContext } from '../src/rpc/context.js';
import { CallCancelledError } from '../src/errors.js';
import { FRAMINGS, HANDLERS_FILE, RawPeer, client, deferred, registerBasics, startServer, until, within } from './rpc-helpers.js';

/** Resolves with the reason once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(signal.reason), { once: true }));
}

describe('handler context', () => {
  it('a handler sees metadata, deadline, peer and the connection attributes as `this`; arrow handlers are unchanged', async () => {
    const seen: { metadata: Record<string, string>; deadline: number; peer: unknown; user: unknown }[] = [];
    const { server, address } = await startServer({}, (s) => {
      registerBasics(s);
      s.register('login', function (this: CallContext, user: string) {
        this.attributes.set('user', user);
        return true;
      });
      s.register('who', function (this: CallContext) {
        seen.push({ metadata: { ...this.metadata }, deadline: this.deadline, peer: this.peer, user: this.attributes.get('user') });
        return this.attributes.get('user') ?? null;
      });
    });
    const c = client(address, { connections: 1, timeout: 0 });
    const other = client(address, { connections: 1 });
    try {
      assert.equal(await c.call('add', 2, 3), 5, 'an arrow handler');
      assert.equal(await c.call('login', 'ada'), true);
      const before = Date.now();
      assert.equal(await c.request('who', [], { timeout: 60_000, metadata: { trace: 't-1', token: 's3cret' } }), 'ada');
      assert.equal(await c.request('who', []), 'ada', 'attributes live as long as the connection');
      assert.equal(await other.call('who'), null, 'another connection has its own attributes');
      assert.deepEqual(seen[0]!.metadata, { trace: 't-1', token: 's3cret' });
      assert.ok(seen[0]!.deadline >= before + 60_000 - 1000 && seen[0]!.deadline <= Date.now() + 60_000, `deadline ${seen[0]!.deadline}`);
      assert.deepEqual(seen[1]!.metadata, {}, 'no metadata');
      assert.equal(seen[1]!.deadline, Infinity, 'timeout 0: no deadline');
      assert.equal((seen[0]!.peer as { address: string }).address, '127.0.0.1');
      assert.equal(typeof (seen[0]!.peer as { port: number }).port, 'number');
      await assert.rejects(c.request('who', [], { metadata: { n: 1 as unknown as string } }), InvalidOptionError);
    } finally {
      await c.close();
      await other.close();
      await server.shutdown();
    }
  });

  it('with extensions: false the client sends plain requests: no metadata, no deadline', async () => {
    let ctx: CallContext | null = null;
    const { server, address } = await startServer({}, (s) =>
      s.register('who', function (this: CallContext) {
        ctx = this;
        return 1;
      }),
    );
    const c = client(address, { connections: 1, extensions: false });
    try {
      await c.request('who', [], { metadata: { a: 'b' }, timeout: 1000 });
      assert.deepEqual({ ...ctx!.metadata }, {});
      assert.equal(ctx!.deadline, Infinity);
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});

describe('cancellation reaches the handler', () => {
  for (const framing of FRAMINGS) {
    it(`an aborted call aborts the handler's signal (ERR_RPC_CANCELLED); its late result is not sent (${framing})`, async () => {
      const reason = deferred<unknown>();
      const finish = deferred<void>();
      const { server, address, errors } = await startServer({ framing }, (s) => {
        registerBasics(s);
        s.register('wait', async function (this: CallContext) {
          reason.resolve(await aborted(this.signal));
          await finish.promise;
          return 'too late';
        });
      });
      const c = client(address, { framing, connections: 1 });
      try {
        const ac = new AbortController();
        const p = c.request('wait', [], { signal: ac.signal });
        await until(() => server.stats().inFlight === 1, 'the call to run');
        ac.abort();
        await assert.rejects(p, { code: 'ABORT_ERR' });
        const r = await within(reason.promise, 5000, 'the handler to see the abort');
        assert.ok(r instanceof CallCancelledError);
        assert.equal(r.code, 'ERR_RPC_CANCELLED');
        finish.resolve();
        await until(() => server.stats().inFlight === 0, 'the handler to return');
        assert.equal(server.stats().cancelled, 1);
        assert.equal(await c.call('add', 1, 1), 2, 'the connection goes on');
        assert.equal(server.stats().errors, 0, 'no reply, not even an error, for the cancelled call');
        assert.deepEqual(errors, []);
      } finally {
        finish.resolve();
        await c.close();
        await server.shutdown();
      }
    });
  }

  it('a timed-out call is cancelled on the server too', async () => {
    const reason = deferred<unknown>();
    const { server, address } = await startServer({}, (s) =>
      s.register('wait', async function (this: CallContext) {
        reason.resolve(await aborted(this.signal));
      }),
    );
    const c = client(address, { connections: 1, timeout: 50 });
    try {
      // Connected first: the timeout counts from the call, a wait for the connection included.
      await c.ready({ timeout: 5000 });
      await assert.rejects(c.call('wait'), { code: 'ERR_RPC_TIMEOUT' });
      const r = (await within(reason.promise, 5000, 'the handler to see it')) as { code?: string };
      // The client's $/cancel or the server's own deadline timer, whichever comes first.
      assert.ok(r.code === 'ERR_RPC_CANCELLED' || r.code === 'ERR_RPC_DEADLINE', String(r.code));
    } finally {
      await c.close();
      await server.shutdown();
    }
  });

  it('the deadline a request carries aborts the signal on the server by itself (raw peer, no cancel)', async () => {
    const reason = deferred<unknown>();
    const { server, port } = await startServer({}, (s) =>
      s.register('wait', async function (this: CallContext) {
        reason.resolve(await aborted(this.signal));
        return 'x';
      }),
    );
    const raw = await RawPeer.connect(port, 'framed');
    try {
      // The extension as an independent encoder writes it: [0, id, method, params, { t, m }].
      raw.send([0, 7, 'wait', [], { t: 30, m: { k: 'v' } }]);
      const r = (await within(reason.promise, 5000, 'the deadline')) as { code?: string };
      assert.equal(r.code, 'ERR_RPC_DEADLINE');
      raw.send([0, 8, '$/nocopy', [1]]);
      assert.deepEqual(await raw.next(), [1, 8, null, { nocopy: 1, ext: ['cancel', 'deadline', 'metadata'] }], 'the call past its deadline got no reply; the hello did');
    } finally {
      raw.destroy();
      await server.shutdown();
    }
  });

  it('a connection that closes aborts its calls (ERR_CONN_CLOSED)', async () => {
    const reason = deferred<unknown>();
    const { server, address } = await startServer({}, (s) =>
      s.register('wait', async function (this: CallContext) {
        reason.resolve(await aborted(this.signal));
      }),
    );
    const c = client(address, { connections: 1 });
    const p = c.call('wait').catch((e: unknown) => e);
    await until(() => server.stats().inFlight === 1, 'the call to run');
    await c.close();
    try {
      assert.equal(((await within(reason.promise, 5000, 'the abort')) as { code?: string }).code, 'ERR_CONN_CLOSED');
      assert.equal(((await p) as { code?: string }).code, 'ERR_RPC_CLOSED');
    } finally {
      await server.shutdown();
    }
  });

  it('an offloaded fib(50) that times out stops in its worker; the pool goes on', async () => {
    const { server, address } = await startServer({ workers: { filename: HANDLERS_FILE, maxThreads: 1 } }, (s) => s.register('fib', 'fib', { offload: true }));
    const c = client(address, { connections: 1 });
    try {
      // fib(50) computed the slow way takes minutes.
      await assert.rejects(c.request('fib', [50], { timeout: 200 }), { code: 'ERR_RPC_TIMEOUT' });
      await until(() => server.stats().inFlight === 0, 'the offloaded call to be stopped', 10_000);
      assert.equal(server.stats().cancelled, 1);
      assert.equal(await c.call('fib', 20), 6765, 'a new worker took over');
    } finally {
      await c.close();
      await server.shutdown();
    }
  });
});

describe('wire: a plain MessagePack-RPC server sees only standard messages', () => {
  for (const framing of FRAMINGS) {
    it(`calls with metadata, timeouts and aborts reach a raw @msgpack/msgpack server as 4-element requests, no $/cancel (${framing})`, async () => {
      const seen: unknown[][] = [];
      const raw = net.createServer((sock) => {
        sock.on('error', () => {});
        let buf = Buffer.alloc(0);
        const onMsg = (msg: unknown[]) => {
          seen.push(msg);
          if (msg[0] !== 0) return;
          const [, id, method, params] = msg as [0, number, string, unknown[]];
          if (method === 'hang') return; // never answered
          const body = encode(method === 'echo' ? [1, id, null, params[0]] : [1, id, `no method ${method}`, null]);
          if (framing === 'stream') sock.write(body);
          else {
            const h = Buffer.alloc(4);
            h.writeUInt32BE(body.length);
            sock.write(Buffer.concat([h, body]));
          }
        };
        if (framing === 'stream') {
          void (async () => {
            try {
              for await (const m of decodeMultiStream(sock)) onMsg(m as unknown[]);
            } catch {
              // gone
            }
          })();
        } else {
          sock.on('data', (d: Buffer) => {
            buf = Buffer.concat([buf, d]);
            while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
              const n = buf.readUInt32BE(0);
              onMsg(decode(buf.subarray(4, 4 + n)) as unknown[]);
              buf = buf.subarray(4 + n);
            }
          });
        }
      });
      raw.listen(0, '127.0.0.1');
      await once(raw, 'listening');
      const c = client(`127.0.0.1:${(raw.address() as AddressInfo).port}`, { framing, connections: 1 });
      try {
        assert.equal(await c.request('echo', ['a'], { metadata: { token: 'x' }, timeout: 1000 }), 'a');
        await assert.rejects(c.request('hang', [], { timeout: 30 }), { code: 'ERR_RPC_TIMEOUT' });
        const ac = new AbortController();
        const p = c.request('hang', [], { signal: ac.signal });
        await until(() => seen.length === 4, 'the second hang to arrive');
        ac.abort();
        await assert.rejects(p, { code: 'ABORT_ERR' });
        assert.equal(await c.call('echo', 'b'), 'b');
        assert.ok(seen.length === 5, JSON.stringify(seen));
        for (const m of seen) {
          assert.equal(m[0], 0, 'only requests');
          assert.equal(m.length, 4, `a 4-element request: ${JSON.stringify(m)}`);
        }
        assert.deepEqual(
          seen.map((m) => m[2]),
          ['$/nocopy', 'echo', 'hang', 'hang', 'echo'],
        );
      } finally {
        await c.close();
        await new Promise<void>((r) => raw.close(() => r()));
      }
    });
  }
});
