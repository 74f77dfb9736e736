// nocopy-proxy from a shell: usage errors as one line and a hint (exit 2), a busy port as one line
// (exit 1), never a stack trace. The round trip and the signals: packages/proxy/test/cli.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { busyPort, proxyBin, root, run, stackLine, usageChecker, type Result } from './run-cli.js';

const proxy = (...args: string[]): Promise<Result> => run(proxyBin, args);

const assertUsage = usageChecker('nocopy-proxy');

test('--help prints the usage, exit 0, also through the bin npm links', async () => {
  const r = await proxy('--help');
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^Usage: nocopy-proxy --listen HOST:PORT --upstream HOST:PORT \[options\]\n/);
  const linked = await run(join(root, 'node_modules', '.bin', 'nocopy-proxy'), ['-h']);
  assert.equal(linked.code, 0, linked.stderr);
  assert.equal(linked.stdout, r.stdout);
});

test('usage errors: one line naming the flag, and the hint, exit 2', async () => {
  assertUsage(await proxy(), '--upstream is required');
  assertUsage(await proxy('-u', '127.0.0.1:1', '--bogus'), /^Unknown option '--bogus'/);
  assertUsage(await proxy('-u', '127.0.0.1:1', 'extra'), /^Unexpected argument 'extra'/);
  assertUsage(await proxy('-u', 'nowhere'), '--upstream must be HOST:PORT, :PORT or a Unix socket path, got "nowhere"');
  assertUsage(await proxy('-u', '127.0.0.1:1', '-l', 'host:port'), '--listen must be HOST:PORT, :PORT or a Unix socket path, got "host:port"');
  assertUsage(await proxy('-u', '127.0.0.1:1', '--idle-timeout', 'abc'), '--idle-timeout must be an integer >= 0, got "abc"');
  // A negative number reaches the range check instead of parseArgs' multi-line "ambiguous" complaint.
  assertUsage(await proxy('-u', '127.0.0.1:1', '--idle-timeout', '-5'), '--idle-timeout must be an integer >= 0, got "-5"');
  assertUsage(await proxy('-u', '127.0.0.1:1', '--max-buffer', '0'), '--max-buffer must be an integer >= 1, got "0"');
  // parseArgs' own multi-line messages are joined into one line.
  assertUsage(await proxy('-u', '127.0.0.1:1', '--listen', '-x'), /^Option '--listen' argument is ambiguous\. .*'--listen=-XYZ'/);
});

test('a busy port: one line with EADDRINUSE, exit 1', async () => {
  const busy = await busyPort();
  try {
    const r = await proxy('-l', `127.0.0.1:${busy.port}`, '-u', '127.0.0.1:1');
    assert.doesNotMatch(r.stderr, stackLine);
    assert.equal(r.stderr, `nocopy-proxy: cannot listen: listen EADDRINUSE: address already in use 127.0.0.1:${busy.port}\n`);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
  } finally {
    await busy.close();
  }
});
