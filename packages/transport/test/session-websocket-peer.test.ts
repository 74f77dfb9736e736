// `ws` is an optional peer dependency of @nocopy/transport: the package is installed as a user gets it
// (its package.json and dist/, beside @nocopy/linkbuffer) into a folder where no `ws` can be found.
// The root entry loads without it; /websocket throws MissingPeerDependencyError naming it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const pkg = fileURLToPath(new URL('../../', import.meta.url));

test("without `ws`, @nocopy/transport loads and /websocket throws MissingPeerDependencyError naming 'ws'", async (t) => {
  const manifest = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    peerDependencies?: Record<string, string>;
    peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  };
  assert.equal(manifest.dependencies.ws, undefined, 'ws is not a dependency of all of @nocopy/transport');
  assert.equal(manifest.peerDependenciesMeta?.ws?.optional, true, 'ws is an optional peer dependency');
  assert.ok(manifest.peerDependencies?.ws, 'with a version range');

  const app = mkdtempSync(join(tmpdir(), 'nocopy-no-ws-'));
  t.after(() => rmSync(app, { recursive: true, force: true }));
  const scope = join(app, 'node_modules', '@nocopy');
  mkdirSync(join(scope, 'transport'), { recursive: true });
  cpSync(join(pkg, 'package.json'), join(scope, 'transport', 'package.json'));
  cpSync(join(pkg, 'dist', 'src'), join(scope, 'transport', 'dist', 'src'), { recursive: true });
  symlinkSync(join(pkg, '..', 'linkbuffer'), join(scope, 'linkbuffer'), 'dir');
  const program = `
    const t = await import('@nocopy/transport');
    const out = { root: typeof t.createSessionServer };
    try {
      await import('@nocopy/transport/websocket');
      out.websocket = 'loaded';
    } catch (err) {
      out.websocket = { name: err.name, code: err.code, packageName: err.packageName, message: err.message, ours: err instanceof t.MissingPeerDependencyError };
    }
    console.log(JSON.stringify(out));
  `;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', program], { cwd: app, timeout: 60_000 });
  const out = JSON.parse(stdout) as { root: string; websocket: 'loaded' | { name: string; code: string; packageName: string; message: string; ours: boolean } };
  assert.equal(out.root, 'function', 'the root entry does not need ws');
  assert.notEqual(out.websocket, 'loaded', 'ws was found: the test folder is not isolated');
  const e = out.websocket as Exclude<typeof out.websocket, 'loaded'>;
  assert.equal(e.code, 'ERR_MISSING_PEER_DEPENDENCY');
  assert.equal(e.name, 'MissingPeerDependencyError');
  assert.equal(e.packageName, 'ws');
  assert.match(e.message, /npm install ws/);
  assert.equal(e.ours, true);
});
