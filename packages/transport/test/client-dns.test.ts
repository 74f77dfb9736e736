// The DNS resolver against a real dnsmasq on 127.0.0.1 (started per test, records changed during the
// run): A/AAAA with their port, SRV ports/priorities/weights, refresh on the TTL, resolveNow() rate
// limit (counted in dnsmasq's query log), a DNS server that goes down and comes back, close().
// Without dnsmasq the tests skip with the reason; under CI=true they fail with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Dnsmasq, dnsmasqMissing, sleep, until, within, type DnsmasqOptions } from '@nocopy/test-kit';
import { DnsResolver, parseDnsTarget, type DnsResolverOptions, type Endpoint, type ResolverListener } from '../src/index.js';

const missing = dnsmasqMissing();
const skip = missing !== undefined && process.env.CI !== 'true' ? `dnsmasq unavailable: ${missing}` : false;

/** Records every call of the listener, in order. */
class Recorder implements ResolverListener {
  readonly sets: Endpoint[][] = [];
  readonly errors: Error[] = [];
  readonly calls: string[] = [];
  onEndpoints(endpoints: readonly Endpoint[]): void {
    this.sets.push([...endpoints]);
    this.calls.push('endpoints');
  }
  onError(error: Error): void {
    this.errors.push(error);
    this.calls.push(`error ${(error as { code?: string }).code}`);
  }
  /** The addresses of the last set reported. */
  get addresses(): string[] | undefined {
    return this.sets.at(-1)?.map((e) => e.address);
  }
  async waitAddresses(expected: string[], ms = 10_000): Promise<void> {
    await until(
      () => JSON.stringify(this.addresses) === JSON.stringify(expected),
      () => `addresses ${JSON.stringify(expected)}; calls ${JSON.stringify(this.calls)}, last ${JSON.stringify(this.addresses)}`,
      ms,
    );
  }
}

async function withDns(options: DnsmasqOptions, fn: (dns: Dnsmasq) => Promise<void>): Promise<void> {
  const dns = await Dnsmasq.start(options);
  try {
    await fn(dns);
  } finally {
    await dns.close();
  }
}

async function resolving(dns: Dnsmasq, options: DnsResolverOptions, fn: (r: DnsResolver, rec: Recorder) => Promise<void>): Promise<void> {
  const r = new DnsResolver({ servers: [dns.server], ...options });
  const rec = new Recorder();
  r.start(rec);
  try {
    await fn(r, rec);
  } finally {
    await r.close();
  }
}

const HOSTS = '127.0.0.2 a.example.test\n127.0.0.3 a.example.test\n::1 a.example.test\n::1 six.example.test\n';

test('parseDnsTarget: A/AAAA, a DNS server in the authority, SRV; anything else is ERR_INVALID_OPTION', () => {
  assert.deepEqual(parseDnsTarget('dns:///a.example.test:7000'), { name: 'a.example.test', port: 7000 });
  assert.deepEqual(parseDnsTarget('dns:a.example.test:7000'), { name: 'a.example.test', port: 7000 });
  assert.deepEqual(parseDnsTarget('dns://127.0.0.1:5353/a.example.test:7000'), { name: 'a.example.test', port: 7000, servers: ['127.0.0.1:5353'] });
  assert.deepEqual(parseDnsTarget('dns://10.0.0.1/a:1'), { name: 'a', port: 1, servers: ['10.0.0.1:53'] });
  assert.deepEqual(parseDnsTarget('dns://[::1]:53/a:1'), { name: 'a', port: 1, servers: ['[::1]:53'] });
  assert.deepEqual(parseDnsTarget('dns:///_rpc._tcp.example.test'), { name: '_rpc._tcp.example.test', srv: true });
  assert.deepEqual(parseDnsTarget('dns:///127.0.0.1:80'), { name: '127.0.0.1', port: 80 });
  assert.deepEqual(parseDnsTarget('dns:///[::1]:80'), { name: '::1', port: 80 });
  for (const bad of [
    'a.example.test:7000', // no scheme
    'dns:///a.example.test', // no port, not SRV
    'dns:///a.example.test:0',
    'dns:///a.example.test:65536',
    'dns:///a.example.test:x',
    'dns:///_rpc._tcp.example.test:80', // SRV with a port
    'dns:///bad name:80',
    'dns:///a..b:80',
    'dns://dns.example/a:80', // the DNS server must be an address
    'dns://127.0.0.1:0/a:80',
    'dns://127.0.0.1', // no path
    'dns:///a:80?x=1',
    'dns:///[::1:80',
    '',
  ]) {
    assert.throws(() => parseDnsTarget(bad), { code: 'ERR_INVALID_OPTION' }, bad);
  }
});

