// nocopy-rpc defects a new user hit (issue 24, item 7): `call fib abc` is a params error, not
// "Maximum call stack size exceeded"; `serve --websocket` reports a client's oversized message as
// one warning line, no stack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { until, within } from '../support.js';
import { rpcBin, run, stackLine, start, type Running } from './run-cli.js';

test('call fib with a param that is not a small integer: one line, ERR_INVALID_PARAMS', { timeout: 60_000 }, async () => {
  const server: Running = await start(rpcBin, ['serve', '--port', '0', '--workers', '1']);
  try {
    const address = /on (127\.0\.0\.1:\d+)/.exec(server.line)![1]!;
    for (const arg of ['abc', '-3', '1.5', '1000']) {
      const r = await run(rpcBin, ['call', '-a', address, 'fib', '--', arg]);
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /call stack/);
      assert.match(r.stderr, /^nocopy-rpc: call fib failed: the server answered InvalidParamsError \[ERR_INVALID_PARAMS\]: invalid params for fib: n must be an integer from 0 to 78, got [^\n]+\n$/);
    }
    const ok = await run(rpcBin, ['call', '-a', address, 'fib', '20']);
    assert.deepEqual([ok.code, ok.stdout], [0, '6765\n']);
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('serve --websocket: a client\'s oversized message is one warning line, no stack', { timeout: 60_000 }, async () => {
  const server: Running = await start(rpcBin, ['serve', '--port', '0', '--websocket', '0', '--max-message-size', '1KiB']);
  try {
    const url = /WebSocket on (ws:\/\/[^\s]+\/)/.exec(server.line)![1]!;
    const ws = new WebSocket(url);
    await once(ws, 'open');
    ws.send(Buffer.alloc(5000));
    const [code] = (await once(ws, 'close')) as [number];
    assert.equal(code, 1009);
    await until(() => server.stderr().includes('\n'), 'the warning', 10_000);
    // All of a multi-line warning is in once the process has ended (SIGTERM: a graceful stop that
    // writes to stdout only) and its pipes have closed.
    server.child.kill('SIGTERM');
    await within(once(server.child, 'close'), 10_000, 'the server to stop');
    const err = server.stderr();
    assert.doesNotMatch(err, stackLine);
    assert.match(err, /^nocopy-rpc: NocopyWarning \[NOCOPY_RPC_ERROR\]: RangeError \[WS_ERR_UNSUPPORTED_MESSAGE_LENGTH\]: Max payload size exceeded\n$/);
  } finally {
    server.child.kill('SIGKILL');
  }
});
