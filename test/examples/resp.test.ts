// The Redis-protocol example server, driven by real Redis clients (redis-cli and redis-benchmark from
// Debian's redis-tools; .ci/run installs them) and by raw sockets for the malformed cases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const SERVER = join(root, 'examples', 'dist', 'resp-server.js');
const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const clients = have('redis-cli') && have('redis-benchmark');
const skip = clients ? false : 'redis-cli and redis-benchmark not found (Debian package redis-tools; .ci/run installs it)';
if (skip) console.log(`# resp example: ${skip}`);

let server: ChildProcess;
let port = 0;

before(async () => {
  server = spawn(process.execPath, [SERVER, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  server.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const deadline = Date.now() + 10_000;
  while (!/listening on [^\s]*:(\d+)/.test(out)) {
    if (Date.now() > deadline || server.exitCode !== null) throw new Error(`resp-server did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  port = Number(/listening on [^\s]*:(\d+)/.exec(out)![1]);
});

after(async () => {
  server.kill('SIGTERM');
  const [code] = (await once(server, 'exit')) as [number | null];
  assert.equal(code, 0, 'SIGTERM is a clean shutdown');
});

function cli(args: string[], input?: string | Buffer): string {
  const r = spawnSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { input, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024, timeout: 20_000 });
  const out = r.stdout.replace(/\n+$/, '');
  // An error reply may set redis-cli's exit code; anything else must not.
  if (!out.startsWith('ERR')) assert.equal(r.status, 0, `redis-cli ${args.join(' ')}: ${r.stderr}`);
  return out;
}

test('redis-cli: PING, ECHO, SET, GET, DEL, INCR, MGET, EXISTS', { skip }, () => {
  assert.equal(cli(['PING']), 'PONG');
  assert.equal(cli(['ECHO', 'hello world']), 'hello world');
  assert.equal(cli(['SET', 'k1', 'v1']), 'OK');
  assert.equal(cli(['GET', 'k1']), 'v1');
  assert.equal(cli(['GET', 'missing']), '');
  assert.equal(cli(['EXISTS', 'k1', 'missing', 'k1']), '2');
  assert.equal(cli(['INCR', 'n']), '1');
  assert.equal(cli(['INCR', 'n']), '2');
  assert.equal(cli(['INCR', 'k1']), 'ERR value is not an integer or out of range');
  assert.equal(cli(['MGET', 'k1', 'missing', 'n']), 'v1\n\n2');
  assert.equal(cli(['DEL', 'k1', 'n', 'missing']), '2');
  assert.equal(cli(['EXISTS', 'k1']), '0');
  assert.match(cli(['NOSUCH', 'x']), /^ERR unknown command 'NOSUCH'/);
  assert.match(cli(['GET']), /^ERR wrong number of arguments for 'get' command/);
});

test('redis-cli: a 1 MB value survives SET and GET byte for byte', { skip }, () => {
  const value = randomBytes(768 * 1024).toString('base64'); // 1 MiB of printable bytes
  assert.equal(value.length, 1024 * 1024);
  // -x: the last argument is read from stdin, so the value does not go through the command line.
  assert.equal(cli(['-x', 'SET', 'big'], value), 'OK');
  const got = cli(['GET', 'big']);
  assert.equal(got.length, value.length);
  assert.ok(got === value, 'the value came back changed');
  assert.equal(cli(['DEL', 'big']), '1');
});

test('redis-benchmark: ping, set, get unpipelined and pipelined, no errors', { skip, timeout: 60_000 }, () => {
  for (const pipeline of ['1', '16']) {
    const r = spawnSync('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-t', 'ping,set,get', '-n', '20000', '-c', '20', '-d', '128', '-P', pipeline, '--csv'], { encoding: 'utf8', timeout: 50_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.doesNotMatch(r.stderr, /error/i);
    const rows = r.stdout.split('\n').filter((l) => /^"(PING|SET|GET)/.test(l));
    assert.deepEqual(rows.map((l) => l.split(',')[0]), ['"PING_INLINE"', '"PING_MBULK"', '"SET"', '"GET"']);
    for (const l of rows) assert.ok(Number(l.split(',')[1]!.replace(/"/g, '')) > 0, l);
  }
  // What the benchmark stored is there: redis-benchmark SETs key:__rand_int__ to -d bytes.
  assert.equal(cli(['GET', 'key:__rand_int__']).length, 128);
});

async function raw(bytes: string | Buffer, expectReply?: string): Promise<{ reply: string; closed: boolean }> {
  const s = net.connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  let reply = '';
  let wake: () => void = () => {};
  s.on('data', (c: Buffer) => ((reply += c.toString('latin1')), wake()));
  let wasClosed = false;
  const closed = once(s, 'close').then(() => void (wasClosed = true));
  s.write(bytes);
  // With an expected reply: until that many bytes came (the last command's reply is the last one,
  // so anything extra would come before it); without: until the server closes. 5 s liveness bound.
  const got = expectReply === undefined ? closed : new Promise<void>((r) => (wake = () => reply.length >= expectReply.length && r()));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([got, closed, new Promise<void>((r) => (timer = setTimeout(r, 5000)))]);
  clearTimeout(timer);
  s.destroy();
  return { reply, closed: wasClosed };
}

test('pipelined multibulk and inline commands in one write, split anywhere, are answered in order', async () => {
  const cmds = '*3\r\n$3\r\nSET\r\n$1\r\na\r\n$3\r\nxyz\r\nGET a\r\n*2\r\n$4\r\nECHO\r\n$0\r\n\r\n\r\nPING\r\n';
  const reply = '+OK\r\n$3\r\nxyz\r\n$0\r\n\r\n+PONG\r\n';
  assert.equal((await raw(cmds, reply)).reply, reply);
  // The same bytes, one at a time.
  const s = net.connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  let got = '';
  s.on('data', (c: Buffer) => (got += c.toString('latin1')));
  for (const ch of cmds) {
    s.write(ch);
    await new Promise((r) => setImmediate(r));
  }
  const deadline = Date.now() + 5000;
  while (got.length < reply.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  s.destroy();
  assert.equal(got, reply);
});

test('malformed input closes that connection; the server goes on serving others', async () => {
  for (const bad of ['*1\r\n$abc\r\n', '*1\r\n+PING\r\n', '*2\r\n$3\r\nGET\r\n$999999999999\r\n', '*1\r\n$4\r\nPINGxx\r\n']) {
    const { closed } = await raw(bad);
    assert.ok(closed, `not closed after ${JSON.stringify(bad)}`);
  }
  // The server is still serving others.
  assert.equal((await raw('PING\r\n', '+PONG\r\n')).reply, '+PONG\r\n');
});

test('a value overwritten in the same read as a GET of it: each GET answers the value of its time', async () => {
  // Values of equal length are overwritten in place (up to 4 KiB) or replaced (longer, since the
  // output may hold them by reference): neither may change a reply already written.
  const mb = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join('')}`;
  const bulk = (v: string): string => `$${v.length}\r\n${v}\r\n`;
  const [a, b] = ['a'.repeat(100), 'b'.repeat(100)];
  const [c, d] = ['c'.repeat(6000), 'd'.repeat(6000)];
  const cmds = [mb('SET', 'ow:k', a), mb('GET', 'ow:k'), mb('SET', 'ow:k', b), mb('GET', 'ow:k'), mb('SET', 'ow:K', c), mb('GET', 'ow:K'), mb('SET', 'ow:K', d), mb('GET', 'ow:K'), mb('GET', 'ow:k')].join('');
  const want = ['+OK\r\n', bulk(a), '+OK\r\n', bulk(b), '+OK\r\n', bulk(c), '+OK\r\n', bulk(d), bulk(b)].join('');
  const s = net.connect({ host: '127.0.0.1', port });
  await once(s, 'connect');
  let got = '';
  s.on('data', (chunk: Buffer) => (got += chunk.toString('latin1')));
  s.write(cmds);
  const deadline = Date.now() + 10_000;
  while (got.length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  s.destroy();
  assert.equal(got, want);
});
