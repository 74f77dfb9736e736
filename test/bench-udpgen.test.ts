// The compiled UDP generator (bench/loadgen/udpgen.c) checks every reply: a benchmark whose
// generator let a wrong datagram through would measure a broken server, and one that stalled on a
// lost datagram would measure nothing. It runs against a plain dgram echo written here, then against
// echoes that break a reply (a changed byte, a wrong length, a sequence number never sent: the run
// fails), drop datagrams (counted lost and resent: the run goes on) or answer twice (counted as
// duplicates, each request completed once). Builds the generator with the system C compiler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
type Spec = { port: number; flows: number; inflight: number; size: number; duration: number; warmup: number; timeoutMs?: number };
type Result = { rps: number; requests: number; errors: number; lost: number; duplicates: number };
const { runUdpgen } = (await import(join(root, 'bench/dist/lib/loadgen.js'))) as { runUdpgen: (spec: Spec, pin: boolean) => Promise<Result> };

/** A dgram echo; `answer` returns the replies to send for datagram n (none, one, or more). */
async function echo(answer: (d: Buffer, n: number) => Buffer[] = (d) => [d]): Promise<{ port: number; close: () => Promise<void> }> {
  const sock = dgram.createSocket('udp4');
  let n = 0;
  sock.on('message', (d, r) => {
    for (const b of answer(d, n++)) sock.send(b, r.port, r.address);
  });
  sock.bind(0, '127.0.0.1');
  await once(sock, 'listening');
  return { port: sock.address().port, close: () => new Promise((resolve) => sock.close(() => resolve())) };
}

async function load(answer?: (d: Buffer, n: number) => Buffer[], spec: Partial<Spec> = {}): Promise<Result> {
  const server = await echo(answer);
  try {
    return await runUdpgen({ port: server.port, flows: 3, inflight: 4, size: 128, duration: 0.4, warmup: 0.1, ...spec }, false);
  } finally {
    await server.close();
  }
}

test('udpgen: a plain dgram echo runs clean (64 B and 1 KiB datagrams)', async () => {
  for (const size of [64, 1024]) {
    const r = await load(undefined, { size });
    assert.equal(r.errors, 0);
    assert.ok(r.requests > 0 && r.rps > 0, `replies counted at ${size} B`);
  }
});

test('udpgen: a changed byte, a wrong length or a sequence number never sent fails the run', async () => {
  const broken: [string, (d: Buffer, n: number) => Buffer[]][] = [
    ['a changed pattern byte', (d, n) => {
      if (n === 50) d[100] = d[100]! ^ 1;
      return [d];
    }],
    ['a wrong length', (d, n) => [n === 50 ? d.subarray(0, d.length - 1) : d]],
    ['a sequence number never sent', (d, n) => {
      if (n === 50) d.writeBigUInt64LE(d.readBigUInt64LE(0) + 1_000_000n, 0);
      return [d];
    }],
    ['another flow\'s number', (d, n) => {
      if (n === 50) d.writeUInt32LE(d.readUInt32LE(12) + 7, 12);
      return [d];
    }],
  ];
  for (const [what, answer] of broken) await assert.rejects(load(answer), /udpgen failed/, what);
});

test('udpgen: dropped datagrams are counted lost and resent, the window stays full', async () => {
  const r = await load((d, n) => (n % 25 === 24 ? [] : [d]), { timeoutMs: 20, duration: 0.6 });
  assert.equal(r.errors, 0);
  assert.ok(r.lost > 0, `lost counted (${r.lost})`);
  assert.ok(r.requests > 10 * r.lost, `the run went on past its losses (${r.requests} replies, ${r.lost} lost)`);
});

test('udpgen: a datagram answered twice completes once; the second reply is a duplicate', async () => {
  const r = await load((d, n) => (n % 10 === 0 ? [d, Buffer.from(d)] : [d]));
  assert.equal(r.errors, 0);
  assert.ok(r.duplicates > 0, `duplicates counted (${r.duplicates})`);
});

test('udpgen: a server that answers nothing is no result', async () => {
  await assert.rejects(load(() => [], { duration: 0.3 }), /udpgen failed/);
});
