// Graceful shutdown under load: several clients keep calls in flight (quick and slow ones, through a
// `sleep` handler) and server.shutdown({ timeout: 15000 }) begins mid-load. No request that the server
// read goes unanswered: every call whose request reached a handler resolved with its exact result;
// every other call rejected with a coded error (ERR_CONN_CLOSED: sent after the server stopped
// reading, or a refused redial once it stopped listening). Shutdown finishes before its deadline and
// every pooled block is back on both sides.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { BlockPool } from '@nocopy/linkbuffer';
import { createClient, createServer, type RpcClient } from '@nocopy/rpc-demo';
import { codeOf, sleep, until, within } from './helpers.js';

const CLIENTS = 4;
const IN_FLIGHT = 12; // per client
/** The shutdown deadline: generous, as nothing here may need it (the slowest call takes 600 ms). */
const DEADLINE = 15_000;

for (const framing of ['framed', 'stream'] as const) {
  describe(`graceful shutdown under load (${framing})`, () => {
    it('answers every call a handler saw; the others reject with a coded error', async () => {
      const pool = new BlockPool();
      const seen = new Set<string>();
      const replied = new Set<string>();
      const server = createServer({ framing, transport: { pool } });
      server.register('sleep', async (ms: number, tag: string) => {
        seen.add(tag);
        await sleep(ms);
        replied.add(tag);
        return { tag, ms };
      });
      const { port } = (await server.listen({ host: '127.0.0.1', port: 0 })) as AddressInfo;
      const pools = Array.from({ length: CLIENTS }, () => new BlockPool());
      const clients: RpcClient[] = pools.map((p) =>
        createClient({ address: `127.0.0.1:${port}`, framing, connections: 2, timeout: 8000, dial: { pool: p }, backoff: { initial: 20, max: 200 } }),
      );
      // Every connection up before the load: a dial still under way when the shutdown begins (a
      // loaded machine dials slowly) would be refused, and its call was sent before the shutdown.
      await within(Promise.all(clients.map((c) => c.ready({ timeout: 60_000 }))), 70_000, 'the clients to connect');
      const results = new Map<string, { ok: true; value: unknown } | { ok: false; code: string }>();
      const sentAt = new Map<string, number>();
      let stop = false;
      let shutdownAt = 0;
      // Each client keeps IN_FLIGHT calls going: mostly quick (0-20 ms), one in five slow (200-600 ms).
      const pumps = clients.map(async (c, ci) => {
        let n = 0;
        const lane = async (li: number) => {
          while (!stop) {
            const tag = `c${ci}-l${li}-${n++}`;
            const ms = n % 5 === 0 ? 200 + ((n * 37) % 400) : (n * 7) % 20;
            sentAt.set(tag, Date.now());
            try {
              results.set(tag, { ok: true, value: await c.call('sleep', ms, tag) });
            } catch (err) {
              results.set(tag, { ok: false, code: codeOf(err) });
              await sleep(5); // the server is going away: do not spin
            }
          }
        };
        await Promise.all(Array.from({ length: IN_FLIGHT }, (_, li) => lane(li)));
      });
      try {
        // Load is running, slow calls in flight: counted, not slept for.
        await until(() => seen.size > 50 && seen.size > replied.size + 8, () => `load to reach the server (${seen.size} calls, ${seen.size - replied.size} running)`, 20_000);
        const t0 = Date.now();
        shutdownAt = t0;
        const inFlightAtShutdown = server.stats().inFlight;
        await within(server.shutdown({ timeout: DEADLINE }), DEADLINE + 10_000, 'shutdown');
        const took = Date.now() - t0;
        // The clients see the closes and try again against a server that is gone.
        await until(() => [...results.values()].some((r) => !r.ok), 'a call refused after the shutdown', 10_000);
        stop = true;
        await within(Promise.all(pumps), 10_000, 'the load to stop');

        // Every call a handler saw was answered with its exact result.
        let answered = 0;
        let refused = 0;
        const codes: Record<string, number> = {};
        for (const tag of seen) {
          const r = results.get(tag);
          assert.ok(r !== undefined, `call ${tag} never settled`);
          assert.ok(r.ok, `call ${tag} reached a handler but got ${r.ok ? '' : r.code}`);
          assert.equal((r.value as { tag: string }).tag, tag, `the exact answer for ${tag}`);
        }
        for (const [tag, r] of results) {
          if (r.ok) {
            answered++;
            assert.ok(seen.has(tag) && replied.has(tag), `${tag} resolved without reaching a handler`);
          } else {
            refused++;
            codes[r.code] = (codes[r.code] ?? 0) + 1;
            assert.ok(!seen.has(tag), `${tag} reached a handler but was rejected (${r.code})`);
            assert.ok(['ERR_CONN_CLOSED', 'ERR_DIAL_FAILED'].includes(r.code), `${tag}: unexpected ${r.code}`);
            // A refused redial only once the server stopped listening.
            if (r.code === 'ERR_DIAL_FAILED') assert.ok(sentAt.get(tag)! >= shutdownAt, `${tag} could not dial before shutdown began`);
          }
        }
        assert.ok(refused > 0, 'some calls came after the server stopped reading');
        // The deadline's timer ends a forced shutdown no sooner than DEADLINE: under it, shutdown
        // finished because the work was done, not because the deadline cut it.
        assert.ok(took < DEADLINE, `shutdown finished before its deadline (${took} ms)`);
        assert.equal(server.stats().connections, 0);
        assert.equal(server.stats().inFlight, 0);
        assert.equal(pool.stats().bytesOutstanding, 0, 'server pool: every block back');
        console.log(
          `[shutdown ${framing}] ${results.size} calls: ${answered} answered (${inFlightAtShutdown} in flight at shutdown), ${refused} refused ${JSON.stringify(codes)}; shutdown took ${took} ms`,
        );
      } finally {
        stop = true;
        await Promise.all(clients.map((c) => c.close()));
        await server.shutdown({ timeout: 100 });
      }
      for (const [i, p] of pools.entries()) assert.equal(p.stats().bytesOutstanding, 0, `client ${i} pool: every block back`);
    });
  });
}
