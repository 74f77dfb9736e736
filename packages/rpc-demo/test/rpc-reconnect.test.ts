// A server killed mid-call (SIGKILL, in a child process): pending calls reject with ConnClosedError,
// and once a server listens on the same port again the client's next calls succeed (reconnect with
// backoff).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { encode, decodeMultiStream } from '@msgpack/msgpack';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ConnClosedError } from '@nocopy/transport';
import type { Framing } from '../src/rpc/protocol.js';
import { FRAMINGS, client, outcome, registerBasics, startServer, until, within } from './rpc-helpers.js';

// This file runs from dist/test/; the fixture stays in test/fixtures/ (plain JS, not compiled).
const FIXTURE = fileURLToPath(new URL('../../test/fixtures/rpc-server.mjs', import.meta.url));

interface Child {
  proc: ChildProcess;
  port: number;
  /** `slow` calls the child has started. */
  started: string[];
  exited: Promise<unknown>;
}

async function spawnServer(port: number, framing: Framing): Promise<Child> {
  const proc = spawn(process.execPath, [FIXTURE, String(port), framing], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(proc, 'exit');
  const started: string[] = [];
  const listening = new Promise<number>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`fixture exited with ${code} before listening`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const [what, arg] = line.split(' ');
      if (what === 'listening') resolve(Number(arg));
      else if (what === 'started') started.push(arg!);
    });
  });
  return { proc, port: await within(listening, 10_000, 'the fixture server to listen'), started, exited };
}

function kill(child: Child | null): Promise<unknown> {
  if (child === null || child.proc.exitCode !== null || child.proc.signalCode !== null) return Promise.resolve();
  child.proc.kill('SIGKILL');
  return child.exited;
}

for (const framing of FRAMINGS) {
  describe(`server killed mid-call (${framing})`, () => {
    it('pending calls reject with ConnClosedError; after a restart on the same port the next calls succeed', async () => {
      let first: Child | null = await spawnServer(0, framing);
      let second: Child | null = null;
      const port = first.port;
      const backoff = { initial: 10, max: 100 };
      const c = client(`127.0.0.1:${port}`, { framing, connections: 2, backoff, timeout: 0 });
      try {
        const pid1 = await c.call('pid');
        assert.equal(pid1, first.proc.pid);
        assert.equal(await c.call('echo', 'before'), 'before');
        const pending = Array.from({ length: 6 }, (_, i) => outcome(c.call('slow', i)));
        await until(() => first!.started.length === 6, 'the slow calls to start in the child');
        assert.equal(c.stats().pending, 6);
        await kill(first);
        first = null;
        const results = await within(Promise.all(pending), 5000, 'the pending calls to reject');
        for (const r of results) {
          assert.equal(r.ok, false);
          const e = (r as { error: unknown }).error;
          assert.ok(e instanceof ConnClosedError, `ConnClosedError, got ${String(e)}`);
          assert.equal(e.code, 'ERR_CONN_CLOSED');
        }
        assert.equal(c.stats().pending, 0);
        await until(() => c.stats().connections === 0, 'the client to drop its connections');
        // While the server is down, calls fail (a dial error), they do not hang.
        const down = await within(outcome(c.call('echo', 'down')), 5000, 'a call while the server is down');
        assert.equal(down.ok, false);
        // A new server on the same port; past the backoff cap the client dials again.
        second = await spawnServer(port, framing);
        assert.equal(second.port, port);
        const dials = c.stats().dials;
        // Past the backoff cap the client has dialed again by itself (every connection reconnects in the background).
        await until(() => c.stats().connections >= 1, 'the client to reconnect');
        assert.deepEqual(await Promise.all([c.call('echo', 'a'), c.call('echo', 'b'), c.call('echo', 'c')]), ['a', 'b', 'c']);
        assert.equal(await c.call('pid'), second.proc.pid);
        assert.ok(c.stats().dials > dials, 'the client reconnected');
        assert.ok(c.stats().connections >= 1);
      } finally {
        await c.close();
        await kill(first);
        await kill(second);
      }
    });
  });
}

