// The packages as a user gets them: `npm pack` every publishable package, `npm install` the tarballs
// into an empty folder, typecheck (strict, nodenext) and run a program that imports each one and
// makes a real call, and run the installed bins. Also what is inside: dist/ (prepack builds it), the
// sources the source maps point at, and no internal symbol-keyed members in the published types.
// The install needs the npm registry for piscina and ws (the @nocopy packages satisfy each other).
// The install test skips only when the registry does not answer a direct probe (`npm ping`, same
// config); any other install error fails it. Two small tests check that rule against a local
// registry that answers the ping but has no packages, and one that nothing listens on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deadPort } from '../cli/run-cli.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const consumerSource = fileURLToPath(new URL('../../packaging/consumer.ts.txt', import.meta.url));
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

/** The publishable packages (test-kit and examples are private). */
const packages = ['linkbuffer', 'transport', 'rpc-demo', 'proxy', 'otel'];

/**
 * Known debts in code other work owns (sessions, cluster), listed exactly so that anything new still
 * fails: symbol-keyed members that leak into a published .d.ts (mark them `/** @internal *\/`), and
 * errors in the shipped .d.ts (an @internal type that a public declaration still names). Remove an
 * entry once fixed.
 */
const knownLeaks = new Set<string>([
]);
const knownTypeErrors = new Set<string>([
]);

interface Packed {
  name: string;
  filename: string;
  files: { path: string }[];
}

interface Run {
  code: number | null;
  stdout: string;
  /** stdout and stderr as they came. */
  out: string;
}

function run(cmd: string, args: string[], cwd: string, timeout = 180_000, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], timeout, env: { ...process.env, npm_config_update_notifier: 'false', ...env } });
    let out = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, out }));
  });
}

/** The npm on PATH, as a user would run it. */
const npm = (args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) => run('npm', args, cwd, 180_000, env);

/** Why the configured npm registry is unreachable (npm ping's error), or null when it answers. */
async function registryUnreachable(cwd: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  const ping = await run('npm', ['ping', '--fetch-timeout=10000', '--fetch-retries=0'], cwd, 30_000, env);
  if (ping.code === 0) return null;
  return ping.out.split('\n').find((l) => /npm error (code|.*reason)/.test(l))?.trim() ?? `npm ping exited ${ping.code}`;
}

/**
 * `npm install` of the tarballs into `app`. Returns a skip reason only when the install failed and
 * the registry does not answer `npm ping`; throws (with npm's output) on any other failure.
 */
async function installTarballs(app: string, tarballs: string[], env: NodeJS.ProcessEnv = {}): Promise<string | undefined> {
  const install = await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', ...tarballs], app, env);
  if (install.code === 0) return undefined;
  const unreachable = await registryUnreachable(app, env);
  if (unreachable !== null) return `the npm registry is unreachable (npm ping: ${unreachable}), so the dependencies cannot be installed`;
  assert.fail(`npm install of the tarballs failed, and the registry answers npm ping:\n${install.out}`);
}

/** An empty consumer folder under the work dir. */
function emptyApp(name: string): string {
  const app = join(work, name);
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'nocopy-consumer', private: true, type: 'module' }));
  return app;
}

let work = '';
let packed: Packed[] = [];
/** Every file of each tarball, by package name. */
const contents = new Map<string, Set<string>>();

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'nocopy-tarballs-'));
  mkdirSync(join(work, 'packs'));
  // Packing runs each package's prepack (tsc -b), as `npm publish` would.
  const r = await npm(['pack', '--json', '--pack-destination', join(work, 'packs'), ...packages.flatMap((p) => ['-w', `packages/${p}`])], root);
  assert.equal(r.code, 0, r.out);
  packed = JSON.parse(r.stdout) as Packed[];
  for (const p of packed) contents.set(p.name, new Set(p.files.map((f) => f.path)));
});

after(() => {
  if (work !== '') rmSync(work, { recursive: true, force: true });
});

