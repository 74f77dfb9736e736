// The error-code convention: every nocopy code is ERR_ plus a name that Node itself does not use, so
// that `err.code` tells whose error it is; ABORT_ERR is the one exception, Node's own code for an
// abort, used on purpose so that abort handling written for Node works on ours.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** Node's own codes, from its internal/errors module as this Node binary carries it. */
function nodeCodes(): Set<string> {
  const natives = (process as unknown as { binding(name: string): Record<string, string> }).binding('natives');
  const text = natives['internal/errors'] ?? '';
  return new Set([...text.matchAll(/^E\('([A-Z0-9_]+)'/gm)].map((m) => m[1]!));
}

/** Node's codes that our sources compare against on purpose (a caught error of Node's): not ours. */
const NODE_CODES_COMPARED = new Set(['ERR_MODULE_NOT_FOUND']);

test("nocopy's error codes follow the convention and never collide with Node's", () => {
  const ours = new Map<string, string>();
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const src = join(root, 'packages', pkg, 'src');
    try {
      statSync(src);
    } catch {
      continue;
    }
    for (const file of sources(src)) {
      for (const m of readFileSync(file, 'utf8').matchAll(/'((?:ERR|ABORT)_[A-Z0-9_]*)'/g)) {
        if (!NODE_CODES_COMPARED.has(m[1]!)) ours.set(m[1]!, file.slice(root.length));
      }
    }
  }
  assert.ok(ours.size >= 25, `found ${ours.size} codes`);
  const node = nodeCodes();
  assert.ok(node.size > 200 && node.has('ERR_INVALID_ARG_TYPE'), `read ${node.size} of Node's codes`);
  for (const [code, where] of ours) {
    if (code === 'ABORT_ERR') continue;
    assert.match(code, /^ERR_[A-Z][A-Z0-9_]*[A-Z0-9]$/, `${code} (${where})`);
    assert.ok(!node.has(code), `${code} (${where}) is also one of Node's own codes`);
  }
});