test('DnsResolver: bad options are ERR_INVALID_OPTION', () => {
  const bad: unknown[] = [
    { name: 'a', port: 0 },
    { name: 'a' },
    { name: '_x._tcp.a', port: 80, srv: true },
    { name: 'a', port: 80, family: 5 },
    { name: 'a', port: 80, servers: [] },
    { name: 'a', port: 80, servers: ['not an address'] },
    { name: 'a', port: 80, minInterval: -1 },
    { name: 'a', port: 80, minInterval: 5000, refreshInterval: 1000 },
    { name: 'a', port: 80, timeout: 0 },
    { name: 'a', port: 80, tries: 0 },
  ];
  for (const options of bad) assert.throws(() => new DnsResolver(options as DnsResolverOptions), { code: 'ERR_INVALID_OPTION' }, JSON.stringify(options));
  const r = new DnsResolver({ name: 'a', port: 80 });
  assert.throws(() => r.start({} as ResolverListener), { code: 'ERR_INVALID_OPTION' });
});

test('A records with their port; AAAA as the family allows; the DNS server from the target authority', { skip }, async () => {
  await withDns({ hosts: HOSTS, ttl: 600 }, async (dns) => {
    // family 0 (both), the server named by the target
    const fromTarget = new DnsResolver(parseDnsTarget(`dns://${dns.server}/a.example.test:7000`));
    const rec = new Recorder();
    fromTarget.start(rec);
    assert.equal(rec.calls.length, 0, 'the listener is never called inside start()');
    await rec.waitAddresses(['127.0.0.2:7000', '127.0.0.3:7000', '[::1]:7000']);
    assert.deepEqual(rec.sets[0], [{ address: '127.0.0.2:7000' }, { address: '127.0.0.3:7000' }, { address: '[::1]:7000' }]);
    await fromTarget.close();

    await resolving(dns, { name: 'a.example.test', port: 7001, family: 4 }, async (_r, rec4) => {
      await rec4.waitAddresses(['127.0.0.2:7001', '127.0.0.3:7001']);
    });
    await resolving(dns, { name: 'a.example.test', port: 7002, family: 6 }, async (_r, rec6) => {
      await rec6.waitAddresses(['[::1]:7002']);
    });
    assert.equal(dns.queries('A', 'a.example.test'), 2, 'family 6 sent no A query');
    assert.equal(dns.queries('AAAA', 'a.example.test'), 2, 'family 4 sent no AAAA query');
  });
});

test('a name that does not exist, or has no record of the family, is an empty answer: onEndpoints([])', { skip }, async () => {
  await withDns({ hosts: HOSTS, ttl: 600 }, async (dns) => {
    for (const [name, family] of [
      ['nope.example.test', 0],
      ['six.example.test', 4],
    ] as const) {
      await resolving(dns, { name, port: 80, family }, async (_r, rec) => {
        await until(() => rec.calls.length > 0, `an answer for ${name}`);
        assert.deepEqual(rec.calls, ['endpoints']);
        assert.deepEqual(rec.sets[0], []);
      });
    }
  });
});

