#!/usr/bin/env node
// The nocopy-rpc bin. npm links a workspace's bins at install time, before the first build, and
// skips a bin whose file does not exist yet: this committed file always exists and loads the CLI
// that `npm run build` compiles.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/src/cli/rpc.js', import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write(`nocopy-rpc: ${fileURLToPath(cli)} is missing: run npm run build (or npx tsc -b) first\n`);
  process.exit(1);
}
await import(cli.href);
