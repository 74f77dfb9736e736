// A node:test reporter that writes nothing to the console: it collects every skipped test (file,
// full name, reason) and the pass/fail counts, and yields them as one JSON document at the end.
// scripts/test.mjs runs it beside the spec reporter, pointed at a temp file, so the runner can
// print the skips and, under CI=true, fail on any skip not in test/skip-allow.json.

export default async function* skipReporter(source) {
  const skipped = [];
  let passed = 0;
  let failed = 0;
  let todo = 0;
  let filtered = 0;
  // Per file, the names of the tests enclosing the one being reported, indexed by nesting, so a
  // skipped subtest is named with its suite ("suite > test"), as the allow-list names it.
  const stacks = new Map();
  const fullName = (data) => {
    const stack = stacks.get(data.file) ?? [];
    return [...stack.slice(0, data.nesting), data.name].join(' > ');
  };
  for await (const { type, data } of source) {
    if (type === 'test:start') {
      const stack = stacks.get(data.file) ?? [];
      stack.length = data.nesting;
      stack[data.nesting] = data.name;
      stacks.set(data.file, stack);
      continue;
    }
    if (type !== 'test:pass' && type !== 'test:fail') continue;
    // A file-level entry (the file itself as a test) is not a test of its own.
    if (data.details?.type === 'suite' && data.skip === undefined) continue;
    // Node 20 reports the tests --test-name-pattern leaves out as skipped, with this message.
    if (data.skip === 'test name does not match pattern') {
      filtered++;
    } else if (data.skip !== undefined) {
      skipped.push({ file: data.file ?? null, test: fullName(data), reason: typeof data.skip === 'string' ? data.skip : '' });
    } else if (data.todo !== undefined) {
      todo++;
    } else if (type === 'test:pass') {
      passed++;
    } else {
      failed++;
    }
  }
  yield JSON.stringify({ passed, failed, todo, filtered, skipped }) + '\n';
}