test('SRV: ports, priorities and weights from the records, each target resolved to its addresses; a changed SRV set is seen on the refresh', { skip }, async () => {
  const hosts = '127.0.0.2 t1.example.test\n127.0.0.3 t2.example.test\n::1 t2.example.test\n127.0.0.4 t3.example.test\n';
  const srv = [
    { name: '_rpc._tcp.example.test', target: 't1.example.test', port: 7001, priority: 10, weight: 5 },
    { name: '_rpc._tcp.example.test', target: 't2.example.test', port: 7002, priority: 20, weight: 1 },
  ];
  await withDns({ hosts, srv, ttl: 600 }, async (dns) => {
    await resolving(dns, { ...parseDnsTarget('dns:///_rpc._tcp.example.test'), refreshInterval: 500, minInterval: 100 }, async (_r, rec) => {
      await rec.waitAddresses(['127.0.0.2:7001', '127.0.0.3:7002', '[::1]:7002']);
      assert.deepEqual(rec.sets[0], [
        { address: '127.0.0.2:7001', priority: 10, weight: 5, source: 't1.example.test' },
        { address: '127.0.0.3:7002', priority: 20, weight: 1, source: 't2.example.test' },
        { address: '[::1]:7002', priority: 20, weight: 1, source: 't2.example.test' },
      ]);
      // t2 leaves, t3 joins; the TTL of the addresses is long: the refresh interval finds it, no resolveNow().
      await dns.restart({ srv: [srv[0]!, { name: '_rpc._tcp.example.test', target: 't3.example.test', port: 7003, priority: 10, weight: 2 }] });
      await rec.waitAddresses(['127.0.0.2:7001', '127.0.0.4:7003']);
      assert.deepEqual(rec.sets.at(-1)![1], { address: '127.0.0.4:7003', priority: 10, weight: 2, source: 't3.example.test' });
      assert.equal(rec.errors.length, 0, `errors: ${rec.errors.map((e) => e.message).join('; ')}`);
    });
    // An SRV name with no records is an empty answer too.
    await resolving(dns, { name: '_none._tcp.example.test' }, async (_r, rec) => {
      await until(() => rec.calls.length > 0, 'an answer');
      assert.deepEqual(rec.sets, [[]]);
    });
  });
});

test('SRV: the records are read again on the TTL of their targets\' addresses (Node gives SRV answers no TTL)', { skip }, async () => {
  const hosts = '127.0.0.2 t1.example.test\n127.0.0.3 t2.example.test\n';
  const srv = (target: string, port: number) => ({ name: '_rpc._tcp.example.test', target, port, priority: 0, weight: 1 });
  await withDns({ hosts, srv: [srv('t1.example.test', 7001)], ttl: 1 }, async (dns) => {
    await resolving(dns, { name: '_rpc._tcp.example.test', family: 4, minInterval: 100, refreshInterval: 60_000 }, async (_r, rec) => {
      await rec.waitAddresses(['127.0.0.2:7001']);
      await dns.restart({ srv: [srv('t1.example.test', 7001), srv('t2.example.test', 7002)] });
      await rec.waitAddresses(['127.0.0.2:7001', '127.0.0.3:7002']);
    });
  });
});

test('large answers: 1,000 A records (truncated over UDP, read again over TCP) and 300 SRV targets, every one an endpoint', { skip }, async () => {
  // 300 SRV records, not more: past about 16 KB, dnsmasq 2.90 writes compression pointers beyond
  // the 14-bit limit into the additional section, and c-ares rightly refuses the answer (EBADRESP).
  let hosts = '';
  const srv = [];
  for (let i = 0; i < 1000; i++) {
    const ip = `10.0.${i >> 8}.${i & 255}`;
    hosts += `${ip} big.example.test\n`;
    if (i < 300) {
      hosts += `${ip} t${i}.example.test\n`;
      srv.push({ name: '_big._tcp.example.test', target: `t${i}.example.test`, port: 7000 + (i % 10), priority: i % 3, weight: 1 + (i % 5) });
    }
  }
  await withDns({ hosts, srv, ttl: 600 }, async (dns) => {
    let cpu = process.cpuUsage();
    const ms = (): string => {
      const d = process.cpuUsage(cpu);
      cpu = process.cpuUsage();
      return ((d.user + d.system) / 1000).toFixed(0);
    };
    await resolving(dns, { name: 'big.example.test', port: 80, family: 4 }, async (_r, rec) => {
      await until(() => rec.sets.length > 0, () => `an answer; calls ${JSON.stringify(rec.calls)}`);
      console.log(`# large answers: 1000 A records resolved, ${ms()} ms of CPU in this process (test runner included)`);
      assert.equal(rec.sets[0]!.length, 1000);
      assert.equal(new Set(rec.sets[0]!.map((e) => e.address)).size, 1000);
      assert.equal(dns.queries('A', 'big.example.test'), 2, 'one query over UDP (truncated), one over TCP');
    });
    ms();
    await resolving(dns, { name: '_big._tcp.example.test', family: 4 }, async (_r, rec) => {
      await until(() => rec.sets.length > 0, () => `an answer; calls ${JSON.stringify(rec.calls)}`);
      console.log(`# large answers: 300 SRV records and their 300 targets resolved, ${ms()} ms of CPU`);
      const eps = rec.sets[0]!;
      assert.equal(eps.length, 300);
      assert.deepEqual(eps.find((e) => e.address === '10.0.0.7:7007'), { address: '10.0.0.7:7007', priority: 1, weight: 3, source: 't7.example.test' });
      assert.deepEqual([0, 1, 2].map((p) => eps.filter((e) => e.priority === p).length), [100, 100, 100]);
    });
  });
});

