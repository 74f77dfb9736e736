// diagnostics_channel: nocopy:connection:open / close / error are published with the connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { dialConnection, type Connection } from '../src/index.js';
import { RawClient, echoFrames, serve, until, within } from './helpers.js';

interface Message {
  connection: Connection;
  error?: unknown;
}

function record(name: string): { messages: Message[]; stop: () => void } {
  const messages: Message[] = [];
  const fn = (m: unknown) => messages.push(m as Message);
  diagnostics.subscribe(name, fn);
  return { messages, stop: () => diagnostics.unsubscribe(name, fn) };
}

test('open and close are published with the connection, for accepted and dialed connections', { timeout: 10_000 }, async (t) => {
  const open = record('nocopy:connection:open');
  const close = record('nocopy:connection:close');
  t.after(() => {
    open.stop();
    close.stop();
  });
  const accepted: Connection[] = [];
  const { loop, port } = await serve(echoFrames, {
    onPrepare: (conn) => {
      accepted.push(conn);
    },
  });
  t.after(() => loop.shutdown({ timeout: 100 }));

  const c = await RawClient.connect(port);
  await until(() => accepted.length === 1, 'the accept');
  assert.equal(open.messages.length, 1);
  assert.equal(open.messages[0]!.connection, accepted[0]);
  assert.equal(close.messages.length, 0);
  c.destroy();
  await until(() => close.messages.length === 1, 'the close message');
  assert.equal(close.messages[0]!.connection, accepted[0]);
  assert.equal(close.messages[0]!.error, undefined, 'a clean close has no error');

  const dialed = await dialConnection('tcp', { port });
  assert.equal(open.messages.filter((m) => m.connection === dialed).length, 1, 'the dialed connection was published');
  const closed = new Promise<void>((resolve) => dialed.addCloseCallback(() => resolve()));
  dialed.close();
  await within(closed, 3000, 'the dialed close');
  assert.equal(close.messages.filter((m) => m.connection === dialed).length, 1);
});

test('a handler error is published on nocopy:connection:error (and closes the connection)', { timeout: 10_000 }, async (t) => {
  const errors = record('nocopy:connection:error');
  t.after(() => errors.stop());
  const boom = new Error('handler failed');
  const warnings: Error[] = [];
  const onWarning = (w: Error) => void warnings.push(w);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const { loop, port } = await serve(() => {
    throw boom;
  });
  t.after(() => loop.shutdown({ timeout: 100 }));
  const c = await RawClient.connect(port);
  c.socket.write('x');
  await within(c.closed, 3000, 'the close');
  await until(() => errors.messages.some((m) => m.error === boom), 'the error message');
  const m = errors.messages.find((x) => x.error === boom)!;
  assert.equal(m.connection.error, boom);
  // A warning would be emitted in the same call that published the error, and process 'warning'
  // follows on the next tick: a setImmediate turn after the message comes after it.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(warnings.map(String), [], 'a subscriber takes the error: no process warning');
});
