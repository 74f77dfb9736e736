// Which skipped tests the allow-list (test/skip-allow.json) lets through. Kept apart from the runner
// so test/skip-allow.test.ts can check it, and the allow-list against the real test names.
import { relative, sep } from 'node:path';

/**
 * The source path of a compiled test file, as a reader of the repository names it:
 * packages/X/dist/test/a.test.js -> packages/X/test/a.test.ts, test/dist/a/b.test.js -> test/a/b.test.ts.
 */
export function sourceOf(root, file) {
  const rel = relative(root, file).split(sep).join('/');
  return rel
    .replace(/^packages\/([^/]+)\/dist\/test\//, 'packages/$1/test/')
    .replace(/^test\/dist\//, 'test/')
    .replace(/\.js$/, '.ts');
}

/**
 * Splits the skips into those an allow-list entry covers and the rest. An entry is
 * { file, test, when?, reason }: `file` the source path, `test` the full name ("suite > test"),
 * `when` an optional regular expression the skip's own message must match (so an entry for
 * "no IPv6 here" does not also let through a skip for another cause), `reason` why CI may skip it.
 */
export function checkSkips(root, skipped, allow) {
  if (!Array.isArray(allow)) throw new TypeError('test/skip-allow.json: expected an array of entries');
  for (const e of allow) {
    if (typeof e?.file !== 'string' || typeof e.test !== 'string' || typeof e.reason !== 'string' || e.reason.trim() === '') {
      throw new TypeError(`test/skip-allow.json: every entry needs file, test and a reason: ${JSON.stringify(e)}`);
    }
  }
  const allowed = [];
  const refused = [];
  for (const s of skipped) {
    const where = s.file ? sourceOf(root, s.file) : '(unknown file)';
    const entry = allow.find((e) => e.file === where && e.test === s.test && (e.when === undefined || new RegExp(e.when).test(s.reason)));
    if (entry) allowed.push({ ...s, where, allowedBecause: entry.reason });
    else refused.push({ ...s, where });
  }
  return { allowed, refused };
}