test('a changed record is seen on the next TTL refresh, without resolveNow(); an unchanged answer is not reported again', { skip }, async () => {
  await withDns({ hosts: '127.0.0.2 a.example.test\n', ttl: 1 }, async (dns) => {
    await resolving(dns, { name: 'a.example.test', port: 7000, family: 4, minInterval: 100, refreshInterval: 60_000 }, async (_r, rec) => {
      await rec.waitAddresses(['127.0.0.2:7000']);
      await dns.setHosts('127.0.0.5 a.example.test\n127.0.0.2 a.example.test\n');
      await rec.waitAddresses(['127.0.0.2:7000', '127.0.0.5:7000']);
      const queries = dns.queries('A', 'a.example.test');
      await until(() => dns.queries('A', 'a.example.test') >= queries + 2, 'two more refreshes on the 1 s TTL');
      assert.deepEqual(rec.calls, ['endpoints', 'endpoints'], 'the same answer again is not reported');
    });
  });
});

test('resolveNow() is rate-limited by minInterval: a burst of calls makes at most one resolution per interval', { skip }, async () => {
  await withDns({ hosts: '127.0.0.2 a.example.test\n', ttl: 600 }, async (dns) => {
    const minInterval = 500;
    const t0 = performance.now();
    await resolving(dns, { name: 'a.example.test', port: 7000, family: 4, minInterval }, async (r, rec) => {
      await rec.waitAddresses(['127.0.0.2:7000']);
      let calls = 0;
      let last = t0;
      while ((last = performance.now()) - t0 < 2000) {
        r.resolveNow();
        calls++;
        await sleep(5);
      }
      // The TTL (600 s) and the refresh (30 s) are far away: every query after the first came from resolveNow().
      await until(() => dns.queries('A', 'a.example.test') >= 3, 'resolveNow() to resolve again');
      await sleep(minInterval + 300); // the last call's resolution, if it armed one, has run
      const queries = dns.queries('A', 'a.example.test');
      // Starts are minInterval apart at least, and the last one is at most minInterval after the last call
      // (less 2 ms per interval: libuv reads the clock once per loop turn, a timer may fire that much early).
      const bound = 1 + Math.floor((last - t0 + minInterval) / (minInterval - 2));
      console.log(`# resolveNow(): ${calls} calls over ${Math.round(last - t0)} ms -> ${queries} A queries (bound ${bound})`);
      assert.ok(queries <= bound, `${queries} queries, at most ${bound} allowed by minInterval ${minInterval}`);
      assert.deepEqual(rec.calls, ['endpoints']);
    });
  });
});

