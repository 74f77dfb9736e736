// What the READMEs show, works: every program block is typechecked strictly against the built
// packages and run, its stated output compared; every shell command names a script, file or bin
// that exists. The block kinds are described in readme/blocks.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { type Block, blocksOf, commandsOf, expectedOutput } from './readme/blocks.js';

const root = join(dirname(new URL(import.meta.url).pathname), '..', '..');
const work = join(root, 'test', 'dist', 'readme-blocks');

function readmes(): string[] {
  const out = [join(root, 'README.md'), join(root, 'SECURITY.md'), join(root, 'bench', 'README.md'), join(root, 'examples', 'README.md')];
  for (const dir of ['packages', 'bench']) {
    for (const name of readdirSync(join(root, dir))) {
      const p = join(root, dir, name, 'README.md');
      if (existsSync(p)) out.push(p);
    }
  }
  return out;
}

const all = readmes().flatMap(blocksOf);
const programs = all.filter((b) => b.kind === 'program');

function slug(b: Block): string {
  return relative(root, b.readme).replace(/\/?README\.md$/, '').replace(/[^a-z0-9]+/gi, '-') || 'root';
}

/** Writes each program (and the files its README provides) into its own folder; returns the paths. */
function materialize(): Map<Block, string> {
  rmSync(work, { recursive: true, force: true });
  const paths = new Map<Block, string>();
  for (const b of all) {
    if (b.kind !== 'program' && b.kind !== 'file') continue;
    const dir = join(work, slug(b));
    mkdirSync(dir, { recursive: true });
    const name = b.kind === 'file' ? b.file! : `line-${b.line}.${b.lang === 'ts' ? 'mts' : 'mjs'}`;
    // An empty export makes every block a module, so top-level await and local names are its own.
    writeFileSync(join(dir, name), b.code + (b.lang === 'ts' ? '\nexport {};\n' : ''));
    paths.set(b, join(dir, name));
  }
  return paths;
}

const paths = materialize();

const out = join(work, 'out');

test('README program blocks typecheck (strict, against the built packages)', () => {
  // The compiler of the build (TypeScript 7 has no JavaScript API): one project over every block,
  // which also emits the JavaScript the next tests run.
  writeFileSync(join(work, 'tsconfig.json'), JSON.stringify({
    extends: '../../../tsconfig.base.json',
    compilerOptions: { rootDir: '.', outDir: 'out', composite: false, declaration: false, declarationMap: false, sourceMap: false, noUnusedLocals: false, allowJs: true, checkJs: false },
    include: ['**/*.mts', '**/*.mjs', '**/*.ts', '**/*.js'],
    exclude: ['out'],
  }));
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', work, '--pretty', 'false'], { encoding: 'utf8' });
  // Diagnostics name the extracted file; point them at the README line instead.
  const report = (r.stdout + r.stderr).split('\n').filter((l) => l.trim() !== '').map((l) => {
    const m = /^(.*?)\((\d+),(\d+)\): (.*)$/.exec(l);
    if (m === null) return l;
    const file = join(work, m[1]!.replace(/^.*readme-blocks\//, ''));
    const block = [...paths].find(([, p]) => p === file)?.[0];
    return block === undefined ? l : `${relative(root, block.readme)}:${block.line + Number(m[2])}: ${m[4]}`;
  });
  assert.deepEqual(report, [], report.join('\n'));
  assert.equal(r.status, 0);
});

function run(file: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const js = join(out, relative(work, file)).replace(/\.mts$/, '.mjs');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [js], { cwd: dirname(js), stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const b of programs) {
  test(`${relative(root, b.readme)}:${b.line} runs as written`, async () => {
    const r = await run(paths.get(b)!);
    assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
    const printed = r.stdout.split('\n').filter((l) => l !== '');
    const expected = expectedOutput(b.code);
    assert.ok(printed.length >= expected.length, `printed ${printed.length} lines, the block states ${expected.length}:\n${r.stdout}`);
    expected.forEach((e, i) => {
      if (e !== null) assert.equal(printed[i]!.trim(), e.text, `${relative(root, b.readme)}:${b.line + e.line}`);
    });
  });
}

test('README shell commands name scripts, files and bins that exist', () => {
  const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const bins = new Set<string>();
  for (const name of readdirSync(join(root, 'packages'))) {
    const m = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
    for (const bin of Object.keys(m.bin ?? {})) bins.add(bin);
  }
  const problems: string[] = [];
  for (const b of all.filter((x) => x.kind === 'shell')) {
    for (const cmd of commandsOf(b.code)) {
      const where = `${relative(root, b.readme)}:${b.line}: ${cmd}`;
      const words = cmd.split(/\s+/);
      if (words[0] === 'npm' && words[1] === 'run' && !(words[2]! in scripts)) problems.push(`${where}: no script ${words[2]}`);
      if (words[0] === 'npm' && (words[1] === 'start' || words[1] === 'test') && !(words[1] in scripts)) problems.push(`${where}: no script ${words[1]}`);
      if (words[0] === 'node') {
        const file = words.slice(1).find((w) => !w.startsWith('-'));
        if (file !== undefined && !existsSync(join(root, file))) problems.push(`${where}: no file ${file}`);
      }
      if (words[0] === 'npx' && !bins.has(words[1]!) && !existsSync(join(root, 'node_modules', '.bin', words[1]!))) problems.push(`${where}: no bin ${words[1]}`);
    }
  }
  assert.deepEqual(problems, []);
});