test('every publishable package packs its built dist/, its sources, its README, and no tests', () => {
  assert.deepEqual(packed.map((p) => p.name).sort(), packages.map((p) => `@nocopy/${p}`).sort());
  for (const p of packed) {
    const files = contents.get(p.name)!;
    const manifest = JSON.parse(readFileSync(join(root, 'packages', p.name.slice('@nocopy/'.length), 'package.json'), 'utf8')) as {
      exports: Record<string, string | { types: string; default: string }>;
      bin?: Record<string, string>;
    };
    for (const entry of Object.values(manifest.exports)) {
      for (const target of typeof entry === 'string' ? [entry] : [entry.types, entry.default]) {
        assert.ok(files.has(posix.normalize(target)), `${p.name}: ${target} of its exports map is not in the tarball`);
      }
    }
    for (const bin of Object.values(manifest.bin ?? {})) assert.ok(files.has(posix.normalize(bin)), `${p.name}: bin ${bin} is not in the tarball`);
    assert.ok(files.has('README.md'), `${p.name}: no README.md`);
    assert.ok(files.has('src/index.ts'), `${p.name}: no src/index.ts (the maps point at it)`);
    const stray = [...files].filter((f) => /(^|\/)test\/|\.tsbuildinfo$|^dist\/(?!src\/)/.test(f));
    assert.deepEqual(stray, [], `${p.name} packs files users do not need`);
  }
});

test('every source map in the tarballs points at sources that are in them', () => {
  let maps = 0;
  for (const p of packed) {
    const files = contents.get(p.name)!;
    const dir = join(root, 'packages', p.name.slice('@nocopy/'.length));
    for (const f of files) {
      if (!f.endsWith('.map')) continue;
      maps++;
      const map = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { sources: string[]; sourceRoot?: string };
      for (const s of map.sources) {
        const target = posix.normalize(posix.join(posix.dirname(f), map.sourceRoot ?? '', s));
        assert.ok(files.has(target), `${p.name}: ${f} points at ${s}, not in the tarball`);
      }
    }
  }
  assert.ok(maps > 50, `only ${maps} maps found`);
});

/** The .d.ts files reachable from a package's exports map, following relative imports and exports. */
function reachableDeclarations(dir: string, entries: string[]): string[] {
  const seen = new Set<string>();
  const queue = [...entries.map((e) => posix.normalize(e))];
  while (queue.length > 0) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    const text = readFileSync(join(dir, f), 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*['"](\.{1,2}\/[^'"]+)\.js['"]/g)) queue.push(posix.normalize(posix.join(posix.dirname(f), `${m[1]}.d.ts`)));
  }
  return [...seen].sort();
}

test('the published types hold no internal symbol-keyed members (stripInternal)', () => {
  const leaks: string[] = [];
  let checked = 0;
  for (const p of packed) {
    const dir = join(root, 'packages', p.name.slice('@nocopy/'.length));
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { exports: Record<string, string | { types: string }> };
    const entries = Object.values(manifest.exports).flatMap((e) => (typeof e === 'string' ? [] : [e.types]));
    for (const f of reachableDeclarations(dir, entries)) {
      assert.ok(contents.get(p.name)!.has(f), `${p.name}: ${f} is reachable from its types but not packed`);
      checked++;
      for (const m of readFileSync(join(dir, f), 'utf8').matchAll(/^\s*(?:readonly\s+|static\s+)*(\[k[A-Z]\w*\])/gm)) {
        const leak = `${p.name} ${f} ${m[1]}`;
        if (!knownLeaks.has(leak)) leaks.push(leak);
      }
    }
  }
  assert.ok(checked > 20, `only ${checked} declaration files reached`);
  assert.deepEqual(leaks, [], 'mark these /** @internal */');
  // What it guards against: EventLoop's raw-socket set and admission hook were public until marked.
  const eventloop = readFileSync(join(root, 'packages', 'transport', 'dist', 'src', 'eventloop.d.ts'), 'utf8');
  assert.doesNotMatch(eventloop, /kRawSockets|kAdmitRaw/);
});

