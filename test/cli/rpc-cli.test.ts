// nocopy-rpc from a shell: help per command (exit 0), usage errors as one line and a hint (exit 2),
// failures at run time as one line (exit 1), never a stack trace; negative numbers as arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { within } from '../support.js';
import { busyPort, deadPort, root, rpcBin, run, stackLine, start, usageChecker, type Result, type Running } from './run-cli.js';

const rpc = (...args: string[]): Promise<Result> => run(rpcBin, args);

const assertUsage = usageChecker('nocopy-rpc');

/** Exit code 1 and exactly one line on stderr. */
function assertFailed(r: Result, line: string | RegExp): void {
  assert.doesNotMatch(r.stderr, stackLine);
  if (typeof line === 'string') assert.equal(r.stderr, `${line}\n`);
  else {
    assert.equal(r.stderr.split('\n').length, 2, r.stderr);
    assert.match(r.stderr, line);
  }
  assert.equal(r.code, 1);
}

test('--help, help and no arguments', async () => {
  const help = await rpc('--help');
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: nocopy-rpc <command> \[options\]\n/);
  assert.match(help.stdout, /Run 'nocopy-rpc <command> --help'/);
  assert.equal(help.stderr, '');
  assert.equal((await rpc('-h')).stdout, help.stdout);
  assert.equal((await rpc('help')).stdout, help.stdout);
  assertUsage(await rpc(), 'missing command: serve, call or bench');
});

for (const [command, usage, option] of [
  ['serve', 'Usage: nocopy-rpc serve [options]\n', '--max-message-size SIZE'],
  ['call', 'Usage: nocopy-rpc call METHOD [ARGS...] [options]\n', '--timeout MS'],
  ['bench', 'Usage: nocopy-rpc bench [options]\n', '--concurrency N'],
] as const) {
  test(`${command} --help prints the options of ${command}, exit 0`, async () => {
    const r = await rpc(command, '--help');
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
    assert.ok(r.stdout.startsWith(usage), r.stdout);
    assert.ok(r.stdout.includes(option), r.stdout);
    // --help wins over other mistakes on the same line, and `help COMMAND` says the same.
    assert.equal((await rpc(command, '--bogus', '-h')).stdout, r.stdout);
    assert.equal((await rpc('help', command)).stdout, r.stdout);
  });
}

test('an unknown command or option: one line and a hint, exit 2', async () => {
  assertUsage(await rpc('frob'), 'unknown command frob: expected serve, call or bench');
  assertUsage(await rpc('--bogus'), 'unknown option --bogus: the command (serve, call or bench) comes first');
  assertUsage(await rpc('serve', '--bogus'), 'unknown option --bogus for serve', "Try 'nocopy-rpc serve --help'.");
  assertUsage(await rpc('call', 'add', '1', '2', '-x'), 'unknown option -x for call', "Try 'nocopy-rpc call --help'.");
  assertUsage(await rpc('bench', '--port', '1'), 'unknown option --port for bench', "Try 'nocopy-rpc bench --help'.");
  assertUsage(await rpc('serve', 'extra'), /^Unexpected argument 'extra'/, "Try 'nocopy-rpc serve --help'.");
});

test('a bad value: one line naming the flag and the value, exit 2', async () => {
  const serveHint = "Try 'nocopy-rpc serve --help'.";
  const callHint = "Try 'nocopy-rpc call --help'.";
  const benchHint = "Try 'nocopy-rpc bench --help'.";
  assertUsage(await rpc('serve', '--port', 'abc'), '--port must be an integer from 0 to 65535, got "abc"', serveHint);
  assertUsage(await rpc('serve', '--port', '65536'), '--port must be an integer from 0 to 65535, got "65536"', serveHint);
  // A negative number reaches the range check instead of parseArgs' "ambiguous" complaint.
  assertUsage(await rpc('serve', '--workers', '-1'), '--workers must be an integer from 1 to 1024, got "-1"', serveHint);
  assertUsage(await rpc('serve', '--framing', 'xml'), '--framing must be framed or stream, got "xml"', serveHint);
  assertUsage(await rpc('serve', '--max-message-size', '4XB'), '--max-message-size must be a size in bytes (4194304, or 4MiB), got "4XB"', serveHint);
  assertUsage(await rpc('serve', '--port'), /^Option '--port <value>' argument missing/, serveHint);
  assertUsage(await rpc('call'), 'call needs a METHOD, as in: nocopy-rpc call add 40 2', callHint);
  assertUsage(await rpc('call', 'add', '1', '2', '--timeout', '-5'), '--timeout must be an integer from 0 to 2147483647, got "-5"', callHint);
  assertUsage(await rpc('call', 'add', '1', '2', '-a', 'nowhere'), /^--address must be HOST:PORT, HOST:PORT,HOST:PORT or a target \(dns:.*\), got "nowhere"$/, callHint);
  assertUsage(await rpc('call', 'add', '1', '2', '-a', 'gopher://x'), /^--address must be .* got "gopher:\/\/x"$/, callHint);
  assertUsage(await rpc('bench', '-c', '0'), '--concurrency must be an integer from 1 to 1000000, got "0"', benchHint);
  // parseArgs' own multi-line message is joined into one line.
  assertUsage(
    await rpc('call', 'echo', '-a', '--x'),
    /^Option '-a' argument is ambiguous\. .*'--address=-XYZ'/,
    callHint,
  );
});