test('resolveNow() during a resolution resolves again after it (its answer may predate the change)', { skip }, async () => {
  // A DNS "server" that holds the first query until the test lets dnsmasq answer it: a UDP relay.
  await withDns({ hosts: '127.0.0.2 a.example.test\n', ttl: 600 }, async (dns) => {
    const relay = dgram.createSocket('udp4');
    const upstream = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => relay.bind(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => upstream.bind(0, '127.0.0.1', resolve));
    const held: { msg: Buffer; port: number }[] = [];
    let client = 0;
    relay.on('message', (msg, from) => {
      client = from.port;
      held.push({ msg, port: from.port });
    });
    upstream.on('message', (msg) => relay.send(msg, client, '127.0.0.1'));
    const release = (): void => {
      for (const h of held.splice(0)) upstream.send(h.msg, dns.port, '127.0.0.1');
    };
    try {
      await resolving(dns, { name: 'a.example.test', port: 7000, family: 4, minInterval: 100, servers: [`127.0.0.1:${relay.address().port}`], timeout: 5000, tries: 1 }, async (r, rec) => {
        await until(() => held.length === 1, 'the first query at the relay');
        r.resolveNow(); // during the resolution
        release();
        await rec.waitAddresses(['127.0.0.2:7000']);
        // No TTL (600 s) and no refresh (30 s) is near: only that resolveNow() can ask again.
        await until(() => held.length === 1, 'a second query, asked for by resolveNow() during the first');
        await dns.setHosts('127.0.0.3 a.example.test\n');
        release();
        await rec.waitAddresses(['127.0.0.3:7000']);
        assert.equal(rec.errors.length, 0);
      });
    } finally {
      relay.close();
      upstream.close();
    }
  });
});

test('resolveNow() from inside onEndpoints() resolves again (a dial that fails at once does this)', { skip }, async () => {
  await withDns({ hosts: '127.0.0.2 a.example.test\n', ttl: 600 }, async (dns) => {
    const r = new DnsResolver({ name: 'a.example.test', port: 7000, family: 4, servers: [dns.server], minInterval: 100 });
    let calls = 0;
    r.start({
      onEndpoints() {
        if (++calls === 1) r.resolveNow();
      },
      onError() {},
    });
    try {
      await until(() => dns.queries('A', 'a.example.test') === 2, 'a second query (the TTL is 600 s, the refresh 30 s)');
      assert.equal(calls, 1, 'the same answer is not reported again');
    } finally {
      await r.close();
    }
  });
});

test('the DNS server goes down: onError (ERR_DNS_RESOLUTION), the last endpoints stay; it comes back: the new answer is reported', { skip }, async () => {
  await withDns({ hosts: '127.0.0.2 a.example.test\n', ttl: 1 }, async (dns) => {
    await resolving(dns, { name: 'a.example.test', port: 7000, family: 4, minInterval: 100, refreshInterval: 1000, timeout: 300, tries: 1 }, async (_r, rec) => {
      await rec.waitAddresses(['127.0.0.2:7000']);
      await dns.stop();
      await until(() => rec.errors.length >= 2, () => `two errors while the server is down; calls ${JSON.stringify(rec.calls)}`);
      const err = rec.errors[0] as Error & { code: string; hostname: string; cause: { code: string } };
      assert.equal(err.code, 'ERR_DNS_RESOLUTION');
      assert.equal(err.name, 'DnsResolutionError');
      assert.equal(err.hostname, 'a.example.test');
      assert.ok(['ECONNREFUSED', 'ETIMEOUT'].includes(err.cause.code), `cause ${err.cause.code}`);
      assert.equal(rec.sets.length, 1, 'no set reported while the server is down: the last one stays');
      await dns.setHosts('127.0.0.7 a.example.test\n');
      await dns.restart();
      await rec.waitAddresses(['127.0.0.7:7000']);
      assert.deepEqual(rec.calls.filter((c) => c === 'endpoints').length, 2);
    });
  });
});

test('a listener that throws gets a process warning (NOCOPY_RESOLVER_LISTENER_ERROR), and the resolver goes on', { skip }, async () => {
  await withDns({ hosts: '127.0.0.2 a.example.test\n', ttl: 1 }, async (dns) => {
    const warnings: Array<Error & { code?: string }> = [];
    const onWarning = (w: Error & { code?: string }): void => void warnings.push(w);
    process.on('warning', onWarning);
    const seen: string[][] = [];
    const r = new DnsResolver({ name: 'a.example.test', port: 7000, family: 4, servers: [dns.server], minInterval: 100 });
    try {
      r.start({
        onEndpoints(endpoints) {
          seen.push(endpoints.map((e) => e.address));
          throw new Error('listener bug');
        },
        onError() {},
      });
      await until(() => seen.length === 1 && warnings.some((w) => w.code === 'NOCOPY_RESOLVER_LISTENER_ERROR'), 'the first answer and a warning');
      assert.match(warnings.find((w) => w.code === 'NOCOPY_RESOLVER_LISTENER_ERROR')!.message, /listener bug/);
      await dns.setHosts('127.0.0.3 a.example.test\n');
      await until(() => seen.length === 2, 'the next change, reported after the listener threw');
      assert.deepEqual(seen, [['127.0.0.2:7000'], ['127.0.0.3:7000']]);
    } finally {
      process.off('warning', onWarning);
      await r.close();
    }
  });
});