describe('reconnect backoff', () => {
  it('while the server stays down, a slot dials at most once per backoff period and fails fast in between', async () => {
    // A port nobody listens on any more.
    const { server, port } = await startServer({}, (s) => registerBasics(s));
    await server.shutdown();
    const c = client(`127.0.0.1:${port}`, { connections: 1, backoff: { initial: 2000, max: 2000 } });
    try {
      const first = await outcome(c.call('echo', 1));
      assert.equal(first.ok, false);
      assert.equal(c.stats().dials, 1);
      // Well inside the backoff period (at least half of 2000 ms): the same error, no new dial.
      const second = await outcome(c.call('echo', 2));
      assert.equal(second.ok, false);
      assert.equal((second as { error: unknown }).error, (first as { error: unknown }).error);
      assert.equal(c.stats().dials, 1, 'no dial during the backoff period');
      assert.equal(c.stats().pending, 0);
    } finally {
      await c.close();
    }
  });
});

describe('a connection that closes after its slot dialed again', () => {
  // Both client connections get the peer's FIN while they still have a large request queued in the
  // socket, so they linger (closing, output draining) and hold both pool slots. A new call waits for a
  // slot; once one old connection is gone its slot dials again while the other old one still lingers.
  // When that one finally closes it must fail only the calls sent on it, not the new call that its
  // slot meanwhile sent on a new connection. Which slot the new call takes is the client's choice, so
  // the old connections are destroyed in both orders: one of the two runs is the case above.
  for (const order of [0, 1]) {
    it(`the late close fails only its own calls (destroy order ${order})`, async () => {
      const old: net.Socket[] = [];
      const held: Array<() => void> = [];
      let holdCalls = 0;
      const raw = net.createServer({ allowHalfOpen: true }, (sock) => {
        sock.on('error', () => {});
        if (old.length < 2) {
          // An old connection: take the first bytes of its big request, stop reading, send a FIN.
          old.push(sock);
          sock.once('data', () => {
            sock.pause();
            sock.end();
          });
          return;
        }
        void (async () => {
          try {
            for await (const m of decodeMultiStream(sock)) {
              const [, id, method, params] = m as [0, number, string, unknown[]];
              if (method === 'hold') {
                holdCalls++;
                held.push(() => sock.write(encode([1, id, null, params[0]])));
              } else sock.write(encode([1, id, null, params[0]]));
            }
          } catch {
            // gone
          }
        })();
      });
      raw.listen(0, '127.0.0.1');
      await once(raw, 'listening');
      const queuedAtFin: number[] = [];
      const c = client(`127.0.0.1:${(raw.address() as AddressInfo).port}`, {
        framing: 'stream',
        connections: 2,
        timeout: 0,
        extensions: false, // the raw server's first bytes must be the big request
        maxMessageSize: 64 * 1024 * 1024,
        dial: { onDisconnect: (_slot, conn) => queuedAtFin.push(conn.socket.writableLength) },
      });
      try {
        const big = Buffer.alloc(16 * 1024 * 1024, 1);
        // Both connections are dialed at once; one big call on each (calls of one tick share a connection).
        await until(() => c.stats().connections === 2, 'both connections');
        const bigCalls = [outcome(c.call('big', big))];
        await new Promise(setImmediate);
        bigCalls.push(outcome(c.call('big', big)));
        await until(() => queuedAtFin.length === 2, 'both connections to get the FIN');
        assert.ok(queuedAtFin.every((n) => n > 0), `both connections still had output queued (${queuedAtFin.join(', ')}): they linger`);
        const x = outcome(c.call('hold', 'x'));
        old[order]!.destroy(); // a reset: the client's connection fails at once, freeing a pool slot
        await until(() => holdCalls === 1, 'the new call to reach the server on a new connection');
        old[1 - order]!.destroy();
        const bigs = await within(Promise.all(bigCalls), 5000, 'the calls on the old connections to fail');
        for (const r of bigs) {
          assert.equal(r.ok, false);
          assert.equal(((r as { error: unknown }).error as { code?: string }).code, 'ERR_CONN_CLOSED');
        }
        for (const answer of held) answer();
        const rx = await within(x, 5000, 'the new call');
        assert.deepEqual(rx, { ok: true, value: 'x' }, 'the call on the new connection survived the old one closing');
        assert.equal(c.stats().pending, 0);
      } finally {
        await c.close();
        for (const s of old) s.destroy();
        await new Promise<void>((r) => raw.close(() => r()));
      }
    });
  }
});
