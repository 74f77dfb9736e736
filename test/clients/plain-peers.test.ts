// Real MessagePack-RPC clients that know nothing of our extensions, against our server: Neovim
// (`sockconnect(..., {'rpc': v:true})` and `rpcrequest()`) and Python's msgpack (Debian's
// python3-msgpack, a hand-written client as a Python user would write one). Both over the 'stream'
// framing, as they speak. A shutdown during their calls drains them as plain peers: their calls are
// answered and they never see the drain notification, which only our own clients are sent.
// Without nvim or python3-msgpack these tests skip with the reason; under CI=true they fail with it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createServer, type RpcServer } from '@nocopy/rpc-demo';
import { until, within } from '@nocopy/test-kit';

const CI = process.env.CI === 'true';
const PYTHON = '/usr/bin/python3'; // Debian's, where python3-msgpack installs (not a pyenv python first on PATH)
const nvimMissing = spawnSync('nvim', ['--version']).status === 0 ? undefined : 'nvim not found (Debian package neovim)';
const pyMissing = spawnSync(PYTHON, ['-c', 'import msgpack']).status === 0 ? undefined : `${PYTHON} cannot import msgpack (Debian package python3-msgpack)`;
const skipNvim = nvimMissing !== undefined && !CI ? nvimMissing : false;
const skipPy = pyMissing !== undefined && !CI ? pyMissing : false;

async function server(): Promise<{ s: RpcServer; port: number }> {
  const s = createServer({ framing: 'stream' })
    .register('add', (a: number, b: number) => a + b)
    .register('sleep', (ms: number) => new Promise((r) => setTimeout(r, ms, ms)));
  const { port } = (await s.listen({ port: 0, host: '127.0.0.1' })) as AddressInfo;
  return { s, port };
}

function run(cmd: string, args: string[]): { exit: Promise<number | null>; stdout: () => string; stderr: () => string } {
  const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d));
  p.stderr.on('data', (d: Buffer) => (err += d));
  return { exit: new Promise((r) => p.on('exit', r)), stdout: () => out, stderr: () => err };
}

test('Neovim calls our server (rpcrequest), also through a shutdown that drains it', { skip: skipNvim, timeout: 30_000 }, async (t) => {
  if (nvimMissing !== undefined) assert.fail(`Neovim is needed (CI=true): ${nvimMissing}`);
  const { s, port } = await server();
  const dir = mkdtempSync(join(tmpdir(), 'nocopy-nvim-'));
  try {
    const out = join(dir, 'out');
    const script = [
      `let ch = sockconnect('tcp', '127.0.0.1:${port}', {'rpc': v:true})`,
      `let a = rpcrequest(ch, 'add', 40, 2)`,
      `let z = rpcrequest(ch, 'sleep', 300)`,
      `call writefile([string(a), string(z)], '${out}')`,
    ];
    const nvim = run('nvim', ['--headless', '--clean', ...script.flatMap((c) => ['-c', c]), '-c', 'qa!']);
    await until(() => s.stats().inFlight === 1, 'the sleep call of Neovim to run', 15_000);
    const stopping = s.shutdown({ timeout: 5000 });
    assert.equal(await within(nvim.exit, 15_000, 'nvim to exit'), 0, nvim.stderr());
    await stopping;
    const [a, z] = readFileSync(out, 'utf8').trim().split('\n');
    t.diagnostic(`nvim: add -> ${a}; sleep during the shutdown -> ${z}`);
    assert.equal(a, '42');
    assert.equal(z, '300', 'the call in flight when the shutdown began was answered');
  } finally {
    await s.shutdown();
    rmSync(dir, { recursive: true, force: true });
  }
});

const PY_CLIENT = `
import json, socket, sys, msgpack
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.sendall(msgpack.packb([0, 1, 'add', [1, 2]]) + msgpack.packb([0, 2, '$health', []]) + msgpack.packb([0, 3, 'sleep', [300]]))
u = msgpack.Unpacker(raw=False)
while True:
    data = s.recv(65536)
    if not data:
        break
    u.feed(data)
    for m in u:
        print(json.dumps(m), flush=True)
print('EOF', flush=True)
`;

test('python3-msgpack: a plain client gets standard replies, and at a shutdown its reply then the close, no notification', { skip: skipPy, timeout: 30_000 }, async (t) => {
  if (pyMissing !== undefined) assert.fail(`python3-msgpack is needed (CI=true): ${pyMissing}`);
  const { s, port } = await server();
  try {
    const py = run(PYTHON, ['-c', PY_CLIENT, String(port)]);
    await until(() => s.stats().inFlight === 1, 'the sleep call of the Python client to run', 15_000);
    await within(s.shutdown({ timeout: 5000 }), 10_000, 'the shutdown');
    assert.equal(await within(py.exit, 10_000, 'python to exit'), 0, py.stderr());
    const lines = py.stdout().trim().split('\n');
    t.diagnostic(`python3-msgpack received: ${lines.join(' | ')}`);
    assert.deepEqual(lines, ['[1, 1, null, 3]', '[1, 2, null, {"status": "serving"}]', '[1, 3, null, 300]', 'EOF']);
  } finally {
    await s.shutdown();
  }
});