test('close() stops everything: no query and no callback after it, also for a resolution in flight', { skip }, async () => {
  await withDns({ hosts: '127.0.0.2 a.example.test\n127.0.0.5 c.example.test\n', ttl: 1 }, async (dns) => {
    const r = new DnsResolver({ name: 'a.example.test', port: 7000, family: 4, servers: [dns.server], minInterval: 100, refreshInterval: 200 });
    const rec = new Recorder();
    r.start(rec);
    await rec.waitAddresses(['127.0.0.2:7000']);
    // A twin on another name, with the same refresh, left open: once it has seen the next change,
    // the closed one would have queried (and reported) too.
    const twin = new DnsResolver({ name: 'c.example.test', port: 7000, family: 4, servers: [dns.server], minInterval: 100, refreshInterval: 200 });
    const twinRec = new Recorder();
    twin.start(twinRec);
    await twinRec.waitAddresses(['127.0.0.5:7000']);
    await r.close();
    await r.close(); // idempotent
    const queries = dns.queries('A', 'a.example.test');
    const calls = rec.calls.length;
    r.resolveNow();
    await dns.setHosts('127.0.0.9 a.example.test\n127.0.0.8 c.example.test\n');
    await twinRec.waitAddresses(['127.0.0.8:7000']);
    await twin.close();
    assert.equal(dns.queries('A', 'a.example.test'), queries, 'no query after close()');
    assert.equal(rec.calls.length, calls, 'no callback after close()');
  });

  // A DNS server that never answers: the resolution is in flight when close() is called.
  const silent = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  let received = 0;
  silent.on('message', () => received++);
  try {
    const r = new DnsResolver({ name: 'a.example.test', port: 7000, family: 4, servers: [`127.0.0.1:${silent.address().port}`], timeout: 1000, tries: 1 });
    const rec = new Recorder();
    r.start(rec);
    // A twin asking the same silent server, left open: once its query has timed out (reported),
    // the closed one's would have too.
    const twin = new DnsResolver({ name: 'a.example.test', port: 7000, family: 4, servers: [`127.0.0.1:${silent.address().port}`], timeout: 1000, tries: 1 });
    const twinRec = new Recorder();
    await until(() => received > 0, 'the query to reach the silent server');
    await within(r.close(), 5000, 'close() with a query in flight');
    twin.start(twinRec);
    await until(() => twinRec.errors.length > 0, "the twin's query to time out", 10_000);
    await twin.close();
    assert.deepEqual(rec.calls, [], 'nothing reported after close()');
  } finally {
    silent.close();
  }
});

test('the first resolution keeps the process alive until its answer; after it, no timer of the resolver does (unref)', { skip }, async () => {
  await withDns({ hosts: '127.0.0.2 a.example.test\n', ttl: 1 }, async (dns) => {
    const index = fileURLToPath(new URL('../src/index.js', import.meta.url));
    const script = `
      import { DnsResolver } from ${JSON.stringify(index)};
      const r = new DnsResolver({ name: 'a.example.test', port: 7000, family: 4, servers: [${JSON.stringify(dns.server)}] });
      r.start({ onEndpoints(e) { console.log(JSON.stringify(e)); }, onError(e) { console.log('error', e.message); } });
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout!.on('data', (c: Buffer) => (out += c));
    const code = await within(new Promise((resolve) => child.once('exit', resolve)), 10_000, 'the process to exit on its own').finally(() => child.kill());
    assert.equal(code, 0);
    assert.equal(out.trim(), JSON.stringify([{ address: '127.0.0.2:7000' }]));
  });
});