test('the tarballs install into an empty folder; a strict TypeScript program uses each package; the bins run', { timeout: 300_000 }, async (t) => {
  const app = emptyApp('app');
  // All of them in one install: rpc-demo and proxy depend on @nocopy/linkbuffer@0.1.0 and
  // @nocopy/transport@0.1.0, otel on the first, none on the registry; the tarballs beside them satisfy that.
  const tarballs = packed.map((p) => join(work, 'packs', p.filename));
  const skip = await installTarballs(app, tarballs);
  if (skip !== undefined) {
    console.log(`# skipped: ${skip}`);
    t.skip(skip);
    return;
  }
  for (const p of packages) assert.ok(existsSync(join(app, 'node_modules', '@nocopy', p, 'dist', 'src', 'index.js')), `@nocopy/${p} not installed with its dist/`);

  cpSync(consumerSource, join(app, 'consumer.ts'));
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true,
      module: 'nodenext',
      moduleResolution: 'nodenext',
      target: 'es2022',
      lib: ['es2023', 'esnext.disposable'],
      // The shipped .d.ts are checked too, not skipped: a declaration that names a stripped or
      // unpacked type fails here. Node's types come from the repository (the app has no @types/node).
      skipLibCheck: false,
      typeRoots: [join(root, 'node_modules', '@types')],
      types: ['node'],
      outDir: 'out',
    },
    files: ['consumer.ts'],
  }));
  const typecheck = await run(process.execPath, [tsc, '-p', app, '--pretty', 'false'], app);
  const diagnostics = typecheck.out.split('\n').filter((l) => l.trim() !== '');
  for (const d of diagnostics.filter((l) => knownTypeErrors.has(l))) console.log(`# known, not ours to fix here: ${d}`);
  assert.deepEqual(diagnostics.filter((l) => !knownTypeErrors.has(l)), []);
  // tsc emits despite errors in declaration files; the run below still needs its output.
  assert.ok(typecheck.code === 0 || diagnostics.length > 0, typecheck.out);

  const program = await run(process.execPath, [join(app, 'out', 'consumer.js')], app, 30_000);
  assert.equal(program.code, 0, program.out);
  assert.deepEqual(JSON.parse(program.out), {
    linkbuffer: 'hello from a tarball',
    transport: 'echoed',
    validate: 1234,
    invalidOption: 'ERR_INVALID_OPTION',
    proxy: 'through the proxy',
    rpc: 1,
    msgpack: { ok: [1, 'two'] },
  });

  for (const [bin, usage] of [['nocopy-rpc', /^Usage: nocopy-rpc <command>/], ['nocopy-proxy', /^Usage: nocopy-proxy --listen/]] as const) {
    const r = await run(join(app, 'node_modules', '.bin', bin), ['--help'], app, 30_000);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, usage);
  }
  // The CLI's dependencies resolve from the install, not from the repository: a call to a port
  // nothing listens on fails with the one-line error.
  const dead = await deadPort();
  const call = await run(join(app, 'node_modules', '.bin', 'nocopy-rpc'), ['call', 'add', '1', '2', '-a', `127.0.0.1:${dead}`], app, 30_000);
  assert.equal(call.code, 1, call.out);
  assert.match(call.out, /^nocopy-rpc: call add failed: DialError \[ERR_DIAL_FAILED\]: .*ECONNREFUSED.*\n$/);
});

// The skip rule itself, against real local registries. A fresh npm cache for each, so nothing cached
// from the real registry answers for them; no retries, so the unreachable case fails at once.
const localRegistry = (port: number): NodeJS.ProcessEnv => ({
  npm_config_registry: `http://127.0.0.1:${port}/`,
  npm_config_cache: mkdtempSync(join(work, 'cache-')),
  npm_config_fetch_retries: '0',
});

test('an install error from a registry that answers npm ping fails the install test; it does not skip', { timeout: 120_000 }, async (t) => {
  // Answers the ping, and 404 for every package: an install error that is not about the network.
  const registry = createServer((req, res) => {
    res.writeHead(req.url === '/-/ping' || req.url?.startsWith('/-/ping?') ? 200 : 404, { 'content-type': 'application/json' });
    res.end(req.url?.startsWith('/-/ping') ? '{}' : '{"error":"Not found"}');
  });
  registry.listen(0, '127.0.0.1');
  await once(registry, 'listening');
  t.after(() => registry.close());
  const env = localRegistry((registry.address() as AddressInfo).port);
  const app = emptyApp('app-404');
  await assert.rejects(installTarballs(app, packed.map((p) => join(work, 'packs', p.filename)), env), (err: Error) => {
    assert.match(err.message, /the registry answers npm ping/);
    assert.match(err.message, /E404|404 Not Found/);
    return true;
  });
});

test('a registry nothing listens on is a skip, with the probe\'s error as the reason', { timeout: 120_000 }, async () => {
  const env = localRegistry(await deadPort());
  const app = emptyApp('app-unreachable');
  const skip = await installTarballs(app, packed.map((p) => join(work, 'packs', p.filename)), env);
  assert.match(skip ?? 'installed', /^the npm registry is unreachable \(npm ping: .*ECONNREFUSED/);
});
