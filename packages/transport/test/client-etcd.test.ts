// Registration and discovery through a real etcd (Debian's etcd-server), started by this file on
// free loopback ports: servers register under a prefix on a lease, the resolver lists and watches the
// prefix. Covers deregistration, a SIGKILLed registrant (its key goes with its lease), an etcd
// restart (errors reported, last set kept, changes seen and the registration put back afterwards), a
// lease revoked under a registration, and a process that closes both and must exit by itself.
// Without etcd: a skip with the reason, or under CI=true a failure with it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Etcd3 } from 'etcd3';
import { startEtcd, etcdMissing, freePort, until, within, type EtcdServer } from '@nocopy/test-kit';
import { EtcdResolver, EtcdError, createEtcdResolver, parseEtcdTarget, register } from '../src/etcd/index.js';
import type { Endpoint, ResolverListener } from '../src/client/resolver.js';

const missing = etcdMissing();
const ci = process.env.CI === 'true';
const skip = missing !== undefined && !ci ? missing : false;
if (missing !== undefined) console.log(`# etcd tests: ${missing}${ci ? ' (CI=true: a failure)' : ' (skipped)'}`);

let etcd: EtcdServer | undefined;

before(async () => {
  if (missing === undefined) etcd = await startEtcd();
});

after(async () => {
  await etcd?.close();
});

/** The running etcd; under CI a missing one fails the test with its reason. */
function server(): EtcdServer {
  if (etcd === undefined) assert.fail(`etcd is needed: ${missing}`);
  return etcd;
}

/** A ResolverListener that records every set (with when it came) and every error. */
class Seen implements ResolverListener {
  readonly sets: { at: number; endpoints: readonly Endpoint[] }[] = [];
  readonly errors: Error[] = [];
  onEndpoints(endpoints: readonly Endpoint[]): void {
    this.sets.push({ at: Date.now(), endpoints });
  }
  onError(error: Error): void {
    this.errors.push(error);
  }
  get endpoints(): readonly Endpoint[] {
    return this.sets.at(-1)?.endpoints ?? [];
  }
  get current(): string[] {
    return this.endpoints.map((e) => e.address);
  }
  async waitFor(addresses: string[], ms = 20_000): Promise<void> {
    const want = JSON.stringify([...addresses].sort());
    await until(
      () => this.sets.length > 0 && JSON.stringify(this.current) === want,
      () => `endpoints ${want}; last ${JSON.stringify(this.current)} after ${this.sets.length} set(s), errors: ${this.errors.map((e) => e.message).join(' | ')}`,
      ms,
    );
  }
}