test('a busy port: one line with EADDRINUSE, exit 1', async () => {
  const busy = await busyPort();
  try {
    const r = await rpc('serve', '--port', String(busy.port));
    assertFailed(r, `nocopy-rpc: cannot listen: listen EADDRINUSE: address already in use 127.0.0.1:${busy.port}`);
    assert.equal(r.stdout, '');
  } finally {
    await busy.close();
  }
});

test('a server that is down: call and bench fail with one line, exit 1', async () => {
  const port = await deadPort();
  const address = `127.0.0.1:${port}`;
  const refused = `DialError [ERR_DIAL_FAILED]: dial ${address} failed: connect ECONNREFUSED ${address}`;
  const call = await rpc('call', 'add', '1', '2', '-a', address);
  assertFailed(call, `nocopy-rpc: call add failed: ${refused}`);
  assert.equal(call.stdout, '');
  const bench = await rpc('bench', '-a', address, '-d', '1');
  assertFailed(bench, `nocopy-rpc: bench: the first call of echo on ${address} failed: ${refused}`);
});

test('against a running server: negative numbers, strings after --, server errors, timeouts, bench, SIGTERM', { timeout: 60_000 }, async () => {
  const server: Running = await start(rpcBin, ['serve', '--port', '0', '--workers', '1']);
  try {
    const m = /^nocopy-rpc serving echo, add, sleep, fib on 127\.0\.0\.1:(\d+) \(framed framing\); Ctrl-C stops$/.exec(server.line);
    assert.ok(m !== null, server.line);
    const address = `127.0.0.1:${m[1]}`;

    const add = await rpc('call', 'add', '-1', '2', '-a', address);
    assert.deepEqual([add.code, add.stdout, add.stderr], [0, '1\n', '']);
    const neg = await rpc('call', '-a', address, 'add', '-0.5', '-2e3');
    assert.deepEqual([neg.code, neg.stdout, neg.stderr], [0, '-2000.5\n', '']);
    const dash = await rpc('call', '-a', address, 'echo', '--', '--not-a-flag');
    assert.deepEqual([dash.code, dash.stdout, dash.stderr], [0, '"--not-a-flag"\n', '']);
    const json = await rpc('call', '-a', address, 'echo', '{"a":[1,"x"]}');
    assert.equal(json.stdout, '{"a":[1,"x"]}\n');

    assertFailed(await rpc('call', '-a', address, 'nope'), 'nocopy-rpc: call nope failed: the server answered MethodNotFoundError [ERR_METHOD_NOT_FOUND]: no such method: nope');
    assertFailed(await rpc('call', '-a', address, 'add', '1'), 'nocopy-rpc: call add failed: the server answered TypeError [ERR_BAD_ARGS]: add takes two numbers');
    assertFailed(await rpc('call', '-a', address, 'sleep', '1000', '--timeout', '100'), 'nocopy-rpc: call sleep failed: RpcTimeoutError [ERR_RPC_TIMEOUT]: call sleep timed out after 100 ms');

    // A target of several servers: a dead one beside the live one, the call still answered.
    const several = await rpc('call', 'add', '40', '2', '-a', `127.0.0.1:${await deadPort()},${address}`);
    assert.deepEqual([several.code, several.stdout, several.stderr], [0, '42\n', '']);

    const bench = await rpc('bench', '-a', address, '-d', '1', '-c', '2', '--connections', '1');
    assert.equal(bench.code, 0, bench.stderr);
    assert.equal(bench.stderr, '');
    assert.match(bench.stdout, /^bench: echo on 127\.0\.0\.1:\d+, 2 in flight for 1 s\n/);
    assert.match(bench.stdout, /\n\d+ calls in [\d.]+ s: [\d,]+ calls\/s, p50 [\d.]+ ms, p99 [\d.]+ ms, 0 error\(s\)\n$/);

    server.child.kill('SIGTERM');
    const exit = await within(server.exit, 15_000, 'exit after SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.match(server.stdout(), /\nSIGTERM: shutting down \(in-flight calls are answered\)\n$/);
    assert.equal(server.stderr(), '');
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('the bin npm links (node_modules/.bin/nocopy-rpc) runs the built CLI', async () => {
  const r = await run(join(root, 'node_modules', '.bin', 'nocopy-rpc'), ['call', '--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: nocopy-rpc call /);
});

test('the bin shim before a build: one line saying to build, exit 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-rpc-unbuilt-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(rpcBin, join(dir, 'bin', 'nocopy-rpc.js'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  const r = await run(join(dir, 'bin', 'nocopy-rpc.js'), ['--help']);
  assertFailed(r, `nocopy-rpc: ${join(dir, 'dist', 'src', 'cli', 'rpc.js')} is missing: run npm run build (or npx tsc -b) first`);
});
