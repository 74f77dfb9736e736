// The built CLI (dist/src/cli/proxy.js), spawned as `nocopy-proxy` would be: startup line with the
// bound address, one round trip, the stderr line for an unreachable upstream, SIGTERM -> exit 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startCli, type RunningCli } from '@nocopy/test-kit';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deadPort, echoUpstream, RawClient, until, within } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));

interface Running extends RunningCli {
  port: number;
}

/** The CLI started, its startup line checked and the port it names taken. */
async function start(args: string[]): Promise<Running> {
  const cli = await startCli(CLI, args, 10_000);
  const m = /^nocopy-proxy: listening on 127\.0\.0\.1:(\d+), upstream (\S+)$/.exec(cli.line);
  if (m === null) {
    cli.child.kill('SIGKILL');
    throw new Error(`unexpected startup output ${JSON.stringify(cli.stdout())}, stderr ${JSON.stringify(cli.stderr())}`);
  }
  return { ...cli, port: Number(m[1]) };
}

test('the source starts with a node shebang and package.json names the bin shim that loads it', () => {
  assert.match(readFileSync(CLI, 'utf8'), /^#!\/usr\/bin\/env node\n/);
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../package.json', import.meta.url)), 'utf8')) as { bin?: Record<string, string> };
  assert.equal(pkg.bin?.['nocopy-proxy'], './bin/nocopy-proxy.js');
  const shim = readFileSync(fileURLToPath(new URL('../../bin/nocopy-proxy.js', import.meta.url)), 'utf8');
  assert.match(shim, /^#!\/usr\/bin\/env node\n/);
  assert.match(shim, /'\.\.\/dist\/src\/cli\.js'/);
});

test('--help prints the usage and exits 0; a missing --upstream or a bad option exits 2', () => {
  const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^Usage: nocopy-proxy --listen HOST:PORT --upstream HOST:PORT/);
  const missing = spawnSync(process.execPath, [CLI, '--listen', '127.0.0.1:0'], { encoding: 'utf8' });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--upstream is required/);
  const bad = spawnSync(process.execPath, [CLI, '--upstream', '127.0.0.1:1', '--bogus'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  const badAddr = spawnSync(process.execPath, [CLI, '--upstream', 'nowhere'], { encoding: 'utf8' });
  assert.equal(badAddr.status, 2);
});

test('proxies a round trip, then SIGTERM closes it cleanly with exit code 0', async () => {
  const up = await echoUpstream();
  const p = await start(['--listen', '127.0.0.1:0', '--upstream', up.address]);
  try {
    assert.match(p.stdout(), new RegExp(`upstream ${up.address}\\n$`));
    const client = await RawClient.dial(p.port, { allowHalfOpen: true }).connected();
    client.socket.write('hello through the proxy');
    await client.waitForReceived(23);
    assert.equal(client.data().toString(), 'hello through the proxy');
    // An open connection does not block the shutdown: it is drained and closed.
    p.child.kill('SIGTERM');
    const { code, signal } = await within(p.exit, 10_000, 'exit after SIGTERM');
    assert.equal(signal, null);
    assert.equal(code, 0, p.stderr());
    await within(client.endReceived, 5000, 'EOF at the client from the shutdown');
    assert.equal(p.stderr(), '');
  } finally {
    p.child.kill('SIGKILL');
    await up.close();
  }
});

test('SIGINT also exits 0', async () => {
  const up = await echoUpstream();
  const p = await start(['-u', up.address]);
  try {
    p.child.kill('SIGINT');
    const { code } = await within(p.exit, 10_000, 'exit after SIGINT');
    assert.equal(code, 0, p.stderr());
  } finally {
    p.child.kill('SIGKILL');
    await up.close();
  }
});

test('an unreachable upstream: the client is closed and one line goes to stderr', async () => {
  const port = await deadPort();
  const p = await start(['--upstream', `127.0.0.1:${port}`, '--dial-timeout', '2000']);
  try {
    const client = await RawClient.dial(p.port, { allowHalfOpen: false }).connected();
    await within(client.closed, 5000, 'client closed');
    await until(() => p.stderr().includes('\n'), 'the error line');
    const lines = p.stderr().trimEnd().split('\n');
    assert.equal(lines.length, 1, p.stderr());
    assert.match(lines[0]!, new RegExp(`^nocopy-proxy: upstream 127\\.0\\.0\\.1:${port} unreachable, closing client 127\\.0\\.0\\.1:\\d+: .*ECONNREFUSED`));
    p.child.kill('SIGTERM');
    assert.equal((await within(p.exit, 10_000, 'exit')).code, 0);
  } finally {
    p.child.kill('SIGKILL');
  }
});