function child(args: string[]): { proc: ChildProcess; lines: string[]; line: (pred: (l: string) => boolean) => Promise<string> } {
  const proc = spawn(process.execPath, [new URL('./etcd-child.js', import.meta.url).pathname, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
    buf += c;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const line = async (pred: (l: string) => boolean): Promise<string> => {
    for (;;) {
      const l = lines.find(pred);
      if (l !== undefined) return l;
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`child exited (${proc.exitCode ?? proc.signalCode}): ${stderr}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  return { proc, lines, line };
}

test('parseEtcdTarget reads hosts and prefix; bad targets and options are refused with ERR_INVALID_OPTION', async () => {
  assert.deepEqual(parseEtcdTarget('etcd://127.0.0.1:2379/services/echo'), { hosts: ['http://127.0.0.1:2379'], prefix: 'services/echo' });
  assert.deepEqual(parseEtcdTarget('etcd://h1:1,h2:2/a/b/'), { hosts: ['http://h1:1', 'http://h2:2'], prefix: 'a/b' });
  assert.deepEqual(parseEtcdTarget('etcd://[::1]:2380/x'), { hosts: ['http://[::1]:2380'], prefix: 'x' });
  assert.deepEqual(parseEtcdTarget('etcd://etcd.local/x'), { hosts: ['http://etcd.local:2379'], prefix: 'x' });
  const bad = ['etcd://h:1/', 'etcd:///x', 'etcd://h:1', 'dns:///x', 'etcd://h:99999/x', 'etcd://h:0/x', 'etcd://a b/x', 'etcd://h:1/x?y'];
  for (const t of bad) assert.throws(() => parseEtcdTarget(t), { code: 'ERR_INVALID_OPTION' }, t);
  assert.throws(() => createEtcdResolver('etcd://h:1/'), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => new EtcdResolver({ prefix: 'x' }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => new EtcdResolver({ hosts: 'h:1', prefix: '/' }), { code: 'ERR_INVALID_OPTION' });
  assert.throws(() => new EtcdResolver({ hosts: 'h:1', client: {} as Etcd3, prefix: 'x' }), { code: 'ERR_INVALID_OPTION' });
  const base = { hosts: '127.0.0.1:1', prefix: 'x', address: '127.0.0.1:80' };
  const badOptions = [{ address: 'nohost' }, { address: '127.0.0.1:0' }, { ttl: 0 }, { ttl: 1.5 }, { weight: -1 }, { priority: 0.5 }, { prefix: '' }, { hosts: [] }];
  for (const o of badOptions) await assert.rejects(register({ ...base, ...o }), { code: 'ERR_INVALID_OPTION' }, JSON.stringify(o));
  let refused = 0;
  for (const t of bad) {
    try {
      parseEtcdTarget(t);
    } catch {
      refused++;
    }
  }
  console.log(`# targets: 4 parsed, ${refused} of ${bad.length} bad ones refused; ${badOptions.length} bad register() options refused`);
});

test('@nocopy/transport does not load etcd3 (or gRPC); @nocopy/transport/etcd does', () => {
  // In a fresh process: what the CommonJS loader holds after each import.
  const probe = (entry: string) => {
    const code = `import { createRequire } from 'node:module'; await import('${entry}'); const c = Object.keys(createRequire(import.meta.url).cache); console.log(JSON.stringify([c.filter((k) => k.includes('/etcd3/')).length, c.filter((k) => k.includes('/@grpc/')).length]));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as [number, number];
  };
  const main = probe('@nocopy/transport');
  const sub = probe('@nocopy/transport/etcd');
  assert.deepEqual(main, [0, 0], 'the main entry loaded etcd3 or gRPC modules');
  assert.ok(sub[0] > 0 && sub[1] > 0, `the /etcd subpath loaded ${sub[0]} etcd3 and ${sub[1]} gRPC modules`);
  console.log(`# modules: main entry 0 etcd3 / 0 gRPC; /etcd subpath ${sub[0]} etcd3 / ${sub[1]} gRPC`);
});

test('register -> the resolver reports it; a second -> both; close() -> removed; a hand-written key and a bad one', { skip, timeout: 60_000 }, async () => {
  const etcd = server();
  const prefix = 't-basic/echo';
  const shared = new Etcd3({ hosts: `http://${etcd.hostPort}` });
  // A key that shares the prefix's text but not its path: never an endpoint.
  await shared.put('t-basic/echo2/127.0.0.1:1').value('{"address":"127.0.0.1:1"}');
  const seen = new Seen();
  const resolver = createEtcdResolver(`etcd://${etcd.hostPort}/${prefix}`);
  resolver.start(seen);
  await seen.waitFor([]);
  assert.equal(seen.sets.length, 1);

  const a = await register({ hosts: etcd.hostPort, prefix, address: '127.0.0.1:7001', weight: 3 });
  assert.equal(a.key, 't-basic/echo/127.0.0.1:7001');
  assert.ok(a.registered && a.leaseId !== undefined);
  await seen.waitFor(['127.0.0.1:7001']);
  assert.deepEqual(seen.endpoints[0], { address: '127.0.0.1:7001', weight: 3, source: 't-basic/echo/127.0.0.1:7001' });

  const b = await register({ client: shared, prefix: `/${prefix}/`, address: '127.0.0.1:7002', priority: 1 });
  await seen.waitFor(['127.0.0.1:7001', '127.0.0.1:7002']);
  assert.equal(seen.endpoints.length, 2);
  assert.equal(seen.endpoints[1]!.priority, 1);

  await a.close();
  await a.close(); // idempotent
  assert.equal(a.registered, false);
  await seen.waitFor(['127.0.0.1:7002']);
  assert.deepEqual(await shared.getAll().prefix(`${prefix}/`).keys(), ['t-basic/echo/127.0.0.1:7002']);

  // By hand: an empty value stands for the address in the key; a value that is not JSON is reported and skipped.
  await shared.put(`${prefix}/127.0.0.1:7003`).value('');
  await seen.waitFor(['127.0.0.1:7002', '127.0.0.1:7003']);
  const errorsBefore = seen.errors.length;
  const setsBefore = seen.sets.length;
  await shared.put(`${prefix}/junk`).value('{not json');
  await until(() => seen.errors.length > errorsBefore, 'an error for the bad key');
  const err = seen.errors.at(-1)!;
  assert.ok(err instanceof EtcdError);
  assert.equal((err as EtcdError).code, 'ERR_ETCD');
  assert.match(err.message, /junk.*not JSON/);
  assert.equal(seen.sets.length, setsBefore, 'a bad key changes nothing, so nothing is pushed');

  // resolveNow() lists again (at most once a second); the same set is not pushed again.
  const listsBefore = resolver.stats.lists;
  const pushesBefore = seen.sets.length;
  resolver.resolveNow();
  resolver.resolveNow();
  await until(() => resolver.stats.lists === listsBefore + 1, () => `a list after resolveNow(); stats ${JSON.stringify(resolver.stats)}`, 10_000);
  assert.equal(seen.sets.length, pushesBefore, 'an unchanged set is not pushed again');

  await b[Symbol.asyncDispose]();
  await seen.waitFor(['127.0.0.1:7003']);
  // b was given the shared client: it left it open.
  assert.equal((await shared.get(`${prefix}/127.0.0.1:7003`).string()), '');
  // A twin resolver left open: once it has seen the delete, the closed one would have pushed it too.
  const twinSeen = new Seen();
  const twin = createEtcdResolver(`etcd://${etcd.hostPort}/${prefix}`);
  twin.start(twinSeen);
  await twinSeen.waitFor(['127.0.0.1:7003']);
  await resolver.close();
  await resolver.close();
  const pushes = seen.sets.length;
  await shared.delete().key(`${prefix}/127.0.0.1:7003`);
  await twinSeen.waitFor([]);
  await twin.close();
  assert.equal(seen.sets.length, pushes, 'nothing is pushed after close()');
  console.log(`# basic: ${seen.sets.length} sets pushed (${seen.sets.map((s) => s.endpoints.length).join(' -> ')} endpoints), ${seen.errors.length} error(s), resolver stats ${JSON.stringify(resolver.stats)}`);
  shared.close();
});

test('a registering process that is SIGKILLed: its endpoint stays until its lease (TTL 2 s) expires, then goes', { skip, timeout: 60_000 }, async () => {
  const etcd = server();
  const prefix = 't-kill/echo';
  const seen = new Seen();
  const resolver = new EtcdResolver({ hosts: [`http://${etcd.hostPort}`], prefix });
  resolver.start(seen);
  const c = child(['register', etcd.hostPort, prefix, '127.0.0.1:7101', '2']);
  try {
    await within(c.line((l) => l.includes('"registered"')), 20_000, 'the child to register');
    await seen.waitFor(['127.0.0.1:7101']);
    const exited = once(c.proc, 'exit');
    c.proc.kill('SIGKILL');
    const killedAt = Date.now();
    await exited;
    // Nothing deregistered it: the key stays while the lease lives, shown by when it went (below),
    // not by a window after the kill.
    await seen.waitFor([], 20_000);
    const removedAfter = seen.sets.at(-1)!.at - killedAt;
    // The last keepalive came at most TTL/3 before the kill, so the lease had at least 1.3 s left.
    assert.ok(removedAfter >= 1000, `removed ${removedAfter} ms after the kill, before its lease (TTL 2 s) could expire`);
    console.log(`# SIGKILL: endpoint removed ${removedAfter} ms after the kill (lease TTL 2 s); ${seen.sets.length} sets (${seen.sets.map((s) => s.endpoints.length).join(' -> ')})`);
  } finally {
    c.proc.kill('SIGKILL');
    await resolver.close();
  }
});

test('a lease revoked under a registration: the key goes, register() grants a new lease and puts it back', { skip, timeout: 60_000 }, async () => {
  const etcd = server();
  const prefix = 't-revoked/echo';
  const seen = new Seen();
  const resolver = new EtcdResolver({ hosts: etcd.hostPort, prefix });
  resolver.start(seen);
  const regErrors: EtcdError[] = [];
  const a = await register({ hosts: etcd.hostPort, prefix, address: '127.0.0.1:7301', ttl: 3, onError: (e) => regErrors.push(e) });
  await seen.waitFor(['127.0.0.1:7301']);
  const firstLease = a.leaseId!;
  const other = new Etcd3({ hosts: `http://${etcd.hostPort}` });
  await other.leaseClient.leaseRevoke({ ID: firstLease });
  await until(() => a.stats.registrations === 2 && a.registered, () => `re-registration; stats ${JSON.stringify(a.stats)}, errors ${regErrors.map((e) => e.message).join(' | ')}`, 20_000);
  await seen.waitFor(['127.0.0.1:7301']);
  assert.equal(a.stats.leaseLosses, 1);
  assert.notEqual(a.leaseId, firstLease);
  const kv = (await other.get(a.key).exec()).kvs[0];
  assert.equal(kv?.lease, a.leaseId, 'the key is on the new lease');
  assert.ok(regErrors.some((e) => e.code === 'ERR_ETCD' && /lost/.test(e.message)), 'the loss was reported');
  assert.ok(seen.sets.some((s) => s.endpoints.length === 0), 'the revoke deleted the key for a while');
  console.log(`# revoked lease: ${a.stats.registrations} registrations, ${a.stats.leaseLosses} loss, ${regErrors.length} error(s) reported; resolver sets ${seen.sets.map((s) => s.endpoints.length).join(' -> ')}`);
  await a.close();
  await seen.waitFor([]);
  await resolver.close();
  other.close();
});

test('etcd restarted mid-run: errors reported, the last set kept, then changes seen and the registration put back', { skip, timeout: 120_000 }, async () => {
  const etcd = server();
  const prefix = 't-restart/echo';
  const seen = new Seen();
  const resolver = new EtcdResolver({ hosts: etcd.hostPort, prefix });
  resolver.start(seen);
  const regErrors: EtcdError[] = [];
  const a = await register({ hosts: etcd.hostPort, prefix, address: '127.0.0.1:7201', ttl: 2, onError: (e) => regErrors.push(e) });
  await seen.waitFor(['127.0.0.1:7201']);
  const pushesBefore = seen.sets.length;

  await etcd.stop('SIGKILL');
  await until(() => seen.errors.length > 0 && regErrors.length > 0, 'errors from the resolver and the registration', 20_000);
  // Down longer than twice the TTL: etcd3 gives the lease up, and register() tries again and again.
  await until(() => a.stats.leaseLosses === 1, () => `the lease to be given up; stats ${JSON.stringify(a.stats)}`, 30_000);
  assert.equal(a.registered, false);
  assert.equal(seen.sets.length, pushesBefore, 'nothing pushed while etcd is down');
  assert.deepEqual(seen.current, ['127.0.0.1:7201'], 'the last set is kept');
  assert.ok(seen.errors.every((e) => e instanceof EtcdError && e.code === 'ERR_ETCD'));
  const errorsWhileDown = seen.errors.length;

  await etcd.start();
  const restartedAt = Date.now();
  // A change made after etcd is back.
  const b = await register({ hosts: etcd.hostPort, prefix, address: '127.0.0.1:7202', ttl: 10 });
  await seen.waitFor(['127.0.0.1:7201', '127.0.0.1:7202'], 30_000);
  await until(() => a.registered && a.stats.registrations === 2, () => `a re-registered; stats ${JSON.stringify(a.stats)}`, 30_000);
  const check = new Etcd3({ hosts: `http://${etcd.hostPort}` });
  const kv = (await check.get(a.key).exec()).kvs[0];
  assert.equal(kv?.lease, a.leaseId, "the registration's key is back, on its new lease");
  const backAfter = Date.now() - restartedAt;
  // And the watch works again: a deregistration is seen.
  await b.close();
  await seen.waitFor(['127.0.0.1:7201'], 30_000);
  console.log(
    `# etcd restart: ${errorsWhileDown} resolver error(s) while down, ${regErrors.length} registration error(s); ` +
      `all back ${backAfter} ms after the restart; resolver stats ${JSON.stringify(resolver.stats)}; registration stats ${JSON.stringify(a.stats)}; ` +
      `sets ${seen.sets.map((s) => s.endpoints.length).join(' -> ')}`,
  );
  await a.close();
  await seen.waitFor([], 20_000);
  await resolver.close();
  check.close();
});

test('a process with a resolver and a registration exits by itself once both are closed', { skip, timeout: 60_000 }, async () => {
  const etcd = server();
  const c = child(['lifecycle', etcd.hostPort, 't-exit/echo']);
  const exited = once(c.proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    const [code, signal] = await within(exited, 30_000, 'the child to exit after close() (a handle left open keeps it alive)');
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.deepEqual(c.lines.map((l) => JSON.parse(l)), [{ seen: 1, closed: true }]);
    console.log(`# lifecycle child: exited with ${code} after closing (saw ${c.lines[0]})`);
  } finally {
    c.proc.kill('SIGKILL');
  }
  const left = new Etcd3({ hosts: `http://${etcd.hostPort}` });
  assert.deepEqual(await left.getAll().prefix('t-exit/echo/').keys(), [], 'its key went with close()');
  left.close();
});

test('against an etcd that is not there: errors reported, register() rejects with ERR_ETCD, and the process still exits after close()', { timeout: 60_000 }, async () => {
  const c = child(['dead', `127.0.0.1:${await freePort()}`, 't-dead/echo']);
  const exited = once(c.proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  try {
    const [code, signal] = await within(exited, 40_000, 'the child to exit after close() (a handle left open keeps it alive)');
    assert.equal(signal, null);
    assert.equal(code, 0);
    assert.deepEqual(c.lines.map((l) => JSON.parse(l)), [{ errors: true, pushes: 0, rejected: 'ERR_ETCD' }]);
    console.log(`# dead etcd: the child saw its errors, register() rejected with ERR_ETCD, exited with ${code}`);
  } finally {
    c.proc.kill('SIGKILL');
  }
});
